"""Preview cost: x0 latent → RGB preview per step, at 64² and 128² latents (512² and 1024²
images), in ms and as a fraction of one UNet step of the tiny SD1 model (CFG batch of 2).

    python tests/benchmarks/preview_cost.py [--repeats 200]

Prints a small table, then one JSON line {"ms_64", "ms_128", "fraction_of_step"}.
Goal: <= 1 ms at 128² on this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _time_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    import torch

    from sneakerstudio.core.generation.previews import LatentPreviewer
    from sneakerstudio.core.models.loading import load_model
    from tests.tiny_models import build_tiny_sd1

    torch.set_num_threads(1)
    previewer = LatentPreviewer("sd1")
    gen = torch.Generator().manual_seed(0)
    lat64 = torch.randn(4, 64, 64, generator=gen)
    lat128 = torch.randn(4, 128, 128, generator=gen)
    ms_64 = _time_ms(lambda: previewer(lat64), args.repeats)
    ms_128 = _time_ms(lambda: previewer(lat128), args.repeats)

    tiny = build_tiny_sd1(Path(tempfile.mkdtemp(prefix="sneaker-bench-")))
    unet = load_model(tiny.single_file).pipe.unet
    sample = torch.randn(2, 4, 32, 32, generator=gen)
    context = torch.randn(2, 77, unet.config.cross_attention_dim, generator=gen)
    with torch.inference_mode():
        step_ms = _time_ms(lambda: unet(sample, 500, encoder_hidden_states=context), 20)
    tiny_preview_ms = _time_ms(lambda: previewer(sample[0]), args.repeats)
    fraction = tiny_preview_ms / step_ms

    print(f"{'latent':>10}{'image':>10}{'preview ms':>12}")
    print(f"{'64x64':>10}{'512x512':>10}{ms_64:>12.3f}")
    print(f"{'128x128':>10}{'1024x1024':>10}{ms_128:>12.3f}")
    print(
        f"tiny UNet step (CFG batch 2, 32x32 latent): {step_ms:.2f} ms; "
        f"preview of that latent {tiny_preview_ms:.3f} ms = {fraction:.4f} of a step"
    )
    print(
        json.dumps(
            {
                "ms_64": round(ms_64, 4),
                "ms_128": round(ms_128, 4),
                "fraction_of_step": round(fraction, 5),
                "tiny_step_ms": round(step_ms, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
