"""The normalised metadata every reader fills in, and the value conversions they share.

`empty_metadata` is the shape `read_png_metadata` returns whoever wrote the file; the `to_*`
helpers turn a value read from an untrusted file into what that shape holds, or None.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sneakerstudio import __version__
from sneakerstudio.core.files import json_safe

PARAMETERS_KEY = "parameters"
REQUEST_KEY = "sneakerstudio"
DEFAULT_VERSION = f"sneakerstudio {__version__}"
SOURCES = ("sneakerstudio", "a1111", "comfyui", "invokeai", "fooocus", "novelai")


def empty_metadata() -> dict[str, Any]:
    """The shape `read_png_metadata` returns: every key present, unknown values None."""
    return {
        "prompt": None,
        "negative_prompt": None,
        "steps": None,
        "sampler": None,
        "scheduler": None,
        "cfg": None,
        "seed": None,
        "size": None,
        "model": None,
        "model_hash": None,
        "source": None,
        "extras": {},
        "lora_hashes": None,
        "raw": {},
        "request": None,
    }


def format_number(value: float | int) -> str:
    """A number as A1111 shows it: `7` for 7.0, `7.5` stays, float noise (0.30000000000000004)
    trimmed."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer():
        return str(int(value))
    return repr(float(f"{value:.10g}"))


def to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                return None
            return int(number) if number.is_integer() else None
    return None


def to_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a 400-digit JSON int
        return None
    return number if math.isfinite(number) else None


def to_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def extra_text(value: Any) -> str:
    """A value from a JSON format as text for `extras`."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, (bool, int)) or value is None:
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def json_object(text: str | None) -> dict[str, Any] | None:
    """The JSON object in a metadata chunk, or None. Read by `json_safe` with lenient numbers:
    nesting past its limit (a Fooocus list 985 deep parsed, then broke whoever walked it) is
    refused; `NaN`, `Infinity` and 5,000-digit numbers become None, the rest is kept."""
    if not text or not text.lstrip().startswith("{"):
        return None
    value = json_safe.loads_or_none(text, lenient_numbers=True)
    return value if isinstance(value, dict) else None
