"""Downloads through the real huggingface_hub client against a local hub: what a person sees
when it works, when the line drops, and when something is wrong."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sneakerstudio.core.downloads import (
    DownloadCancelled,
    DownloadError,
    DownloadProgress,
    DownloadTarget,
    download,
)
from sneakerstudio.core.downloads import transfer as download_module
from sneakerstudio.core.models.library import Library
from tests.downloads.hub_server import HubFile, HubServer

REPO = "tester/tiny-model"
FILE = "tiny.safetensors"
GIT_ETAG = "a" * 40  # a small git file's id: not a sha256, so only the expected hash can tell


def data(size: int = 3 * 1024 * 1024 + 17) -> bytes:
    return os.urandom(size)


HUB_BOOKKEEPING = {".gitignore", "CACHEDIR.TAG"}  # huggingface_hub marks its folder as a cache


def only_files(folder: Path) -> list[str]:
    """Every file under `folder`, hidden staging included, relative (but huggingface_hub's
    two markers of its cache folder)."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.name not in HUB_BOOKKEEPING
    )


def test_a_download_lands_whole_verified_and_nothing_else_is_left(hub: HubServer, models_dir):
    content = data()
    hub.add(REPO, FILE, HubFile.of(content))
    seen: list[DownloadProgress] = []
    result = download(DownloadTarget(REPO, FILE), models_dir, report=seen.append)
    assert result.path == (models_dir / FILE).resolve()
    assert result.path.read_bytes() == content
    assert result.sha256 == hashlib.sha256(content).hexdigest()
    assert result.bytes == len(content)
    assert result.commit == "0123456789abcdef0123456789abcdef01234567"
    assert result.verified_against == "hub"  # the LFS ETag is the file's sha256
    assert only_files(models_dir) == [FILE]  # no partial, no metadata left in .downloads
    phases = [p.phase for p in seen]
    assert phases[0] == "connecting" and phases[-1] == "done"
    assert "downloading" in phases and "verifying" in phases
    downloading = [p for p in seen if p.phase == "downloading"]
    assert downloading[-1].done == len(content) and downloading[-1].total == len(content)
    assert [r.method for r in hub.requests] == ["HEAD", "HEAD", "GET"]  # ours, the client's
    assert all("authorization" not in r.headers for r in hub.requests)


def test_the_transfer_resumes_where_the_server_cut_it(hub: HubServer, models_dir):
    content = data(4 * 1024 * 1024)
    half = len(content) // 2
    hub.add(REPO, FILE, HubFile.of(content, cut_after=half))
    result = download(DownloadTarget(REPO, FILE), models_dir)
    assert result.path.read_bytes() == content
    gets = hub.gets()
    assert len(gets) == 2
    assert "range" not in gets[0].headers
    assert gets[1].headers["range"] == f"bytes={half}-"  # only the missing half again


def test_a_wrong_hash_deletes_the_file_and_says_so(hub: HubServer, models_dir):
    hub.add(REPO, FILE, HubFile.of(data(), etag=GIT_ETAG))
    with pytest.raises(DownloadError, match="the file was deleted"):
        download(DownloadTarget(REPO, FILE, sha256="b" * 64), models_dir)
    assert len(hub.gets()) == 1  # it was fetched, checked, and thrown away
    assert only_files(models_dir) == []


def test_a_hash_the_hub_contradicts_is_refused_before_downloading(hub: HubServer, models_dir):
    hub.add(REPO, FILE, HubFile.of(data()))
    with pytest.raises(DownloadError, match="Nothing was written"):
        download(DownloadTarget(REPO, FILE, sha256="c" * 64), models_dir)
    assert hub.gets() == []


def test_not_enough_space_is_said_before_anything_is_fetched(
    hub: HubServer, models_dir, monkeypatch
):
    hub.add(REPO, FILE, HubFile.of(data()))

    class Usage:
        free = 10 * 1024 * 1024

    monkeypatch.setattr(download_module.shutil, "disk_usage", lambda _p: Usage)
    with pytest.raises(DownloadError, match="Not enough disk space") as caught:
        download(DownloadTarget(REPO, FILE), models_dir)
    assert "3.1 MB" in str(caught.value) and "10.5 MB free" in str(caught.value)
    assert hub.gets() == []
    assert only_files(models_dir) == []


def test_a_disk_that_fills_up_during_the_transfer(hub: HubServer, models_dir, monkeypatch):
    """ENOSPC from the file system half-way: the partial file goes, the message says why."""
    hub.add(REPO, FILE, HubFile.of(data()))
    real_open = Path.open

    class FullDisk:
        def __init__(self, handle: Any) -> None:
            self.handle, self.written = handle, 0

        def write(self, chunk: bytes) -> int:
            if self.written + len(chunk) > 1024 * 1024:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(chunk)
            return self.handle.write(chunk)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.handle, name)

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

    def open_(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, mode, *args, **kwargs)
        return FullDisk(handle) if self.name.endswith(".incomplete") and "w" in mode else handle

    monkeypatch.setattr(Path, "open", open_)
    with pytest.raises(DownloadError, match="The disk is full"):
        download(DownloadTarget(REPO, FILE), models_dir)
    assert only_files(models_dir) == []


def test_cancel_stops_the_transfer_and_removes_the_partial_file(hub: HubServer, models_dir):
    hub.add(REPO, FILE, HubFile.generated(64 * 1024 * 1024))
    cancel = threading.Event()
    seen: list[int] = []

    def report(p: DownloadProgress) -> None:
        if p.phase == "downloading" and p.done > 0:
            seen.append(p.done)
            cancel.set()

    with pytest.raises(DownloadCancelled):
        download(DownloadTarget(REPO, FILE), models_dir, report=report, cancel=cancel)
    assert seen and seen[-1] < 64 * 1024 * 1024
    assert only_files(models_dir) == []


@pytest.mark.parametrize(
    ("repo", "file", "setup", "message"),
    [
        (REPO, "missing.safetensors", None, "has no file 'missing.safetensors'"),
        ("nobody/nothing", FILE, None, "has no repository nobody/nothing"),
        (REPO, FILE, {"status": 500}, "answered 500"),
        (REPO, FILE, {"status": 403, "error_code": "GatedRepo"}, "is gated"),
        (REPO, FILE, {"stall_head_s": 3.0}, "did not answer in time"),
    ],
)
def test_server_errors_are_explained(hub: HubServer, models_dir, repo, file, setup, message):
    hub.add(REPO, FILE, HubFile.of(data(), **(setup or {})))
    started = time.monotonic()
    with pytest.raises(DownloadError, match=message) as caught:
        download(DownloadTarget(repo, file), models_dir, timeout=0.5)
    assert time.monotonic() - started < 6  # a dead hub fails fast, no long retry loop
    assert caught.value.hint
    assert hub.gets() == []
    assert only_files(models_dir) == []


def test_a_body_that_never_comes_times_out_and_leaves_nothing(
    hub: HubServer, models_dir, monkeypatch
):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 0.3)
    hub.add(REPO, FILE, HubFile.of(data(), stall_body_s=2.0))
    with pytest.raises(DownloadError, match="did not answer in time"):
        download(DownloadTarget(REPO, FILE), models_dir, timeout=0.5)
    assert only_files(models_dir) == []


def test_no_route_says_the_app_works_without_it(hub: HubServer, models_dir, monkeypatch):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError, match="Could not reach") as caught:
        download(DownloadTarget(REPO, FILE), models_dir)
    assert "works without a connection" in caught.value.hint
    assert "Scan" in caught.value.hint


@pytest.mark.parametrize(
    ("file", "save_as"),
    [
        ("../evil.safetensors", None),
        ("a/../../evil.safetensors", None),
        ("/etc/passwd", None),
        ("..\\evil.safetensors", None),
        ("ok.safetensors", "../evil.safetensors"),
        ("ok.safetensors", "sub/evil.safetensors"),
    ],
)
def test_names_that_climb_out_are_refused_before_any_request(
    hub: HubServer, models_dir, file, save_as
):
    with pytest.raises(DownloadError, match="was refused"):
        download(DownloadTarget(REPO, file, save_as=save_as), models_dir)
    assert hub.requests == []
    assert not (models_dir.parent / "evil.safetensors").exists()


def test_a_redirect_to_another_host_is_refused(hub: HubServer, models_dir, monkeypatch):
    elsewhere = HubServer().start()
    try:
        content = data()
        elsewhere.add(REPO, FILE, HubFile.of(content))
        target_url = f"{elsewhere.url}/{REPO}/resolve/main/{FILE}"
        hub.add(REPO, FILE, HubFile.of(content, redirect_to=target_url))
        with pytest.raises(DownloadError, match="not a Hugging Face host") as caught:
            download(DownloadTarget(REPO, FILE), models_dir)
        assert "127.0.0.1:" in str(caught.value)
        assert elsewhere.requests == []  # never contacted
        assert only_files(models_dir) == []

        # A host the user vouches for (a mirror's storage) is followed, and still verified.
        host = elsewhere.url.removeprefix("http://")
        monkeypatch.setenv("SNEAKERSTUDIO_DOWNLOAD_HOSTS", host)
        result = download(DownloadTarget(REPO, FILE), models_dir)
        assert result.path.read_bytes() == content
        assert result.verified_against == "hub"
        assert [r.method for r in elsewhere.requests] == ["GET"]
    finally:
        elsewhere.stop()


def test_no_write_permission_is_said_before_any_request(hub: HubServer, models_dir, monkeypatch):
    models_dir.mkdir()
    models_dir.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: refuse the folder as a read-only disk would
        real_mkdir = os.mkdir

        def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
            if str(path).startswith(str(models_dir)) and str(path) != str(models_dir):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)
    try:
        with pytest.raises(DownloadError, match="No permission to write"):
            download(DownloadTarget(REPO, FILE), models_dir)
    finally:
        models_dir.chmod(0o755)
    assert hub.requests == []
    assert only_files(models_dir) == []


def test_a_partial_file_from_a_crash_is_never_listed_and_is_removed(
    hub: HubServer, models_dir, tmp_path
):
    """What a killed download leaves: a `.incomplete` file in the hidden staging folder."""
    content = data()
    hub.add(REPO, FILE, HubFile.of(content))
    notes = models_dir / ".downloads" / ".cache" / "huggingface" / "download"
    notes.mkdir(parents=True)
    partial = notes / f"{FILE}.{hashlib.sha256(content).hexdigest()}.1a2b3c4d.incomplete"
    partial.write_bytes(content[:1000])
    (models_dir / ".downloads" / FILE).write_bytes(b"")  # not even the right size
    old = time.time() - 3600
    os.utime(partial, (old, old))
    with Library(tmp_path / "data") as library:  # the models folder as a library folder
        library.add_folder(models_dir)
        library.scan()
        assert library.models() == []
    result = download(DownloadTarget(REPO, FILE), models_dir)
    assert result.path.read_bytes() == content
    assert not partial.exists()
    with Library(tmp_path / "data") as library:
        library.scan()
        assert [Path(e.path).name for e in library.models(include_missing=True)] == [FILE]


def test_token_and_proxy_from_the_environment_are_used(hub: HubServer, models_dir, monkeypatch):
    from tests.downloads.conftest import reset_client

    content = data()
    hub.add(REPO, FILE, HubFile.of(content))
    monkeypatch.setenv("HF_TOKEN", "hf_secret_for_the_mirror")
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.invalid")  # reachable only through the proxy
    monkeypatch.setenv("HTTP_PROXY", hub.url)
    reset_client()
    result = download(DownloadTarget(REPO, FILE), models_dir)
    assert result.path.read_bytes() == content
    assert hub.requests and all(r.proxied for r in hub.requests)
    assert all(
        r.headers.get("authorization") == "Bearer hf_secret_for_the_mirror" for r in hub.requests
    )


def test_the_same_file_twice_is_not_fetched_again(hub: HubServer, models_dir):
    content = data()
    hub.add(REPO, FILE, HubFile.of(content))
    first = download(DownloadTarget(REPO, FILE), models_dir)
    again = download(DownloadTarget(REPO, FILE, sha256=first.sha256), models_dir)
    assert again.already_there and again.path == first.path
    assert len(hub.gets()) == 1
    hub.add(REPO, FILE, HubFile.of(data()))  # the hub now has a different file of that name
    with pytest.raises(DownloadError, match="already in"):
        download(DownloadTarget(REPO, FILE), models_dir)
    assert first.path.read_bytes() == content  # never replaced


def test_only_the_file_is_asked_for(hub: HubServer, models_dir, monkeypatch):
    """With huggingface_hub's telemetry on (the default outside these tests) it would also
    fetch a registry from the hub while building headers; a download asks for the file only."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    fetched: list[str] = []
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", False)
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(models_dir.parent / "agents.json"))
    monkeypatch.setattr(_detect_agent, "_registry", None)
    monkeypatch.setattr(_detect_agent, "_fetch_registry", lambda: fetched.append("registry"))
    hub.add(REPO, FILE, HubFile.of(data()))
    download(DownloadTarget(REPO, FILE), models_dir)
    assert {r.path for r in hub.requests} == {f"/{REPO}/resolve/main/{FILE}"}
    assert fetched == []  # huggingface_hub's registry of "agent harnesses" was not fetched


def test_the_pin_tool_fills_revision_size_and_hash_from_heads_only(hub: HubServer, tmp_path):
    import json

    from tools.pin_starter_models import main as pin_main

    weights, config = data(), b"{}"
    lfs = hub.add(REPO, FILE, HubFile.of(weights))
    hub.add(REPO, "config.json", HubFile.of(config, etag=GIT_ETAG))
    path = tmp_path / "catalogue.json"
    entries = [
        {"name": "one", "repo": REPO, "revision": "main", "files": [{"file": FILE, "size": 1}]},
        {
            "name": "two",
            "repo": REPO,
            "revision": "main",
            "files": [{"file": "config.json", "size": 0}, {"file": FILE, "size": 0}],
        },
    ]
    path.write_text(json.dumps({"models": entries}), encoding="utf-8")
    assert pin_main([str(path)]) == 0
    pinned = json.loads(path.read_text(encoding="utf-8"))["models"]
    assert pinned[0]["revision"] == lfs.commit and pinned[0]["verified"] is True
    assert pinned[0]["files"][0] == {"file": FILE, "size": len(weights), "sha256": lfs.sha256}
    assert pinned[1]["verified"] is False and "config.json" in pinned[1]["verified_note"]
    assert hub.gets() == []  # HEAD requests only: no weights were fetched


def test_a_file_fetched_before_a_crash_is_verified_and_moved_next_time(
    hub: HubServer, models_dir, monkeypatch
):
    """Killed between the transfer and the move: the finished file waits in `.downloads`;
    the next attempt checks it with the hub (HEAD only), verifies it and moves it in."""
    content = data()
    hub.add(REPO, FILE, HubFile.of(content))

    def killed(*_args: Any) -> None:
        raise KeyboardInterrupt  # stands for the process dying here

    with monkeypatch.context() as crash:
        crash.setattr(
            download_module, "_discard", lambda *_a: None
        )  # a dead process cleans nothing
        crash.setattr(download_module.atomic, "move_into_place", killed)
        with pytest.raises(KeyboardInterrupt):
            download(DownloadTarget(REPO, FILE), models_dir)
    assert (models_dir / ".downloads" / FILE).is_file()
    assert not (models_dir / FILE).exists()
    result = download(DownloadTarget(REPO, FILE), models_dir)
    assert result.path.read_bytes() == content
    assert len(hub.gets()) == 1  # the bytes were not fetched again
    assert only_files(models_dir) == [FILE]
