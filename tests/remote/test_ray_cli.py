"""`sneakerstudio grid --backend HOST:PORT` against a head started as a user would
(`ray start --head`, bound to 127.0.0.1): the command line drives the cluster's 2 workers. About
40 s (the head starts in ~10 s, each worker imports torch)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("ray")
    port = _free_port()
    log = tmp_path_factory.mktemp("ray_head") / "head.log"
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    ray = Path(sys.executable).parent / "ray"
    with open(log, "wb") as out:
        head = subprocess.Popen(
            [str(ray), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
             f"--port={port}", "--num-cpus=2", "--include-dashboard=false"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the Ray head did not start:\n" + log.read_text()[-2000:])
                time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:  # the head and everything it started: its own process group
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)


def test_grid_command_runs_on_a_running_head(ray_head: str, tiny_sd1, tmp_path: Path) -> None:
    out = tmp_path / "grid"
    command = [
        sys.executable, "-c", "import sys; from sneakerstudio.cli import main; sys.exit(main())",
        "grid", "--model", str(tiny_sd1.single_file), "--prompt", "a red sneaker",
        "--steps", "2", "--size", "64x64", "--seed", "3", "--precision", "fp32",
        "--x", "cfg:3,7", "--y", "prompt:red,blue", "--backend", ray_head,
        "--out", str(out), "--json",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    print(f"\ngrid over {ray_head}: {time.perf_counter() - t0:.1f} s")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["workers"] == 2
    assert Path(report["grid"]).is_file()
    assert len({c["png"] for c in report["cells"]}) == 4
    for cell in report["cells"]:
        with Image.open(cell["png"]) as image:
            parameters = image.info["parameters"]
        assert parameters.startswith(f"a {cell['y']} sneaker")
        assert f"CFG scale: {cell['x']}" in parameters
