"""The model library finds models in every tool's layout, indexes them without re-reading
unchanged files, notices changes, and keeps the user's choices."""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import sqlite3
import struct
from pathlib import Path

import pytest

from sneakerstudio.core.models import hashing
from sneakerstudio.core.models.library import (
    AmbiguousModelError,
    Library,
    LibraryError,
    ModelNotFoundError,
    details,
    index,
    resolve,
)
from sneakerstudio.core.models.library.sources import (
    detect_installs,
    detect_layout,
    parse_simple_yaml,
    read_extra_model_paths,
)
from tests.core.library_helpers import (
    embedding_file,
    kohya_lora,
    make_a1111,
    make_comfyui,
    make_invokeai,
    sd1_checkpoint,
    tiny_png,
    write_safetensors,
)


@pytest.fixture(autouse=True)
def _fresh_hash_cache():
    hashing.clear_cache()
    yield
    hashing.clear_cache()


@pytest.fixture
def lib(tmp_path: Path):
    library = Library(tmp_path / "data", detect_home=tmp_path / "nohome")
    yield library
    library.close()


def by_name(library: Library, **filters) -> dict[str, object]:
    return {m.name: m for m in library.models(**filters)}


# -- layouts -----------------------------------------------------------------------------------


def test_a1111_install_is_found_and_indexed_in_place(tmp_path: Path, lib: Library) -> None:
    root = make_a1111(tmp_path)
    before = sorted(p for p in root.rglob("*"))
    folder = lib.add_folder(root)
    assert folder.layout == "a1111"
    report = lib.scan()
    models = by_name(lib)
    assert set(models) == {"dreamshaper_8", "graffiti", "vae-ft-mse", "easynegative"}
    assert report.read == 4 and not report.errors
    ckpt, lora = models["dreamshaper_8"], models["graffiti"]
    assert (ckpt.kind, ckpt.base) == ("checkpoint", "sd1")
    assert ckpt.thumbnail == str(root / "models/Stable-diffusion/dreamshaper_8.preview.png")
    assert ckpt.path == str(root / "models/Stable-diffusion/dreamshaper_8.safetensors")
    assert (lora.kind, lora.base) == ("lora", "sd1")
    assert lora.trigger_words == ("graffiti style", "spray paint")
    assert lora.activation_text == "grffti, spray" and lora.default_weight == 0.7
    assert lora.info["dim"] == 4 and lora.info["metadata"]["ss_output_name"] == "graffiti"
    assert models["vae-ft-mse"].kind == "vae"
    assert models["easynegative"].kind == "embedding"
    # read in place: nothing was copied into, or written next to, the user's files
    assert sorted(p for p in root.rglob("*")) == before
    assert not list((tmp_path / "data" / "models").iterdir())


def test_comfyui_install_and_its_extra_model_paths_yaml(tmp_path: Path, lib: Library) -> None:
    shared = tmp_path / "shared"
    kohya_lora(shared / "loras_b" / "deep.safetensors", fill=9)
    sd1_checkpoint(shared / "ckpts" / "shared_ckpt.safetensors", fill=8)
    sd1_checkpoint(shared / "clip" / "not_a_model_we_use.safetensors", fill=7)
    root = make_comfyui(tmp_path, shared)
    assert lib.add_folder(root).layout == "comfyui"
    lib.scan()
    models = by_name(lib)
    assert set(models) == {
        "v1-5-pruned",
        "pixel",
        "sdxl_vae",
        "badhands",
        "deep",
        "shared_ckpt",
    }
    assert models["deep"].kind == "lora" and models["shared_ckpt"].kind == "checkpoint"
    assert models["v1-5-pruned"].relpath == "sub/v1-5-pruned.safetensors"
    assert models["pixel"].trigger_words == ("pixel art",)


def test_invokeai_and_plain_folders_use_folder_names_as_hints(tmp_path: Path, lib: Library) -> None:
    invoke = make_invokeai(tmp_path)
    plain = tmp_path / "my models"
    (plain / "Lora").mkdir(parents=True)
    (plain / "Lora" / "old_style.pt").write_bytes(b"\x80\x02}q\x00.")  # a pickle: never loaded
    sd1_checkpoint(plain / "anything.safetensors", fill=2)
    assert lib.add_folder(invoke).layout == "invokeai"
    assert lib.add_folder(plain).layout == "plain"
    lib.scan()
    models = by_name(lib)
    assert models["deliberate"].kind == "checkpoint" and models["deliberate"].base == "sd1"
    assert models["ink"].kind == "lora"
    assert models["old_style"].kind == "lora" and models["old_style"].format == "pickle"
    assert models["anything"].kind == "checkpoint"


def test_forge_and_fooocus_are_told_apart_from_a1111_and_comfyui(tmp_path: Path) -> None:
    forge = make_a1111(tmp_path, "forge")
    (forge / "modules_forge").mkdir()
    fooocus = make_comfyui(tmp_path / "f")
    (fooocus / "fooocus_version.py").write_text("version = '2.5'\n")
    assert detect_layout(forge) == "forge" and detect_layout(fooocus) == "fooocus"
    assert detect_layout(make_a1111(tmp_path)) == "a1111"
    assert detect_layout(make_comfyui(tmp_path)) == "comfyui"


def test_the_apps_own_folder_is_always_there(tmp_path: Path, lib: Library) -> None:
    own = tmp_path / "data" / "models"
    assert [(f.path, f.origin) for f in lib.folders()] == [(str(own.resolve()), "app")]
    kohya_lora(own / "loras" / "mine.safetensors")
    lib.scan()
    assert lib.find("mine").kind == "lora"
    with pytest.raises(LibraryError, match="cannot be removed"):
        lib.remove_folder(own)


def test_simple_yaml_reader_reads_what_pyyaml_reads() -> None:
    yaml = pytest.importorskip("yaml")
    text = (
        "#Rename this to extra_model_paths.yaml\n"
        "a111:\n"
        "    base_path: path/to/stable-diffusion-webui/\n"
        "\n"
        "    checkpoints: models/Stable-diffusion\n"
        "    loras: |\n"
        "         models/Lora\n"
        "         models/LyCORIS\n"
        "    upscale_models: |\n"
        "                  models/ESRGAN\n"
        "                  models/SwinIR\n"
        "    embeddings: embeddings # comment\n"
        "comfyui:\n"
        "    base_path: 'C:/Diffusion/models'\n"
        "    is_default: true\n"
        "    controlnet: ./controlnet\n"
    )
    ours = parse_simple_yaml(text)
    theirs = yaml.safe_load(text)
    theirs["comfyui"]["is_default"] = "true"  # the reader keeps scalars as text
    assert ours == theirs


def test_extra_model_paths_without_pyyaml(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "yaml", None)  # import yaml → ImportError
    (tmp_path / "models" / "lo").mkdir(parents=True)
    yaml_file = tmp_path / "comfy" / "extra_model_paths.yaml"
    yaml_file.parent.mkdir()
    yaml_file.write_text(
        "g:\n    base_path: ../models\n    loras: |\n        lo\n        /abs/loras\n"
    )
    roots = read_extra_model_paths(yaml_file)
    assert [(str(r.path), r.kind) for r in roots] == [
        (os.path.normpath(tmp_path / "models" / "lo"), "lora"),
        ("/abs/loras", "lora"),
    ]


def test_usual_install_locations_are_offered_on_first_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_a1111(home)
    make_comfyui(home / "Documents")
    (home / "ComfyUI").mkdir()  # empty: not an install
    found = detect_installs(home)
    assert {(d.path.name, d.layout) for d in found} == {
        ("stable-diffusion-webui", "a1111"),
        ("ComfyUI", "comfyui"),
    }
    library = Library(tmp_path / "data", detect_home=home)
    try:
        assert library.first_run
        assert len(library.suggestions()) == 2
        library.add_folder(home / "stable-diffusion-webui")
        assert [d.layout for d in library.suggestions()] == ["comfyui"]
    finally:
        library.close()
    again = Library(tmp_path / "data", detect_home=home)
    assert not again.first_run
    again.close()
    assert detect_layout(tmp_path) == "plain"


def test_adding_folders_refuses_duplicates_and_bad_paths(tmp_path: Path, lib: Library) -> None:
    root = make_a1111(tmp_path)
    lib.add_folder(root)
    with pytest.raises(LibraryError, match="already in the library"):
        lib.add_folder(root)
    with pytest.raises(LibraryError, match="inside"):
        lib.add_folder(root / "models" / "Lora")
    with pytest.raises(LibraryError, match="not a folder"):
        lib.add_folder(tmp_path / "nope")
    lib.scan()
    assert lib.remove_folder(root) == 4
    assert lib.models() == []
    assert (root / "models/Lora/graffiti.safetensors").exists()


# -- the index never rescans ------------------------------------------------------------------


def test_second_scan_of_1000_unchanged_files_opens_none(
    tmp_path: Path, lib: Library, monkeypatch
) -> None:
    tree = tmp_path / "many"
    header = json.dumps({"emb_params": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}})
    raw = struct.pack("<Q", len(header)) + header.encode()
    for i in range(1000):
        folder = tree / f"d{i // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"emb{i:04}.safetensors").write_bytes(raw + i.to_bytes(4, "little"))
    lib.add_folder(tree)
    first = lib.scan()
    assert first.found == 1000 and first.read == 1000 and len(first.added) == 1000

    opened: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, *args, **kwargs):
        opened.append(os.fspath(file) if not isinstance(file, int) else str(file))
        return real_open(file, *args, **kwargs)

    def spy_os_open(path, *args, **kwargs):
        opened.append(os.fspath(path))
        return real_os_open(path, *args, **kwargs)

    described: list[Path] = []
    real_describe = details.describe
    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    monkeypatch.setattr(
        "sneakerstudio.core.models.library.scan.describe",
        lambda path, *a: described.append(path) or real_describe(path, *a),
    )
    second = lib.scan()
    assert second.found == 1000 and second.read == 0
    assert not (second.added or second.changed or second.missing or second.renamed)
    assert described == []
    assert [p for p in opened if str(tree) in p] == []
    assert len(lib.models()) == 1000


# -- changes on disk ---------------------------------------------------------------------------


def test_renamed_deleted_and_replaced_files_are_noticed(tmp_path: Path, lib: Library) -> None:
    root = make_a1111(tmp_path)
    lib.add_folder(root)
    lib.scan()
    lora_dir = root / "models" / "Lora"
    graffiti = lora_dir / "graffiti.safetensors"
    lib.set_favourite(graffiti)
    lib.hash_pending()
    sha_before = lib.get(graffiti).sha256

    # renamed outside the app: identity, hash and favourite follow the file
    moved = lora_dir / "sub" / "graffiti_v2.safetensors"
    moved.parent.mkdir()
    os.rename(graffiti, moved)
    report = lib.scan()
    assert report.renamed == [(str(graffiti), str(moved))] and report.read == 0
    entry = lib.get(moved)
    assert entry.favourite and entry.sha256 == sha_before and entry.name == "graffiti_v2"
    assert lib.get(graffiti) is None

    # deleted: marked missing, not listed, not crashed on; back again: nothing re-read
    vae = root / "models" / "VAE" / "vae-ft-mse.safetensors"
    data = vae.read_bytes()
    stat = vae.stat()
    vae.unlink()
    report = lib.scan()
    assert report.missing == [str(vae)]
    assert "vae-ft-mse" not in by_name(lib)
    assert lib.get(vae).missing
    with pytest.raises(ModelNotFoundError):
        lib.resolve("vae-ft-mse")
    vae.write_bytes(data)
    os.utime(vae, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    report = lib.scan()
    assert report.reappeared == [str(vae)] and report.read == 0
    assert "vae-ft-mse" in by_name(lib)

    # replaced by another file under the same name: re-read, stale hash dropped
    ckpt = root / "models" / "Stable-diffusion" / "dreamshaper_8.safetensors"
    kohya_lora(ckpt, {"d": {"oops": 1}}, fill=77)
    report = lib.scan()
    assert report.changed == [str(ckpt)] and report.read == 1
    replaced = lib.get(ckpt)
    assert replaced.kind == "lora" and replaced.sha256 is None

    # a preview image and an A1111 name.json added later are picked up without a re-read
    tiny_png(root / "models" / "VAE" / "vae-ft-mse.png")
    (root / "models" / "VAE" / "vae-ft-mse.json").write_text('{"activation text": "x"}')
    report = lib.scan()
    assert report.read == 0
    entry = lib.get(vae)
    assert entry.thumbnail.endswith("vae-ft-mse.png") and entry.activation_text == "x"


def test_overrides_survive_rescans_changes_and_rebuilds(tmp_path: Path, lib: Library) -> None:
    root = make_a1111(tmp_path)
    lib.add_folder(root)
    lib.scan()
    ckpt = root / "models" / "Stable-diffusion" / "dreamshaper_8.safetensors"
    entry = lib.set_override(ckpt, base="sd2", prediction="v")
    assert (entry.base, entry.prediction, entry.detected_base) == ("sd2", "v", "sd1")
    assert [m.name for m in lib.models(base="sd2")] == ["dreamshaper_8"]
    lib.scan()
    sd1_checkpoint(ckpt, fill=42)  # replaced with new content
    os.utime(ckpt, ns=(1, 1_000_000_000))
    assert lib.scan().changed == [str(ckpt)]
    assert (lib.get(ckpt).base, lib.get(ckpt).prediction) == ("sd2", "v")
    lib.rebuild()
    assert (lib.get(ckpt).base, lib.get(ckpt).prediction) == ("sd2", "v")
    entry = lib.set_override(ckpt, base=None)
    assert (entry.base, entry.prediction) == ("sd1", "v")
    with pytest.raises(LibraryError, match="Unknown base"):
        lib.set_override(ckpt, base="sd3")


# -- hashes ------------------------------------------------------------------------------------


def test_hashes_match_hashlib_and_are_cached(tmp_path: Path, lib: Library) -> None:
    root = make_a1111(tmp_path)
    lib.add_folder(root)
    lib.scan()
    events = []
    report = lib.hash_pending(progress=events.append)
    assert len(report.hashed) == 4 and not report.errors and not report.cancelled
    for entry in lib.models():
        data = Path(entry.path).read_bytes()
        assert entry.sha256 == hashlib.sha256(data).hexdigest()
        assert entry.autov2 == entry.sha256[:10]
        assert entry.legacy_hash == hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]
        if entry.kind == "lora":
            (header_len,) = struct.unpack("<Q", data[:8])
            assert entry.addnet_sha256 == hashlib.sha256(data[8 + header_len :]).hexdigest()
            assert entry.addnet_hash == entry.addnet_sha256[:12]
        else:
            assert entry.addnet_sha256 is None
    done = [e.done_bytes for e in events]
    assert done == sorted(done) and done[-1] == events[-1].total_bytes
    assert lib.pending_hashes() == []
    hashing.clear_cache()
    assert lib.hash_pending().hashed == []  # cached in the index, not recomputed
    lora = lib.find("graffiti")
    assert lib.known_hashes(lora.path) == {
        "sha256": lora.sha256,
        "legacy": lora.legacy_hash,
        "addnet_sha256": lora.addnet_sha256,
    }
    os.utime(lora.path, ns=(1, 2_000_000_000))  # changed since hashing: nothing is vouched for
    assert lib.known_hashes(lora.path) == {}
    # found again by its hash prefix, as a PNG's "Model hash" names it
    ckpt = lib.find("dreamshaper_8")
    assert lib.find(ckpt.autov2) == ckpt


def test_hashing_can_be_cancelled_and_resumed(tmp_path: Path, lib: Library) -> None:
    folder = tmp_path / "big"
    for i in range(3):
        write_safetensors(folder / f"m{i}.safetensors", {"w": ("U8", [3 * 1024 * 1024])}, fill=i)
    lib.add_folder(folder)
    lib.scan()
    seen = []
    report = lib.hash_pending(progress=seen.append, cancel=lambda: len(seen) > 5)
    assert report.cancelled and len(report.hashed) == 1
    assert len(lib.pending_hashes()) == 2
    assert len(lib.hash_pending().hashed) == 2
    assert all(m.sha256 for m in lib.models())


# -- a damaged index ---------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["garbage", "torn pages"])
def test_a_corrupted_index_is_moved_aside_and_rebuilt(tmp_path: Path, damage: str) -> None:
    root = make_a1111(tmp_path)
    data = tmp_path / "data"
    library = Library(data)
    library.add_folder(root)
    library.scan()
    library.index.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    library.close()
    index_file = data / "library.sqlite"
    if damage == "garbage":
        index_file.write_bytes(b"this is not a database" * 100)
    else:  # keep the SQLite header, overwrite the pages behind it
        raw = index_file.read_bytes()
        index_file.write_bytes(raw[:100] + b"\xa5" * (len(raw) - 100))
    for extra in ("library.sqlite-wal", "library.sqlite-shm"):
        (data / extra).unlink(missing_ok=True)

    rebuilt = Library(data)
    try:
        assert rebuilt.recovered_from is not None and rebuilt.recovered_from.exists()
        assert "damaged" in rebuilt.recovered_from.name
        assert not rebuilt.first_run
        assert str(root.resolve()) in [f.path for f in rebuilt.folders()]  # from the backup
        report = rebuilt.scan()
        assert report.found == 4 and len(rebuilt.models()) == 4
    finally:
        rebuilt.close()


def test_an_index_that_cannot_be_opened_is_not_thrown_away(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "library.sqlite").mkdir(parents=True)  # e.g. unreadable: not damage, keep it
    with pytest.raises(LibraryError, match="cannot be opened"):
        Library(data)
    assert (data / "library.sqlite").is_dir()
    assert not [p for p in data.iterdir() if "damaged" in p.name]


def test_an_index_from_a_newer_app_is_set_aside(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Library(data).close()
    conn = sqlite3.connect(data / "library.sqlite")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    library = Library(data)
    try:
        assert "newer" in library.recovered_from.name
        assert library.index.schema_version == len(index.MIGRATIONS)
    finally:
        library.close()


def test_schema_migrations_run_in_order_and_keep_data(tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "data"
    library = Library(data)
    kohya_lora(data / "models" / "keep.safetensors")
    library.scan()
    library.close()
    extra = ("ALTER TABLE models ADD COLUMN rating INTEGER NOT NULL DEFAULT 3",)
    monkeypatch.setattr(index, "MIGRATIONS", [*index.MIGRATIONS, extra])
    library = Library(data)
    try:
        assert library.index.schema_version == 2
        assert library.index.query("SELECT name, rating FROM models")[0][:] == ("keep", 3)
        assert library.recovered_from is None
    finally:
        library.close()


# -- names, search and operations --------------------------------------------------------------


def test_names_resolve_to_paths_and_ambiguity_is_explained(tmp_path: Path, lib: Library) -> None:
    root = make_a1111(tmp_path)
    other = tmp_path / "more"
    kohya_lora(other / "sdxl" / "graffiti.safetensors", fill=11)
    embedding_file(other / "dreamshaper_8.safetensors")
    lib.add_folder(root)
    lib.add_folder(other)
    lib.scan()
    ckpt = root / "models" / "Stable-diffusion" / "dreamshaper_8.safetensors"
    assert lib.resolve(str(ckpt)) == ckpt
    assert lib.resolve("dreamshaper_8", "checkpoint") == ckpt
    assert lib.resolve("DreamShaper_8.safetensors", "checkpoint") == ckpt
    assert lib.resolve("sdxl/graffiti", "lora") == other / "sdxl" / "graffiti.safetensors"
    with pytest.raises(AmbiguousModelError) as caught:
        lib.resolve("graffiti", "lora")
    assert len(caught.value.candidates) == 2
    assert "sdxl/graffiti" in str(caught.value) and str(root) in str(caught.value)
    with pytest.raises(ModelNotFoundError, match="not as a checkpoint"):
        lib.resolve("easynegative", "checkpoint")
    with pytest.raises(ModelNotFoundError, match="Did you mean 'graffiti'"):
        lib.resolve("grafiti", "lora")


def test_module_resolve_takes_paths_without_the_library_and_names_with_it(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    model = sd1_checkpoint(tmp_path / "x.safetensors")
    assert resolve(str(model)) == model
    assert not (tmp_path / "home").exists()  # a plain path never opens the index
    own = tmp_path / "home" / "data" / "models"
    kohya_lora(own / "fresh.safetensors")  # not scanned yet: resolve rescans once
    assert resolve("fresh", "lora") == (own / "fresh.safetensors").resolve()
    with pytest.raises(ModelNotFoundError):
        resolve("nothing-like-it")


def test_search_sort_and_favourites(tmp_path: Path, lib: Library) -> None:
    make_a1111(tmp_path)
    lib.add_folder(tmp_path / "stable-diffusion-webui")
    lib.scan()
    assert [m.name for m in lib.models(text="spray")] == ["graffiti"]  # trigger word
    assert [m.name for m in lib.models(text="GRFFTI")] == ["graffiti"]  # activation text
    assert [m.name for m in lib.models(text="dream")] == ["dreamshaper_8"]
    assert [m.name for m in lib.models(kind="lora")] == ["graffiti"]
    assert {m.name for m in lib.models(base="sd1")} >= {"dreamshaper_8", "graffiti"}
    assert lib.models(text="100%") == []
    sizes = [m.size for m in lib.models(sort="size", descending=True)]
    assert sizes == sorted(sizes, reverse=True)
    lib.set_favourite(lib.find("easynegative").path)
    assert [m.name for m in lib.models(favourites=True)] == ["easynegative"]
    with pytest.raises(LibraryError, match="sort"):
        lib.models(sort="colour")


def test_rename_moves_sidecars_and_keeps_user_data(tmp_path: Path, lib: Library) -> None:
    root = make_a1111(tmp_path)
    lib.add_folder(root)
    lib.scan()
    lora_dir = root / "models" / "Lora"
    lib.set_weight(lora_dir / "graffiti.safetensors", 0.55)
    entry = lib.rename(lora_dir / "graffiti.safetensors", "street_art")
    assert entry.path == str(lora_dir / "street_art.safetensors") and entry.name == "street_art"
    assert (lora_dir / "street_art.json").exists() and not (lora_dir / "graffiti.json").exists()
    assert entry.default_weight == 0.55 and entry.activation_text == "grffti, spray"
    assert lib.scan().read == 0  # the index already knows
    assert lib.rename(entry.path, "street_art") == entry  # same name: nothing to do
    kohya_lora(lora_dir / "other.safetensors", fill=3)
    lib.scan()
    with pytest.raises(LibraryError, match="already exists"):
        lib.rename(lora_dir / "other.safetensors", "street_art.safetensors")
    with pytest.raises(LibraryError, match="file name"):
        lib.rename(entry.path, "../escape")


def test_delete_goes_to_a_trash_folder_not_oblivion(tmp_path: Path, lib: Library) -> None:
    root = make_a1111(tmp_path)
    lib.add_folder(root)
    lib.scan()
    ckpt = root / "models" / "Stable-diffusion" / "dreamshaper_8.safetensors"
    content = ckpt.read_bytes()
    result = lib.delete(ckpt)
    assert not ckpt.exists() and not ckpt.with_name("dreamshaper_8.preview.png").exists()
    if not result.system_trash:  # send2trash is optional
        trashed = Path(result.destination) / ckpt.name
        assert trashed.read_bytes() == content
        assert (Path(result.destination) / "dreamshaper_8.preview.png").exists()
    assert lib.get(ckpt) is None
    assert lib.scan().missing == []


def test_thumbnails_from_a_generation_and_from_metadata(tmp_path: Path, lib: Library) -> None:
    import base64

    png = tiny_png(tmp_path / "gen" / "00001-42.png")
    folder = tmp_path / "m"
    kohya_lora(folder / "plain.safetensors")
    write_safetensors(
        folder / "spec.safetensors",
        {"emb_params": ("F16", [1, 768])},
        {
            "modelspec.thumbnail": "data:image/png;base64,"
            + base64.b64encode(png.read_bytes()).decode(),
            "modelspec.title": "Spec",
        },
    )
    lib.add_folder(folder)
    lib.scan()
    spec = lib.find("spec")
    assert spec.thumbnail and Path(spec.thumbnail).read_bytes() == png.read_bytes()
    assert spec.info["metadata"] == {"modelspec.title": "Spec"}
    entry = lib.set_thumbnail_from_image(folder / "plain.safetensors", png)
    assert Path(entry.thumbnail).is_file() and str(tmp_path / "data") in entry.thumbnail
    assert not (folder / "plain.png").exists()  # nothing written next to the user's model
    with pytest.raises(LibraryError, match="thumbnail"):
        lib.set_thumbnail_from_image(entry.path, folder / "spec.safetensors")


def test_lora_arguments_take_a_name_or_path_and_an_optional_weight(
    tmp_path: Path, lib: Library
) -> None:
    from sneakerstudio.core.models.library import resolve_lora

    root = make_a1111(tmp_path)
    lib.add_folder(root)
    lib.scan()
    lora = root / "models" / "Lora" / "graffiti.safetensors"
    assert resolve_lora("graffiti:0.8", library=lib) == (lora, 0.8)
    assert resolve_lora("graffiti", library=lib) == (lora, None)
    assert resolve_lora(f"{lora}:-0.5", library=lib) == (lora, -0.5)
    with pytest.raises(ModelNotFoundError, match="not as a lora"):
        resolve_lora("dreamshaper_8:1", library=lib)
