"""Style presets: prompt templates kept as editable data in the package's
`resources/styles/styles.json`.

A style's `prompt` holds `{prompt}` where the user's prompt goes (or is appended to it when it
has none), and its `negative` is added to the user's negative prompt, as AUTOMATIC1111's styles
do. A broken file gives no styles and a warning, never a crash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Style:
    name: str
    prompt: str
    negative: str = ""

    def apply(self, prompt: str, negative: str) -> tuple[str, str]:
        """The prompt and negative prompt with this style applied."""
        if "{prompt}" in self.prompt:
            styled = self.prompt.replace("{prompt}", prompt.strip())
        else:
            styled = ", ".join(p for p in (prompt.strip(), self.prompt) if p)
        styled = styled.strip().strip(",").strip()
        extra = self.negative.strip()
        neg = ", ".join(p for p in (negative.strip(), extra) if p)
        return styled, neg


def styles_path() -> Path:
    from sneakerstudio.core.files.resources import resources_dir

    return resources_dir() / "styles" / "styles.json"


def load_styles(path: Path | None = None) -> list[Style]:
    """Every valid style in the file (entries without a name or prompt are skipped)."""
    from sneakerstudio.core.files import json_safe

    try:
        source = path or styles_path()
        data = json_safe.load_file(source)
    except (OSError, ValueError) as exc:
        log.warning("no style presets: %s", exc)
        return []
    entries = data.get("styles", []) if isinstance(data, dict) else data
    out: list[Style] = []
    for entry in entries if isinstance(entries, list) else []:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("prompt"), str)
        ):
            negative = entry.get("negative")
            out.append(
                Style(entry["name"], entry["prompt"], negative if isinstance(negative, str) else "")
            )
    return out
