"""Shared pieces of the bad-input, fault and fuzz tests.

A *payload* is a pickle that, if anything ever unpickles it the unsafe way, creates a sentinel
file. Tests build payloads with `pickle_payload`, throw them at the app, and finish with
`assert_no_payload_ran()`: the sentinel must never appear.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest


class _Payload:
    """Unpickling this calls `os.system("touch <sentinel>")`-like code: it writes the sentinel."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = str(sentinel)

    def __reduce__(self):  # type: ignore[override]
        code = f"open({self.sentinel!r}, 'w').write('payload ran')"
        return (exec, (code,))


class Sentinels:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._count = 0

    def new(self) -> Path:
        self._count += 1
        return self.folder / f"payload-ran-{self._count}"

    def pickle_payload(self, *, protocol: int = 2) -> bytes:
        """Bytes of a pickle whose unpickling would create a fresh sentinel file."""
        return pickle.dumps({"state_dict": _Payload(self.new())}, protocol=protocol)

    def ran(self) -> list[Path]:
        return sorted(self.folder.glob("payload-ran-*"))

    def assert_no_payload_ran(self) -> None:
        ran = self.ran()
        assert not ran, f"a pickle payload ran: {ran}"


@pytest.fixture()
def sentinels(tmp_path: Path) -> Iterator[Sentinels]:
    folder = tmp_path / "sentinels"
    folder.mkdir()
    s = Sentinels(folder)
    yield s
    s.assert_no_payload_ran()


def fuzz_examples(default_ci: int = 300) -> int:
    """How many examples a fuzz test runs: a short budget in CI, `FUZZ_EXAMPLES` by hand."""
    return int(os.environ.get("FUZZ_EXAMPLES", default_ci))


def soak_jobs(default_ci: int = 24) -> int:
    """How many generations a soak test queues: short in CI, `SOAK_JOBS=200` by hand."""
    return int(os.environ.get("SOAK_JOBS", default_ci))
