"""`sneakerstudio models download` against the local hub: the JSON a script reads, the library
that lists the file at once, a starter from the catalogue, and a 1 GB file streamed to disk by
a process whose memory stays small."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sneakerstudio.cli import main
from sneakerstudio.core.downloads import catalogue
from tests.downloads.hub_server import HubFile, HubServer

REPO = "tester/tiny-model"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SNEAKERSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_download_prints_the_json_and_the_library_lists_the_file(hub: HubServer, home, capsys):
    content = os.urandom(2 * 1024 * 1024)
    sha = hub.add(REPO, "lora/tiny.safetensors", HubFile.of(content)).sha256
    code = main(["models", "download", REPO, "lora/tiny.safetensors", "--sha256", sha, "--json"])
    out, errors = capsys.readouterr()
    assert code == 0, errors
    result = json.loads(out)
    assert {"path", "sha256", "bytes"} <= set(result)
    assert result["sha256"] == sha and result["bytes"] == len(content)
    assert result["verified_against"] == "expected"
    path = Path(result["path"])
    assert path == (home / "data" / "models" / "tiny.safetensors").resolve()
    assert path.read_bytes() == content

    assert main(["models", "list", "--json", "--missing"]) == 0
    listed = json.loads(capsys.readouterr()[0])
    assert [Path(m["path"]).name for m in listed["models"]] == ["tiny.safetensors"]


def test_a_wrong_hash_fails_with_the_reason_and_lists_nothing(hub: HubServer, home, capsys):
    hub.add(REPO, "x.safetensors", HubFile.of(os.urandom(1000), etag="e" * 40))
    code = main(["models", "download", REPO, "x.safetensors", "--sha256", "0" * 64, "--json"])
    out, errors = capsys.readouterr()
    assert code == 1 and out == ""
    assert "the file was deleted" in errors
    assert main(["models", "list", "--json", "--missing"]) == 0
    assert json.loads(capsys.readouterr()[0])["count"] == 0


def test_usage_errors(home, capsys):
    assert main(["models", "download"]) == 2
    assert main(["models", "download", REPO, "f", "--starter", "sd-turbo"]) == 2
    assert main(["models", "download", "--starter", "no-such-model"]) == 1
    assert "sd-turbo" in capsys.readouterr()[1]  # the names it knows


def test_a_starter_goes_to_its_kind_folder(hub: HubServer, home, tmp_path, monkeypatch, capsys):
    config, weights = b'{"_class_name": "AutoencoderTiny"}', os.urandom(300_000)
    hub.add("tester/taesd", "config.json", HubFile.of(config, etag="f" * 40))
    big = hub.add("tester/taesd", "diffusion_pytorch_model.safetensors", HubFile.of(weights))
    entry = {
        "name": "tiny-taesd",
        "title": "Tiny TAESD",
        "kind": "taesd",
        "base": "sd1",
        "folder": "TAESD/taesd",
        "purpose": "tests",
        "repo": "tester/taesd",
        "revision": "main",
        "files": [
            {"file": "config.json", "size": len(config), "sha256": None},
            {"file": "diffusion_pytorch_model.safetensors", "size": len(weights), "sha256": None},
        ],
        "licence": "MIT",
        "licence_url": "",
    }
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps({"models": [entry]}), encoding="utf-8")
    monkeypatch.setattr(catalogue, "default_path", lambda: path)
    assert main(["models", "download", "--starter", "tiny-taesd", "--json"]) == 0
    result = json.loads(capsys.readouterr()[0])
    folder = home / "data" / "models" / "TAESD" / "taesd"
    assert Path(result["path"]) == folder.resolve()
    assert (folder / "config.json").read_bytes() == config
    assert (folder / "diffusion_pytorch_model.safetensors").read_bytes() == weights
    assert [f["sha256"] for f in result["files"]][1] == big.sha256
    assert result["bytes"] == len(config) + len(weights)
    # Pressing Download again: both files are recognised, nothing is fetched twice.
    gets = len(hub.gets())
    assert main(["models", "download", "--starter", "tiny-taesd", "--json"]) == 0
    again = json.loads(capsys.readouterr()[0])
    assert [f["already_there"] for f in again["files"]] == [True, True]
    assert len(hub.gets()) == gets


# The child's own peak: VmHWM belongs to this process's memory since its exec (getrusage's
# ru_maxrss would carry over the forking pytest process's peak, on Linux).
CHILD = """
import runpy, sys
sys.argv = ["sneakerstudio", *sys.argv[1:]]
try:
    runpy.run_module("sneakerstudio", run_name="__main__")
finally:
    with open("/proc/self/status") as status:
        hwm = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print("MAXRSS_KB", hwm, file=sys.stderr)
"""


@pytest.mark.slow
def test_a_1_gb_file_is_streamed_to_disk_in_small_memory(hub: HubServer, tmp_path):
    """The client writes and hashes in chunks; the test server generates the bytes."""
    size = 1024**3
    big = hub.add(REPO, "big.safetensors", HubFile.generated(size, seed=3))
    env = dict(os.environ, SNEAKERSTUDIO_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("TRANSFORMERS_OFFLINE", None)
    out_dir = tmp_path / "out"
    started = time.monotonic()
    args = ["models", "download", REPO, "big.safetensors", "--sha256", big.sha256]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args, "--to", str(out_dir), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["bytes"] == size and result["sha256"] == big.sha256
    assert Path(result["path"]).stat().st_size == size
    maxrss_mb = int(done.stderr.split("MAXRSS_KB")[-1].split()[0]) / 1024
    print(f"1 GiB download: {seconds:.1f} s, peak memory of the process {maxrss_mb:.0f} MB")
    assert maxrss_mb < 400, f"the download held {maxrss_mb:.0f} MB"
    Path(result["path"]).unlink()


def test_a_downloaded_taesd_is_the_engines_fast_decoder(home, monkeypatch):
    """`--starter taesd` puts it where the engine looks when no SNEAKERSTUDIO_TAESD is set."""
    from sneakerstudio.core.downloads import load_catalogue
    from sneakerstudio.core.generation.decode import Decoders

    monkeypatch.delenv("SNEAKERSTUDIO_TAESD", raising=False)
    monkeypatch.delenv("SNEAKERSTUDIO_TAESDXL", raising=False)
    assert Decoders().folder_for("sd1") is None
    shipped = load_catalogue().find("taesd")
    folder = shipped.folder_in(home / "data" / "models")
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    assert Decoders().folder_for("sd1") == folder
    assert Decoders().folder_for("sd2") == folder  # SD 2.x latents decode with TAESD too
    assert Decoders().folder_for("sdxl") is None  # taesdxl is its own download


def test_ctrl_c_stops_the_download_and_removes_the_partial_file(hub: HubServer, tmp_path):
    import signal

    hub.add(REPO, "slow.safetensors", HubFile.generated(64 * 1024 * 1024, piece_delay_s=0.01))
    env = dict(os.environ, SNEAKERSTUDIO_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("TRANSFORMERS_OFFLINE", None)
    out_dir = tmp_path / "out"
    args = ["models", "download", REPO, "slow.safetensors", "--to", str(out_dir)]
    child = subprocess.Popen(
        [sys.executable, "-m", "sneakerstudio", *args],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(out_dir.rglob("*.incomplete")) and time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()[1][-2000:]
        time.sleep(0.1)  # wait until bytes are being written
    child.send_signal(signal.SIGINT)
    _, errors = child.communicate(timeout=60)
    assert child.returncode == 130, errors[-2000:]
    assert "cancelled" in errors and "partial file was removed" in errors
    left = [
        p
        for p in out_dir.rglob("*")
        if p.is_file() and p.name not in {".gitignore", "CACHEDIR.TAG"}
    ]
    assert left == []


def test_hf_hub_offline_is_respected_and_explained(hub: HubServer, home, monkeypatch, capsys):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the user's own switch
    hub.add(REPO, "x.safetensors", HubFile.of(b"x" * 100))
    assert main(["models", "download", REPO, "x.safetensors"]) == 1
    errors = capsys.readouterr()[1]
    assert "HF_HUB_OFFLINE is set" in errors and "works without a connection" in errors
    assert hub.requests == []
