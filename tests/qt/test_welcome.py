"""The first run in the window: the welcome in place of the canvas, the installs found on this
computer added with one click, a starter model downloaded with progress, speed, time left and
Cancel, then selected; and what a computer without a route to the hub is told. The hub is the
local test server (tests/downloads/hub_server.py); nothing connects before Download."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sneakerstudio.core.downloads import catalogue
from sneakerstudio.qt.main_window import MainWindow, create_main_window
from tests.core.library_helpers import SD1_UNET, make_a1111, sd1_checkpoint, write_safetensors
from tests.downloads.conftest import local_hub
from tests.downloads.hub_server import HubFile, HubServer

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")

REPO = "tester/tiny-turbo"
FILE = "tiny_turbo.safetensors"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    with local_hub(tmp_path, monkeypatch) as server:
        yield server


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The home folder the library looks for other tools' installs in."""
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def checkpoint_bytes(tmp_path: Path, megabytes: int = 8) -> bytes:
    """An SD1 checkpoint the library identifies, padded with a tensor of `megabytes` MB."""
    path = sd1_checkpoint(tmp_path / "seed.safetensors")
    header_path = tmp_path / "big.safetensors"
    tensors = {
        f"{SD1_UNET}input_blocks.0.0.weight": ("F16", [8, 4, 3, 3]),
        f"{SD1_UNET}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F16", [8, 768]),
        f"{SD1_UNET}input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": ("F16", [8, 768]),
        "first_stage_model.decoder.conv_in.weight": ("F16", [4, 4, 3, 3]),
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (
            "F16",
            [16, 8],
        ),
        f"{SD1_UNET}out.2.weight": ("F16", [megabytes * 512 * 1024]),
    }
    path.unlink()
    return write_safetensors(header_path, tensors, fill=7).read_bytes()


@pytest.fixture
def starter(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A one-entry starter catalogue whose checkpoint the local hub serves."""
    content = checkpoint_bytes(tmp_path)
    served = hub.add(REPO, FILE, HubFile.of(content))
    entry = {
        "name": "tiny-turbo",
        "title": "Tiny Turbo",
        "kind": "checkpoint",
        "base": "sd1",
        "folder": "Stable-diffusion",
        "purpose": "A test model.",
        "repo": REPO,
        "revision": "main",
        "files": [{"file": FILE, "size": len(content), "sha256": served.sha256}],
        "licence": "MIT",
        "licence_url": "https://example.invalid/licence",
        "recommended": True,
    }
    path = tmp_path / "starter_models.json"
    path.write_text(json.dumps({"models": [entry]}), encoding="utf-8")
    monkeypatch.setattr(catalogue, "default_path", lambda: path)
    return {"content": content, "served": served}


def open_window(qtbot, engine) -> MainWindow:
    window = create_main_window(lambda: engine, None, with_library=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_first_run_shows_the_welcome_and_adds_a_found_install(
    qtbot, engine, hub: HubServer, user_home: Path
) -> None:
    install = make_a1111(user_home).resolve()
    window = open_window(qtbot, engine)
    welcome = window.first_run.welcome
    assert welcome is not None and welcome.isVisible()
    assert not window.canvas.isVisible()
    assert set(welcome.rows) >= {"sd-turbo", "sdxl-turbo", "lcm-lora-sd15", "taesd"}
    assert all(row.download_button.isEnabled() for row in welcome.rows.values())
    title = welcome.rows["sd-turbo"].findChildren(type(welcome.offline_label))[0]
    assert "start here" in title.text()
    assert str(window.first_run.models_dir) in welcome.offline_label.text()  # by hand, offline
    # The Models tab is in front of the Queue it shares a dock with.
    qtbot.waitUntil(lambda: not window.library_dock.visibleRegion().isEmpty())
    assert window.queue_dock.visibleRegion().isEmpty()

    button = welcome.install_buttons[str(install)]
    with qtbot.waitSignal(window.library_panel.scan_finished, timeout=20_000):
        button.click()
    assert button.text() == "Added" and not button.isEnabled()
    qtbot.waitUntil(lambda: not welcome.isVisible())  # the library has a checkpoint now
    assert window.canvas.isVisible()
    assert hub.requests == []  # nothing was contacted: no Download was pressed


def test_a_starter_download_shows_progress_and_the_model_is_selected(
    qtbot, engine, hub: HubServer, starter: dict[str, Any], user_home: Path
) -> None:
    window = open_window(qtbot, engine)
    welcome = window.first_run.welcome
    assert welcome is not None
    assert hub.requests == []
    row = welcome.rows["tiny-turbo"]
    seen: list[Any] = []
    window.first_run.start_download("tiny-turbo")
    window.first_run.jobs["tiny-turbo"].progress.connect(lambda _n, p: seen.append(p))
    assert not row.download_button.isEnabled() and row.progress.isVisible()
    qtbot.waitUntil(lambda: window.model() is not None, timeout=30_000)

    path = window.first_run.models_dir / "Stable-diffusion" / FILE
    assert window.model() == path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == starter["served"].sha256
    assert not welcome.isVisible() and window.canvas.isVisible()
    assert window.library_panel.current_entry().path == str(path.resolve())
    assert window.library_panel.current_entry().kind == "checkpoint"
    downloading = [p for p in seen if p.phase == "downloading"]
    assert downloading and downloading[-1].done == len(starter["content"])
    assert "of" in downloading[-1].text()
    assert {"verifying", "done"} <= {p.phase for p in seen}
    # A Turbo model's own settings, so the first image takes one step (read in the background).
    qtbot.waitUntil(lambda: window.params.values()["steps"] == 1, timeout=20_000)
    assert window.params.values()["guidance"] == 0.0

    # And the first image: Generate with the downloaded model.
    window.start_worker()
    window.params.set_values({"prompt": "a sneaker", "width": 64, "height": 64})
    with qtbot.waitSignal(window.controller.finished, timeout=20_000):
        window.generate()
    assert engine.requests[-1].model == path and engine.requests[-1].steps == 1


def test_cancel_stops_the_download_and_leaves_nothing(
    qtbot, engine, hub: HubServer, starter: dict[str, Any], user_home: Path
) -> None:
    starter["served"].piece_delay_s = 0.02  # a slow line: ~12 MB/s
    window = open_window(qtbot, engine)
    welcome = window.first_run.welcome
    assert welcome is not None
    row = welcome.rows["tiny-turbo"]
    row.download_button.click()
    qtbot.waitUntil(lambda: "/s" in row.progress.text.text(), timeout=20_000)
    assert " of " in row.progress.text.text() and "left" in row.progress.text.text()
    welcome.skip_button.click()  # back to the canvas: the download goes on, shown below
    assert not welcome.isVisible() and window.canvas.isVisible()
    qtbot.waitUntil(lambda: "Tiny Turbo: " in window.status_line.phase_label.text())
    window.starter_models_action.trigger()
    assert welcome.isVisible()
    row.progress.cancel_button.click()
    qtbot.waitUntil(lambda: "Cancelled" in row.progress.text.text(), timeout=20_000)
    assert row.download_button.isEnabled()
    folder = window.first_run.models_dir
    assert [p.name for p in folder.rglob("*.safetensors*")] == []
    assert welcome.isVisible() and window.model() is None


def test_no_route_says_the_app_works_without_it(
    qtbot, engine, hub: HubServer, starter: dict[str, Any], user_home: Path, monkeypatch
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    window = open_window(qtbot, engine)
    welcome = window.first_run.welcome
    assert welcome is not None
    row = welcome.rows["tiny-turbo"]
    row.download_button.click()
    qtbot.waitUntil(lambda: row.download_button.text() == "Try again", timeout=20_000)
    message = row.progress.text.text()
    assert "Could not reach" in message and "works without a connection" in message
    assert welcome.isVisible() and window.model() is None
    assert list((window.first_run.models_dir).rglob("*.safetensors")) == []


def test_an_empty_canvas_on_request_and_no_welcome_once_a_model_is_chosen(
    qtbot, engine, hub: HubServer, user_home: Path, model_file: Path
) -> None:
    window = open_window(qtbot, engine)
    welcome = window.first_run.welcome
    assert welcome is not None and welcome.isVisible()
    welcome.skip_button.click()
    assert not welcome.isVisible() and window.canvas.isVisible()
    window.first_run.dismissed = False
    window.first_run.refresh()
    assert welcome.isVisible()
    assert window.set_model(model_file)
    assert not welcome.isVisible() and window.canvas.isVisible()


def test_the_file_menu_brings_the_starters_back_once_models_exist(
    qtbot, engine, hub: HubServer, user_home: Path, model_file: Path
) -> None:
    window = open_window(qtbot, engine)
    welcome = window.first_run.welcome
    assert welcome is not None
    assert window.set_model(model_file)
    assert not welcome.isVisible()
    window.starter_models_action.trigger()
    assert welcome.isVisible() and not window.canvas.isVisible()
    welcome.skip_button.click()  # back to the canvas, the model still chosen
    assert not welcome.isVisible() and window.model() == model_file
