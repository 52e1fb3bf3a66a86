"""LoRA plans on OpenVINO, one block at a time: a transformer block and a ResNet block of
SD1.5's levels (320 channels at 64×64 latents down to 1280 at 8×8), random weights, with the
three-LoRA case of `cpu_lora.py` (rank 56 on the transformer layers: 32 + 16 + 8 stacked, a
LoCon's rank 16 on the ResNet convolutions). Per block: the step without LoRAs and with each
plan of `runtime/openvino/lora.py` ("branch": a side branch per layer; "merge": weight + U·D
inside the graph; "auto": per layer the cheaper one), timed in alternating order in one
process; the output checked against PyTorch with the LoRAs merged into its weights.

    python tests/benchmarks/lora_block.py [--runs 5] [--levels 0,1,2,3] [--profile]

`--profile` prints OpenVINO's per-node times of the LoRA nodes (PERF_COUNT). Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

LEVELS = [(320, 64), (640, 32), (1280, 16), (1280, 8)]  # (channels, latent side) per level
PLANS = ("branch", "merge", "auto", "grouped")


def blocks(channels: int) -> dict[str, Any]:
    from diffusers.models.resnet import ResnetBlock2D
    from diffusers.models.transformers.transformer_2d import Transformer2DModel

    return {
        "transformer": Transformer2DModel(
            num_attention_heads=channels // 40 if channels == 320 else 8,
            attention_head_dim=40 if channels == 320 else channels // 8,
            in_channels=channels,
            cross_attention_dim=768,
            norm_num_groups=32,
        ).eval(),
        "resnet": ResnetBlock2D(
            in_channels=channels, out_channels=channels, temb_channels=1280
        ).eval(),
    }


def lora_layers(block: Any, seed: int) -> list[Any]:
    import re

    import numpy as np

    from sneakerstudio.core.runtime.openvino.lora import LayerLora

    rng = np.random.default_rng(seed)
    out = []
    for name, module in block.named_modules():
        conv = re.fullmatch(r"conv1|conv2", name)
        if not (
            conv or re.search(r"proj_in|proj_out|to_[qkv]|to_out\.0|ff\.net\.(0\.proj|2)", name)
        ):
            continue
        shape = tuple(module.weight.shape)
        rank = 16 if conv else 56
        down = (rng.standard_normal((rank, *shape[1:])) * 0.05).astype(np.float32)
        up = (rng.standard_normal((shape[0], rank)) * 0.05).astype(np.float32)
        out.append(LayerLora(name, up, down))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--levels", default="0,1,2,3")
    parser.add_argument("--kinds", default="transformer,resnet")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    import numpy as np
    import openvino as ov
    import torch

    from sneakerstudio.core.runtime.openvino.lora import add_lora_inputs, lora_arrays

    torch.manual_seed(0)
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    core = ov.Core()
    props: dict[str, Any] = {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }
    if args.profile:
        props["PERF_COUNT"] = True
    result: dict[str, Any] = {}
    print(f"load {os.getloadavg()[0]:.2f}", flush=True)
    for level in (int(v) for v in args.levels.split(",")):
        channels, side = LEVELS[level]
        for kind, block in blocks(channels).items():
            if kind not in args.kinds.split(","):
                continue

            class Wrapped(torch.nn.Module):
                def __init__(self, block: Any, kind: str) -> None:
                    super().__init__()
                    self.unet, self.kind = block, kind

                def forward(self, x: Any, other: Any) -> Any:
                    if self.kind == "transformer":
                        return self.unet(x, encoder_hidden_states=other).sample
                    return self.unet(x, other)

            x = torch.randn(1, channels, side, side)
            other = torch.randn(1, 77, 768) if kind == "transformer" else torch.randn(1, 1280)
            with torch.no_grad():
                traced = torch.jit.trace(Wrapped(block, kind), (x, other), check_trace=False)
                base = ov.convert_model(traced, example_input=(x, other))
            base.reshape({0: list(x.shape), 1: list(other.shape)})  # static, as the app compiles
            layers = lora_layers(block, seed=level)
            data = lora_arrays(layers)
            requests = {}
            for plan in ("plain", *PLANS):
                model = base.clone()
                if plan != "plain":
                    add_lora_inputs(model, layers, plan)
                request = core.compile_model(model, "CPU", props).create_infer_request()
                request.set_input_tensor(0, ov.Tensor(x.numpy()))
                request.set_input_tensor(1, ov.Tensor(other.numpy()))
                if plan != "plain":
                    for i, array in enumerate(data):
                        request.set_input_tensor(2 + i, ov.Tensor(array, shared_memory=True))
                request.infer()
                requests[plan] = request
            # Exactness: PyTorch with the same changes merged.
            modules = dict(block.named_modules())
            with torch.no_grad():
                for layer in layers:
                    weight = modules[layer.name].weight
                    delta = torch.from_numpy(layer.up) @ torch.from_numpy(layer.down).flatten(1)
                    weight.add_(delta.reshape(weight.shape))
                reference = Wrapped(block, kind)(x, other).numpy()
            diffs = {
                plan: float(np.abs(requests[plan].get_output_tensor(0).data - reference).max())
                for plan in PLANS
            }
            times: dict[str, list[float]] = {plan: [] for plan in requests}
            names = list(requests)
            for i in range(args.runs * args.rounds):  # one step of each in turn, rotating
                for plan in names[i % len(names) :] + names[: i % len(names)]:
                    start = time.perf_counter()
                    requests[plan].infer()
                    times[plan].append(time.perf_counter() - start)
            # The fastest step of each: the one the other processes disturbed least.
            plain = min(times["plain"])
            row = {"plain_ms": round(plain * 1e3, 2)}
            for plan in PLANS:
                row[plan] = round(min(times[plan]) / plain, 3)
            row["max_diff"] = max(diffs.values())
            key = f"{kind}{channels}@{side}"
            result[key] = row
            print(key, row, flush=True)
            if args.profile:
                for plan in PLANS:
                    lora_ms = sum(
                        p.real_time.total_seconds() * 1e3
                        for p in requests[plan].profiling_info
                        if "lora" in p.node_name
                    )
                    top = sorted(
                        requests[plan].profiling_info,
                        key=lambda p: -p.real_time.total_seconds(),
                    )[:6]
                    print(
                        f"  {plan}: lora nodes {lora_ms:.1f} ms; top "
                        + ", ".join(
                            f"{p.node_name}({p.exec_type}) {p.real_time.total_seconds() * 1e3:.1f}"
                            for p in top
                        ),
                        flush=True,
                    )
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
