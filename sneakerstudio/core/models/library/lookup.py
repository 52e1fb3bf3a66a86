"""Which model a name means: an indexed path, a file name with or without its extension, a
sub-folder path, or a hash prefix; with a message listing the candidates when it is not one."""

from __future__ import annotations

import difflib
import os
import re

from sneakerstudio.core.models.library.errors import AmbiguousModelError, ModelNotFoundError
from sneakerstudio.core.models.library.records import LORA_KINDS, ModelEntry

_HEX = re.compile(r"^[0-9a-fA-F]{8,64}$")


def find(
    query: str, present: list[ModelEntry], kind: str | None, *, by_file_name: bool = True
) -> ModelEntry:
    """The one model `query` means among the `present` ones, by name or hash (see
    `Library.find`); `ModelNotFoundError` or `AmbiguousModelError` listing the candidates.
    `by_file_name=False`: a path is not matched by its file name alone."""
    matches = match_name(query, present, by_file_name=by_file_name)
    if kind:
        kinds = _kinds(kind)
        of_kind = [m for m in matches if m.kind in kinds]
        if matches and not of_kind:
            listed = "; ".join(f"{m.relpath} ({m.kind})" for m in matches[:5])
            raise ModelNotFoundError(
                f"'{query}' is in the library, but not as a {kind}: {listed}.",
                hint=f"Give the name or path of a {kind}.",
            )
        matches = of_kind
    if len(matches) == 1:
        return matches[0]
    if matches:
        same_case = [m for m in matches if query in (m.name, m.relpath, _filename(m))]
        if len(same_case) == 1:
            return same_case[0]
        listed = "\n".join(f"  {m.path}  ({m.kind}, {m.base or '?'})" for m in matches)
        raise AmbiguousModelError(
            f"'{query}' matches {len(matches)} models in the library:\n{listed}",
            [m.path for m in matches],
            hint=f"Give the full path, or the sub-folder and name (e.g. '{matches[0].relpath}').",
        )
    names = sorted({m.name for m in present if not kind or m.kind in _kinds(kind)})
    close = difflib.get_close_matches(query, names, n=3, cutoff=0.6)
    hint = f"Did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    hint += (
        "`sneakerstudio models list` shows the library; `sneakerstudio models add-folder "
        "DIR` adds a folder and `sneakerstudio models scan` looks for new files."
    )
    raise ModelNotFoundError(
        f"No file '{query}', and no {kind or 'model'} of that name in the library.",
        hint=hint,
    )


def match_name(
    query: str, entries: list[ModelEntry], *, by_file_name: bool = True
) -> list[ModelEntry]:
    """Entries whose name, file name or sub-folder path (with or without extension) is
    `query`, or whose hash starts with it, compared without regard to case or separators. A
    path that no longer exists falls back to its file name (unless `by_file_name` is False)."""
    wanted = query.replace("\\", "/").lower().rstrip("/")
    matches = [e for e in entries if wanted in _names(e)]
    if not matches and _HEX.match(wanted):
        matches = [
            e
            for e in entries
            if any(h and h.lower().startswith(wanted) for h in (e.sha256, e.addnet_sha256))
            or (len(wanted) == 8 and e.legacy_hash == wanted)
        ]
    if not matches and by_file_name and "/" in wanted:
        tail = wanted.rsplit("/", 1)[1]
        matches = [e for e in entries if tail in _names(e)]
    return matches


def _names(entry: ModelEntry) -> set[str]:
    rel = entry.relpath.lower()
    return {entry.name.lower(), _filename(entry).lower(), rel, os.path.splitext(rel)[0]}


def _filename(entry: ModelEntry) -> str:
    return os.path.basename(entry.path)


def _kinds(kind: str) -> tuple[str, ...]:
    return LORA_KINDS if kind in LORA_KINDS else (kind,)
