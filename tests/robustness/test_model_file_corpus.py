"""Bad model files thrown at every entry point that reads one.

The corpus is generated here (malformed safetensors, pickles with code payloads under every
name, a payload inside a `torch.save` zip) and fed to the header reader, `identify`, model
loading, LoRA and embedding reading, the pickle converter and a library scan. Each must answer
with a typed `SneakerError` whose message names the file and says what to do (or, for
`identify` and the library, a record saying what is wrong), allocate nothing absurd, and never
run the payload (the `sentinels` fixture checks after every test).
"""

from __future__ import annotations

import io
import json
import sqlite3
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from sneakerstudio.core.protocol.errors import ModelFileError, SneakerError, UnsafeFileError
from tests.core.library_helpers import embedding_file, kohya_lora, sd1_checkpoint
from tests.robustness.conftest import Sentinels

# -- the corpus ---------------------------------------------------------------------------------


def _st(header: dict | bytes, data: bytes = b"") -> bytes:
    """Bytes in safetensors layout with exactly this header and data section."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _t(dtype: str, shape: list[int], begin: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


_DEEP = 50_000  # JSON nesting that blows Python's recursion limit in json.loads

# name → (file bytes, words the message must contain). Every one is "broken or not a model".
MALFORMED: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "zero-bytes": (b"", ("0 bytes",)),
    "seven-bytes": (b"\x01" * 7, ("7 bytes",)),
    "header-2^63": (struct.pack("<Q", 2**63) + b"{}", ("header claims",)),
    "header-2^64-1": (b"\xff" * 8 + b"{}", ("header claims",)),
    "header-past-end": (struct.pack("<Q", 4096) + b'{"a": 1}', ("past the end",)),
    "non-utf8": (_st(b'{"\xff\xfe\xfd": 1}'), ("utf-8",)),
    "json-list": (_st(b"[1, 2, 3]"), ("not a json object",)),
    "json-string": (_st(b'"hello"'), ("not a json object",)),
    "not-json": (_st(b"{this is not json"), ("not valid",)),
    "deep-nesting": (_st(b'{"a": ' + b"[" * _DEEP + b"]" * _DEEP + b"}"), ("header",)),
    "overlap": (
        _st({"a": _t("F32", [2], 0, 8), "b": _t("F32", [2], 4, 12)}, bytes(12)),
        ("overlaps",),
    ),
    "gap": (_st({"a": _t("F32", [1], 0, 4), "b": _t("F32", [1], 8, 12)}, bytes(12)), ("gap",)),
    "shape-dtype-mismatch": (_st({"a": _t("F32", [3], 0, 8)}, bytes(8)), ("needs",)),
    "absurd-shape": (_st({"a": _t("F32", [2**62, 2**62], 0, 4)}, bytes(4)), ("needs",)),
    "offsets-reversed": (_st({"a": _t("F32", [1], 4, 0)}, bytes(4)), ("offsets",)),
    "offsets-negative": (_st({"a": _t("F32", [1], -4, 0)}, bytes(4)), ("offsets",)),
    "unknown-dtype": (_st({"a": _t("Q7", [1], 0, 4)}, bytes(4)), ("unknown dtype",)),
    "entry-not-object": (_st({"a": [1, 2]}), ("not an object",)),
    "metadata-not-strings": (_st({"__metadata__": {"a": 1}}), ("__metadata__",)),
    "trailing-bytes": (_st({"a": _t("F32", [1], 0, 4)}, bytes(4) + b"junk"), ("extra data",)),
    "truncated-data": (_st({"a": _t("F32", [4], 0, 16)}, bytes(8)), ("download it again",)),
}

# A zip whose name says safetensors but holds a torch.save archive with no payload, and random
# bytes: things that are neither safetensors nor a model.
NOT_SAFETENSORS: dict[str, bytes] = {
    "random-bytes": bytes(range(256)) * 8,
    "png-renamed": b"\x89PNG\r\n\x1a\n" + bytes(64),
    "text-file": b"# just some notes\n" * 20,
}


def write_malformed(folder: Path, name: str, suffix: str = ".safetensors") -> Path:
    path = folder / f"{name}{suffix}"
    path.write_bytes(MALFORMED[name][0])
    return path


def _stack_global_evasion(sentinel: Path) -> bytes:
    """A protocol-4 pickle that names `builtins.exec` through memoised strings (BINGET), so a
    scanner that only looks at the last two literal strings sees the harmless `torch.Tensor`."""
    code = f"open({str(sentinel)!r}, 'w').write('payload ran')".encode()

    def text(s: bytes) -> bytes:
        return b"\x8c" + bytes([len(s)]) + s  # SHORT_BINUNICODE

    out = b"\x80\x04"
    out += text(b"builtins") + b"\x94"  # memo 0
    out += text(b"exec") + b"\x94"  # memo 1
    out += b"00"  # POP POP
    out += text(b"torch") + text(b"Tensor") + b"00"
    out += b"h\x00h\x01"  # BINGET 0, BINGET 1
    out += b"\x93"  # STACK_GLOBAL
    out += b"X" + struct.pack("<I", len(code)) + code  # BINUNICODE
    out += b"\x85R."  # TUPLE1 REDUCE STOP
    return out


def torch_zip_with(data_pkl: bytes) -> bytes:
    """A real `torch.save` zip archive whose `data.pkl` is replaced by `data_pkl`."""
    import torch

    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(2)}}, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            body = data_pkl if item.filename.endswith("/data.pkl") else source.read(item)
            target.writestr(item, body)
    return out.getvalue()


PAYLOAD_NAMES = (
    "payload.ckpt",
    "payload.pt",
    "payload.pth",
    "payload.bin",
    "payload.safetensors",
    "payload",
)


def payload_corpus(folder: Path, sentinels: Sentinels) -> dict[str, Path]:
    """Every pickle-with-code variant, written under `folder`: raw pickles (protocols 2 and 5)
    under every name, the memo-evasion pickle, and both inside torch.save zip archives."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name in PAYLOAD_NAMES:
        files[f"p2:{name}"] = folder / f"p2-{name}"
        files[f"p2:{name}"].write_bytes(sentinels.pickle_payload(protocol=2))
    files["p5:payload.ckpt"] = folder / "p5-payload.ckpt"
    files["p5:payload.ckpt"].write_bytes(sentinels.pickle_payload(protocol=5))
    files["evasion:payload.ckpt"] = folder / "evasion.ckpt"
    files["evasion:payload.ckpt"].write_bytes(_stack_global_evasion(sentinels.new()))
    files["zip:payload.ckpt"] = folder / "zip-payload.ckpt"
    files["zip:payload.ckpt"].write_bytes(torch_zip_with(sentinels.pickle_payload(protocol=2)))
    files["zip:payload.safetensors"] = folder / "zip-payload.safetensors"
    files["zip:payload.safetensors"].write_bytes(
        torch_zip_with(sentinels.pickle_payload(protocol=2))
    )
    files["zip-evasion:payload.pt"] = folder / "zip-evasion.pt"
    files["zip-evasion:payload.pt"].write_bytes(
        torch_zip_with(_stack_global_evasion(sentinels.new()))
    )
    return files


@pytest.fixture()
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's data and cache folders (converted pickles land there) inside tmp_path."""
    home = tmp_path / "home"
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(home))
    return home


def _assert_explained(exc: BaseException, path: Path, words: tuple[str, ...] = ()) -> None:
    """A typed error that names the file, says what is wrong (`words`) and what to do."""
    assert isinstance(exc, SneakerError), f"{type(exc).__name__} escaped: {exc}"
    text = str(exc)
    assert path.name in text, text
    for word in words:
        assert word.lower() in text.lower(), f"{word!r} not in {text!r}"
    assert exc.hint or "so it was not loaded" in text, f"no advice in {text!r}"


def _raises(fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except SneakerError as exc:
        return exc
    except Exception as exc:
        pytest.fail(f"{type(exc).__name__} escaped instead of a SneakerError: {exc!r}")
    pytest.fail("no error raised")


# -- malformed safetensors: header reader, identify, loading, LoRA, embeddings ------------------


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_safetensors_are_refused_by_every_reader(
    name: str, tmp_path: Path, isolated_home: Path
) -> None:
    from sneakerstudio.core.models.header import read_header
    from sneakerstudio.core.models.identify import identify
    from sneakerstudio.core.models.loading import load_model
    from sneakerstudio.core.patches.embeddings import read_embedding
    from sneakerstudio.core.patches.lora import read_lora

    path = write_malformed(tmp_path, name)
    words = MALFORMED[name][1]
    for reader in (read_header, identify, load_model, read_lora, read_embedding):
        exc = _raises(lambda reader=reader: reader(path))
        assert isinstance(exc, ModelFileError), (reader.__name__, exc)
        assert not isinstance(exc, UnsafeFileError), (reader.__name__, exc)
        _assert_explained(exc, path, words)
    assert path.read_bytes() == MALFORMED[name][0]  # only read


def test_a_header_length_of_2_63_reads_and_allocates_nothing_big(tmp_path: Path) -> None:
    """The length field is checked against the limit and the file size before any read."""
    from sneakerstudio.core.models.header import read_header

    path = write_malformed(tmp_path, "header-2^63")
    tracemalloc.start()
    try:
        for _ in range(3):
            with pytest.raises(ModelFileError):
                read_header(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"peak {peak:,} bytes allocated for a 10-byte file"


def test_a_header_past_the_end_of_a_big_claim_is_not_read(tmp_path: Path) -> None:
    """A header claiming 99 MB (under the limit) in a 20-byte file is refused from the size."""
    from sneakerstudio.core.models.header import read_header

    path = tmp_path / "claims-99mb.safetensors"
    path.write_bytes(struct.pack("<Q", 99_000_000) + b'{"a": 1}   ')
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="past the end"):
            read_header(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


@pytest.mark.parametrize("name", sorted(NOT_SAFETENSORS))
@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt", ""])
def test_files_that_are_not_models_are_refused_when_loaded(
    name: str, suffix: str, tmp_path: Path, isolated_home: Path
) -> None:
    from sneakerstudio.core.models.identify import identify
    from sneakerstudio.core.models.loading import load_model

    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(NOT_SAFETENSORS[name])
    exc = _raises(lambda: load_model(path))
    assert isinstance(exc, ModelFileError) and not isinstance(exc, UnsafeFileError)
    _assert_explained(exc, path)
    # identify either refuses with a typed error or says it does not know the file
    try:
        info = identify(path)
    except ModelFileError as err:
        _assert_explained(err, path)
    else:
        assert info.kind == "unknown" and info.why


def test_a_valid_header_that_is_not_a_checkpoint_is_refused_by_loading(
    tmp_path: Path, isolated_home: Path
) -> None:
    """A LoRA, an embedding and an empty file opened as the model: typed, explained."""
    from sneakerstudio.core.models.loading import load_model

    for path in (
        kohya_lora(tmp_path / "a-lora.safetensors"),
        embedding_file(tmp_path / "an-embedding.safetensors"),
        tmp_path / "empty-header.safetensors",
    ):
        if not path.exists():
            path.write_bytes(_st({}))
        exc = _raises(lambda path=path: load_model(path))
        assert isinstance(exc, ModelFileError)
        _assert_explained(exc, path)


def test_a_checkpoint_whose_data_is_cut_off_is_refused_before_loading(
    tmp_path: Path, isolated_home: Path
) -> None:
    """A real-looking SD1 header whose weights were only partly downloaded."""
    from sneakerstudio.core.models.identify import identify
    from sneakerstudio.core.models.loading import load_model

    path = sd1_checkpoint(tmp_path / "half-downloaded.safetensors")
    path.write_bytes(path.read_bytes()[:-10])
    for reader in (identify, load_model):
        exc = _raises(lambda reader=reader: reader(path))
        _assert_explained(exc, path, ("download it again",))


# -- pickles with code payloads ------------------------------------------------------------------


def _payload_ids() -> list[str]:
    return [
        *(f"p2:{n}" for n in PAYLOAD_NAMES),
        "p5:payload.ckpt",
        "evasion:payload.ckpt",
        "zip:payload.ckpt",
        "zip:payload.safetensors",
        "zip-evasion:payload.pt",
    ]


@pytest.fixture()
def payloads(tmp_path: Path, sentinels: Sentinels) -> dict[str, Path]:
    return payload_corpus(tmp_path / "payloads", sentinels)


@pytest.mark.parametrize("case", _payload_ids())
def test_pickle_payloads_never_run_and_are_refused_as_unsafe(
    case: str, payloads: dict[str, Path], sentinels: Sentinels, isolated_home: Path
) -> None:
    from sneakerstudio.core.models.header import read_header
    from sneakerstudio.core.models.identify import identify
    from sneakerstudio.core.models.loading import load_model
    from sneakerstudio.core.models.pickle_convert import convert_pickle, foreign_global
    from sneakerstudio.core.patches.embeddings import read_embedding
    from sneakerstudio.core.patches.lora import read_lora

    path = payloads[case]
    before = path.read_bytes()
    # Found by walking opcodes, without a subprocess and without executing anything.
    assert (foreign_global(path) or "").endswith(".exec")
    for reader in (read_header, load_model, read_lora, read_embedding, convert_pickle):
        exc = _raises(lambda reader=reader: reader(path))
        assert isinstance(exc, UnsafeFileError), (reader.__name__, type(exc), exc)
        _assert_explained(exc, path, ("could run code",))
        sentinels.assert_no_payload_ran()
    info = identify(path)
    assert info.kind == "unknown" and info.format == "pickle"
    assert "could run code" in info.why
    assert path.read_bytes() == before
    converted = isolated_home / "cache" / "converted"
    assert not converted.exists() or not list(converted.iterdir())


@pytest.mark.slow
def test_a_payload_the_scan_misses_is_still_refused_by_the_safe_unpickler(
    tmp_path: Path, sentinels: Sentinels, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with the opcode scan switched off, the converter's child process
    (`torch.load(weights_only=True)`) refuses the zip payload, and nothing runs."""
    from sneakerstudio.core.models import pickle_convert

    path = tmp_path / "zip-payload.ckpt"
    path.write_bytes(torch_zip_with(sentinels.pickle_payload(protocol=2)))
    monkeypatch.setattr(pickle_convert, "foreign_global", lambda _path: None)
    with pytest.raises(UnsafeFileError, match="could run code") as caught:
        pickle_convert.convert_pickle(path, cache=tmp_path / "cache")
    _assert_explained(caught.value, path)
    sentinels.assert_no_payload_ran()
    assert not list((tmp_path / "cache" / "converted").glob("*.safetensors"))


def test_an_old_protocol_pickle_without_a_marker_is_not_a_model(
    tmp_path: Path, sentinels: Sentinels, isolated_home: Path
) -> None:
    """Protocol 0 has no 0x80 opening byte: it is refused as not-a-model, never unpickled."""
    from sneakerstudio.core.models.header import read_header
    from sneakerstudio.core.models.identify import identify
    from sneakerstudio.core.models.loading import load_model

    for name in ("old.ckpt", "old.safetensors", "old"):
        path = tmp_path / name
        path.write_bytes(sentinels.pickle_payload(protocol=0))
        for reader in (read_header, load_model):
            exc = _raises(lambda reader=reader, path=path: reader(path))
            assert isinstance(exc, ModelFileError)
            _assert_explained(exc, path)
        try:
            info = identify(path)
        except ModelFileError as err:
            _assert_explained(err, path)
        else:
            assert info.kind == "unknown"
    sentinels.assert_no_payload_ran()


def test_legit_protocol_4_checkpoints_with_mixed_dtypes_pass_the_scan(tmp_path: Path) -> None:
    """The opcode scan follows memoised strings: a plain checkpoint saved with protocol 4 or 5
    (which re-uses `torch` through BINGET for its second storage type) is not taken for code."""
    import torch

    from sneakerstudio.core.models.pickle_convert import foreign_global

    state = {
        "a.weight": torch.zeros(2),
        "b.weight": torch.ones(3, dtype=torch.float16),
        "c.weight": torch.ones(1, dtype=torch.bfloat16),
    }
    for protocol in (2, 4, 5):
        path = tmp_path / f"plain-{protocol}.ckpt"
        torch.save({"state_dict": state}, path, pickle_protocol=protocol)
        assert foreign_global(path) is None, protocol


def test_converting_a_file_that_is_not_a_pickle_says_so(tmp_path: Path) -> None:
    from sneakerstudio.core.models.pickle_convert import convert_pickle

    path = write_malformed(tmp_path, "gap", suffix=".ckpt")
    exc = _raises(lambda: convert_pickle(path, cache=tmp_path / "cache"))
    assert isinstance(exc, ModelFileError) and not isinstance(exc, UnsafeFileError)
    _assert_explained(exc, path, ("not a pickled",))


# -- the library: a folder of bad files ----------------------------------------------------------


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_a_folder_of_bad_files_scans_cleanly_next_to_good_models(
    tmp_path: Path, sentinels: Sentinels, isolated_home: Path
) -> None:
    from sneakerstudio.core.models.library import Library

    folder = tmp_path / "models"
    bad = folder / "bad"
    bad.mkdir(parents=True)
    for name in MALFORMED:
        write_malformed(bad, name)
        write_malformed(bad, name, suffix=".ckpt")
    for name, data in NOT_SAFETENSORS.items():
        (bad / f"{name}.safetensors").write_bytes(data)
    payload_files = payload_corpus(folder / "payloads", sentinels)
    good = {
        sd1_checkpoint(folder / "good-checkpoint.safetensors"),
        kohya_lora(folder / "Lora" / "good-lora.safetensors"),
    }

    with Library(tmp_path / "data") as lib:
        lib.add_folder(folder)
        report = lib.scan()
        sentinels.assert_no_payload_ran()
        listed = {Path(m.path).name: m for m in lib.models()}
        for path in good:
            entry = listed[path.name]
            assert entry.error is None and entry.kind in ("checkpoint", "lora"), entry
        for name in MALFORMED:
            entry = listed[f"{name}.safetensors"]
            assert entry.error and f"{name}.safetensors" in entry.error, entry
        errored = {Path(p).name for p, _ in report.errors}
        assert {f"{n}.safetensors" for n in MALFORMED} <= errored
        # Payloads are listed as unknown, never opened beyond their first bytes.
        for path in payload_files.values():
            if path.suffix in (".safetensors", ".ckpt", ".pt", ".pth"):
                assert listed[path.name].kind == "unknown", listed[path.name]
        # A second scan reads nothing again and the index stays sound.
        again = lib.scan()
        assert again.read == 0 and not again.errors
        lib.index.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert lib.index.query("PRAGMA integrity_check")[0][0] == "ok"
    assert _integrity(tmp_path / "data" / "library.sqlite") == "ok"
    sentinels.assert_no_payload_ran()


# -- through the engine, as the CLI and the window load models -----------------------------------


@pytest.mark.slow
def test_the_engine_reports_bad_model_files_and_keeps_working(
    tmp_path: Path, sentinels: Sentinels, isolated_home: Path, tiny_sd1
) -> None:
    """Each bad file fails its job with a typed `Failed` event (never "internal"); the next
    job on a good model still finishes."""
    from sneakerstudio.core.generation.engine import Engine
    from sneakerstudio.core.protocol.events import Failed, Finished
    from tests.e2e.engine_helpers import request_for, run

    bad_model = write_malformed(tmp_path, "truncated-data")
    payload = tmp_path / "payload.ckpt"
    payload.write_bytes(torch_zip_with(sentinels.pickle_payload()))
    bad_lora = write_malformed(tmp_path, "overlap")
    bad_embedding = write_malformed(tmp_path, "non-utf8")
    engine = Engine(device="cpu")
    jobs = [
        (request_for(bad_model), "model-file", bad_model.name),
        (request_for(payload), "unsafe-file", payload.name),
        (request_for(tiny_sd1.single_file, loras=((str(bad_lora), 1.0),)), "model-file", "overlap"),
        (
            request_for(tiny_sd1.single_file, embeddings=(str(bad_embedding),)),
            "model-file",
            bad_embedding.name,
        ),
    ]
    for request, kind, words in jobs:
        events = run(engine, request)
        assert isinstance(events[-1], Failed), events[-1]
        assert events[-1].kind == kind, events[-1]
        assert words in events[-1].message, events[-1].message
        sentinels.assert_no_payload_ran()
    events = run(engine, request_for(tiny_sd1.single_file, steps=2))
    assert isinstance(events[-1], Finished), events[-1]


# -- the library index: damaged, read-only, unwritable -------------------------------------------


def _indexed_library(tmp_path: Path) -> tuple[Path, Path, set[str]]:
    """A library folder with two good models, scanned once; (data dir, folder, model names)."""
    from sneakerstudio.core.models.library import Library

    folder = tmp_path / "models"
    sd1_checkpoint(folder / "good-checkpoint.safetensors")
    kohya_lora(folder / "good-lora.safetensors")
    write_malformed(folder, "gap")
    data = tmp_path / "data"
    with Library(data) as lib:
        lib.add_folder(folder)
        lib.scan()
        lib.index.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        names = {Path(m.path).name for m in lib.models()}
    assert names == {"good-checkpoint.safetensors", "good-lora.safetensors", "gap.safetensors"}
    return data, folder, names


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zeroed-header", "stale-wal"])
def test_a_damaged_index_is_rebuilt_on_next_open(tmp_path: Path, damage: str) -> None:
    from sneakerstudio.core.models.library import Library

    data, folder, names = _indexed_library(tmp_path)
    index_file = data / "library.sqlite"
    raw = index_file.read_bytes()
    if damage == "garbage":
        index_file.write_bytes(bytes(range(256)) * (len(raw) // 256 + 1))
    elif damage == "truncated":
        index_file.write_bytes(raw[: len(raw) // 3 + 7])
    elif damage == "zeroed-header":
        index_file.write_bytes(bytes(100) + raw[100:])
    else:  # a garbage database next to a WAL file from the old one
        (data / "library.sqlite-wal").write_bytes(b"\x37\x7f\x06\x82" + bytes(64))
        index_file.write_bytes(b"SQLite format 3\x00" + b"\xa5" * (len(raw) - 16))

    with Library(data) as lib:
        assert lib.recovered_from is not None and lib.recovered_from.exists()
        assert str(folder.resolve()) in [f.path for f in lib.folders()]  # from the backup file
        lib.scan()
        assert {Path(m.path).name for m in lib.models()} == names
        assert lib.index.query("PRAGMA integrity_check")[0][0] == "ok"
    assert _integrity(index_file) == "ok"


def test_an_index_in_a_place_that_cannot_be_a_folder_gives_a_clear_error(tmp_path: Path) -> None:
    from sneakerstudio.core.models.library import Library, LibraryError

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(LibraryError) as caught:
        Library(blocker / "data")
    text = str(caught.value)
    assert "cannot be opened" in text and "writable" in text and "SNEAKERSTUDIO_HOME" in text
    assert blocker.read_text().startswith("a file")


def test_a_read_only_index_gives_a_clear_error_and_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index file opens read-only (as on a read-only disk; the tests run as root, so the
    file is opened with SQLite's `mode=ro`): the user is told where and what to do, and the
    index is neither thrown away nor damaged."""
    from sneakerstudio.core.models.library import Library, LibraryError
    from sneakerstudio.core.models.library import index as index_module

    data, _folder, names = _indexed_library(tmp_path)
    real_connect = sqlite3.connect

    def read_only(path, *args, **kwargs):
        return real_connect(f"file:{path}?mode=ro", *args, uri=True, **kwargs)

    monkeypatch.setattr(index_module.sqlite3, "connect", read_only)
    with pytest.raises(LibraryError) as caught, Library(data) as lib:
        lib.scan()
    text = str(caught.value)
    assert "model index" in text and "writable" in text, text
    monkeypatch.undo()
    assert not [p for p in data.iterdir() if "damaged" in p.name]
    with Library(data) as lib:
        assert {Path(m.path).name for m in lib.models()} == names
    assert _integrity(data / "library.sqlite") == "ok"


def test_a_full_disk_during_a_scan_gives_a_clear_error_and_a_sound_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sneakerstudio.core.models.library import Library, LibraryError
    from sneakerstudio.core.models.library import scan as scan_module

    data, folder, names = _indexed_library(tmp_path)
    sd1_checkpoint(folder / "new-checkpoint.safetensors", fill=3)

    def disk_full(self, batch):
        with self.index.transaction() as conn:
            conn.execute("UPDATE models SET name = 'half-written'")
            raise sqlite3.OperationalError("database or disk is full")

    with Library(data) as lib:
        monkeypatch.setattr(scan_module.Scanner, "_write_details", disk_full)
        with pytest.raises(LibraryError, match="cannot be written") as caught:
            lib.scan()
        assert "free space" in str(caught.value)
        monkeypatch.undo()
        assert "half-written" not in {m.name for m in lib.models()}  # rolled back
        lib.scan()  # the next scan works
        assert {Path(m.path).name for m in lib.models()} == names | {"new-checkpoint.safetensors"}
    assert _integrity(data / "library.sqlite") == "ok"


# -- not a file at all ----------------------------------------------------------------------------


def test_a_named_pipe_under_a_model_name_never_blocks(tmp_path: Path, isolated_home: Path) -> None:
    """Opening a FIFO blocks until someone writes to it. Every reader refuses it from its
    file type, and a scan of its folder skips it, all without waiting."""
    import os
    import threading

    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    from sneakerstudio.core.models.header import read_header
    from sneakerstudio.core.models.identify import identify
    from sneakerstudio.core.models.library import Library
    from sneakerstudio.core.models.loading import load_model
    from sneakerstudio.core.models.pickle_convert import convert_pickle
    from sneakerstudio.core.patches.embeddings import read_embedding
    from sneakerstudio.core.patches.lora import read_lora

    folder = tmp_path / "models"
    sd1_checkpoint(folder / "good.safetensors")
    pipe = folder / "pipe.safetensors"
    os.mkfifo(pipe)
    outcome: dict[str, object] = {}

    def attempt() -> None:
        for reader in (read_header, identify, load_model, read_lora, read_embedding):
            outcome[reader.__name__] = _raises(lambda reader=reader: reader(pipe))
        outcome["convert_pickle"] = _raises(lambda: convert_pickle(pipe, cache=tmp_path / "c"))
        with Library(tmp_path / "data") as lib:
            lib.add_folder(folder)
            lib.scan()
            outcome["listed"] = [Path(m.path).name for m in lib.models()]

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # release the blocked open, then fail
        fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(timeout=5)
        pytest.fail(f"a reader blocked on a named pipe (done so far: {sorted(outcome)})")
    assert outcome["listed"] == ["good.safetensors"]
    for name in ("read_header", "identify", "load_model", "read_lora", "read_embedding"):
        _assert_explained(outcome[name], pipe, ("not a regular file",))  # type: ignore[arg-type]
    _assert_explained(outcome["convert_pickle"], pipe, ("not a regular file",))  # type: ignore[arg-type]
