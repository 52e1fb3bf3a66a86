"""Our engine's image equals diffusers' own pipeline's for the same model, seed and published
scheduler config (`tests/published_configs.py`): every sampler we share, txt2img, img2img and
inpaint (normal and 9-channel inpainting UNets), SD1, SD2 (v), SDXL and the refiner, within 2
levels (prompts without weights; inpaint compares the repainted area, since we paste the
original back around it as A1111 does). A representative set runs by default, the whole matrix
with `-m slow`; `python -m tests.e2e.test_parity` prints the table kept in docs/PARITY.md.
Also: a job with A1111's "NV" random source is reproducible and says so in its infotext."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sneakerstudio.core.generation.engine import Engine
from sneakerstudio.core.generation.schedulers import scheduler_options
from sneakerstudio.core.protocol.samplers import SAMPLERS, available, find_sampler
from tests import published_configs as published
from tests.e2e.engine_helpers import finished, request_for, run

TOLERANCE = 2  # levels of 255
SEED, STEPS, GUIDANCE, SIZE = 42, 3, 7.0, 64
PROMPT, NEGATIVE = "a colourful doodle of a sneaker", "blurry"
BOX = (16, 16, 48, 40)  # the inpaint mask, on 8-pixel blocks so both tools see the same mask

PUBLISHED = {
    "sd1": published.SD15,
    "sd2": published.SD21_768_V,
    "sdxl": published.SDXL,
    "sdxl-refiner": published.SDXL_REFINER,
}


@dataclass(frozen=True)
class Case:
    family: str  # "sd1", "sd2", "sdxl", "sdxl-refiner"
    mode: str  # "txt2img", "img2img", "inpaint"
    sampler: str
    strength: float = 0.6
    nine_channels: bool = False  # an inpainting checkpoint

    @property
    def id(self) -> str:
        unet = "-9ch" if self.nine_channels else ""
        strength = f"@{self.strength:g}" if self.mode != "txt2img" else ""
        return f"{self.family}{unet}-{self.mode}{strength}-{self.sampler}"


def init_image() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))


def box_mask() -> Image.Image:
    mask = Image.new("L", (SIZE, SIZE), 0)
    mask.paste(255, BOX)
    return mask


class Models:
    """The tiny models (built on first use) and diffusers' pipelines over the same weights."""

    def __init__(self, root: Path, sd1: Any = None) -> None:
        self.root = root
        self.built: dict[tuple[str, bool], Any] = {}
        if sd1 is not None:
            self.built[("sd1", False)] = sd1
        self.pipes: dict[tuple[str, bool], Any] = {}

    def model(self, family: str, nine: bool) -> Any:
        from tests.tiny_models import build_tiny_family, build_tiny_sd1, build_tiny_sd1_inpaint

        key = (family, nine)
        if key not in self.built:
            out = self.root / f"{family}{'-9ch' if nine else ''}"
            if family == "sd1":
                builder = build_tiny_sd1_inpaint if nine else build_tiny_sd1
                self.built[key] = builder(out)
            else:
                # "768_v": the name tells the loader an SD2 file is v-prediction.
                stem = "tiny_sd2_768_v" if family == "sd2" else None
                self.built[key] = build_tiny_family(
                    out, family, in_channels=9 if nine else 4, stem=stem
                )
        return self.built[key]

    def pipeline(self, case: Case) -> Any:
        import diffusers

        key = (case.family, case.nine_channels)
        if key not in self.pipes:
            folder = str(self.model(*key).folder)
            if case.family == "sdxl-refiner":
                pipe = diffusers.StableDiffusionXLImg2ImgPipeline.from_pretrained(folder)
            elif case.family == "sdxl":
                pipe = diffusers.StableDiffusionXLPipeline.from_pretrained(folder)
            else:
                pipe = diffusers.StableDiffusionPipeline.from_pretrained(
                    folder, safety_checker=None, requires_safety_checker=False
                )
            self.pipes[key] = pipe
        pipe = self.pipes[key]
        if case.mode == "img2img" and case.family != "sdxl-refiner":
            pipe = diffusers.AutoPipelineForImage2Image.from_pipe(pipe)
        elif case.mode == "inpaint":
            pipe = diffusers.AutoPipelineForInpainting.from_pipe(pipe)
        pipe.set_progress_bar_config(disable=True)
        sampler = find_sampler(case.sampler)
        assert sampler is not None
        pipe.scheduler = published.reference_scheduler(
            PUBLISHED[case.family], sampler.scheduler_class, **scheduler_options(sampler)
        )
        return pipe


def reference_image(models: Models, case: Case) -> np.ndarray:
    import torch

    args: dict[str, Any] = {
        "prompt": PROMPT,
        "negative_prompt": NEGATIVE,
        "num_inference_steps": STEPS,
        "guidance_scale": GUIDANCE,
        "generator": torch.Generator("cpu").manual_seed(SEED),
    }
    if case.mode == "txt2img":
        args.update(width=SIZE, height=SIZE)
    else:
        args.update(image=init_image(), strength=case.strength)
    if case.mode == "inpaint":
        args.update(mask_image=box_mask(), width=SIZE, height=SIZE)
    return np.asarray(models.pipeline(case)(**args).images[0], dtype=np.int16)


def our_image(engine: Engine, models: Models, case: Case) -> np.ndarray:
    fields: dict[str, Any] = {
        "sampler": case.sampler,
        "steps": STEPS,
        "guidance": GUIDANCE,
        "seed": SEED,
        "width": SIZE,
        "height": SIZE,
        "prompt": PROMPT,
        "negative_prompt": NEGATIVE,
    }
    if case.mode != "txt2img":
        fields.update(mode=case.mode, init_image=init_image(), strength=case.strength)
    if case.mode == "inpaint":
        fields.update(mask=box_mask(), mask_blur=0)
    model = models.model(case.family, case.nine_channels).single_file
    image = finished(run(engine, request_for(model, **fields))).images[0]
    return np.asarray(image, dtype=np.int16)


def level_difference(engine: Engine, models: Models, case: Case) -> int:
    """The largest difference in levels between the two images (the repainted box for
    inpaint: outside it we keep the original's pixels, diffusers returns the decoded ones)."""
    difference = np.abs(our_image(engine, models, case) - reference_image(models, case))
    if case.mode == "inpaint":
        difference = difference[np.asarray(box_mask()) > 0]
    return int(difference.max())


def matrix() -> Iterator[Case]:
    """Every sampler × family × mode, plus strength 1 and inpainting checkpoints."""
    # DPM++ 3M SDE runs A1111's sigmas (the next-to-last dropped), which diffusers has no
    # option for: it is compared with k-diffusion's maths (tests/core/test_sigma_schedules.py).
    names = [
        s.name
        for s in SAMPLERS
        if available(s) and not (s.discard_next_to_last and s.custom_sigmas)
    ]
    for family in ("sd1", "sd2", "sdxl"):
        for name in names:
            yield Case(family, "txt2img", name)
            yield Case(family, "img2img", name)
            yield Case(family, "inpaint", name)
            if family != "sd2":
                yield Case(family, "inpaint", name, nine_channels=True)
    for name in names:
        yield Case("sdxl-refiner", "img2img", name)
    for family in ("sd1", "sdxl"):
        for name in ("Euler a", "DPM++ 2M"):
            yield Case(family, "img2img", name, strength=1.0)
            yield Case(family, "inpaint", name, strength=1.0)
            yield Case(family, "inpaint", name, strength=1.0, nine_channels=True)


# The default suite: the bugs once found (SD1 schedules, SDXL DDIM, sampled init latents,
# img2img at strength 1, the masked image's draw before ancestral noise) and each mode and
# family once.
REPRESENTATIVE = [
    Case("sd1", "txt2img", "Euler a"),
    Case("sd1", "txt2img", "DPM++ 2M"),
    Case("sd1", "img2img", "Euler"),
    Case("sd1", "img2img", "DDIM", strength=1.0),
    Case("sd1", "inpaint", "UniPC"),
    Case("sd1", "inpaint", "Euler a", strength=1.0),
    Case("sd1", "inpaint", "Euler a", strength=1.0, nine_channels=True),
    Case("sd2", "txt2img", "Heun"),
    Case("sdxl", "txt2img", "DDIM"),
    Case("sdxl", "img2img", "LCM"),
    Case("sdxl", "inpaint", "DPM++ 2M Karras", nine_channels=True),
]
SLOW = [c for c in matrix() if c not in REPRESENTATIVE]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(device="cpu", threads=1)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, tiny_sd1) -> Models:
    return Models(tmp_path_factory.mktemp("parity"), sd1=tiny_sd1)


@pytest.mark.parametrize("case", REPRESENTATIVE, ids=lambda c: c.id)
def test_same_image_as_diffusers(engine: Engine, models: Models, case: Case) -> None:
    assert level_difference(engine, models, case) <= TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=lambda c: c.id)
def test_same_image_as_diffusers_everywhere(engine: Engine, models: Models, case: Case) -> None:
    assert level_difference(engine, models, case) <= TOLERANCE


def test_a_published_sd15_folder_starts_euler_at_sigma_max(
    engine: Engine, models: Models, tmp_path: Path
) -> None:
    """A diffusers folder with the published SD 1.5 scheduler config (no timestep spacing):
    Euler takes its own "linspace" default, as in diffusers, not the folder class's "leading"."""
    import json
    import shutil

    folder = shutil.copytree(models.model("sd1", False).folder, tmp_path / "sd15")
    config = {**published.SD15, "_diffusers_version": "0.17.0.dev0"}
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(config))
    case = Case("sd1", "txt2img", "Euler")
    fields = {"sampler": "Euler", "steps": STEPS, "guidance": GUIDANCE, "seed": SEED}
    fields.update(width=SIZE, height=SIZE, prompt=PROMPT, negative_prompt=NEGATIVE)
    ours = finished(run(engine, request_for(folder, **fields))).images[0]
    difference = np.abs(np.asarray(ours, dtype=np.int16) - reference_image(models, case))
    assert int(difference.max()) <= TOLERANCE


@pytest.mark.parametrize("family", ["sd1", "sd2"])
def test_turbo_files_keep_trailing_timesteps_on_every_sampler(
    models: Models, family: str, tmp_path: Path
) -> None:
    """The SD1/SD2 configs do not state a spacing: the loader's "trailing" for a Turbo file
    must still reach every sampler (diffusers drops keys it filled from class defaults)."""
    import shutil

    from sneakerstudio.core.generation.schedulers import build_scheduler
    from sneakerstudio.core.models.loading import load_model

    turbo = shutil.copy(
        models.model(family, False).single_file, tmp_path / "tiny_turbo.safetensors"
    )
    loaded = load_model(Path(turbo))
    assert loaded.distilled == "turbo"
    for sampler in [s for s in SAMPLERS if available(s)]:
        scheduler = build_scheduler(sampler, loaded.scheduler_config)
        scheduler.set_timesteps(1)
        assert scheduler.config.timestep_spacing == "trailing", sampler.name
        assert int(scheduler.timesteps[0]) == 999, sampler.name


def test_an_nv_job_is_reproducible_and_says_so(engine: Engine, tiny_sd1) -> None:
    """A1111's "NV" source (its CPU copy of the GPU's numbers): same seed, same image."""
    nv = [
        finished(run(engine, request_for(tiny_sd1.single_file, sampler="DPM++ 2M", rng="nv")))
        for _ in range(2)
    ]
    cpu = finished(run(engine, request_for(tiny_sd1.single_file, sampler="DPM++ 2M")))
    images = [np.asarray(result.images[0]) for result in (*nv, cpu)]
    assert np.array_equal(images[0], images[1])
    assert not np.array_equal(images[0], images[2])
    assert "RNG: NV" in nv[0].parameters[0]
    # Written for the CPU source too: A1111 reads a text without RNG as its GPU source.
    assert "RNG: CPU" in cpu.parameters[0]


def parity_table(root: Path) -> str:
    """The Markdown table of docs/PARITY.md: max level difference per sampler × mode × family."""
    engine = Engine(device="cpu", threads=1)
    models = Models(root)
    rows = [
        "| Family | Mode | Strength | Sampler | Max level difference |",
        "|---|---|---|---|---|",
    ]
    for case in matrix():
        family = case.family + (" (9-ch inpainting)" if case.nine_channels else "")
        strength = f"{case.strength:g}" if case.mode != "txt2img" else "—"
        difference = level_difference(engine, models, case)
        rows.append(f"| {family} | {case.mode} | {strength} | {case.sampler} | {difference} |")
        print(rows[-1], flush=True)
    return "\n".join(rows)


if __name__ == "__main__":
    import os
    import tempfile

    os.environ.setdefault("SNEAKERSTUDIO_CPU_RUNTIME", "torch")
    os.environ.setdefault("SNEAKERSTUDIO_PRECISION", "fp32")
    with tempfile.TemporaryDirectory() as tmp:
        print(parity_table(Path(tmp)))
