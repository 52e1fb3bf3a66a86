"""ControlNet on OpenVINO, full size: a random-weight SD1.5 UNet and a ControlNet copied from
it (random zero-convs) at 512² (batch 1, no CFG), time per step in the same run:

- a ControlNet step all on OpenVINO (the ControlNet's graph, then the UNet's "control" variant
  with the residuals as inputs) against the same step all on PyTorch: "ratio" is PyTorch's
  step over OpenVINO's (> 1: OpenVINO is faster);
- the plain OpenVINO UNet step before and after the IR change (the old graph traced without
  residual inputs against the new graph's plain variant, which takes the residuals' additions
  out again): "plain_ratio" is after over before (1.0: no cost).

The cases run in rounds of alternating order (`--rounds`), each timed over `--runs` steps
after a warm-up; figures are medians over the rounds. Only one compiled UNet is held at a
time (a case switch loads the other from OpenVINO's model cache; that is not timed).

    python tests/benchmarks/cpu_controlnet.py [--runs 3] [--rounds 2] [--channels 320]

`--channels 160` builds a UNet of a quarter of SD1.5's width (same layout) for a quicker,
smaller check. Full size needs about 15 GB of free memory (PyTorch's UNet and ControlNet
beside OpenVINO's compiled copies). Last line: JSON {"ratio", "ov_controlnet_step_s",
"torch_controlnet_step_s", "plain_ratio", "plain_before_s", "plain_after_s", ...}.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def old_unet_runner(unet: Any, folder: Path, threads: int) -> Any:
    """The UNet traced as before this change: no residual inputs."""
    import torch

    from sneakerstudio.core.runtime.openvino import OpenVinoUnet

    class OldUnet(OpenVinoUnet):
        kind = "unet_old"

        def __init__(self) -> None:
            super().__init__(unet, ("random-sd15-old",), folder, threads)
            self.residuals = 0

        def traced_module(self) -> Any:
            class Traced(torch.nn.Module):
                def __init__(self) -> None:
                    super().__init__()
                    self.unet = unet

                def forward(self, sample: Any, t: Any, embeds: Any) -> Any:
                    return self.unet(sample, t, encoder_hidden_states=embeds, return_dict=False)[0]

            return Traced()

        def example(self) -> tuple[list[Any], list[list[int]]]:
            example, shapes = super().example()
            return example[:3], shapes[:3]

    return OldUnet()


def convert(runner: Any) -> float:
    """Convert in this process (the app does it in a child); seconds."""
    from sneakerstudio.core.runtime.openvino import import_openvino

    ov = import_openvino()
    t0 = time.perf_counter()
    converted, compressed = runner._convert(ov)
    runner._save(ov, converted, compressed, 0.0, runner.folder)
    del converted
    assert runner.read_converted()
    return time.perf_counter() - t0


def timed(step: Callable[[], Any], runs: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="steps per case and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over the cases")
    parser.add_argument("--channels", type=int, default=320, help="UNet width (SD1.5: 320)")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    args = parser.parse_args()

    import torch

    from sneakerstudio.core.runtime.openvino import OpenVinoUnet
    from sneakerstudio.core.runtime.openvino.controlnet import OpenVinoControlNet
    from tests.benchmarks.fullsize import family_configs
    from tests.controlnet_models import tiny_controlnet

    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    print(
        f"machine: {platform.machine()} · {cores} cores · torch {torch.__version__} · "
        f"{torch.backends.cpu.get_cpu_capability()} · load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    import diffusers

    torch.manual_seed(0)
    config = family_configs("sd1")["unet"]
    c = args.channels
    config["block_out_channels"] = [c, 2 * c, 4 * c, 4 * c]
    unet = diffusers.UNet2DConditionModel.from_config(config).eval()
    controlnet = tiny_controlnet(unet)  # a copy of the UNet's down path, random zero-convs
    tmp = Path(tempfile.mkdtemp(prefix="sneaker-cpu-controlnet-"))
    try:
        new = OpenVinoUnet(unet, ("random-sd15",), tmp, cores)
        old = old_unet_runner(unet, tmp, cores)
        cn = OpenVinoControlNet(controlnet, ("random-controlnet",), tmp, cores)
        convert_s = {name: convert(r) for name, r in (("unet", new), ("old", old), ("cn", cn))}
        print(f"converted in {convert_s} s (in this process)", flush=True)

        latent = args.size // 8
        sample = torch.randn(1, 4, latent, latent)
        t = torch.tensor(999)
        embeds = torch.randn(1, 77, 768)
        image = torch.rand(1, 3, args.size, args.size)

        def quiet(*_args: Any) -> None:  # no status, no cancel
            return None

        held: list[Any] = []

        def use(runner: Any, feeds: list[Any]) -> None:
            """Compile `runner` for `feeds`, holding no other compiled UNet."""
            for other in (new, old):
                if other is not runner and other in held:
                    other.drop_compiled()
                    held.remove(other)
            runner.ensure_compiled(tuple(tuple(f.shape) for f in feeds), quiet)
            if runner not in held:
                held.append(runner)

        # -- the plain step, before and after the IR change ------------------------------
        plain_feeds = new.feeds(sample, t, embeds)
        steps: dict[str, list[float]] = {"before": [], "after": []}
        for round_ in range(args.rounds):
            for name in ("before", "after") if round_ % 2 == 0 else ("after", "before"):
                runner = old if name == "before" else new
                new.set_control(False)
                use(runner, plain_feeds)
                step = functools.partial(runner.run, plain_feeds, quiet)
                steps[name].append(timed(step, args.runs))
                print(f"round {round_ + 1}, plain {name}: {steps[name][-1]:.3f} s", flush=True)

        # -- a ControlNet step: OpenVINO against PyTorch ---------------------------------
        cn_feeds = cn.feeds(sample, t, embeds, image, 1.0)
        assert cn_feeds is not None
        cn.ensure_compiled(tuple(tuple(f.shape) for f in cn_feeds), quiet)
        new.set_control(True)
        control_feeds = new.feeds(sample, t, embeds, residuals=cn.run_residuals(cn_feeds, quiet))
        use(new, control_feeds)
        parts: dict[str, list[float]] = {"controlnet": [], "unet": []}

        def ov_step() -> Any:
            t0 = time.perf_counter()
            residuals = cn.run_residuals(cn_feeds, quiet)
            t1 = time.perf_counter()
            out = new.run(new.feeds(sample, t, embeds, residuals=residuals), quiet)
            parts["controlnet"].append(t1 - t0)
            parts["unet"].append(time.perf_counter() - t1)
            return out

        def torch_step() -> Any:
            with torch.inference_mode():
                down, mid = controlnet(
                    sample,
                    t,
                    embeds,
                    controlnet_cond=image,
                    conditioning_scale=1.0,
                    return_dict=False,
                )
                return unet(
                    sample,
                    t,
                    encoder_hidden_states=embeds,
                    down_block_additional_residuals=down,
                    mid_block_additional_residual=mid,
                    return_dict=False,
                )[0]

        cases = {"openvino": ov_step, "torch": torch_step}
        cn_steps: dict[str, list[float]] = {name: [] for name in cases}
        for round_ in range(args.rounds):
            for name in ("openvino", "torch") if round_ % 2 == 0 else ("torch", "openvino"):
                cn_steps[name].append(timed(cases[name], args.runs))
                print(
                    f"round {round_ + 1}, ControlNet step on {name}: {cn_steps[name][-1]:.3f} s",
                    flush=True,
                )
        diff = float((ov_step() - torch_step()).abs().max())

        before, after = statistics.median(steps["before"]), statistics.median(steps["after"])
        ov_s, torch_s = (
            statistics.median(cn_steps["openvino"]),
            statistics.median(cn_steps["torch"]),
        )
        print(
            f"ControlNet step: OpenVINO {ov_s:.3f} s (ControlNet "
            f"{statistics.median(parts['controlnet']):.3f} + UNet "
            f"{statistics.median(parts['unet']):.3f}), PyTorch {torch_s:.3f} s: "
            f"{torch_s / ov_s:.3f}x; plain OpenVINO step before {before:.3f} s, after "
            f"{after:.3f} s ({after / before:.3f}x); max |diff| vs PyTorch {diff:.2e}",
            flush=True,
        )
        print(
            json.dumps(
                {
                    "ratio": round(torch_s / ov_s, 4),
                    "ov_controlnet_step_s": round(ov_s, 4),
                    "torch_controlnet_step_s": round(torch_s, 4),
                    "ov_controlnet_part_s": round(statistics.median(parts["controlnet"]), 4),
                    "ov_unet_part_s": round(statistics.median(parts["unet"]), 4),
                    "plain_ratio": round(after / before, 4),
                    "plain_before_s": round(before, 4),
                    "plain_after_s": round(after, 4),
                    "max_abs_diff_vs_torch": diff,
                    "convert_unet_s": round(convert_s["unet"], 1),
                    "convert_controlnet_s": round(convert_s["cn"], 1),
                    "channels": c,
                    "size": args.size,
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
