"""The full VAE decode at 512² on the CPU: its FLOPs, what PyTorch and OpenVINO reach, and the
limit at the machine's own matrix-multiply speed, so the gap is visible.

A random-weight SD1.5 VAE (speed does not depend on the weights) decodes one 64×64 latent:
- FLOPs are counted from the layer shapes (convolutions, linear layers, attention) on a
  "meta"-device copy (nothing computed);
- PyTorch fp32, OpenVINO fp32 (what the engine runs) and, as a candidate only, OpenVINO bf16
  (where the CPU has native bf16), each the median of `--runs`, with the bf16 image's
  difference from fp32 in 8-bit levels;
- the machine's fp32 matrix-multiply rate (2048² sgemm, all cores): a decode at that rate is
  the practical limit.

    python tests/benchmarks/vae_decode.py [--runs 3]

Last line: {"decoder_gflop", "torch_s", "openvino_s", "openvino_gflops", "sgemm_gflops",
"limit_s", ...}.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def decoder_flops(config: dict[str, Any], height: int, width: int) -> float:
    """FLOPs (2 per multiply-add) of `AutoencoderKL.decode` for a height×width latent."""
    import diffusers
    import torch
    import torch.nn.functional as F

    total = 0.0

    def conv_hook(module: Any, inputs: Any, output: Any) -> None:
        nonlocal total
        kernel = module.weight.shape[2] * module.weight.shape[3]
        total += 2.0 * module.in_channels * kernel * output.numel() / module.groups

    def linear_hook(module: Any, inputs: Any, output: Any) -> None:
        nonlocal total
        total += 2.0 * module.in_features * output.numel()

    original = F.scaled_dot_product_attention

    def counting_sdpa(q: Any, k: Any, v: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal total
        total += 2.0 * q.numel() * k.shape[-2] * 2  # QKᵀ and (softmax)V
        return original(q, k, v, *args, **kwargs)

    with torch.device("meta"):
        vae = diffusers.AutoencoderKL.from_config(config)
    for module in vae.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(conv_hook)
        elif isinstance(module, torch.nn.Linear):
            module.register_forward_hook(linear_hook)
    F.scaled_dot_product_attention = counting_sdpa
    try:
        with torch.no_grad():
            vae.decode(torch.zeros(1, 4, height, width, device="meta"))
    finally:
        F.scaled_dot_product_attention = original
    return total


def median_time(fn: Any, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import torch

    from sneakerstudio.core.runtime.device import cpu_bf16_fast
    from sneakerstudio.core.runtime.openvino import OpenVinoVae, import_openvino
    from tests.benchmarks.fullsize import family_configs

    # After sneakerstudio (it hides a torchvision that cannot load):
    diffusers = importlib.import_module("diffusers")

    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    print(
        f"machine: {platform.machine()} · {cores} cores · torch {torch.__version__} · "
        f"{torch.backends.cpu.get_cpu_capability()} · load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    config = family_configs("sd1")["vae"]
    flops = decoder_flops(config, 64, 64)
    print(f"decoder at 512²: {flops / 1e9:.0f} GFLOP", flush=True)

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    sgemm_s = median_time(lambda: a @ b, 5)
    sgemm = 2 * 2048**3 / sgemm_s / 1e9
    print(f"sgemm 2048², {cores} threads: {sgemm:.0f} GFLOP/s", flush=True)

    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL.from_config(config).eval()
    latents = torch.randn(1, 4, 64, 64)

    def torch_decode() -> Any:
        with torch.inference_mode():
            return vae.decode(latents, return_dict=False)[0]

    torch_s = median_time(torch_decode, args.runs)
    print(f"PyTorch fp32 decode: {torch_s:.2f} s ({flops / torch_s / 1e9:.0f} GFLOP/s)")
    reference = torch_decode()

    tmp = Path(tempfile.mkdtemp(prefix="sneaker-vae-"))
    try:
        ov = import_openvino()
        runner = OpenVinoVae(vae, ("random-vae",), tmp, cores)
        converted, compressed = runner._convert(ov)
        runner._save(ov, converted, compressed, 0.0, runner.folder)
        assert runner.read_converted()
        feeds = [latents.contiguous()]
        runner.ensure_compiled((tuple(latents.shape),), lambda _m: None)
        ov_s = median_time(lambda: runner.run(feeds, lambda: None), args.runs)
        out = runner.run(feeds, lambda: None)
        levels = float((out - reference).abs().max() * 127.5)
        print(
            f"OpenVINO fp32 decode: {ov_s:.2f} s ({flops / ov_s / 1e9:.0f} GFLOP/s; "
            f"{torch_s / ov_s:.2f}x PyTorch; max diff {levels:.2f} levels)",
            flush=True,
        )
        result: dict[str, Any] = {}
        if cpu_bf16_fast():
            model = runner._model.clone()
            model.reshape({0: ov.PartialShape(list(latents.shape))})
            compiled = ov.Core().compile_model(
                model,
                "CPU",
                {
                    "INFERENCE_NUM_THREADS": cores,
                    "PERFORMANCE_HINT": "LATENCY",
                    "INFERENCE_PRECISION_HINT": "bf16",
                },
            )
            request = compiled.create_infer_request()

            def bf16_decode() -> Any:
                request.infer({0: latents.numpy()})
                return torch.from_numpy(request.get_output_tensor(0).data.copy())

            bf16_s = median_time(bf16_decode, args.runs)
            diff = (bf16_decode().clamp(-1, 1) - reference.clamp(-1, 1)).abs() * 127.5
            result = {
                "openvino_bf16_s": round(bf16_s, 3),
                "bf16_max_levels": round(float(diff.max()), 2),
                "bf16_mean_levels": round(float(diff.mean()), 3),
            }
            print(
                f"candidate, OpenVINO bf16 decode: {bf16_s:.2f} s ({ov_s / bf16_s:.2f}x fp32; "
                f"image off by up to {result['bf16_max_levels']} levels, mean "
                f"{result['bf16_mean_levels']})",
                flush=True,
            )
        limit = flops / (sgemm * 1e9)
        print(
            f"limit at the sgemm rate: {limit:.2f} s; OpenVINO reaches "
            f"{flops / ov_s / 1e9 / sgemm:.0%} of it"
        )
        print(
            json.dumps(
                {
                    "decoder_gflop": round(flops / 1e9, 1),
                    "torch_s": round(torch_s, 3),
                    "openvino_s": round(ov_s, 3),
                    "openvino_speedup": round(torch_s / ov_s, 3),
                    "openvino_gflops": round(flops / ov_s / 1e9, 1),
                    "torch_gflops": round(flops / torch_s / 1e9, 1),
                    "sgemm_gflops": round(sgemm, 1),
                    "limit_s": round(limit, 2),
                    "openvino_max_levels": round(levels, 3),
                    **result,
                    "runs": args.runs,
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                }
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
