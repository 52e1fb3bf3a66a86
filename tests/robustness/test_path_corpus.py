"""Hostile and odd paths: LoRA tags that climb out of the LoRA folders, symlinks that leave a
model folder, Windows reserved names, and names in odd (or no valid) unicode.

Prompts are pasted from strangers' images, model folders come from other tools and other
systems: each case must give a typed, explained error or just work, keep the library index
sound, and never touch a file outside what the user chose.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from sneakerstudio.core.models.library import Library, LibraryError
from sneakerstudio.core.patches.lora import LoraError
from sneakerstudio.core.protocol.request import GenerationRequest
from tests.core.library_helpers import kohya_lora, sd1_checkpoint


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


# -- LoRA tags in a prompt are names, never paths ------------------------------------------------


@pytest.fixture()
def lora_setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(model, the LoRA in its Lora folder, a LoRA-shaped file outside every LoRA folder)."""
    model = sd1_checkpoint(tmp_path / "install" / "models" / "Stable-diffusion" / "m.safetensors")
    inside = kohya_lora(tmp_path / "install" / "models" / "Lora" / "graffiti.safetensors")
    outside = kohya_lora(tmp_path / "secret.safetensors")
    return model, inside, outside


def _request(model: Path, prompt: str, **changes: object) -> GenerationRequest:
    return GenerationRequest(model=model, prompt=prompt, **changes)  # type: ignore[arg-type]


def test_a_lora_tag_finds_its_file_by_name(lora_setup: tuple[Path, Path, Path]) -> None:
    from sneakerstudio.core.patches.model_files import requested_loras

    model, inside, _outside = lora_setup
    assert requested_loras(_request(model, "a shoe <lora:graffiti:0.8>")) == [
        (inside.resolve(), 0.8)
    ]


@pytest.mark.parametrize(
    "tag",
    [
        "../../../secret",
        "..\\..\\..\\secret",
        "{outside_abs}",
        "~/secret",
        "C:\\secret",
        "..",
        "sub/../../../../secret",
    ],
)
def test_a_lora_tag_that_is_a_path_is_refused(
    tag: str, lora_setup: tuple[Path, Path, Path]
) -> None:
    """`../../secret` resolved against the Lora folder would reach `secret.safetensors`; an
    absolute path would reach anything. Both are refused, saying what to write instead."""
    from sneakerstudio.core.patches.model_files import requested_loras

    model, _inside, outside = lora_setup
    tag = tag.format(outside_abs=str(outside.with_suffix("")))
    with pytest.raises(LoraError) as caught:
        requested_loras(_request(model, f"a shoe <lora:{tag}:1>"))
    text = str(caught.value)
    assert "names a path" in text or "not found" in text, text
    assert "file name" in text or "LoRA folder" in text, text
    assert str(outside) not in text  # it was never found


def test_an_explicit_lora_path_chosen_by_the_user_still_works(
    lora_setup: tuple[Path, Path, Path],
) -> None:
    """The request's own LoRA list (the user picked a file) may point anywhere."""
    from sneakerstudio.core.patches.model_files import requested_loras

    model, _inside, outside = lora_setup
    request = _request(model, "a shoe", loras=((str(outside), 0.5),))
    assert requested_loras(request) == [(outside.resolve(), 0.5)]


# -- symlinks inside a model folder ---------------------------------------------------------------


def _can_symlink(tmp_path: Path) -> bool:
    try:
        (tmp_path / "probe-link").symlink_to(tmp_path)
    except OSError:
        return False
    (tmp_path / "probe-link").unlink()
    return True


def test_symlinks_escaping_a_model_folder(tmp_path: Path) -> None:
    """Links are followed (people link models in from other drives) but only read: a link to
    a model outside is listed under the link's own path, a link to a non-model gets an error
    entry, a dangling link and a link loop are skipped, and deleting or renaming a linked
    entry moves the link, never the file outside."""
    if not _can_symlink(tmp_path):
        pytest.skip("symlinks are not available here")
    outside = tmp_path / "outside"
    outside.mkdir()
    elsewhere_model = sd1_checkpoint(outside / "elsewhere.safetensors", fill=7)
    secret = outside / "secret.txt"
    secret.write_text("not a model\n" * 10)
    linked_dir = outside / "more-models"
    kohya_lora(linked_dir / "linked-lora.safetensors")

    folder = tmp_path / "models"
    sd1_checkpoint(folder / "good.safetensors")
    (folder / "escape-model.safetensors").symlink_to(elsewhere_model)
    (folder / "escape-secret.safetensors").symlink_to(secret)
    (folder / "dangling.safetensors").symlink_to(tmp_path / "nowhere.safetensors")
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    (folder / "linked-dir").symlink_to(linked_dir, target_is_directory=True)
    secret_before = secret.read_bytes()
    model_before = elsewhere_model.read_bytes()

    with Library(tmp_path / "data") as lib:
        lib.add_folder(folder)
        report = lib.scan()
        listed = {Path(m.path).name: m for m in lib.models()}
        assert set(listed) == {
            "good.safetensors",
            "escape-model.safetensors",
            "escape-secret.safetensors",
            "linked-lora.safetensors",
        }, set(listed)
        assert listed["escape-model.safetensors"].kind == "checkpoint"
        assert listed["escape-model.safetensors"].path == str(folder / "escape-model.safetensors")
        assert listed["linked-lora.safetensors"].kind == "lora"
        secret_entry = listed["escape-secret.safetensors"]
        assert secret_entry.error and "not a usable .safetensors" in secret_entry.error
        assert [p for p, _ in report.errors] == [secret_entry.path]

        renamed = lib.rename(listed["escape-model.safetensors"].path, "renamed-link")
        assert Path(renamed.path).is_symlink() and elsewhere_model.exists()
        lib.delete(renamed.path)
        lib.delete(secret_entry.path)
        assert not (folder / "renamed-link.safetensors").exists()
        assert lib.index.query("PRAGMA integrity_check")[0][0] == "ok"
    assert elsewhere_model.read_bytes() == model_before
    assert secret.read_bytes() == secret_before
    assert _integrity(tmp_path / "data" / "library.sqlite") == "ok"


def test_paths_outside_the_library_are_not_its_models(tmp_path: Path) -> None:
    """Absolute and `..` paths outside the folders: not found in the index, and a rename
    cannot move a model out of its folder."""
    from sneakerstudio.core.models.library import ModelNotFoundError

    folder = tmp_path / "models"
    model = sd1_checkpoint(folder / "good.safetensors")
    stranger = sd1_checkpoint(tmp_path / "stranger.safetensors", fill=2)
    with Library(tmp_path / "data") as lib:
        lib.add_folder(folder)
        lib.scan()
        assert lib.get(stranger) is None
        assert lib.get(folder / ".." / "stranger.safetensors") is None
        with pytest.raises(ModelNotFoundError, match="not in the model library"):
            lib.set_favourite(stranger)
        for bad in ("../../escaped", str(tmp_path / "abs"), "..", "sub/name", "a\\b"):
            with pytest.raises(LibraryError, match="cannot be used as a file name"):
                lib.rename(model, bad)
        assert model.exists() and not (tmp_path / "escaped.safetensors").exists()
        assert [Path(m.path).name for m in lib.models()] == ["good.safetensors"]


# -- Windows reserved names -----------------------------------------------------------------------

RESERVED_FILES = ("NUL.safetensors", "COM1.ckpt", "aux.safetensors", "CON", "lpt9.pt")


def test_windows_reserved_names_are_scanned_and_never_created(tmp_path: Path) -> None:
    """Files with such names (made on Linux) are read like any other; renaming a model to one
    is refused with a reason, so a library folder stays usable on Windows."""
    from sneakerstudio.core.models.identify import identify

    folder = tmp_path / "models"
    good = sd1_checkpoint(folder / "good.safetensors")
    for name in RESERVED_FILES:
        (folder / name).write_bytes(good.read_bytes())
    with Library(tmp_path / "data") as lib:
        lib.add_folder(folder)
        report = lib.scan()
        listed = {Path(m.path).name: m for m in lib.models()}
        assert set(listed) == {"good.safetensors", "NUL.safetensors", "COM1.ckpt",
                               "aux.safetensors", "lpt9.pt"}  # fmt: skip
        assert listed["NUL.safetensors"].kind == "checkpoint" and not report.errors
        assert identify(folder / "aux.safetensors").kind == "checkpoint"
        # a .ckpt that holds safetensors bytes is not a pickle: it is listed, not refused
        assert listed["COM1.ckpt"].kind == "unknown"
        for bad in ("CON", "nul", "COM1", "lpt9.old", "Aux ", "prn.v2", "name.", "tab\there"):
            with pytest.raises(LibraryError) as caught:
                lib.rename(good, bad)
            assert "cannot be used as a file name" in str(caught.value)
            assert "CON" in caught.value.hint and "Windows" in caught.value.hint
        assert good.exists()
        assert Path(lib.rename(good, "console-art").path).name == "console-art.safetensors"


# -- odd unicode --------------------------------------------------------------------------------

ODD_NAMES = (
    "módèl ✨🦄",
    "cafe\u0301-nfd",
    "caf\u00e9-nfc",
    "\u202egnp.exe",  # right-to-left override
    "zero\u200bwidth",
    "line\nbreak",
    "模型 モデル",
    "x" * 200,
)


def test_odd_unicode_names_are_listed_found_and_read(tmp_path: Path) -> None:
    from sneakerstudio.core.models.identify import identify

    folder = tmp_path / "models"
    for number, name in enumerate(ODD_NAMES):
        sd1_checkpoint(folder / f"{name}.safetensors", fill=number)
    with Library(tmp_path / "data") as lib:
        lib.add_folder(folder)
        report = lib.scan()
        assert not report.errors
        names = {m.name for m in lib.models()}
        assert names == set(ODD_NAMES)
        for name in ODD_NAMES:
            assert lib.find(name, "checkpoint").name == name
            assert identify(folder / f"{name}.safetensors").kind == "checkpoint"
        assert lib.rename(folder / "módèl ✨🦄.safetensors", "新しい ✨").name == "新しい ✨"
    assert _integrity(tmp_path / "data" / "library.sqlite") == "ok"


def test_a_name_of_undecodable_bytes_is_reported_and_the_rest_still_listed(
    tmp_path: Path,
) -> None:
    """A file whose name is not valid UTF-8 (a zip made on another system) comes from the
    directory listing with surrogates, which SQLite cannot store. It is reported, saying to
    rename it; the other models are indexed as usual."""
    folder = tmp_path / "models"
    good = sd1_checkpoint(folder / "good.safetensors")
    raw_name = os.fsencode(folder) + b"/bad-\xff\xfe-name.safetensors"
    try:
        with open(raw_name, "wb") as f:
            f.write(good.read_bytes())
    except (OSError, ValueError):
        pytest.skip("this file system does not take undecodable names")
    with Library(tmp_path / "data") as lib:
        lib.add_folder(folder)
        report = lib.scan()
        assert [m.name for m in lib.models()] == ["good"]
        assert len(report.errors) == 1
        shown, why = report.errors[0]
        assert "bad-\ufffd\ufffd-name.safetensors" in shown and "rename the file" in why
        shown.encode("utf-8")  # printable
        assert lib.scan().found == 1  # and again, without crashing
        bad_folder = os.fsdecode(os.fsencode(tmp_path) + b"/dir-\xff")
        os.mkdir(bad_folder)
        with pytest.raises(LibraryError, match="not valid text"):
            lib.add_folder(bad_folder)
    assert _integrity(tmp_path / "data" / "library.sqlite") == "ok"
