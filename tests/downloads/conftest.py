"""Download tests run against `hub_server.HubServer` on 127.0.0.1 through the real
huggingface_hub client: HF_ENDPOINT points at it, the hub cache is an empty temp folder, no
token and no proxy from the machine's environment leak in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.downloads.hub_server import HubServer

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


def reset_client() -> None:
    """huggingface_hub keeps one HTTP client (with the proxies it read from the environment)."""
    from huggingface_hub.utils import close_session

    close_session()


@contextlib.contextmanager
def local_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """A started `HubServer` that HF_ENDPOINT points at, with the client set up for it."""
    from huggingface_hub import constants

    server = HubServer().start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("SNEAKERSTUDIO_DOWNLOAD_HOSTS", raising=False)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # conftest.py switches the hub off for every test; these talk to 127.0.0.1 only.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    reset_client()
    try:
        yield server
    finally:
        reset_client()
        server.stop()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    with local_hub(tmp_path, monkeypatch) as server:
        yield server


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"
