"""Inputs built to hurt, one test per class a hostile tester found (issue 22): each was a hang,
a crash that stopped a whole scan, or an exhausted machine from a few hundred bytes.

- ComfyUI graphs whose links loop back or fan out twice per level (branching^depth walks);
- JSON that Python's parser lets through to hurt later: 100,000-deep nesting, numbers of more
  than 4,300 digits (a plain `ValueError`), `NaN` / `Infinity` — in sidecars, safetensors
  headers, LoRA `ss_*` metadata, the library's folder list and metadata chunks;
- YAML aliases in `extra_model_paths.yaml` (billion laughs, and nesting deep enough to raise
  `RecursionError`);
- PNG text chunks that make the reader inflate data only to drop it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from sneakerstudio.core.imaging.metadata import read_png_metadata
from tests.robustness.test_image_corpus import chunk, small_png, with_chunks_after_ihdr

ROOT = Path(__file__).resolve().parents[2]


def _comfy_png(nodes: dict[str, Any]) -> bytes:
    text = json.dumps(nodes, separators=(",", ":")).encode()
    return with_chunks_after_ihdr(small_png(), chunk(b"tEXt", b"prompt\0" + text))


def _read_in_child(path: Path, limit: float) -> float:
    """Read the metadata in a child process (a hang must not hang the test run): the seconds it
    took; fails when it takes longer than `limit`."""
    code = textwrap.dedent(
        f"""
        import time
        from sneakerstudio.core.imaging.metadata import read_png_metadata
        started = time.perf_counter()
        read_png_metadata({str(path)!r})
        print(time.perf_counter() - started)
        """
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=limit + 20,  # + the child's imports
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"reading {path.name} did not finish in {limit + 20:.0f} s") from None
    assert done.returncode == 0, done.stderr
    return float(done.stdout.strip())


# -- ComfyUI graphs ---------------------------------------------------------------------------


def test_a_sampler_linked_to_itself_is_read_at_once(tmp_path: Path) -> None:
    """One KSampler whose every link points at itself: ~200 bytes that used to hang forever."""
    me = ["1", 0]
    data = _comfy_png(
        {
            "1": {
                "class_type": "KSampler",
                "inputs": {
                    "seed": 1,
                    "positive": me,
                    "negative": me,
                    "latent_image": me,
                    "model": me,
                    "samples": me,
                    "latent": me,
                },
            }
        }
    )
    path = tmp_path / "loop.png"
    path.write_bytes(data)
    assert len(data) < 400
    assert _read_in_child(path, limit=2.0) < 2.0


def test_a_chain_linking_twice_to_the_next_node_is_read_at_once(tmp_path: Path) -> None:
    """Each node's two conditioning (and two latent) inputs lead to the next one: 2^depth paths
    for a walk that does not remember where it has been."""
    depth = 30
    nodes: dict[str, Any] = {
        "0": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 7,
                "steps": 20,
                "positive": ["1", 0],
                "negative": ["1", 0],
                "latent_image": ["1", 0],
            },
        }
    }
    for i in range(1, depth):
        nxt = [str(i + 1), 0]
        nodes[str(i)] = {
            "class_type": "Combine",
            "inputs": {"a": nxt, "b": nxt, "samples": nxt, "latent": nxt},
        }
    nodes[str(depth)] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a red shoe"}}
    path = tmp_path / "chain.png"
    path.write_bytes(_comfy_png(nodes))
    assert _read_in_child(path, limit=2.0) < 2.0
    meta = read_png_metadata(path)
    assert meta["source"] == "comfyui" and meta["seed"] == 7 and meta["steps"] == 20
    assert meta["prompt"] == "a red shoe"  # the walk still finds what is there


def test_a_graph_with_many_samplers_stays_linear(tmp_path: Path) -> None:
    """2,000 samplers, each fed by the previous one: every candidate walks back the chain."""
    nodes: dict[str, Any] = {}
    for i in range(2000):
        nodes[str(i)] = {
            "class_type": "KSampler",
            "inputs": {"seed": i, "latent_image": [str(i - 1), 0], "samples": [str(i - 1), 0]},
        }
    path = tmp_path / "many.png"
    path.write_bytes(_comfy_png(nodes))
    started = time.perf_counter()
    meta = read_png_metadata(path)
    assert time.perf_counter() - started < 5.0
    assert meta["source"] == "comfyui"
