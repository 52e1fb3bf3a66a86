"""`sneakerstudio models download`: a model file from Hugging Face (or the mirror in
HF_ENDPOINT) into the model library, verified.

    sneakerstudio models download REPO FILE [--revision R] [--sha256 H] [--to FOLDER] [--json]
    sneakerstudio models download --starter NAME [--to FOLDER] [--json]
    sneakerstudio models download --starter list

Files go to the app's own models folder (a starter model to its kind's sub-folder) unless
`--to` names another; progress goes to stderr, and with `--json` stdout carries one object,
`{"path", "sha256", "bytes", …}`. Ctrl+C stops the download and removes the partial file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sneakerstudio.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, err
from sneakerstudio.core.protocol.units import format_size


def add_parser(cmds: Any) -> argparse.ArgumentParser:
    dl = cmds.add_parser(
        "download",
        help="download a model file from Hugging Face (or HF_ENDPOINT), verified, into the "
        "library; --starter NAME for one of the starter models",
    )
    dl.add_argument("repo", nargs="?", metavar="REPO", help="the repository, e.g. owner/name")
    dl.add_argument("file", nargs="?", metavar="FILE", help="the file's path in the repository")
    dl.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    dl.add_argument("--sha256", default=None, help="the file's expected sha256 (checked)")
    dl.add_argument("--to", default=None, metavar="FOLDER", help="save here instead")
    dl.add_argument(
        "--starter", default=None, metavar="NAME", help="a starter model ('list' lists them)"
    )
    dl.add_argument("--json", action="store_true", help="print one JSON object")
    return dl


def run(library: Any, args: argparse.Namespace) -> int:
    from sneakerstudio.cli.models import _Interrupt
    from sneakerstudio.core.downloads import (
        DownloadCancelled,
        DownloadError,
        DownloadTarget,
        download,
        download_starter,
        load_catalogue,
    )

    if args.starter is not None and (args.repo or args.file):
        err("error: give either REPO FILE or --starter NAME, not both.")
        return EXIT_USAGE
    if args.starter is None and not (args.repo and args.file):
        err(
            "error: give REPO and FILE (e.g. stabilityai/sd-turbo sd_turbo.safetensors), or "
            "--starter NAME (--starter list shows them)."
        )
        return EXIT_USAGE
    models_dir = Path(library.app_models_dir)
    report = _printer()
    out: dict[str, Any]
    try:
        with _Interrupt() as interrupt:
            if args.starter is not None:
                catalogue = load_catalogue()
                if args.starter.strip().lower() == "list":
                    return _list_starters(catalogue, args.json)
                model = catalogue.find(args.starter)
                into = Path(args.to).expanduser() if args.to else None
                results = download_starter(
                    model, models_dir, into=into, report=report, cancel=interrupt.event
                )
                main = model.main_file(models_dir) if into is None else _biggest(results)
                out = {
                    "path": str(main.resolve()),
                    "sha256": next((r.sha256 for r in results if r.path == main.resolve()), None),
                    "bytes": sum(r.bytes for r in results),
                    "starter": model.name,
                    "files": [r.to_dict() for r in results],
                }
            else:
                target = DownloadTarget(
                    args.repo, args.file, revision=args.revision, sha256=args.sha256
                )
                folder = Path(args.to).expanduser() if args.to else models_dir
                result = download(target, folder, report=report, cancel=interrupt.event)
                out = result.to_dict()
    except DownloadCancelled:
        err("Download cancelled; the partial file was removed.")
        return EXIT_CANCELLED
    except DownloadError as exc:
        err(f"error: {exc}")
        return EXIT_FAILED
    _add_to_library(library, Path(out["path"]))
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        err(f"Saved {out['path']} ({format_size(out['bytes'])}, sha256 {out['sha256']}).")
    return EXIT_OK


def _biggest(results: list[Any]) -> Path:
    return max(results, key=lambda r: r.bytes).path


def _list_starters(catalogue: Any, as_json: bool) -> int:
    if as_json:
        rows = [
            {
                "name": m.name,
                "title": m.title,
                "kind": m.kind,
                "base": m.base,
                "repo": m.repo,
                "revision": m.revision,
                "files": [f.file for f in m.files],
                "bytes": m.size,
                "licence": m.licence,
                "purpose": m.purpose,
                "verified": m.verified,
            }
            for m in catalogue.models
        ]
        print(json.dumps({"models": rows, "provenance": catalogue.provenance}, ensure_ascii=False))
        return EXIT_OK
    for m in catalogue.models:
        print(f"{m.name:26} {format_size(m.size):>9}  {m.title} — {m.purpose}")
        print(f"{'':26} {'':>9}  {m.repo} · {m.licence}")
    return EXIT_OK


def _printer() -> Any:
    interactive = sys.stderr.isatty()
    last: list[Any] = [None, -1]

    def show(progress: Any) -> None:
        tenth = int(10 * (progress.fraction or 0))
        key = (progress.name, progress.phase)
        if not interactive and key == last[0] and tenth == last[1]:
            return
        line = f"{progress.name}: {progress.text()}"
        if interactive:
            end = "\n" if progress.phase == "done" else ""
            print(f"\r\033[K{line[:110]}", end=end, file=sys.stderr, flush=True)
        else:
            err(line)
        last[0], last[1] = key, tenth

    return show


def _add_to_library(library: Any, path: Path) -> None:
    """Scan the library when the download landed in one of its folders (only new files are
    read), so `models list` and the window show it at once."""
    try:
        inside = any(
            Path(f.path) == path.parent or Path(f.path) in path.parents for f in library.folders()
        )
        if inside:
            library.scan()
    except Exception as exc:  # the file is there; the next scan will find it
        err(f"note: the library was not rescanned ({exc}); run `sneakerstudio models scan`.")
