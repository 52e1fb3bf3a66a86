"""Pin the starter catalogue (sneakerstudio/resources/starter_models.json) to what the hub
serves: for every file, the commit the revision points at, the size and the sha256, taken from
the hub's answer to a HEAD request (X-Repo-Commit, X-Linked-Size, X-Linked-Etag, the sha256 of
an LFS file). No weights are downloaded. Run it on a machine with a connection:

    python tools/pin_starter_models.py [--dry-run] [CATALOGUE]

An entry is marked `verified: true` once every file has a commit, a size and a sha256; a file
the hub keeps in git rather than LFS (a small config.json) has no sha256 in the answer and keeps
none, so its entry stays unverified and says why in `verified_note`. HF_ENDPOINT and HF_TOKEN
are honoured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sneakerstudio.core.downloads import hosts  # noqa: E402
from sneakerstudio.core.downloads.hub import describe  # noqa: E402


def pin(catalogue: dict[str, Any], timeout: float = 20.0) -> list[str]:
    """Fill revisions, sizes and hashes in place; the lines of a report."""
    import threading

    hub, cancel, report = hosts.endpoint(), threading.Event(), []
    for entry in catalogue["models"]:
        commits, missing = set(), []
        for spec in entry["files"]:
            remote = describe(entry["repo"], spec["file"], entry["revision"], hub, cancel, timeout)
            commits.add(remote.commit)
            if remote.size:
                spec["size"] = remote.size
            if remote.etag_sha256:
                spec["sha256"] = remote.etag_sha256
            elif not spec.get("sha256"):
                missing.append(spec["file"])
            report.append(f"{entry['name']}: {spec['file']} {remote.size} {remote.etag_sha256}")
        if len(commits) == 1:
            entry["revision"] = commits.pop()
        entry["verified"] = not missing and len(entry["files"]) > 0
        if missing:
            entry["verified_note"] = f"no sha256 from the hub for {', '.join(missing)} (not LFS)"
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "catalogue",
        nargs="?",
        type=Path,
        default=ROOT / "sneakerstudio" / "resources" / "starter_models.json",
    )
    parser.add_argument("--dry-run", action="store_true", help="print, do not write")
    args = parser.parse_args(argv)
    data = json.loads(args.catalogue.read_text(encoding="utf-8"))
    for line in pin(data):
        print(line)
    if not args.dry_run:
        args.catalogue.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
