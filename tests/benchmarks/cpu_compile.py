"""CPU candidates for the full-size UNet step beyond cpu_fullsize.py: `torch.compile` (inductor,
with and without weight freezing) and int8 dynamic quantisation of the Linear layers, each
interleaved with the eager fp32 step in the same run.

A full-size random-weight SD1.5 UNet from the shipped configs (no downloads), latent 64² (512²
images), batch 1 (no CFG, the Turbo case). Compile time is reported separately: the user pays
it once per model and process. Run it on an idle machine: fp32 on several threads suffers
more from a busy neighbour than int8 kernels do, so a loaded machine flatters the candidates
(docs/PERFORMANCE.md). Compiling takes minutes on 2 cores.

    python tests/benchmarks/cpu_compile.py [--runs 3] [--no-freezing] [--no-int8]

Last line: JSON with `compiled_s`, `compiled_eager_s`, `compiled_gain`, `compiled_warmup_s`,
and the same for `frozen_` and `int8_`.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import sneakerstudio  # noqa: F401  (first: it hides a torchvision that cannot load)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-freezing", action="store_true")
    parser.add_argument("--no-int8", action="store_true")
    args = parser.parse_args()

    import torch
    from diffusers import UNet2DConditionModel

    from sneakerstudio.core.files.resources import model_template_dir
    from tests.benchmarks.cpu_fullsize import interleaved

    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    print(
        f"torch {torch.__version__} · {torch.backends.cpu.get_cpu_capability()} · "
        f"{cores} threads · load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    config = UNet2DConditionModel.load_config(str(model_template_dir("sd1") / "unet"))
    unet = UNet2DConditionModel.from_config(config).eval()
    latent = torch.randn(1, 4, 64, 64)
    embeds = torch.randn(1, 77, 768)
    t = torch.tensor(999)

    def runner(module: Any) -> Callable[[], Any]:
        def step() -> None:
            with torch.inference_mode():
                module(latent, t, encoder_hidden_states=embeds, return_dict=False)

        return step

    eager = runner(unet)
    eager()  # warm-up
    out: dict[str, Any] = {}

    def measure(name: str, module: Any) -> None:
        step = runner(module)
        start = time.perf_counter()
        step()
        warm = time.perf_counter() - start
        base, cand = interleaved(eager, step, args.runs)
        out[f"{name}_warmup_s"] = round(warm, 2)
        out[f"{name}_s"] = round(cand, 3)
        out[f"{name}_eager_s"] = round(base, 3)
        out[f"{name}_gain"] = round(base / cand, 3)
        print(
            f"  {name:10} {cand:7.2f} s vs eager {base:7.2f} s: {base / cand:.2f}x "
            f"(first call incl. compile {warm:.1f} s)",
            flush=True,
        )

    import torch._inductor.config as inductor_config

    compiled = copy.deepcopy(unet)
    compiled.compile()
    measure("compiled", compiled)
    del compiled
    torch._dynamo.reset()

    if not args.no_freezing:
        # Freezing folds weights into the graph (and pre-packs them for oneDNN): in-place
        # weight edits (our LoRA merges) are ignored afterwards, so the engine could only use it
        # with a recompile per LoRA change.
        inductor_config.freezing = True
        frozen = copy.deepcopy(unet)
        frozen.compile()
        measure("frozen", frozen)
        del frozen
        inductor_config.freezing = False
        torch._dynamo.reset()

    if not args.no_int8:
        quantised = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(unet), {torch.nn.Linear}, dtype=torch.qint8
        )
        measure("int8", quantised)

    print(json.dumps({"load_avg_1m": round(os.getloadavg()[0], 2), **out}))


if __name__ == "__main__":
    main()
