"""The starter catalogue as shipped, the checks on any catalogue, the host rule for
redirects and the progress line: no network needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sneakerstudio.core.downloads import DownloadError, DownloadProgress, load_catalogue
from sneakerstudio.core.downloads.hosts import allowed
from sneakerstudio.core.downloads.progress import RateMeter, format_eta
from sneakerstudio.core.models.library.sources import KIND_FOLDER_NAMES

LIBRARY_KIND = {"checkpoint": "checkpoint", "lora": "lora", "controlnet": "controlnet"}
LIBRARY_KIND |= {"upscaler": "upscaler", "vae": "vae", "embedding": "embedding"}


def test_the_shipped_catalogue_has_what_a_newcomer_needs():
    catalogue = load_catalogue()
    by_name = {m.name: m for m in catalogue.models}
    assert {"sd-turbo", "sdxl-turbo", "lcm-lora-sd15", "taesd", "taesdxl"} <= set(by_name)
    kinds = [(m.kind, m.base) for m in catalogue.models]
    assert ("checkpoint", "sd1") in kinds  # an SD 1.5 fine-tune
    assert ("controlnet", "sd1") in kinds and any("scribble" in m.name for m in catalogue.models)
    assert ("upscaler", None) in kinds
    assert [m.name for m in catalogue.models if m.recommended] == ["sd-turbo"]
    for model in catalogue.models:
        assert model.repo and model.revision and model.licence and model.purpose, model.name
        assert model.size > 0 and all(f.size > 0 for f in model.files), model.name
        if model.kind in LIBRARY_KIND:  # its folder tells the library what it holds
            assert KIND_FOLDER_NAMES[model.folder.lower()] == LIBRARY_KIND[model.kind]
        # Nothing was checked online where this was written: it must say so, not pretend.
        assert model.verified is False or all(f.sha256 for f in model.files)
    assert "NOT checked online" in catalogue.provenance
    assert "pin_starter_models.py" in catalogue.provenance


def write(tmp_path: Path, **changes: object) -> Path:
    entry = {
        "name": "x",
        "title": "X",
        "kind": "checkpoint",
        "folder": "Stable-diffusion",
        "repo": "a/b",
        "files": [{"file": "x.safetensors", "size": 1}],
    }
    entry.update(changes)
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps({"models": [entry]}), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"folder": "../outside"}, "climbs out"),
        ({"files": [{"file": "../x.safetensors", "size": 1}]}, "climbs out"),
        ({"files": [{"file": "x", "save_as": "../../x", "size": 1}]}, "climbs out"),
        ({"files": [{"file": "x", "sha256": "not-a-hash", "size": 1}]}, "not a sha256"),
        ({"kind": "script"}, "unknown kind"),
        ({"repo": "no-owner"}, "not a Hugging Face repository"),
        ({"files": []}, "no files"),
    ],
)
def test_a_bad_entry_is_refused_with_the_reason(tmp_path, changes, reason):
    with pytest.raises(DownloadError, match=reason):
        load_catalogue(write(tmp_path, **changes))


def test_an_unreadable_catalogue_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(b"\xff{")
    with pytest.raises(DownloadError, match="cannot be read"):
        load_catalogue(path)
    with pytest.raises(DownloadError, match="cannot be read"):
        load_catalogue(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://huggingface.co/a/b/resolve/main/x", True),
        ("https://cas-bridge.xethub.hf.co/x?sig=1", True),
        ("https://cdn-lfs.huggingface.co/x", True),
        ("http://cdn-lfs.huggingface.co/x", False),  # not over plain HTTP
        ("https://evilhuggingface.co/x", False),
        ("https://huggingface.co.evil.example/x", False),
        ("https://mirror.example/x", False),
        ("https://hub.internal:8443/x", True),  # the endpoint itself
        ("https://hub.internal/x", False),  # same host, another port
    ],
)
def test_which_hosts_a_download_may_go_to(url, ok, monkeypatch):
    monkeypatch.delenv("SNEAKERSTUDIO_DOWNLOAD_HOSTS", raising=False)
    assert allowed(url, "https://hub.internal:8443") is ok


def test_the_progress_line():
    line = DownloadProgress("SD-Turbo", "downloading", 1_200_000_000, 5_200_000_000, 12.3e6, 325)
    assert line.text() == "1.2 GB of 5.2 GB · 12.3 MB/s · 5 min left"
    assert DownloadProgress("x", "downloading", 5_000).text() == "5.0 KB"
    assert format_eta(7265) == "2 h 01 min" and format_eta(4.4) == "4 s"
    clock = iter([0.0, 1.0, 2.0, 10.0])
    meter = RateMeter(window_s=3.0, clock=lambda: next(clock))
    assert meter.add(0) == 0.0
    assert meter.add(1000) == 1000.0
    assert meter.add(3000) == 1500.0
    assert meter.add(3000) < 100  # a stall shows as a stall, not the average since the start
