"""Tiling overhead and memory of the upscaler path.

1. Our tiled upscale (core/upscalers) of a SIZE² picture with a random-weight RRDBNet (ESRGAN,
   64 features, 23 blocks, 4× by default) against spandrel running the same model on the whole
   picture in one call, same process, same threads: `tile_overhead` = tiled / whole (goal 1.15).
2. Peak RSS of a child process that upscales a RSS_SIZE² picture 4× (2048² → 8192² by default)
   with a small RRDBNet (the memory is the pictures and one tile's activations; the model's
   depth only changes the time), and writes nothing: `peak_rss_mb`.

    python tests/benchmarks/upscale.py [--size 512] [--features 64] [--blocks 23] [--tile 256]
        [--rss-size 2048] [--rss-features 16] [--rss-blocks 2] [--threads N]

Prints a table, then one JSON line {"tile_overhead", "peak_rss_mb", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

_CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from PIL import Image
import numpy as np
from sneakerstudio.core.models.upscaler_files import load_upscaler
from sneakerstudio.core.upscalers.image import upscale_image
up = load_upscaler(sys.argv[2])
size, tile = int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
img = Image.fromarray(rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8))
img = img.resize((size, size), Image.Resampling.BICUBIC)
def hwm_mb():  # this process's own peak (ru_maxrss keeps the forking parent's, on Linux)
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
base = hwm_mb()
t = time.perf_counter()
out = upscale_image(img, up, up.scale, tile=tile)
took = time.perf_counter() - t
peak = hwm_mb()
print(f"{out.width} {out.height} {base:.0f} {peak:.0f} {took:.1f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=23)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--rss-size", type=int, default=2048)
    parser.add_argument("--rss-features", type=int, default=16)
    parser.add_argument("--rss-blocks", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import numpy as np
    import torch
    from PIL import Image

    from sneakerstudio.core.models.upscaler_files import load_upscaler
    from sneakerstudio.core.upscalers.image import upscale_image
    from tests import upscaler_models as um

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="upscale-bench-"))
    big = um.save_safetensors(
        um.esrgan_old(4, args.features, args.blocks), tmp / "RRDB.safetensors"
    )
    small = um.save_safetensors(
        um.esrgan_old(4, args.rss_features, args.rss_blocks), tmp / "RRDB-small.safetensors"
    )
    up = load_upscaler(big)
    up.model.to(args.device)
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (args.size // 8, args.size // 8, 3), np.uint8))
    img = img.resize((args.size, args.size), Image.Resampling.BICUBIC)
    tensor = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    class OnDevice:  # our tiles go to the model's device and back
        def __init__(self, model):
            self.model = model

        def __call__(self, x):
            return self.model(x.to(args.device))

    up.model(tensor[:, :, :64, :64].to(args.device))  # warm-up
    sync()
    t = time.perf_counter()
    with torch.inference_mode():
        whole = up.model(tensor.to(args.device)).cpu()
    sync()
    whole_s = time.perf_counter() - t
    up.model = OnDevice(up.model)
    t = time.perf_counter()
    tiled = upscale_image(img, up, 4, tile=args.tile)
    sync()
    tiled_s = time.perf_counter() - t
    reference = whole[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    diff = np.abs(reference.astype(np.int16) - np.asarray(tiled, np.int16))
    inner = diff[32:-32, 32:-32]

    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), str(small), str(args.rss_size), str(args.tile)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    w, h, base_mb, peak_mb, rss_s = done.stdout.split()[-5:]
    print(f"model            RRDBNet {args.features} features, {args.blocks} blocks, 4x")
    print(f"picture          {args.size}² → {args.size * 4}², tile {args.tile}, {args.device}")
    print(f"whole (spandrel) {whole_s:.2f} s")
    print(f"tiled (ours)     {tiled_s:.2f} s  ratio {tiled_s / whole_s:.3f}")
    print(f"max |diff|       {int(diff.max())} (inner {int(inner.max())}) levels")
    print(
        f"memory           {args.rss_size}² → {w}×{h}: peak RSS {peak_mb} MB "
        f"(after loading {base_mb} MB), {rss_s} s"
    )
    print(
        json.dumps(
            {
                "tile_overhead": round(tiled_s / whole_s, 3),
                "peak_rss_mb": int(peak_mb),
                "rss_before_mb": int(base_mb),
                "max_diff_inner": int(inner.max()),
                "whole_s": round(whole_s, 2),
                "tiled_s": round(tiled_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
