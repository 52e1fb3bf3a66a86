"""A1111's extra-network tags in a prompt: `<kind:name:arg:arg:key=value…>` (no torch here).

Every tag `<word:…>` is taken out of the text before the prompt is parsed, as A1111 does.
`<lora:…>` and its alias `<lyco:…>` name a LoRA:

- `<lora:name>` weight 1 for the text encoders and the UNet;
- `<lora:name:w>` w for both; `<lora:name:te:unet>` the two separately;
- `<lora:name:te=0.5:unet=1>` the same by name (a named weight wins over a positional one);
  a fourth positional or `dyn=` (a rank limit) is read and not used; other named
  arguments (e.g. a block-weight extension's `lbw=`) are ignored.

A weight that is not a number is an error (A1111 stops the job too). Any other kind
(`<hypernet:…>`, unknown extensions' tags) is removed with a warning: we do not support it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_TAG = re.compile(r"<(\w+):([^>]+)>")
LORA_KINDS = ("lora", "lyco")
_WHY_NOT = {
    "hypernet": "hypernetworks are not supported",
}


@dataclass(frozen=True)
class NetworkTag:
    """One LoRA tag: its name and the weights for the text encoders and the UNet."""

    kind: str
    name: str
    te: float
    unet: float
    tag: str  # the tag as written


@dataclass(frozen=True)
class ExtraNetworks:
    """A prompt without its tags, the LoRAs it names, what was left out, what is wrong."""

    text: str
    loras: tuple[NetworkTag, ...]
    warnings: tuple[str, ...]
    errors: tuple[str, ...]


def _number(text: str) -> float | None:
    """The weight, or None when it is not a number (NaN included). An infinite one (a
    400-digit weight) is a number: the request's range check names the limits."""
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def parse_extra_networks(text: str) -> ExtraNetworks:
    """Take every `<kind:…>` tag out of `text`.

    >>> found = parse_extra_networks("a shoe <lora:ink:0.5:1> <hypernet:x:1>")
    >>> found.text, [(t.name, t.te, t.unet) for t in found.loras]
    ('a shoe  ', [('ink', 0.5, 1.0)])
    """
    loras: list[NetworkTag] = []
    warnings: list[str] = []
    errors: list[str] = []

    def take(match: re.Match[str]) -> str:
        kind, args = match.group(1), match.group(2)
        tag = match.group(0)
        if kind.lower() not in LORA_KINDS:
            why = _WHY_NOT.get(kind.lower(), f"'{kind}' is not a kind of network we know")
            warnings.append(f"The prompt's tag {tag[:80]} was left out: {why}.")
            return ""
        positional: list[str] = []
        named: dict[str, str] = {}
        for item in args.split(":"):
            if "=" in item:
                key, value = item.split("=", 1)
                named[key.strip()] = value.strip()
            else:
                positional.append(item.strip())
        name = positional[0] if positional else ""
        if not name:
            errors.append(f"The prompt's tag {tag[:80]} names no LoRA: write <lora:name:0.8>.")
            return ""
        weights: dict[str, float] = {}
        sources = {
            "te": [positional[1]] if len(positional) > 1 else [],
            "unet": [positional[2]] if len(positional) > 2 else [],
        }
        for key in ("te", "unet"):
            if key in named:
                sources[key].append(named[key])
            for raw in sources[key]:
                value = _number(raw)
                if value is None and any(sep in raw for sep in ("/", "\\")):
                    errors.append(
                        f"The prompt's tag {tag[:80]} names a path: write the file name of a "
                        f"LoRA in the LoRA folder, e.g. <{kind}:name:0.8>."
                    )
                    return ""
                if value is None:
                    errors.append(
                        f"The prompt's tag {tag[:80]} has the weight '{raw[:20]}', not a "
                        f"number: write e.g. <{kind}:{name[:40]}:0.8>."
                    )
                    return ""
                weights[key] = value
        te = weights.get("te", 1.0)
        unet = weights.get("unet", te)
        loras.append(NetworkTag(kind.lower(), name, te, unet, tag))
        return ""

    stripped = _TAG.sub(take, text)
    return ExtraNetworks(stripped, tuple(loras), tuple(warnings), tuple(errors))
