"""Pickled checkpoints are converted in a throwaway process with the allow-list unpickler; the
app process never unpickles. A malicious pickle is refused and its payload never runs, whatever
the file is called."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import pytest

from sneakerstudio.core.models.identify import identify
from sneakerstudio.core.models.loading import load_model
from sneakerstudio.core.models.pickle_convert import convert_pickle, converted_path
from sneakerstudio.core.protocol.errors import UnsafeFileError

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_benign_ckpt_loads_the_same_weights_and_stays_untouched(
    tiny_sd1, tmp_path: Path, home: Path
) -> None:
    import torch
    from safetensors.torch import load_file

    state = load_file(str(tiny_sd1.single_file))
    ckpt = tmp_path / "tiny_sd1.ckpt"
    torch.save({"state_dict": state, "global_step": 840000}, ckpt)
    before = digest(ckpt)
    assert identify(ckpt).format == "pickle"

    loaded = load_model(ckpt)
    reference = load_model(tiny_sd1.single_file)
    assert (loaded.name, loaded.format, loaded.source) == ("tiny_sd1", "pickle", ckpt)
    for part in ("unet", "vae", "text_encoder"):
        a = getattr(loaded.pipe, part).state_dict()
        b = getattr(reference.pipe, part).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in b), part
    assert digest(ckpt) == before  # the original is only read
    copy = converted_path(ckpt)
    assert copy.is_file() and home in copy.parents
    mtime = copy.stat().st_mtime_ns
    assert convert_pickle(ckpt) == copy and copy.stat().st_mtime_ns == mtime  # once only
    info = identify(ckpt)  # now identified from the copy
    assert (info.kind, info.base, info.format) == ("checkpoint", "sd1", "pickle")


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize(
    ("name", "flavour"),
    [
        ("evil.ckpt", "raw"),
        ("evil.pt", "zip"),
        ("evil.safetensors", "raw"),
        ("evil.safetensors", "zip"),
    ],
)
def test_malicious_pickle_is_refused_and_never_runs(
    tmp_path: Path, name: str, flavour: str
) -> None:
    import torch

    marker = tmp_path / "sentinel"
    path = tmp_path / name
    payload = {"state_dict": {"w": torch.zeros(2)}, "x": _Payload(marker)}
    if flavour == "zip":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(UnsafeFileError, match="could run code") as err:
        load_model(path)
    assert name in str(err.value)
    assert not marker.exists()
    assert not converted_path(path).exists()
    assert not marker.exists()


def test_embedding_pt_is_flattened(tmp_path: Path) -> None:
    import torch

    pt = tmp_path / "sneakr-style.pt"
    torch.save(
        {
            "string_to_param": {"*": torch.zeros(2, 768)},
            "name": "sneakr-style",
            "string_to_token": {"*": 265},
            "step": 3000,
        },
        pt,
    )
    copy = convert_pickle(pt)
    from safetensors import safe_open

    with safe_open(str(copy), "pt") as f:
        assert set(f.keys()) == {"string_to_param.*"}  # tensors only; the rest is dropped
    info = identify(pt)
    assert (info.kind, info.base, info.vectors) == ("embedding", "sd1", 2)


class _TorchSave:
    """Names only `torch.*`, so the fast opcode screen lets it through: the allow-list unpickler
    in the child process must refuse it (unpickled, it would write `marker`)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import torch

        return (torch.save, ({}, str(self.marker)))


def test_payload_past_the_screen_is_refused_by_the_child(tmp_path: Path) -> None:
    import torch

    from sneakerstudio.core.models.pickle_convert import foreign_global

    marker = tmp_path / "sentinel"
    for path in (tmp_path / "sneaky.safetensors",):
        torch.save({"state_dict": {"w": torch.zeros(2)}, "x": _TorchSave(marker)}, path)
        assert foreign_global(path) is None
        with pytest.raises(UnsafeFileError, match="could run code"):
            load_model(path)
        assert not marker.exists()


def test_diffusers_folder_with_pickled_weights_loads_from_a_converted_copy(
    tiny_sd1, tmp_path: Path
) -> None:
    import shutil

    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "old_folder"
    shutil.copytree(tiny_sd1.folder, folder)
    weights = folder / "text_encoder" / "model.safetensors"
    torch.save(load_file(str(weights)), folder / "text_encoder" / "pytorch_model.bin")
    weights.unlink()
    before = sorted(p.name for p in folder.rglob("*"))
    loaded = load_model(folder)
    reference = load_model(tiny_sd1.folder)
    a, b = loaded.pipe.text_encoder.state_dict(), reference.pipe.text_encoder.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in b)
    assert (loaded.path, loaded.name) == (folder, "old_folder")
    assert sorted(p.name for p in folder.rglob("*")) == before  # the user's folder unchanged
