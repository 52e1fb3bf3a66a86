"""LoRAs on OpenVINO, full size: a random-weight SD1.5 UNet at 512² (batch 1, no CFG, the
SD-Turbo case) with full-size random LoRAs, time per UNet step with and without them, in the
same run.

The LoRAs go through the app's own code: `patches/lora_factors.py` turns each layer's tensors
(kohya LoRA / LoCon layouts) into factors, `runtime/openvino/lora.py` adds them to the compiled
UNet as extra inputs. Cases, each compiled once and timed over `--runs` steps (median):

- plain: the UNet without LoRAs;
- one LoRA: kohya LoRA, rank 32, on every attention, feed-forward and projection layer of the
  transformer blocks (192 layers, what kohya's trainer writes by default);
- three LoRAs: that one, a LoCon (rank 16 on the same layers plus the ResNet convolutions) and
  another kohya LoRA of rank 8.

The cases run in rounds of alternating order (`--rounds`), each timed over `--runs` steps;
the figures are medians over the rounds. Then the three LoRAs' weights change (no compile:
the count of compiles is printed) and the output is compared with PyTorch's UNet with the same
LoRAs merged into its weights.

With `--branch-plan` the three LoRAs are also timed as plain branches beside every layer (the
plan before `lora.py` merged the outer levels' changes into their weights), in the same rounds.

    python tests/benchmarks/cpu_lora.py [--runs 3] [--rounds 2] [--branch-plan]

Needs about 12 GB of free memory. Last line: {"ratio", "lora_step_s", "plain_step_s", ...};
"ratio" is the three-LoRA step over the plain step (goal ≤ 1.05).
"""

from __future__ import annotations

import argparse
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


def lora_parts(unet: Any, rank: int, convs: bool, seed: int) -> dict[str, dict[str, Any]]:
    """A random LoRA in the kohya layout, by UNet module name: {name: {suffix: tensor}}."""
    import re

    import torch

    gen = torch.Generator().manual_seed(seed)
    out: dict[str, dict[str, Any]] = {}
    for name, module in unet.named_modules():
        in_transformer = re.search(
            r"attentions\.\d+\.(proj_in|proj_out|transformer_blocks\.\d+\."
            r"(attn[12]\.(to_[qkv]|to_out\.0)|ff\.net\.(0\.proj|2)))$",
            name,
        )
        conv = convs and re.search(r"resnets\.\d+\.(conv1|conv2|conv_shortcut)$", name)
        if not (in_transformer or conv):
            continue
        weight = module.weight
        kernel = tuple(weight.shape[2:])
        down = torch.randn(rank, weight.shape[1], *kernel, generator=gen) * 0.05
        up = torch.randn(weight.shape[0], rank, *([1] * len(kernel)), generator=gen) * 0.05
        out[name] = {
            "lora_down.weight": down,
            "lora_up.weight": up,
            "alpha": torch.tensor(float(rank)),
        }
    return out


def layers_for(unet: Any, loras: list[tuple[dict[str, Any], float]]) -> list[Any]:
    """The app's factors of these LoRAs at these weights (as `unet_lora_factors` makes them)."""
    import torch

    from sneakerstudio.core.patches.lora_factors import layer_factors
    from sneakerstudio.core.runtime.openvino import LayerLora

    modules = dict(unet.named_modules())
    by_layer: dict[str, list[tuple[Any, Any]]] = {}
    for parts_by_name, weight in loras:
        for name, parts in parts_by_name.items():
            shape = tuple(modules[name].weight.shape)
            up, down = layer_factors(parts, shape, name)
            by_layer.setdefault(name, []).append((up * weight, down))
    return [
        LayerLora(
            name,
            torch.cat([u for u, _ in f], 1).numpy(),
            torch.cat([d for _, d in f], 0).numpy(),
        )
        for name, f in by_layer.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="steps per case and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over the three cases")
    parser.add_argument(
        "--branch-plan",
        action="store_true",
        help="also time the three LoRAs as plain branches (the plan before the merge)",
    )
    args = parser.parse_args()

    import torch

    from sneakerstudio.core.patches.lora import layer_delta
    from sneakerstudio.core.runtime.openvino import OpenVinoUnet, import_openvino
    from tests.benchmarks.fullsize import family_configs

    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    print(
        f"machine: {platform.machine()} · {cores} cores · torch {torch.__version__} · "
        f"{torch.backends.cpu.get_cpu_capability()} · load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    import diffusers

    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel.from_config(family_configs("sd1")["unet"]).eval()
    tmp = Path(tempfile.mkdtemp(prefix="sneaker-cpu-lora-"))
    try:
        ov = import_openvino()
        runner = OpenVinoUnet(unet, ("random-sd15",), tmp, cores)
        t0 = time.perf_counter()
        converted, compressed = runner._convert(ov)
        runner._save(ov, converted, compressed, 0.0, runner.folder)
        del converted
        assert runner.read_converted()
        convert_s = time.perf_counter() - t0
        print(f"converted the UNet in {convert_s:.1f} s (in this process)", flush=True)

        sample = torch.randn(1, 4, 64, 64)
        feeds = runner.feeds(sample, torch.tensor(999), torch.randn(1, 77, 768))
        shapes = tuple(tuple(f.shape) for f in feeds)

        def step_time(layers: list[Any], plan: str = "auto") -> tuple[float, float]:
            """(median step seconds, compile seconds) with these LoRA layers."""
            if plan != runner.lora_plan:
                runner.lora_plan = plan
                runner.drop_compiled()
            runner.set_loras(layers)
            runner.ensure_compiled(shapes, lambda _m: None)
            compile_s = runner.compile_s
            runner.run(feeds, lambda: None)  # warm-up
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                runner.run(feeds, lambda: None)
                times.append(time.perf_counter() - start)
            return statistics.median(times), compile_s

        one = [(lora_parts(unet, 32, False, 1), 0.8)]
        three = [*one, (lora_parts(unet, 16, True, 2), 0.6), (lora_parts(unet, 8, False, 3), 1.0)]
        t0 = time.perf_counter()
        layers_one = layers_for(unet, one)
        factors_s = time.perf_counter() - t0
        layers_three = layers_for(unet, three)
        cases = {"plain": [], "one": layers_one, "three": layers_three}
        if args.branch_plan:  # the branches of before (one per layer, no merging, no groups)
            cases["three_branch"] = layers_three
        steps: dict[str, list[float]] = {name: [] for name in cases}
        compile_s: dict[str, float] = {}
        # Rounds in alternating order (the load of this shared machine moves by the minute):
        # each case compiled once (later rounds load it from OpenVINO's model cache).
        for round_ in range(args.rounds):
            order = list(cases) if round_ % 2 == 0 else list(reversed(cases))
            for name in order:
                plan = "branch" if name == "three_branch" else "auto"
                step_s, compiled_s = step_time(cases[name], plan)
                steps[name].append(step_s)
                compile_s.setdefault(name, compiled_s)
                print(f"round {round_ + 1}, {name}: {step_s:.3f} s/step", flush=True)
        plain_s = statistics.median(steps["plain"])
        one_s = statistics.median(steps["one"])
        three_s = statistics.median(steps["three"])
        plain_compile, three_compile = compile_s["plain"], compile_s["three"]
        extra = {}
        if "three_branch" in steps:
            branch_s = statistics.median(steps["three_branch"])
            extra = {"ratio_three_branch_plan": round(branch_s / plain_s, 4)}
            print(f"3 LoRAs as plain branches {branch_s:.3f} ({branch_s / plain_s:.3f}x)")
        runner.lora_plan = "auto"
        runner.drop_compiled()
        print(
            f"plain {plain_s:.3f} s/step; 1 LoRA ({len(layers_one)} layers, rank 32) "
            f"{one_s:.3f} ({one_s / plain_s:.3f}x); 3 LoRAs ({len(layers_three)} layers) "
            f"{three_s:.3f} ({three_s / plain_s:.3f}x); factors of one LoRA {factors_s:.2f} s",
            flush=True,
        )

        # A weight change: new data for the compiled variant, no compile.
        compiles = runner.compiles + runner.cache_loads
        changed = [(one[0][0], 0.3), (three[1][0], 1.0), (three[2][0], 0.5)]
        runner.set_loras(layers_for(unet, three))  # compiled for three again (model cache)
        runner.ensure_compiled(shapes, lambda _m: None)
        compiles = runner.compiles + runner.cache_loads
        t0 = time.perf_counter()
        layers_changed = layers_for(unet, changed)
        runner.set_loras(layers_changed)
        runner.ensure_compiled(shapes, lambda _m: None)
        update_s = time.perf_counter() - t0
        recompiled = runner.compiles + runner.cache_loads - compiles
        out = runner.run(feeds, lambda: None)

        # The same LoRAs merged into PyTorch's weights, one step: the same output?
        modules = dict(unet.named_modules())
        with torch.no_grad():
            for parts_by_name, weight in changed:
                for name, parts in parts_by_name.items():
                    param = modules[name].weight
                    param.add_(layer_delta(parts, tuple(param.shape), name) * weight)
            reference = unet(feeds[0], feeds[1], encoder_hidden_states=feeds[2]).sample
        diff = float((out - reference).abs().max())
        scale = float(reference.abs().max())
        print(
            f"weight change: {update_s:.2f} s, compiles {recompiled}; output vs PyTorch with "
            f"the LoRAs merged: max |diff| {diff:.2e} (of values up to {scale:.2f})",
            flush=True,
        )
        print(
            json.dumps(
                {
                    "ratio": round(three_s / plain_s, 4),
                    "lora_step_s": round(three_s, 4),
                    "plain_step_s": round(plain_s, 4),
                    "ratio_one_lora": round(one_s / plain_s, 4),
                    "one_lora_step_s": round(one_s, 4),
                    "lora_layers": len(layers_three),
                    "compile_plain_s": round(plain_compile, 2),
                    "compile_three_loras_s": round(three_compile, 2),
                    "weight_change_s": round(update_s, 3),
                    "weight_change_compiles": recompiled,
                    "max_abs_diff_vs_torch": diff,
                    "convert_s": round(convert_s, 1),
                    **extra,
                    "runs": args.runs,
                    "rounds": args.rounds,
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                }
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
