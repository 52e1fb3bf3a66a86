"""The one atomic write and the one file-head sniff that every writer and reader uses."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from sneakerstudio.core.files import atomic
from sneakerstudio.core.files.sniff import sniff


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = atomic.write_text(tmp_path / "settings.json", '{"old": 1}')
    with pytest.raises(OSError), atomic.atomic_writer(target) as handle:
        handle.write(b'{"new": ')
        raise OSError(28, "No space left on device")
    assert target.read_text() == '{"old": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]
    atomic.write_bytes(target, b"new")
    assert target.read_bytes() == b"new"


def test_write_new_never_replaces_a_file(tmp_path: Path) -> None:
    first = atomic.write_new(tmp_path / "out" / "a.png", lambda f: f.write(b"1"))
    second = atomic.write_new(tmp_path / "out" / "a.png", lambda f: f.write(b"2"))
    assert (first.name, second.name) == ("a.png", "a-1.png")
    assert (first.read_bytes(), second.read_bytes()) == (b"1", b"2")
    assert sorted(p.name for p in first.parent.iterdir()) == ["a-1.png", "a.png"]


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
        (b"PK\x03\x04archive", "zip"),
        (b"\x80\x02}q\x00", "pickle"),
        (struct.pack("<Q", 0x80) + b'{"a":', "safetensors"),  # starts with a pickle's 0x80
        (struct.pack("<Q", 100), None),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
        (b"", None),
    ],
)
def test_files_are_told_apart_by_their_first_bytes(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind
