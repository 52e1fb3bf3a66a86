"""Time per LoRA training step: ours (`core/training`) vs a plain peft + diffusers loop, same
model, rank, batch and resolution, in the same run. Also the peak memory of each.

    python tests/benchmarks/train_step.py [--model PATH] [--resolution 64] [--batch 2]
        [--rank 8] [--steps 30] [--warmup 5] [--rounds 2] [--device cpu]

Without --model the tiny SD1 test model is built (random weights, CPU-friendly). The plain
loop is what the usual diffusers LoRA script does per step: VAE-encode the batch (sampling the
latent distribution), encode the captions, add noise, UNet forward, MSE, backward, AdamW.
Ours runs twice: with latents and caption embeddings cached (the default) and with the cache
off (the same work per step as the plain loop: this is the overhead figure). Each variant runs
in its own process (for its own peak memory), interleaved `--rounds` times; per-step times
are medians of the steps after warm-up.

Prints a table, then one JSON line {"ratio", "ratio_nocache", "peak_mb", ...}: `ratio` =
ours (cached) / plain, `ratio_nocache` = ours without the cache / plain, `peak_mb` = our
peak (max RSS on the CPU, max allocated on CUDA).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _peak_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _images(folder: Path, count: int, size: int) -> Path:
    from tests.core.training.helpers import make_dataset

    return make_dataset(folder, count, size=(size, size))


def run_ours(args: argparse.Namespace, cache: bool) -> dict:
    from sneakerstudio.core.protocol.cancel import CancelToken
    from sneakerstudio.core.protocol.training import TrainingRequest, TrainingStep
    from sneakerstudio.core.training.trainer import Trainer

    tmp = Path(tempfile.mkdtemp())
    data = _images(tmp / "data", args.images, max(64, args.resolution))
    stamps: list[float] = []

    def emit(event: object) -> None:
        if isinstance(event, TrainingStep):
            stamps.append(time.perf_counter())

    request = TrainingRequest(
        model=Path(args.model), data=data, trigger="sneakr", output=tmp / "out.safetensors",
        run_dir=tmp / "run", steps=args.steps, rank=args.rank, alpha=float(args.rank),
        resolution=args.resolution, batch_size=args.batch, learning_rate=1e-4,
        min_snr_gamma=0.0, cache_latents=cache, precision=args.precision,
        gradient_checkpointing=args.checkpointing, train_text_encoder=False, memory=args.memory,
    )  # fmt: skip
    trainer = Trainer(request, job_id="b", emit=emit, cancel=CancelToken(), device=args.device)
    start = time.perf_counter()
    trainer.run()
    times = [b - a for a, b in itertools.pairwise(stamps)][args.warmup :]
    return {"step_s": statistics.median(times), "peak_mb": _peak_mb(args.device),
            "total_s": time.perf_counter() - start}  # fmt: skip


def run_plain(args: argparse.Namespace) -> dict:
    """The plain loop, written as the diffusers LoRA example does it (peft `add_adapter`)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler
    from peft import LoraConfig
    from PIL import Image

    from sneakerstudio.core.models.loading import load_model

    device = args.device
    tmp = Path(tempfile.mkdtemp())
    data = _images(tmp / "data", args.images, max(64, args.resolution))
    loaded = load_model(Path(args.model), device=device, dtype=torch.float32)
    pipe = loaded.pipe
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    weight_dtype = dtypes["fp32" if args.precision == "auto" and device == "cpu" else
                          ("bf16" if args.precision == "auto" else args.precision)]  # fmt: skip
    for module in (pipe.unet, pipe.text_encoder, getattr(pipe, "text_encoder_2", None)):
        if module is not None:
            module.requires_grad_(False)
            module.to(device, dtype=weight_dtype)
    pipe.vae.requires_grad_(False)
    targets = ["to_k", "to_q", "to_v", "to_out.0"]
    config = LoraConfig(
        r=args.rank, lora_alpha=args.rank, init_lora_weights="gaussian", target_modules=targets
    )
    pipe.unet.add_adapter(config)
    params = [p for p in pipe.unet.parameters() if p.requires_grad]
    for p in params:
        p.data = p.data.float()
    if args.checkpointing:
        pipe.unet.enable_gradient_checkpointing()
    pipe.unet.train()
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-2)
    scheduler = DDPMScheduler.from_config(loaded.scheduler_config)
    size = args.resolution
    pictures = []
    for path in sorted(data.glob("*.png")):
        image = Image.open(path).convert("RGB").resize((size, size))
        pictures.append(
            torch.from_numpy(np.asarray(image, np.float32) / 127.5 - 1).permute(2, 0, 1)
        )
    captions = ["sneakr, red high top"] * len(pictures)
    xl = getattr(pipe, "text_encoder_2", None) is not None
    autocast = weight_dtype != torch.float32
    stamps = []
    for step in range(args.steps):
        idx = [(step * args.batch + i) % len(pictures) for i in range(args.batch)]
        pixels = torch.stack([pictures[i] for i in idx]).to(device)
        with torch.no_grad():
            latents = pipe.vae.encode(pixels).latent_dist.sample() * loaded.vae_scaling_factor
            texts = [captions[i] for i in idx]
            if xl:
                embeds, _n, pooled, _np = pipe.encode_prompt(
                    prompt=texts, device=device, num_images_per_prompt=1,
                    do_classifier_free_guidance=False)  # fmt: skip
            else:
                embeds, _n = pipe.encode_prompt(texts, device, 1, False)
        noise = torch.randn_like(latents)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(idx),), device=device)
        noisy = scheduler.add_noise(latents, noise, t)
        extra = {}
        if xl:
            ids = torch.tensor([[size, size, 0, 0, size, size]] * len(idx), device=device,
                               dtype=embeds.dtype)  # fmt: skip
            extra = {"added_cond_kwargs": {"text_embeds": pooled, "time_ids": ids}}
        with torch.autocast(device_type=device, dtype=weight_dtype, enabled=autocast):
            pred = pipe.unet(noisy.to(weight_dtype), t, embeds, **extra).sample
        loss = F.mse_loss(pred.float(), noise.float())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
    times = [b - a for a, b in itertools.pairwise(stamps)][args.warmup :]
    return {"step_s": statistics.median(times), "peak_mb": _peak_mb(device)}


def child(args: argparse.Namespace) -> None:
    import torch

    import sneakerstudio  # noqa: F401  (the torchvision guard, before transformers)

    torch.manual_seed(0)
    if args.device == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    result = run_plain(args) if args.variant == "plain" else run_ours(args, args.variant == "ours")
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--memory", default="cpu")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return
    if args.model is None:
        import sneakerstudio  # noqa: F401
        from tests.tiny_models import build_tiny_sd1

        args.model = str(build_tiny_sd1(Path(tempfile.mkdtemp())).single_file)
    results: dict[str, list[dict]] = {"plain": [], "ours": [], "ours-nocache": []}
    for _round in range(args.rounds):
        for variant in results:
            command = [sys.executable, __file__, "--variant", variant]
            for key, value in vars(args).items():
                if key in ("variant",) or value is None or value is False:
                    continue
                command += [f"--{key}"] if value is True else [f"--{key}", str(value)]
            out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                sys.exit(f"{variant} failed:\n{out.stderr[-3000:]}")
            results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    step = {k: statistics.median(r["step_s"] for r in v) for k, v in results.items()}
    peak = {k: max(r["peak_mb"] for r in v) for k, v in results.items()}
    print(f"{'variant':<14}{'s/step':>10}{'peak MB':>10}")
    for key in results:
        print(f"{key:<14}{step[key]:>10.4f}{peak[key]:>10.0f}")
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = -1.0
    print(json.dumps({
        "ratio": round(step["ours"] / step["plain"], 3),
        "ratio_nocache": round(step["ours-nocache"] / step["plain"], 3),
        "peak_mb": round(peak["ours"], 1),
        "peak_mb_nocache": round(peak["ours-nocache"], 1),
        "peak_mb_plain": round(peak["plain"], 1),
        "step_s": {k: round(v, 5) for k, v in step.items()},
        "model": Path(args.model).name, "device": args.device, "resolution": args.resolution,
        "batch": args.batch, "rank": args.rank, "rounds": args.rounds,
        "machine": platform.processor() or platform.machine(), "load_avg_1m": round(load, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
