"""The cluster backend's errors, without starting Ray: each is a `ClusterError` that says what
to do, reported as a `Failed` event by `generate` (the window and the CLI show its message)."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.protocol.events import Failed
from sneakerstudio.core.protocol.request import GenerationRequest
from sneakerstudio.core.remote.errors import ClusterError
from sneakerstudio.core.remote.ray_backend import RayBackend, backend_for, check_reachable


def _request(tmp_path: Path) -> GenerationRequest:
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"x")
    return GenerationRequest(model=model, prompt="a sneaker", seed=1)


def test_ray_not_installed_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as when it is missing
    backend = RayBackend("127.0.0.1:6379")
    with pytest.raises(ClusterError, match=r'pip install "sneakerstudio\[cluster\]"'):
        backend.prepare()
    events: list[Any] = []
    assert backend.generate(_request(tmp_path), job_id="j", emit=events.append,
                            cancel=CancelToken()) is None  # fmt: skip
    (failed,) = events
    assert isinstance(failed, Failed) and failed.kind == "cluster"
    assert "Ray" in failed.message and "local backend" in failed.message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_nothing_at_the_address_fails_fast_with_what_to_check(scheme: str) -> None:
    address = f"{scheme}127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(ClusterError) as info:
        check_reachable(address)
    assert time.perf_counter() - t0 < 5  # Ray itself would retry for minutes
    text = str(info.value)
    assert f"Nothing answers at {address}" in text and "ray start --head" in text


@pytest.mark.parametrize("address", ["ray://nowhere", "host:port"])
def test_malformed_address_is_named(address: str) -> None:
    with pytest.raises(ClusterError, match="is not a cluster address"):
        check_reachable(address)


def test_local_means_the_engine_and_anything_else_a_cluster() -> None:
    from sneakerstudio.core.generation.engine import Engine

    assert isinstance(backend_for("local"), Engine)
    assert isinstance(backend_for(None), Engine)
    cluster = backend_for("10.0.0.5:6379", device=None, precision="fp16")
    assert isinstance(cluster, RayBackend) and cluster.address == "10.0.0.5:6379"
