"""Model hashes match what other tools compute, are cached, report progress and can stop."""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
from pathlib import Path

import pytest

from sneakerstudio.core.models import hashing
from sneakerstudio.core.models.hashing import (
    HashingCancelled,
    addnet_hash,
    addnet_sha256,
    autov2_hash,
    legacy_model_hash,
    sha256_file,
)
from sneakerstudio.core.protocol.errors import ModelFileError

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _fresh_cache():
    hashing.clear_cache()
    yield
    hashing.clear_cache()


@pytest.fixture
def blob(tmp_path: Path) -> tuple[Path, bytes]:
    """A 2.5 MiB file of seeded random bytes: spans several chunks and the legacy window."""
    data = random.Random(1234).randbytes(2 * MIB + MIB // 2)
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    return path, data


def write_safetensors(path: Path, tensor_bytes: bytes, metadata: dict[str, str]) -> bytes:
    """A valid safetensors file: one uint8 tensor holding `tensor_bytes`. Returns the file."""
    header = {
        "__metadata__": metadata,
        "w": {"dtype": "U8", "shape": [len(tensor_bytes)], "data_offsets": [0, len(tensor_bytes)]},
    }
    header_bytes = json.dumps(header).encode()
    data = struct.pack("<Q", len(header_bytes)) + header_bytes + tensor_bytes
    path.write_bytes(data)
    return data


def test_sha256_and_autov2_match_hashlib(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == expected
    assert autov2_hash(path) == expected[:10]
    assert len(autov2_hash(path)) == 10


def test_legacy_hash_reads_64k_at_1mib(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    expected = hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]
    assert legacy_model_hash(path) == expected


def test_legacy_hash_of_a_small_file_hashes_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "small.ckpt"
    path.write_bytes(b"x" * 1000)
    assert legacy_model_hash(path) == hashlib.sha256(b"").hexdigest()[:8]


def test_addnet_hash_skips_the_header(tmp_path: Path) -> None:
    tensor = random.Random(7).randbytes(3 * MIB + 17)
    path = tmp_path / "lora.safetensors"
    write_safetensors(path, tensor, {"ss_output_name": "graffiti"})
    expected = hashlib.sha256(tensor).hexdigest()
    assert addnet_sha256(path) == expected
    assert addnet_hash(path) == expected[:12]

    # Editing only the metadata changes the file hash but not the addnet hash.
    other = tmp_path / "renamed.safetensors"
    write_safetensors(other, tensor, {"ss_output_name": "something else entirely"})
    assert addnet_hash(other) == addnet_hash(path)
    assert autov2_hash(other) != autov2_hash(path)


def test_addnet_hash_matches_the_safetensors_library(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "real.safetensors"
    safetensors_numpy.save_file(
        {"a": np.arange(1000, dtype=np.float32), "b": np.ones((3, 5), dtype=np.float16)},
        str(path),
        metadata={"ss_network_dim": "4"},
    )
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    assert addnet_hash(path) == hashlib.sha256(data[8 + n :]).hexdigest()[:12]


@pytest.mark.parametrize(
    "content",
    [b"\x01\x02", struct.pack("<Q", 10**12) + b"{}", struct.pack("<Q", 50) + b"{}"],
    ids=["too-short", "huge-header", "header-past-end"],
)
def test_addnet_hash_refuses_a_broken_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=r"broken\.safetensors"):
        addnet_hash(path)


def test_missing_file_is_a_model_file_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"missing\.safetensors"):
        autov2_hash(tmp_path / "missing.safetensors")


def test_second_call_is_served_from_the_cache(blob: tuple[Path, bytes], monkeypatch) -> None:
    path, _ = blob
    first = sha256_file(path)
    calls = []
    real = hashing._hash_range
    monkeypatch.setattr(hashing, "_hash_range", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert sha256_file(path) == first
    assert autov2_hash(str(path)) == first[:10]  # same file by another spelling
    assert calls == []


def test_cache_notices_a_changed_file(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    before = sha256_file(path)
    st = path.stat()
    changed = bytes([data[0] ^ 0xFF]) + data[1:]
    path.write_bytes(changed)
    # Same size, same mtime: the cache (by design) cannot tell, and answers from memory.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert sha256_file(path) == before
    # A new mtime is a new file as far as the cache is concerned.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert sha256_file(path) == hashlib.sha256(changed).hexdigest()


def test_progress_reports_every_chunk_up_to_the_total(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    seen: list[tuple[int, int]] = []
    sha256_file(path, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, len(data))
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(seen) == 1 + -(-len(data) // MIB)  # start + one per 1 MiB chunk


def test_cancel_stops_hashing_and_caches_nothing(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    done: list[int] = []
    with pytest.raises(HashingCancelled):
        sha256_file(
            path,
            progress=lambda d, _t: done.append(d),
            cancel=lambda: bool(done) and done[-1] >= MIB,
        )
    assert done[-1] == MIB  # stopped after the first chunk, not at the end
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
