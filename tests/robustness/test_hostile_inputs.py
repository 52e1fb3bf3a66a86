"""Inputs built to hurt, one test per class a hostile tester found (issue 22): each was a hang,
a crash that stopped a whole scan, or an exhausted machine from a few hundred bytes.

- ComfyUI graphs whose links loop back or fan out twice per level (branching^depth walks);
- JSON that Python's parser lets through to hurt later: 100,000-deep nesting, numbers of more
  than 4,300 digits (a plain `ValueError`), `NaN` / `Infinity` — in sidecars, safetensors
  headers, LoRA `ss_*` metadata, the library's folder list and metadata chunks;
- `extra_model_paths.yaml` with aliases (billion laughs) or nesting deep enough to raise
  `RecursionError`;
- PNG text chunks that make the reader inflate data only to drop it.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from sneakerstudio.core.imaging.metadata import format_info, read_png_metadata
from sneakerstudio.core.models.header import read_header
from sneakerstudio.core.models.identify import identify
from sneakerstudio.core.models.library import Library
from sneakerstudio.core.models.library.sources import read_extra_model_paths
from sneakerstudio.core.models.pickle_convert import prune_converted
from sneakerstudio.core.protocol.errors import ModelFileError
from tests.core.library_helpers import kohya_lora, make_comfyui
from tests.robustness.test_image_corpus import chunk, small_png, with_chunks_after_ihdr, ztxt_bomb

ROOT = Path(__file__).resolve().parents[2]


def _comfy_png(nodes: dict[str, Any]) -> bytes:
    text = json.dumps(nodes, separators=(",", ":")).encode()
    return with_chunks_after_ihdr(small_png(), chunk(b"tEXt", b"prompt\0" + text))


def _read_in_child(path: Path, limit: float) -> float:
    """Read the metadata in a child process (a hang must not hang the test run): the seconds it
    took; fails when it takes longer than `limit`."""
    code = textwrap.dedent(
        f"""
        import time
        from sneakerstudio.core.imaging.metadata import read_png_metadata
        started = time.perf_counter()
        read_png_metadata({str(path)!r})
        print(time.perf_counter() - started)
        """
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=limit + 20,  # + the child's imports
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"reading {path.name} did not finish in {limit + 20:.0f} s") from None
    assert done.returncode == 0, done.stderr
    return float(done.stdout.strip())


# -- ComfyUI graphs ---------------------------------------------------------------------------


def test_a_sampler_linked_to_itself_is_read_at_once(tmp_path: Path) -> None:
    """One KSampler whose every link points at itself: ~200 bytes that used to hang forever."""
    me = ["1", 0]
    data = _comfy_png(
        {
            "1": {
                "class_type": "KSampler",
                "inputs": {
                    "seed": 1,
                    "positive": me,
                    "negative": me,
                    "latent_image": me,
                    "model": me,
                    "samples": me,
                    "latent": me,
                },
            }
        }
    )
    path = tmp_path / "loop.png"
    path.write_bytes(data)
    assert len(data) < 400
    assert _read_in_child(path, limit=2.0) < 2.0


def test_a_chain_linking_twice_to_the_next_node_is_read_at_once(tmp_path: Path) -> None:
    """Each node's two conditioning (and two latent) inputs lead to the next one: 2^depth paths
    for a walk that does not remember where it has been."""
    depth = 30
    nodes: dict[str, Any] = {
        "0": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 7,
                "steps": 20,
                "positive": ["1", 0],
                "negative": ["1", 0],
                "latent_image": ["1", 0],
            },
        }
    }
    for i in range(1, depth):
        nxt = [str(i + 1), 0]
        nodes[str(i)] = {
            "class_type": "Combine",
            "inputs": {"a": nxt, "b": nxt, "samples": nxt, "latent": nxt},
        }
    nodes[str(depth)] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a red shoe"}}
    path = tmp_path / "chain.png"
    path.write_bytes(_comfy_png(nodes))
    assert _read_in_child(path, limit=2.0) < 2.0
    meta = read_png_metadata(path)
    assert meta["source"] == "comfyui" and meta["seed"] == 7 and meta["steps"] == 20
    assert meta["prompt"] == "a red shoe"  # the walk still finds what is there


def test_a_graph_with_many_samplers_stays_linear(tmp_path: Path) -> None:
    """2,000 samplers, each fed by the previous one: every candidate walks back the chain."""
    nodes: dict[str, Any] = {}
    for i in range(2000):
        nodes[str(i)] = {
            "class_type": "KSampler",
            "inputs": {"seed": i, "latent_image": [str(i - 1), 0], "samples": [str(i - 1), 0]},
        }
    path = tmp_path / "many.png"
    path.write_bytes(_comfy_png(nodes))
    started = time.perf_counter()
    meta = read_png_metadata(path)
    assert time.perf_counter() - started < 5.0
    assert meta["source"] == "comfyui"


# -- the library's own files ------------------------------------------------------------------

_OPEN_AT = """
import sys, time
from pathlib import Path
from sneakerstudio.core.models.library import Library
start = float(sys.argv[2])
while time.time() < start:
    pass
with Library(Path(sys.argv[1]), detect_home=Path(sys.argv[1]) / "home") as library:
    library.folders()
print("ok")
"""


def test_two_processes_starting_on_a_fresh_data_folder_both_open_the_library(
    tmp_path: Path,
) -> None:
    """First run race: both saw schema version 0 before either migrated ("table already
    exists"), or met while switching the new file to WAL ("database is locked")."""
    failures = []
    for round_ in range(8):
        data = tmp_path / f"data-{round_}"
        start = time.time() + 0.6
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_AT, str(data), str(start)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for child in children:
            out, err = child.communicate(timeout=60)
            if child.returncode != 0 or out.strip() != "ok":
                failures.append(err.strip().splitlines()[-1:] or [f"rc {child.returncode}"])
    assert not failures, failures


_HOSTILE_JSON = {
    "deep-100k": "[" * 100_000 + "]" * 100_000,
    "deep-990": '{"activation text": ' + "[" * 990 + "]" * 990 + "}",
    "5000-digits": '{"preferred weight": 1' + "0" * 5000 + "}",
    "nan": '{"preferred weight": NaN, "activation text": "kept"}',
    "infinity": '{"preferred weight": -Infinity, "activation text": "kept"}',
    "1e400": '{"preferred weight": 1e400, "activation text": "kept"}',
}


@pytest.mark.parametrize("name", sorted(_HOSTILE_JSON))
def test_one_hostile_sidecar_never_stops_a_scan(tmp_path: Path, name: str) -> None:
    """A1111's `name.json` beside a LoRA: the scan goes on, the good files beside it are
    indexed, and name lookups work."""
    folder = tmp_path / "loras"
    kohya_lora(folder / "bad.safetensors", fill=1)
    kohya_lora(folder / "good.safetensors", fill=2)
    (folder / "bad.json").write_text(_HOSTILE_JSON[name])
    with Library(tmp_path / "data", detect_home=tmp_path / "nohome") as library:
        library.add_folder(folder)
        report = library.scan()
        models = {m.name: m for m in library.models()}
        assert set(models) == {"bad", "good"}, report
        assert models["bad"].kind == "lora" and models["good"].kind == "lora"
        assert models["bad"].default_weight == 1.0  # never NaN, ±inf or a 5,000-digit number
        assert library.resolve("good", kind="lora") == folder / "good.safetensors"


@pytest.mark.parametrize("name", ["deep-100k", "5000-digits", "nan", "1e400"])
def test_hostile_ss_tag_frequency_gives_no_trigger_words(tmp_path: Path, name: str) -> None:
    """kohya's `ss_tag_frequency` is JSON inside a header string: read with the same limits."""
    text = {
        "deep-100k": "[" * 100_000 + "]" * 100_000,
        "5000-digits": '{"f": {"tag": 1' + "0" * 5000 + "}}",
        "nan": '{"f": {"nan tag": NaN, "good tag": 3}}',
        "1e400": '{"f": {"big tag": 1e400, "good tag": 3}}',
    }[name]
    path = kohya_lora(tmp_path / "l.safetensors")
    _set_metadata(path, {"ss_tag_frequency": text})
    info = identify(path)
    assert info.kind == "lora"
    assert "nan tag" not in info.trigger_words and "big tag" not in info.trigger_words
    assert all("good" in w for w in info.trigger_words)


def _set_metadata(path: Path, extra: dict[str, str]) -> None:
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"] = {**header.get("__metadata__", {}), **extra}
    new = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


@pytest.mark.parametrize(
    "header",
    [
        b'{"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 1' + b"0" * 5000 + b"]}}",
        b'{"a": {"dtype": "F16", "shape": [NaN], "data_offsets": [0, 2]}}',
        b'{"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, Infinity]}}',
        b'{"a": {"dtype": "F16", "shape": [1e400], "data_offsets": [0, 2]}}',
        b'{"__metadata__": ' + b"[" * 990 + b"]" * 990 + b"}",
    ],
    ids=["5000-digits", "nan", "infinity", "1e400", "deep-990"],
)
def test_hostile_numbers_in_a_safetensors_header_are_a_model_file_error(
    tmp_path: Path, header: bytes
) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0")
    with pytest.raises(ModelFileError, match=r"m\.safetensors"):
        read_header(path)


@pytest.mark.parametrize(
    "damage", [b"\xff\xfe\x00garbage", b"[" * 100_000, b'[{"path": 1' + b"0" * 5000 + b"}]"]
)
def test_a_damaged_folder_list_never_stops_the_library_and_is_restored_once_fixed(
    tmp_path: Path, damage: bytes
) -> None:
    data = tmp_path / "data"
    models = tmp_path / "models"
    kohya_lora(models / "a.safetensors")
    with Library(data, detect_home=tmp_path / "nohome") as library:
        library.add_folder(models)
    backup = data / "library-folders.json"
    good = backup.read_bytes()
    backup.write_bytes(damage)
    (data / "library.sqlite").write_bytes(b"not a database" * 50)  # the index is rebuilt
    for extra in ("library.sqlite-wal", "library.sqlite-shm"):
        (data / extra).unlink(missing_ok=True)
    with Library(data, detect_home=tmp_path / "nohome") as library:  # used to crash here
        assert library.recovered_from is not None
        assert [f.origin for f in library.folders()] == ["app"]
    assert (data / "library-folders.json.corrupt").read_bytes() == damage  # kept for the user
    backup.write_bytes(good)  # the user (or a restored backup) fixes it
    with Library(data, detect_home=tmp_path / "nohome") as library:
        assert str(models.resolve()) in [f.path for f in library.folders()]


# -- metadata chunks --------------------------------------------------------------------------


def _ztxt(key: bytes, packed: bytes) -> bytes:
    return chunk(b"zTXt", key + b"\0\0" + packed)


def test_repeated_and_oversized_compressed_chunks_are_not_all_inflated(tmp_path: Path) -> None:
    """~1 MB of zTXt chunks that each inflate to 8 MB (the cap) or beyond: only the first of a
    keyword is read, and inflating stops once the file's budget is spent."""
    at_cap = zlib.compress(b"a" * (8 * 1024 * 1024), 9)  # ~8 KB, inflates to the 8 MB cap
    over = zlib.compress(b"a" * (9 * 1024 * 1024), 9)  # inflates past it: dropped
    chunks = [_ztxt(b"parameters", at_cap) for _ in range(60)]
    chunks += [_ztxt(f"k{i}".encode(), over) for i in range(60)]
    path = tmp_path / "bomb.png"
    path.write_bytes(with_chunks_after_ihdr(small_png(), *chunks))
    assert path.stat().st_size < 2_000_000
    calls: list[int] = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *args: Any) -> None:
            self.inner = real(*args)

        def decompress(self, data: bytes, limit: int = 0) -> bytes:
            out = self.inner.decompress(data, limit)
            calls.append(len(out))
            return out

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(zlib, "decompressobj", Counting)
        started = time.perf_counter()
        meta = read_png_metadata(path)
    assert meta["raw"]["parameters"] == "a" * (8 * 1024 * 1024)
    assert sum(calls) <= 64 * 1024 * 1024  # was 60 × 8 MB + 60 × 8 MB = 960 MB
    assert time.perf_counter() - started < 5.0


def test_a_fooocus_list_nested_985_deep_is_not_a_crash(tmp_path: Path) -> None:
    """Nested just under Python's recursion limit, the JSON parsed, then broke whoever walked it
    (`RecursionError`); where exactly depends on the caller's stack, so try the whole range."""
    path = tmp_path / "fooocus.png"
    for depth in range(800, 1000, 2):
        body = '{"metadata_scheme": "fooocus", "prompt": "shoe", "styles": ' + "[" * depth
        body += "]" * depth + "}"
        text = chunk(b"tEXt", b"parameters\0" + body.encode())
        path.write_bytes(with_chunks_after_ihdr(small_png(), text))
        meta = read_png_metadata(path)  # was RecursionError
        format_info(meta)
        assert meta["source"] in ("a1111", "fooocus")


def test_nan_and_huge_numbers_in_our_json_chunk_are_left_out(tmp_path: Path) -> None:
    body = '{"prompt": "a shoe", "steps": 1' + "0" * 5000 + ', "guidance": NaN, "seed": 7}'
    png = with_chunks_after_ihdr(small_png(), chunk(b"tEXt", b"sneakerstudio\0" + body.encode()))
    path = tmp_path / "ours.png"
    path.write_bytes(png)
    meta = read_png_metadata(path)
    assert meta["prompt"] == "a shoe" and meta["seed"] == 7
    assert meta["steps"] is None and meta["cfg"] is None


# -- extra_model_paths.yaml -------------------------------------------------------------------


def _laughs(levels: int) -> str:
    lines = ['lol: &a0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + f"\nshared:\n    base_path: *a{levels}\n    loras: *a{levels}\n"


@pytest.mark.parametrize(
    "yaml_text",
    [
        _laughs(9),  # ~480 bytes; each level ×10: 10^9 "lol"s once expanded into text
        "shared:\n    loras: " + "[" * 20_000 + "]" * 20_000 + "\n",
        "shared:\n    loras: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n",
        "shared:\n    loras: " + "x" * 300_000 + "\n",
    ],
    ids=["billion-laughs", "deep-lists", "deep-maps", "300-kb"],
)
def test_a_hostile_extra_model_paths_yaml_costs_nothing_and_stops_nothing(
    tmp_path: Path, yaml_text: str
) -> None:
    """The scan of the ComfyUI folder (and of every other folder) goes on at once, and what the
    file could not give is said in the report's notes."""
    root = make_comfyui(tmp_path)
    (root / "extra_model_paths.yaml").write_text(yaml_text)
    other = tmp_path / "other"
    kohya_lora(other / "mine.safetensors", fill=5)
    with Library(tmp_path / "data", detect_home=tmp_path / "nohome") as library:
        library.add_folder(root)
        library.add_folder(other)
        started = time.perf_counter()
        report = library.scan()
        assert time.perf_counter() - started < 5.0
        names = {m.name for m in library.models()}
    assert {"v1-5-pruned", "pixel", "mine"} <= names
    assert report.found == 5


def test_aliases_to_plain_values_in_extra_model_paths_still_work(tmp_path: Path) -> None:
    yaml_file = tmp_path / "extra_model_paths.yaml"
    yaml_file.write_text(
        "defaults:\n    base_path: &base /models\n"
        "mine:\n    base_path: *base\n    loras: &l loras\n    vae: *l\n"
    )
    roots = read_extra_model_paths(yaml_file)
    assert [(str(r.path), r.kind) for r in roots] == [
        ("/models/loras", "lora"),
        ("/models/loras", "vae"),
    ]


# -- thumbnails -------------------------------------------------------------------------------


def test_an_image_with_a_text_chunk_pillow_refuses_still_makes_a_thumbnail(
    tmp_path: Path,
) -> None:
    """Pillow raises a plain `ValueError` ("Decompressed Data Too Large") for a zTXt chunk that
    inflates past its 1 MB cap: the thumbnailer let it escape."""
    folder = tmp_path / "models"
    model = kohya_lora(folder / "l.safetensors")
    image = tmp_path / "big-text.png"
    image.write_bytes(ztxt_bomb(small_png(), inflated=5_000_000))
    with Library(tmp_path / "data", detect_home=tmp_path / "nohome") as library:
        library.add_folder(folder)
        library.scan()
        entry = library.set_thumbnail_from_image(model, image)
        assert entry.thumbnail is not None and Path(entry.thumbnail).is_file()


# -- the pickle-conversion cache --------------------------------------------------------------


def _fake_copy(folder: Path, name: str, size: int, used: float, source: Path | None) -> Path:
    copy = folder / f"{name}.safetensors"
    copy.write_bytes(b"\0" * size)
    note = copy.with_suffix(".json")
    note.write_text(json.dumps({"source": str(source or folder / "gone" / name)}))
    os.utime(note, (used, used))
    return copy


def test_the_conversion_cache_is_bounded_least_recently_used_first(tmp_path: Path) -> None:
    """Each touched .ckpt added a full-size copy, never removed: the disk filled up."""
    folder = tmp_path / "converted"
    folder.mkdir()
    now = time.time()
    old = _fake_copy(folder, "old-1111", 400, now - 300, None)
    recent = _fake_copy(folder, "recent-2222", 400, now - 10, None)
    middle = _fake_copy(folder, "middle-3333", 400, now - 100, None)
    newest = _fake_copy(folder, "new-4444", 400, now, None)
    # a copy of a checkpoint that has been replaced since: never used again
    source = tmp_path / "model.ckpt"
    source.write_bytes(b"x")
    stale = _fake_copy(folder, "model-0000", 10, now, source)
    crashed = folder / "x.safetensors.123.partial"
    crashed.write_bytes(b"0")
    os.utime(crashed, (now - 2 * 86400, now - 2 * 86400))

    removed = prune_converted(folder, keep=newest, max_bytes=1000)
    assert set(removed) == {old, middle, stale, crashed}
    assert newest.is_file() and recent.is_file()  # within the budget, most recent kept
    assert not old.with_suffix(".json").exists()
    prune_converted(folder, keep=newest, max_bytes=0)
    assert newest.is_file() and not recent.exists()  # the copy in use is never removed


def test_using_a_copy_makes_it_recent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sneakerstudio.core.models import pickle_convert

    ckpt = tmp_path / "m.ckpt"
    ckpt.write_bytes(b"\x80\x02}q\x00.")  # the head of a pickle
    cache = tmp_path / "cache"
    target = pickle_convert.converted_path(ckpt, cache)
    target.parent.mkdir(parents=True)
    kohya_lora(target)  # any sound safetensors file stands for the copy
    target.with_suffix(".json").write_text(json.dumps({"source": str(ckpt)}))
    os.utime(target.with_suffix(".json"), (1, 1))
    assert pickle_convert.convert_pickle(ckpt, cache=cache) == target
    assert time.time() - target.with_suffix(".json").stat().st_mtime < 60


# -- rename detection -------------------------------------------------------------------------


def test_a_different_file_with_the_same_size_and_mtime_does_not_inherit_hashes(
    tmp_path: Path,
) -> None:
    """One LoRA deleted, another unpacked (an archive sets mtimes) with the same size: it was
    taken as a rename and got the first one's hashes, favourite and identification."""
    folder = tmp_path / "loras"
    first = kohya_lora(folder / "one.safetensors", fill=1)
    with Library(tmp_path / "data", detect_home=tmp_path / "nohome") as library:
        library.add_folder(folder)
        library.scan()
        library.set_favourite(first)
        library.hash_pending()
        sha_first = library.get(first).sha256
        stat = first.stat()
        first.unlink()
        second = kohya_lora(folder / "two.safetensors", fill=2)  # same layout, other bytes
        os.utime(second, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert second.stat().st_size == stat.st_size
        report = library.scan()
        assert report.renamed == [] and report.added == [str(second)]
        entry = library.get(second)
        assert entry.sha256 is None and not entry.favourite
        library.hash_pending()
        assert library.get(second).sha256 != sha_first
        assert library.get(first).missing  # the first one's row, hashes and favourite wait


def test_a_rename_of_a_file_indexed_before_fingerprints_keeps_the_users_data_only(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "loras"
    old = kohya_lora(folder / "old.safetensors", fill=1)
    with Library(tmp_path / "data", detect_home=tmp_path / "nohome") as library:
        library.add_folder(folder)
        library.scan()
        library.set_favourite(old)
        library.hash_pending()
        with library.index.transaction() as conn:  # as an index from an older version
            conn.execute("UPDATE models SET info = json_remove(info, '$.fingerprint')")
        new = folder / "new.safetensors"
        os.rename(old, new)
        report = library.scan()
        assert report.renamed == [(str(old), str(new))] and report.read == 1
        entry = library.get(new)
        assert entry.favourite and entry.sha256 is None  # hashes are computed again
        assert entry.kind == "lora"
