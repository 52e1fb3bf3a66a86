"""The denoising loop, written once for every mode and family (SD1/SD2 and SDXL).

We run the UNet and the scheduler ourselves rather than through a different diffusers
pipeline class per mode, because the modes need things those pipelines do not share: the
predicted clean image x0 after every step for the preview, a cancel check every step,
variation noise, masked latent blending for normal checkpoints, the 9-channel input of
inpainting checkpoints, latent "noise" / "nothing" masked content and a hires second pass.
The pieces follow diffusers' pipelines (timesteps for a strength, add_noise, guidance).

What only some jobs need inside the loop is a `LoopExtension` (InvokeAI's "denoise extensions"):
the 9-channel input of inpainting checkpoints and the masked latent blend are two, built from
the `LatentInputs`; callers add their own through `sample(extensions=...)` — ControlNet's
(`control.py`) uses the `residuals` hook, whose results go to the UNet as its additional
residual inputs.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.generation.conditioning import Conditioning

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.prompt_conditioning import ScheduledConditioning

# (sample, timestep, encoder_hidden_states, timestep_cond, added_cond_kwargs, ControlNet
# residuals (down blocks', middle block's) or None) -> noise prediction
UnetCall = Callable[
    [Any, Any, Any, Any, "dict[str, Any] | None", "tuple[list[Any], Any] | None"], Any
]


@dataclass
class LatentInputs:
    """What one sampling pass starts from, all batched (B images) on the model's device.

    `init` is the encoded init image (None: txt2img); `mask` (B, 1, h, w) is 1 where the
    sampler may change the latent (None: everywhere). 9-channel inpainting UNets also take
    `model_mask` and `masked_image` (the latent of the image with the masked area blanked)."""

    noise: Any
    init: Any = None
    strength: float | None = None
    mask: Any = None
    model_mask: Any = None
    masked_image: Any = None
    nv_steps: list[Any] | None = None  # A1111 NV generators for Euler a's per-step noise


@dataclass
class ModelSwitch:
    """Another model takes over the pass (A1111's refiner): from the first step whose
    timestep is below `cutoff` (= (1 − switch at) × 1000, diffusers' `denoising_end`), its
    `unet` runs with its own conditioning `cond`. The base's extensions that feed the UNet
    (ControlNet residuals, the 9-channel inpainting input) stop there; the masked blend goes
    on. `at` is set by `sample` to the index of the first refiner step (len(timesteps) when
    the refiner has none)."""

    unet: Any
    cond: Conditioning
    cutoff: float
    at: int = -1


class LoopExtension:
    """A part of the denoising loop that some jobs add. Each hook does nothing unless
    overridden; the loop calls them in the order the extensions are given."""

    def model_input(self, model_in: Any, use_cfg: bool) -> Any:
        """The UNet's input after the scheduler's scaling (with CFG, batch doubled)."""
        return model_in

    def after_step(
        self, i: int, timesteps: Any, scheduler: Any, latents: Any, x0: Any
    ) -> tuple[Any, Any]:
        """The latents and the x0 estimate (None if the scheduler has none) after step `i`."""
        return latents, x0

    def residuals(
        self,
        i: int,
        n: int,
        t: Any,
        sample: Any,
        embeds: Any,
        time_cond: Any,
        added: dict[str, Any] | None,
        use_cfg: bool,
        negative_half: bool = False,
    ) -> tuple[list[Any], Any] | None:
        """Residuals to add to the UNet's down blocks and middle block at step `i` of `n`
        (`sample`: the scaled latents before other extensions widen them), or None.
        `negative_half`: a negative-prompt call of its own (a prompt of another length): the
        residuals the negative half of a guided pair would get."""
        return None


class InpaintingModelInput(LoopExtension):
    """A 9-channel inpainting UNet also takes the latent mask and the masked image's latent."""

    def __init__(self, inputs: LatentInputs, dtype: Any) -> None:
        self.mask = inputs.model_mask
        self.masked = inputs.masked_image
        self.dtype = dtype

    def model_input(self, model_in: Any, use_cfg: bool) -> Any:
        import torch

        m = torch.cat([self.mask] * 2) if use_cfg else self.mask
        masked = torch.cat([self.masked] * 2) if use_cfg else self.masked
        return torch.cat([model_in, m.to(self.dtype), masked.to(self.dtype)], dim=1)


class MaskedBlend(LoopExtension):
    """Keeps the init image outside the mask. Normal checkpoints inpaint by putting the
    (re-noised) original back outside the mask after every step (`blend_latents`); for every
    checkpoint the preview's x0 shows the original there."""

    def __init__(
        self, init: Any, mask: Any, noise: Any, dtype: Any, *, blend_latents: bool
    ) -> None:
        self.init, self.mask, self.noise, self.dtype = init, mask, noise, dtype
        self.blend_latents = blend_latents

    def after_step(
        self, i: int, timesteps: Any, scheduler: Any, latents: Any, x0: Any
    ) -> tuple[Any, Any]:
        mask = self.mask
        if self.blend_latents:
            dtype = self.dtype
            if i < len(timesteps) - 1:
                t_next = timesteps[i + 1 : i + 2].repeat(self.noise.shape[0])
                kept = scheduler.add_noise(self.init.to(dtype), self.noise, t_next)
            else:
                kept = self.init.to(dtype)
            latents = kept * (1 - mask) + latents * mask
        if x0 is not None:
            x0 = self.init.to(x0.dtype) * (1 - mask) + x0 * mask
        return latents, x0


def seeded_generators(seeds: list[int]) -> list[Any]:
    """One seeded CPU generator per image, so image k of a batch can be made again alone with
    its own seed (diffusers' pipelines take such a list too)."""
    import torch

    return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


def image_noise(
    seeds: list[int],
    shape: tuple[int, int, int],
    *,
    variation_seeds: list[int] | None = None,
    variation_strength: float = 0.0,
    generators: list[Any] | None = None,
    source: str = "cpu",
    ensd: int = 0,
) -> tuple[Any, list[Any]]:
    """Initial noise from one seeded CPU generator per image (`generators` if given, already
    used for the init image's latent: see `latents.latent_inputs`), blended with a second
    seed's noise for variations (A1111's slerp). With `source` "nv" both noises are the numbers
    CUDA's generator gives for the seeds (`rng.py`). Returns the noise (B, C, h, w) and the
    generators ancestral samplers keep drawing from: the same ones, or with an eta noise seed
    delta `ensd` fresh ones seeded with seed + ensd (A1111's ImageRNG)."""
    import torch

    from sneakerstudio.core.generation.rng import nv_randn

    if generators is None:
        generators = seeded_generators(seeds)
    if source == "nv":
        noise = torch.cat([nv_randn(int(s), (1, *shape)) for s in seeds])
    else:
        noise = torch.cat([torch.randn((1, *shape), generator=g) for g in generators])
    if variation_seeds and variation_strength > 0:
        other = torch.cat(
            [
                nv_randn(int(s), (1, *shape))
                if source == "nv"
                else torch.randn((1, *shape), generator=torch.Generator("cpu").manual_seed(int(s)))
                for s in variation_seeds
            ]
        )
        noise = torch.stack(
            [slerp(variation_strength, n, o) for n, o in zip(noise, other, strict=True)]
        )
    if ensd:
        generators = seeded_generators([(int(s) + int(ensd)) % 2**64 for s in seeds])
    return noise, generators


def slerp(t: float, low: Any, high: Any) -> Any:
    """A1111's spherical interpolation of one image's noise (C, H, W) towards another: norms
    and angles along dim 1 (each channel's columns), and its straight blend — with the weights
    as A1111 has them, `low·t + high·(1 − t)` — when the two are nearly parallel."""
    import torch

    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if float(dot.mean()) > 0.9995:
        return low * t + high * (1 - t)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    a = (torch.sin((1.0 - t) * omega) / so).unsqueeze(1)
    b = (torch.sin(t * omega) / so).unsqueeze(1)
    return a * low + b * high


def encode_images(
    pipe: Any,
    images: list[Any],
    scaling: float,
    device: Any,
    blank: Any = None,
    generators: list[Any] | None = None,
) -> Any:
    """PIL images → scaled latents. Without `generators`, the mean of the VAE posterior
    (deterministic); with them, a sample of it drawn with each generator in turn, as diffusers'
    img2img and inpaint pipelines draw it with the job's generators: one image and B generators
    give B latents. With `blank` (a PIL "L" mask), pixels where it is white are set to 0 (mid
    grey) first: the masked-image input of inpainting checkpoints."""
    import numpy as np
    import torch

    vae = pipe.vae
    arrays = np.stack(
        [np.asarray(im.convert("RGB"), dtype=np.float32) / 127.5 - 1.0 for im in images]
    )
    if blank is not None:
        keep = np.asarray(blank.convert("L")) < 128
        arrays = arrays * keep[None, :, :, None]
    pixels = torch.from_numpy(arrays).permute(0, 3, 1, 2).to(device=device, dtype=vae.dtype)
    states = [g.get_state() for g in generators or ()]

    def latents_of(dist: Any) -> Any:
        if generators is None:
            return dist.mode()
        for g, state in zip(generators, states, strict=True):
            g.set_state(state)  # the fp32 retry draws the same numbers again
        return torch.cat([dist.sample(generator=g) for g in generators])

    with torch.inference_mode():
        latents = latents_of(vae.encode(pixels).latent_dist)
        if not torch.isfinite(latents).all() and vae.dtype != torch.float32:
            # Half-precision VAEs (SDXL's above all) can overflow: encode again in fp32.
            dtype = vae.dtype
            vae.to(torch.float32)
            latents = latents_of(vae.encode(pixels.float()).latent_dist).to(dtype)
            vae.to(dtype)
    return latents * scaling


def mask_tensor(masks: list[Any], size: tuple[int, int], device: Any, dtype: Any) -> Any:
    """PIL "L" masks → (B, 1, h, w) in [0, 1] at latent size `size` = (h, w), binarized at
    one half (a latent pixel is either repainted or kept)."""
    import numpy as np
    import torch
    from PIL import Image

    h, w = size
    arrays = [
        np.asarray(m.convert("L").resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
        / 255.0
        for m in masks
    ]
    mask = torch.from_numpy(np.stack(arrays))[:, None]
    return (mask >= 0.5).to(device=device, dtype=dtype)


def guidance_embedding(w: Any, dim: int) -> Any:
    """The sinusoidal embedding of guidance w that LCM-distilled UNets take instead of CFG."""
    import torch

    w = w * 1000.0
    half = dim // 2
    scale = math.log(10000.0) / (half - 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -scale)
    emb = w.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    if dim % 2 == 1:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


def sdxl_time_ids(unet: Any, pooled_dim: int, width: int, height: int) -> tuple[Any, Any]:
    """SDXL's size/crop conditioning: (original size, crop top-left, target size), or for the
    refiner (original size, crop, aesthetic score 6 / 2.5 for the negative)."""
    import torch

    per_id = int(unet.config.addition_time_embed_dim)
    expected = int(unet.add_embedding.linear_1.in_features) - pooled_dim
    if expected == 5 * per_id:
        return (
            torch.tensor([[height, width, 0, 0, 6.0]]),
            torch.tensor([[height, width, 0, 0, 2.5]]),
        )
    ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=torch.float32)
    return ids, ids.clone()


def _x0(out: Any, scheduler: Any) -> Any:
    """The scheduler's estimate of the clean latent after a step, for the preview."""
    x0 = getattr(out, "pred_original_sample", None)
    if x0 is None:
        x0 = getattr(out, "denoised", None)
    if x0 is None:
        outputs = getattr(scheduler, "model_outputs", None)
        if outputs and outputs[-1] is not None:
            x0 = outputs[-1]
    return x0


def _time_ids(
    unet: Any, step: Any, width: int, height: int, device: Any, dtype: Any
) -> tuple[Any, Any] | None:
    """SDXL's size/crop ids for `unet` (prompt, negative), batched like the step's first
    part; None for models without pooled text embeddings."""
    pooled = step.parts[0][1].pooled
    if pooled is None:
        return None
    ids, neg_ids = sdxl_time_ids(unet, int(pooled.shape[-1]), width, height)
    batch = pooled.shape[0]
    return (
        ids.to(device=device, dtype=dtype).repeat(batch, 1),
        neg_ids.to(device=device, dtype=dtype).repeat(batch, 1),
    )


def pure_noise_start(inputs: LatentInputs) -> bool:
    """Whether an image job starts from noise alone: inpainting at strength 1 does (diffusers'
    inpaint pipelines); img2img always noises the init image, at strength 1 too (diffusers'
    img2img pipelines, A1111), so the picture keeps some of its layout."""
    return inputs.mask is not None and inputs.strength is not None and inputs.strength >= 1.0


def timesteps_for(scheduler: Any, steps: int, strength: float | None, device: Any) -> Any:
    """The timesteps to run: all of them, or for img2img the last `strength` share (at least
    one step, so a tiny strength still does something)."""
    scheduler.set_timesteps(steps, device=device)
    timesteps = scheduler.timesteps
    if strength is None:
        return timesteps
    init = min(max(1, int(steps * strength)), steps)
    start = (steps - init) * scheduler.order
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(start)
    return timesteps[start:]


def sample(
    pipe: Any,
    scheduler: Any,
    cond: Conditioning | ScheduledConditioning,
    inputs: LatentInputs,
    *,
    steps: int,
    guidance: float,
    width: int,
    height: int,
    generators: list[Any],
    on_step: Callable[[int, int, Any], None],
    unet_call: UnetCall | None = None,
    extensions: Sequence[LoopExtension] = (),
    switch: ModelSwitch | None = None,
) -> Any:
    """Denoise and return the final latents (B, C, h, w). `on_step(i, n, x0)` is called after
    each scheduler call (n calls in all; 2nd-order samplers make two per user step) and may
    raise to cancel. `unet_call` evaluates the UNet instead of `pipe.unet` itself (the engine's
    OpenVINO runner on the CPU); same arguments plus the ControlNet residuals, returns the noise
    prediction. `extensions` run
    after the mode's own (inpainting input, masked blend). `switch` hands the last steps to
    another model (the refiner)."""
    import torch

    from sneakerstudio.core.generation.guidance import GuidedUnet
    from sneakerstudio.core.generation.nv_steps import NvAncestralNoise
    from sneakerstudio.core.generation.prompt_conditioning import ScheduledConditioning

    schedule = (
        cond if isinstance(cond, ScheduledConditioning) else ScheduledConditioning.fixed(cond)
    )
    first = schedule.at(0)
    unet = pipe.unet
    device = inputs.noise.device
    dtype = first.parts[0][1].embeds.dtype
    timesteps = timesteps_for(scheduler, steps, inputs.strength, device)
    distilled = getattr(unet.config, "time_cond_proj_dim", None) is not None
    use_cfg = guidance > 1.0 and not distilled and first.uncond is not None
    noise = inputs.noise.to(device=device, dtype=dtype)
    if inputs.init is None or pure_noise_start(inputs):
        latents = noise * scheduler.init_noise_sigma
    else:
        start = timesteps[:1].repeat(noise.shape[0])
        latents = scheduler.add_noise(inputs.init.to(dtype), noise, start)

    time_ids = _time_ids(unet, first, width, height, device, dtype)
    time_cond = None
    if distilled:
        w = torch.full((noise.shape[0],), guidance - 1.0)
        time_cond = guidance_embedding(w, int(unet.config.time_cond_proj_dim)).to(device, dtype)

    loop: list[LoopExtension] = []
    if int(unet.config.in_channels) == 9:
        loop.append(InpaintingModelInput(inputs, dtype))
    if inputs.mask is not None and inputs.init is not None:
        nine_channels = int(unet.config.in_channels) == 9
        blend = MaskedBlend(inputs.init, inputs.mask, noise, dtype, blend_latents=not nine_channels)
        loop.append(blend)
    loop.extend(extensions)
    predict = GuidedUnet(
        unet,
        scheduler,
        loop,
        guidance=guidance,
        use_cfg=use_cfg,
        time_cond=time_cond,
        time_ids=time_ids,
        unet_call=unet_call,
    )
    extra: dict[str, Any] = {}
    step_params = inspect.signature(scheduler.step).parameters
    if "generator" in step_params:
        extra["generator"] = generators if len(generators) > 1 else generators[0]
    n = len(timesteps)
    nv = None
    if inputs.nv_steps and "generator" in extra and NvAncestralNoise.applies(scheduler):
        nv = NvAncestralNoise(inputs.nv_steps)
    if switch is not None:
        switch.at = next((i for i, t in enumerate(timesteps) if float(t) < switch.cutoff), n)
    with torch.inference_mode():
        for i, t in enumerate(timesteps):
            if switch is not None and i == switch.at:  # the refiner takes the last steps
                schedule = ScheduledConditioning.fixed(switch.cond)
                loop[:] = [e for e in loop if isinstance(e, MaskedBlend)]
                predict = GuidedUnet(
                    switch.unet,
                    scheduler,
                    loop,
                    guidance=guidance,
                    use_cfg=use_cfg,
                    time_cond=None,
                    time_ids=_time_ids(switch.unet, schedule.at(0), width, height, device, dtype),
                    unet_call=None,
                )
            noise_pred = predict(i, n, t, latents, schedule.at(i))
            if nv is not None:
                nv.before(generators)
            out = scheduler.step(noise_pred, t, latents, return_dict=True, **extra)
            latents = out.prev_sample
            if nv is not None:
                latents = nv.after(scheduler, latents, noise_pred.dtype)
            x0 = _x0(out, scheduler)
            for extension in loop:
                latents, x0 = extension.after_step(i, timesteps, scheduler, latents, x0)
            on_step(i, n, x0 if x0 is not None else latents)
    return latents
