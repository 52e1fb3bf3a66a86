"""Where models live: the folder layouts of other tools, recognised from their root folder.

Users point the library at the folder they know (their AUTOMATIC1111, Forge, ComfyUI, Fooocus or
InvokeAI install, or any folder of models). `expand_source` turns that root into the folders
that hold models, each with the kind of model that tool keeps there, so nothing else under the
root (virtual environments, extensions, caches full of `.pt` files) is ever walked. ComfyUI's
`extra_model_paths.yaml` is read too. Nothing is copied: the files are read where they are.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Folder names that say what a plain folder holds (lower case), as the tools name them.
KIND_FOLDER_NAMES: dict[str, str] = {
    "stable-diffusion": "checkpoint",
    "checkpoints": "checkpoint",
    "main": "checkpoint",  # InvokeAI
    "lora": "lora",
    "loras": "lora",
    "lycoris": "lora",
    "locon": "lora",
    "vae": "vae",
    "embeddings": "embedding",
    "embedding": "embedding",  # InvokeAI
    "textual_inversion": "embedding",
    "controlnet": "controlnet",
    "esrgan": "upscaler",
    "realesrgan": "upscaler",
    "swinir": "upscaler",
    "dat": "upscaler",
    "upscale_models": "upscaler",
    "upscalers": "upscaler",
}
# InvokeAI sorts models by base first: models/sd-1/main, models/sdxl/lora …
BASE_FOLDER_NAMES: dict[str, str] = {
    "sd-1": "sd1",
    "sd-2": "sd2",
    "sdxl": "sdxl",
    "sdxl-refiner": "sdxl-refiner",
}

A1111_FOLDERS: tuple[tuple[str, str], ...] = (
    ("models/Stable-diffusion", "checkpoint"),
    ("models/Lora", "lora"),
    ("models/LyCORIS", "lora"),
    ("models/VAE", "vae"),
    ("embeddings", "embedding"),
    ("models/ControlNet", "controlnet"),
    ("models/ESRGAN", "upscaler"),
    ("models/RealESRGAN", "upscaler"),
    ("models/SwinIR", "upscaler"),
    ("models/DAT", "upscaler"),
    ("models/HAT", "upscaler"),
)
COMFY_FOLDERS: tuple[tuple[str, str], ...] = (
    ("models/checkpoints", "checkpoint"),
    ("models/loras", "lora"),
    ("models/vae", "vae"),
    ("models/embeddings", "embedding"),
    ("models/controlnet", "controlnet"),
    ("models/upscale_models", "upscaler"),
)
# extra_model_paths.yaml keys → kind. Other keys (clip, unet, configs …) are not models we use.
COMFY_YAML_KEYS: dict[str, str] = {
    "checkpoints": "checkpoint",
    "loras": "lora",
    "vae": "vae",
    "embeddings": "embedding",
    "controlnet": "controlnet",
    "upscale_models": "upscaler",
}

LAYOUT_LABELS: dict[str, str] = {
    "app": "Sneaker Studio",
    "a1111": "AUTOMATIC1111",
    "forge": "Forge",
    "comfyui": "ComfyUI",
    "fooocus": "Fooocus",
    "invokeai": "InvokeAI",
    "plain": "folder",
}


@dataclass(frozen=True)
class ScanRoot:
    """One folder to walk. `kind`/`base`: what the tool keeps there (None: decide per file).
    `name_hints`: sub-folder names such as `Lora` or `sdxl` refine the hints while walking."""

    path: Path
    kind: str | None = None
    base: str | None = None
    name_hints: bool = False


@dataclass(frozen=True)
class Source:
    """A folder the user added, seen as its tool lays it out."""

    path: Path
    layout: str
    roots: tuple[ScanRoot, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        return LAYOUT_LABELS.get(self.layout, self.layout)


def detect_layout(path: Path) -> str:
    """Which tool's layout `path` is the root of: a1111, forge, comfyui, fooocus, invokeai, or
    plain (any other folder: walked whole, sub-folder names taken as hints)."""
    models = path / "models"
    if (models / "Stable-diffusion").is_dir():
        return "forge" if (path / "modules_forge").is_dir() else "a1111"
    if (models / "checkpoints").is_dir():
        return "fooocus" if (path / "fooocus_version.py").is_file() else "comfyui"
    if (path / "invokeai.yaml").is_file() or any(
        (models / name).is_dir() for name in BASE_FOLDER_NAMES
    ):
        return "invokeai"
    return "plain"


def expand_source(path: Path, layout: str | None = None) -> Source:
    """The folders to walk for the source rooted at `path` (its layout detected if not given)."""
    layout = layout or detect_layout(path)
    notes: list[str] = []
    roots: list[ScanRoot]
    if layout in ("a1111", "forge"):
        roots = [ScanRoot(path / rel, kind) for rel, kind in A1111_FOLDERS]
    elif layout in ("comfyui", "fooocus"):
        roots = [ScanRoot(path / rel, kind) for rel, kind in COMFY_FOLDERS]
        extra = path / "extra_model_paths.yaml"
        if extra.is_file():
            try:
                roots += read_extra_model_paths(extra)
            except (OSError, ValueError) as exc:
                notes.append(f"{extra} could not be read ({exc}); its folders were skipped")
    elif layout == "invokeai":
        roots = [ScanRoot(path / "models", name_hints=True)]
    else:  # "plain" and the app's own folder
        roots = [ScanRoot(path, name_hints=True)]
    unique: dict[Path, ScanRoot] = {}
    for root in roots:
        unique.setdefault(root.path, root)
    return Source(path=path, layout=layout, roots=tuple(unique.values()), notes=tuple(notes))


# -- extra_model_paths.yaml ---------------------------------------------------------------------


MAX_YAML_BYTES = 256 * 1024  # a real extra_model_paths.yaml is a few KB
MAX_YAML_VALUE = 16 * 1024  # characters in one value (a block of paths, one per line)
# `[`/`{` nesting: PyYAML's scanner takes time quadratic in it (20,000 deep: 35 s)
MAX_YAML_FLOW_DEPTH = 32
_QUOTED_OR_COMMENT = re.compile(r"'[^'\n]*'|\"(?:[^\"\\\n]|\\.)*\"|(?:^|\s)#[^\n]*", re.M)
_BRACKET = re.compile(r"[\[\]{}]")


def read_extra_model_paths(yaml_path: Path) -> list[ScanRoot]:
    """The model folders a ComfyUI `extra_model_paths.yaml` adds, as ComfyUI reads them:
    `base_path` (`~` and `$VARS` expanded, relative to the file's folder), then each key's
    paths, one per line, relative to `base_path`. Raises `ValueError` for a file that is too
    large or not YAML, `OSError` for one that cannot be read."""
    with open(yaml_path, "rb") as f:
        raw = f.read(MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        raise ValueError(f"it is larger than {MAX_YAML_BYTES // 1024} KB")
    text = raw.decode("utf-8")
    if _flow_depth(text) > MAX_YAML_FLOW_DEPTH:
        raise ValueError(f"it nests brackets more than {MAX_YAML_FLOW_DEPTH} deep")
    config = _load_yaml(text)
    roots: list[ScanRoot] = []
    for group in config.values():
        if not isinstance(group, dict):
            continue
        bases = [group.get("base_path", "")]
        bases += str(group.get("base_paths", "")).splitlines()
        for base_text in [str(b).strip() for b in bases if str(b).strip()] or [""]:
            base = Path(os.path.expandvars(os.path.expanduser(base_text))) if base_text else None
            if base is not None and not base.is_absolute():
                base = yaml_path.parent / base
            for key, kind in COMFY_YAML_KEYS.items():
                for line in str(group.get(key) or "").splitlines():
                    entry = line.strip()
                    if not entry:
                        continue
                    folder = Path(os.path.expandvars(os.path.expanduser(entry)))
                    if not folder.is_absolute():
                        folder = (base or yaml_path.parent) / folder
                    roots.append(ScanRoot(Path(os.path.normpath(folder)), kind))
    return roots


def _flow_depth(text: str) -> int:
    """How deep `[` / `{` nest outside quotes and comments (closing brackets never go below 0:
    a stray one is the parser's business)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_QUOTED_OR_COMMENT.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def _load_yaml(text: str) -> dict[str, dict[str, str]]:
    """{group: {key: text}} from PyYAML's parser events when it is installed, else
    `parse_simple_yaml`.

    Only what ComfyUI's file holds is read: a mapping of groups, each a mapping of keys to
    scalars, kept as text of at most `MAX_YAML_VALUE` characters. Anything else (sequences,
    nested mappings, long values) is skipped without being built, and an alias stands for the
    scalar it names, never for a collection: 414 bytes of aliases to aliases ("billion laughs")
    used to expand to 1.3 GB of text, and 10,000 nested brackets to a `RecursionError` in the
    composer. The events come from PyYAML's iterative parser, so nothing here recurses."""
    try:
        import yaml
    except ImportError:
        return parse_simple_yaml(text)  # type: ignore[return-value]  # groups of str → str
    result: dict[str, dict[str, str]] = {}
    anchors: dict[str, str] = {}  # anchor → scalar text
    frames: list[list[Any]] = []  # the open mappings we read: [expecting a key, the key]
    group: dict[str, str] | None = None
    depth = 0  # collections open
    skip_from = 0  # > 0: inside a collection being skipped (not ours), opened at this depth

    def scalar_text(event: Any) -> str | None:
        if len(event.value) > MAX_YAML_VALUE:
            return None
        if event.style is None and event.value in ("~", "null", "Null", "NULL"):
            return ""
        return str(event.value)

    def node_done() -> None:
        """A key or value that is not ours (a collection) ended in the innermost mapping."""
        if frames:
            frame = frames[-1]
            frame[0], frame[1] = not frame[0], None

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if skip_from:
                    continue
                is_map = isinstance(event, yaml.MappingStartEvent)
                parent = frames[-1] if frames else None
                if depth == 1 and is_map:
                    frames.append([True, None])  # the document's mapping of groups
                elif depth == 2 and is_map and parent and not parent[0] and parent[1]:
                    group = result.setdefault(parent[1], {})
                    frames.append([True, None])
                else:
                    skip_from = depth  # skipped: never built, nothing in it read
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                if skip_from == depth:
                    skip_from = 0
                    node_done()
                elif not skip_from:
                    frames.pop()
                    group = None
                    node_done()
                depth -= 1
            elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                if isinstance(event, yaml.ScalarEvent):
                    value = scalar_text(event)
                    if value is not None and event.anchor and len(anchors) < 1000:
                        anchors[event.anchor] = value
                else:
                    value = anchors.get(event.anchor or "")  # a collection's alias: None
                if skip_from or not frames:
                    continue
                frame = frames[-1]
                if frame[0]:
                    frame[0], frame[1] = False, value
                else:
                    if depth == 2 and group is not None and frame[1] and value is not None:
                        group[frame[1]] = value
                    frame[0], frame[1] = True, None
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {exc}") from None
    return result


def parse_simple_yaml(text: str) -> dict[str, object]:
    """A reader for the layout `extra_model_paths.yaml` uses: top-level group names, each with
    indented `key: value` lines, where a value may be a `|` block of more-indented lines.
    Comments (`#` at a line start or after a space) and quotes around values are handled."""
    result: dict[str, object] = {}
    group: dict[str, str] | None = None
    group_indent = -1
    block_key: str | None = None
    block_lines: list[str] = []
    block_indent = -1

    def close_block() -> None:
        nonlocal block_key, block_lines, block_indent
        if group is not None and block_key is not None:
            group[block_key] = "\n".join(block_lines) + ("\n" if block_lines else "")
        block_key, block_lines, block_indent = None, [], -1

    for raw in text.splitlines():
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if block_key is not None:
            if block_indent < 0 and indent > group_indent:
                block_indent = indent
            if block_indent >= 0 and indent >= block_indent:
                block_lines.append(line.strip())
                continue
            close_block()
        content = line.strip()
        key, sep, value = content.partition(":")
        if not sep:
            raise ValueError(f"cannot read line {raw.strip()!r}")
        key, value = key.strip(), _unquote(value.strip())
        if indent == 0:
            group = {}
            result[key] = group
            group_indent = -1
            continue
        if group is None:
            raise ValueError(f"indented line before any group: {raw.strip()!r}")
        if group_indent < 0:
            group_indent = indent
        if value in ("|", "|-", "|+", ">", ">-"):
            block_key, block_lines, block_indent = key, [], -1
            continue
        group[key] = value
    close_block()
    return result


def _strip_comment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    cut = line.find(" #")
    return line if cut < 0 else line[:cut]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


# -- installs at their usual places ----------------------------------------------------------


@dataclass(frozen=True)
class DetectedInstall:
    """Another tool's install found at a usual place, offered to the user on first run."""

    path: Path
    layout: str

    @property
    def label(self) -> str:
        return LAYOUT_LABELS.get(self.layout, self.layout)


USUAL_INSTALL_FOLDERS: tuple[str, ...] = (
    "stable-diffusion-webui",
    "stable-diffusion-webui-forge",
    "sd-webui-forge",
    "webui_forge/webui",
    "ComfyUI",
    "comfyui",
    "ComfyUI_windows_portable/ComfyUI",
    "Documents/ComfyUI",
    "Fooocus",
    "invokeai",
    "Documents/invokeai",
)


def detect_installs(home: Path | None = None) -> list[DetectedInstall]:
    """Installs of AUTOMATIC1111, Forge, ComfyUI, Fooocus or InvokeAI at their usual places
    under the user's home folder (and `INVOKEAI_ROOT`). Only folders that look like one count."""
    home = home if home is not None else Path.home()
    candidates = [home / rel for rel in USUAL_INSTALL_FOLDERS]
    invoke_root = os.environ.get("INVOKEAI_ROOT")
    if invoke_root:
        candidates.append(Path(invoke_root))
    found: list[DetectedInstall] = []
    seen: set[Path] = set()
    for candidate in candidates:
        try:
            if not candidate.is_dir():
                continue
            resolved = candidate.resolve()
        except OSError:
            continue
        if resolved in seen:
            continue
        seen.add(resolved)
        layout = detect_layout(resolved)
        if layout != "plain":
            found.append(DetectedInstall(resolved, layout))
    return found
