"""The safetensors header reader: good files read without touching the weights, pickles under
any name are refused as unsafe, and every kind of broken header is refused with a message that
names the file and says what to do."""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from sneakerstudio.core.models.header import (
    MAX_HEADER_BYTES,
    TensorInfo,
    read_header,
    sniff_pickle,
)
from sneakerstudio.core.protocol.errors import ModelFileError, UnsafeFileError


def write_raw(path: Path, header: dict | bytes, data: bytes) -> Path:
    """A file in safetensors layout with exactly this header and data section."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.safetensors"
    save_file(
        {
            "a.weight": np.zeros((3, 4), dtype=np.float16),
            "b.bias": np.ones((5,), dtype=np.float32),
            "c.ids": np.arange(7, dtype=np.int64)[None],
        },
        str(path),
        metadata={"ss_network_dim": "16", "format": "pt"},
    )
    return path


def test_reads_names_dtypes_shapes_and_metadata(good_file: Path) -> None:
    tensors, metadata = read_header(good_file)
    assert tensors["a.weight"].dtype == "F16"
    assert tensors["a.weight"].shape == (3, 4)
    assert tensors["b.bias"] == TensorInfo("F32", (5,), tensors["b.bias"].data_offsets)
    assert tensors["c.ids"].shape == (1, 7) and tensors["c.ids"].numel == 7
    assert metadata == {"ss_network_dim": "16", "format": "pt"}


def test_reads_only_the_header(good_file: Path, tmp_path: Path) -> None:
    """A huge data section costs nothing: only the first 8 + N bytes are read."""
    big = tmp_path / "big.safetensors"
    n = 50_000_000
    header = {"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}
    raw = json.dumps(header).encode()
    with big.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + n)  # sparse: no 50 MB written
    tensors, _ = read_header(big)
    assert tensors["w"].shape == (n,)


def test_empty_metadata_and_no_tensors(tmp_path: Path) -> None:
    tensors, metadata = read_header(write_raw(tmp_path / "e.safetensors", {}, b""))
    assert tensors == {} and metadata == {}


def test_header_padding_spaces_are_accepted(tmp_path: Path) -> None:
    """The format allows trailing spaces after the JSON for alignment."""
    raw = json.dumps({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path = write_raw(tmp_path / "pad.safetensors", raw + b"   ", b"\0" * 8)
    assert read_header(path)[0]["x"].shape == (2,)


# -- pickles ---------------------------------------------------------------------------------


def test_zip_pickle_renamed_safetensors_is_unsafe(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    with zipfile.ZipFile(path, "w") as z:  # what torch.save writes
        z.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(UnsafeFileError) as err:
        read_header(path)
    assert "model.safetensors" in str(err.value)
    assert "pickle" in str(err.value)


def test_raw_pickle_is_unsafe_whatever_the_name(tmp_path: Path) -> None:
    path = tmp_path / "weights.SAFETENSORS"
    path.write_bytes(pickle.dumps({"state_dict": {}}, protocol=2))
    assert path.read_bytes()[0] == 0x80
    with pytest.raises(UnsafeFileError):
        read_header(path)


def test_sniff() -> None:
    assert sniff_pickle(b"PK\x03\x04rest") == "zip"
    assert sniff_pickle(b"\x80\x02}q") == "pickle"
    assert sniff_pickle(struct.pack("<Q", 100)) is None
    assert sniff_pickle(b"") is None


# -- broken files ----------------------------------------------------------------------------


def assert_refused(path: Path, *words: str) -> ModelFileError:
    with pytest.raises(ModelFileError) as err:
        read_header(path)
    assert not isinstance(err.value, UnsafeFileError)
    text = str(err.value)
    assert path.name in text
    for word in words:
        assert word in text, text
    return err.value


def test_truncated_file_names_the_file_and_says_download_again(good_file: Path) -> None:
    data = good_file.read_bytes()
    good_file.write_bytes(data[:-10])
    err = assert_refused(good_file, "download it again")
    assert err.hint


def test_truncated_inside_the_header(good_file: Path) -> None:
    good_file.write_bytes(good_file.read_bytes()[:40])
    assert_refused(good_file, "past the end")


def test_tiny_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(b"{}")
    assert_refused(path, "2 bytes")


def test_header_length_over_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{}")
    assert_refused(path, "limit")


def test_text_file_renamed(tmp_path: Path) -> None:
    path = tmp_path / "notes.safetensors"
    path.write_text("hello, this is not a model at all, just words " * 20)
    assert_refused(path)


@pytest.mark.parametrize(
    ("header", "data", "words"),
    [
        (b"[1, 2]", b"", ("JSON object",)),
        (b"{not json", b"", ("JSON",)),
        (b'{"a": \xff}', b"", ("UTF-8",)),
        ({"x": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, ("dtype",)),
        ({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, ("shape",)),
        ({"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4, ("offsets",)),
        ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4, ("needs 8",)),
        (
            {
                "x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                "y": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
            },
            b"\0" * 12,
            ("gap",),
        ),
        (
            {
                "x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
            },
            b"\0" * 8,
            ("overlaps",),
        ),
        ({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 9, ("extra",)),
        ({"x": {"dtype": "F32", "shape": [1], "data_offsets": [1, 5]}}, b"\0" * 5, ("gap",)),
        ({"__metadata__": {"a": 1}}, b"", ("__metadata__",)),
        ({"x": [1, 2]}, b"", ("not an object",)),
    ],
)
def test_malformed_headers(tmp_path: Path, header, data: bytes, words: tuple[str, ...]) -> None:
    assert_refused(write_raw(tmp_path / "bad.safetensors", header, data), *words)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        read_header(tmp_path / "nope.safetensors")
