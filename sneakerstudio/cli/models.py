"""`sneakerstudio models`: the model library from the command line.

`add-folder DIR` (a folder of models, or the root of an AUTOMATIC1111 / Forge / ComfyUI /
Fooocus / InvokeAI install), `remove-folder DIR`, `folders`, `scan`, `hash`,
`list [--json] [--kind K] [--base B]`, `show NAME_OR_PATH [--json]`, `prepare NAME_OR_PATH`
(convert for OpenVINO now: `cli/prepare.py`) and `download` (the only one that connects
anywhere: `cli/download.py`). Files are read where they are; nothing is copied.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from sneakerstudio.cli import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    download,
    err,
    prepare,
)
from sneakerstudio.core.families.registry import bases
from sneakerstudio.core.protocol.units import format_size

KINDS = ("checkpoint", "lora", "lycoris", "embedding", "vae", "controlnet", "upscaler", "unknown")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    models = sub.add_parser("models", help="the model library: folders, scan, list, show")
    cmds = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND")

    add = cmds.add_parser(
        "add-folder",
        help="add a folder of models, or an A1111 / Forge / ComfyUI / Fooocus / InvokeAI "
        "install folder (read in place, never copied)",
    )
    add.add_argument("dir", help="the folder")
    add.add_argument("--no-scan", action="store_true", help="do not scan it now")

    remove = cmds.add_parser("remove-folder", help="forget a folder (its files are kept)")
    remove.add_argument("dir", help="the folder, as `models folders` lists it")

    cmds.add_parser("folders", help="list the library's folders")

    scan = cmds.add_parser("scan", help="look for new, changed and missing files")
    scan.add_argument("--rebuild", action="store_true", help="forget the index and read all")
    scan.add_argument("--json", action="store_true", help="print one JSON object")

    cmds.add_parser("hash", help="compute the hashes not known yet (Ctrl+C stops)")

    listing = cmds.add_parser("list", help="list the models")
    listing.add_argument("--kind", choices=KINDS, help="only this kind")
    listing.add_argument("--base", choices=bases(), help="only this base model family")
    listing.add_argument("--search", default=None, help="name, sub-folder or trigger word")
    listing.add_argument(
        "--sort", default="name", choices=("name", "size", "modified", "base", "kind")
    )
    listing.add_argument("--missing", action="store_true", help="include missing files")
    listing.add_argument("--json", action="store_true", help="print one JSON object")

    show = cmds.add_parser("show", help="everything the library knows about one model")
    show.add_argument("name", metavar="NAME_OR_PATH", help="a library name or a path")
    show.add_argument("--kind", choices=KINDS, help="look only among this kind")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    download.add_parser(cmds)
    prepare.add_parser(cmds)
    models.set_defaults(models_parser=models)
    return models


def run(args: argparse.Namespace) -> int:
    from sneakerstudio.core.models.library import Library
    from sneakerstudio.core.protocol.errors import SneakerError

    command = getattr(args, "models_command", None)
    if command is None:
        args.models_parser.print_help()
        return EXIT_USAGE
    try:
        library = Library()
    except (OSError, SneakerError) as exc:
        err(f"error: the model library cannot be opened: {exc}")
        return EXIT_FAILED
    try:
        if library.recovered_from is not None:
            err(
                f"note: the model index was damaged; it was moved to '{library.recovered_from}' "
                "and is being rebuilt from your folders."
            )
        handler = {
            "add-folder": _add_folder,
            "remove-folder": _remove_folder,
            "folders": _folders,
            "scan": _scan,
            "hash": _hash,
            "list": _list,
            "show": _show,
            "download": download.run,
            "prepare": prepare.run,
        }[command]
        return handler(library, args)
    except SneakerError as exc:
        err(f"error: {exc}")
        return EXIT_USAGE if exc.kind == "library" else EXIT_FAILED
    finally:
        library.close()


class _Interrupt:
    """Ctrl+C sets a flag the scan or hashing checks, instead of killing the process."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.previous: Any = None

    def __enter__(self) -> _Interrupt:
        self.previous = signal.signal(signal.SIGINT, lambda *_: self.event.set())
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self.previous)

    def __call__(self) -> bool:
        return self.event.is_set()


def _progress_printer() -> Any:
    interactive = sys.stderr.isatty()

    def show(progress: Any) -> None:
        if progress.phase != "reading" or not progress.total:
            return
        line = f"reading {progress.done}/{progress.total} {progress.name}"
        if interactive:
            print(f"\r\033[K{line[:100]}", end="", file=sys.stderr, flush=True)
            if progress.done == progress.total:
                print(file=sys.stderr)
        elif progress.done == progress.total or (progress.done and progress.done % 100 == 0):
            err(line)

    return show


def _offer_installs(library: Any) -> None:
    """On first use, name the installs of other tools found at their usual places."""
    if any(f.origin == "user" for f in library.folders()):
        return
    for found in library.suggestions():
        err(
            f"Found a {found.label} install at '{found.path}'. Add its models with: "
            f'sneakerstudio models add-folder "{found.path}"'
        )


def _scan_now(library: Any, rebuild: bool = False) -> Any:
    with _Interrupt() as cancel:
        action = library.rebuild if rebuild else library.scan
        report = action(progress=_progress_printer(), cancel=cancel)
    for note in report.notes:
        err(f"note: {note}")
    for path, problem in report.errors[:20]:
        err(f"warning: {path}: {problem}")
    if len(report.errors) > 20:
        err(f"warning: … and {len(report.errors) - 20} more files that could not be read")
    return report


def _add_folder(library: Any, args: argparse.Namespace) -> int:
    from sneakerstudio.core.models.library import FolderAlreadyAddedError

    try:
        folder = library.add_folder(args.dir)
    except FolderAlreadyAddedError as exc:  # what the user wanted is already so: not an error
        err(f"{exc} Nothing was added" + ("." if args.no_scan else "; looking for new files."))
    else:
        err(f"Added '{folder.path}' ({folder.label}).")
    if not args.no_scan:
        report = _scan_now(library)
        err(report.summary())
        if report.cancelled:
            return EXIT_CANCELLED
    return EXIT_OK


def _remove_folder(library: Any, args: argparse.Namespace) -> int:
    count = library.remove_folder(args.dir)
    err(f"Removed the folder and {count} models from the library; no file was touched.")
    return EXIT_OK


def _folders(library: Any, args: argparse.Namespace) -> int:
    for folder in library.folders():
        print(f"{folder.path}\t{folder.label}")
    _offer_installs(library)
    return EXIT_OK


def _scan(library: Any, args: argparse.Namespace) -> int:
    report = _scan_now(library, rebuild=args.rebuild)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        err(report.summary())
    _offer_installs(library)
    return EXIT_CANCELLED if report.cancelled else EXIT_OK


def _hash(library: Any, args: argparse.Namespace) -> int:
    interactive = sys.stderr.isatty()
    last = [-1]

    def show(p: Any) -> None:
        percent = int(100 * p.done_bytes / p.total_bytes) if p.total_bytes else 100
        if percent == last[0]:
            return
        last[0] = percent
        line = f"hashing {p.file_index}/{p.file_count} {percent}% {p.name}"
        if interactive:
            print(f"\r\033[K{line[:100]}", end="", file=sys.stderr, flush=True)
        elif percent % 10 == 0:
            err(line)

    with _Interrupt() as cancel:
        report = library.hash_pending(progress=show, cancel=cancel)
    if interactive:
        print(file=sys.stderr)
    for path, problem in report.errors:
        err(f"warning: {path}: {problem}")
    mib = report.bytes / 2**20
    rate = mib / report.seconds if report.seconds else 0.0
    state = "Cancelled after" if report.cancelled else "Hashed"
    err(f"{state} {len(report.hashed)} files, {mib:.0f} MiB at {rate:.0f} MiB/s.")
    return EXIT_CANCELLED if report.cancelled else EXIT_OK


def _list(library: Any, args: argparse.Namespace) -> int:
    entries = library.models(
        kind=args.kind,
        base=args.base,
        text=args.search,
        sort=args.sort,
        include_missing=args.missing,
    )
    if args.json:
        print(
            json.dumps(
                {"count": len(entries), "models": [e.to_dict() for e in entries]},
                ensure_ascii=False,
                default=str,
            )
        )
        return EXIT_OK
    if not entries:
        err("No models found." + ("" if library.folders()[1:] else " Add a folder first."))
        _offer_installs(library)
        return EXIT_OK
    rows = [("NAME", "KIND", "BASE", "SIZE", "AUTOV2", "PATH")]
    for e in entries:
        name = e.relpath.rsplit(".", 1)[0] if e.format != "diffusers" else e.relpath
        rows.append(
            (
                ("* " if e.favourite else "") + name + (" (missing)" if e.missing else ""),
                e.kind,
                e.base or "-",
                format_size(e.size),
                e.autov2 or "-",
                e.path,
            )
        )
    widths = [min(max(len(r[i]) for r in rows), 48) for i in range(5)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(5)] + [row[5]]
        print("  ".join(cells))
    return EXIT_OK


def _show(library: Any, args: argparse.Namespace) -> int:
    from pathlib import Path

    path = Path(args.name).expanduser()
    entry = library.get(path) if path.exists() else None
    if entry is None:
        entry = library.find(args.name, args.kind)
    if args.json:
        print(json.dumps(entry.to_dict(), ensure_ascii=False, default=str))
        return EXIT_OK
    override = lambda value: " (your choice)" if value else ""  # noqa: E731
    lines = [
        ("name", entry.name),
        ("path", entry.path + (" (missing)" if entry.missing else "")),
        ("kind", entry.kind),
        ("base", (entry.base or "unknown") + override(entry.base_override)),
        ("variant", entry.variant or "-"),
        ("prediction", (entry.prediction or "-") + override(entry.prediction_override)),
        ("format", entry.format or "-"),
        ("size", format_size(entry.size)),
        ("AutoV2", entry.autov2 or "not computed yet (sneakerstudio models hash)"),
    ]
    if entry.is_lora:
        lines.append(("addnet hash", entry.addnet_hash or "not computed yet"))
        if entry.info.get("dim") is not None:
            lines.append(("dim / alpha", f"{entry.info.get('dim')} / {entry.info.get('alpha')}"))
        lines.append(("weight", f"{entry.default_weight:g}"))
    if entry.trigger_words:
        lines.append(("trigger words", ", ".join(entry.trigger_words)))
    if entry.activation_text:
        lines.append(("activation text", entry.activation_text))
    if entry.thumbnail:
        lines.append(("thumbnail", entry.thumbnail))
    if entry.description:
        lines.append(("description", entry.description))
    for key, value in sorted(entry.info.get("metadata", {}).items()):
        lines.append((key, value if len(value) < 200 else value[:197] + "…"))
    if entry.info.get("why"):
        lines.append(("note", entry.info["why"]))
    if entry.error:
        lines.append(("problem", entry.error))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key.ljust(width)}  {value}")
    return EXIT_OK
