"""The decode stage: latents → PIL images, never a silent black one.

The model's own VAE (on OpenVINO when the device plan says so), with a retry in fp32 when a
half-precision VAE overflows to NaN; or TAESD, the fast approximate decoder, when the request
asks for it and the user has its weights (`Decoders`, which keeps the loaded TAESDs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sneakerstudio.core.families.registry import latent_format
from sneakerstudio.core.protocol.errors import InvalidImageError

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.job import JobContext
    from sneakerstudio.core.models.loading import LoadedModel
    from sneakerstudio.core.runtime.device import DevicePlan


def downloaded_taesd(key: str) -> Path:
    """Where the starter download puts TAESD (`models download --starter taesd`): the app's
    models folder, `TAESD/taesd` or `TAESD/taesdxl`."""
    from sneakerstudio.core.files import paths

    return paths.data_dir() / "models" / "TAESD" / ("taesdxl" if key == "sdxl" else "taesd")


class Decoders:
    """The TAESD decoders (diffusers AutoencoderTiny) the user has, loaded on first use and
    kept, with their OpenVINO runners. `folders`: TAESD folders by family key ("sd1",
    "sdxl"); others come from SNEAKERSTUDIO_TAESD (SD1/SD2) / SNEAKERSTUDIO_TAESDXL, else the
    starter download's folder (`downloaded_taesd`)."""

    def __init__(self, folders: dict[str, Path] | None = None) -> None:
        self.folders: dict[str, Path] = dict(folders or {})
        self.tiny: dict[str, Any] = {}  # loaded TAESD by resolved folder
        self.tiny_openvino: dict[str, Any] = {}  # TAESD on OpenVINO, by the same key

    def folder_for(self, family: str) -> Path | None:
        """The TAESD folder for `family`, if the user has one."""
        key = latent_format(family).taesd  # "sd1" or "sdxl": the TAESD that fits the latents
        folder = self.folders.get(key)
        if folder is None:
            name = "SNEAKERSTUDIO_TAESDXL" if key == "sdxl" else "SNEAKERSTUDIO_TAESD"
            env = os.environ.get(name)
            folder = Path(env) if env else downloaded_taesd(key)
        return folder if folder is not None and (folder / "config.json").is_file() else None

    def _tiny_decoder(self, family: str, plan: DevicePlan) -> Any:
        """The loaded TAESD for `family`, or None when the user has no TAESD weights."""
        folder = self.folder_for(family)
        if folder is None:
            return None
        key = str(folder.resolve())
        if key not in self.tiny:
            from diffusers import AutoencoderTiny

            tiny = AutoencoderTiny.from_pretrained(key, local_files_only=True)
            self.tiny[key] = tiny.to(plan.device, plan.dtype).eval()
        return self.tiny[key]

    def fast_decode(self, model: LoadedModel, latents: Any, plan: DevicePlan) -> list[Any] | None:
        """Decode with TAESD when the user has its weights (about 1/100 of the VAE's work,
        softer details); None when it is missing, gives the wrong size or overflows."""
        import torch

        tiny = self._tiny_decoder(model.family, plan)
        if tiny is None:
            return None
        image = self._tiny_decode_openvino(tiny, latents, plan)
        if image is None:
            with torch.inference_mode():  # TAESD takes the sampler's (scaled) latents as-is
                image = tiny.decode(latents.to(tiny.dtype), return_dict=False)[0]
        expected = latents.shape[-1] * model.vae_scale_factor
        if image.shape[-1] != expected or not torch.isfinite(image).all():
            return None
        return model.pipe.image_processor.postprocess(image.float(), output_type="pil")

    def _tiny_decode_openvino(self, tiny: Any, latents: Any, plan: DevicePlan) -> Any:
        """TAESD's decode on OpenVINO when the plan says so (1.85x here); None to use
        PyTorch (not wanted, not fp32, or OpenVINO failed: then PyTorch from now on)."""
        import torch

        if plan.cpu_runtime != "openvino" or tiny.dtype != torch.float32:
            return None
        from sneakerstudio.core.files.paths import cache_dir
        from sneakerstudio.core.runtime.openvino import OpenVinoTinyDecoder

        key = next(k for k, v in self.tiny.items() if v is tiny)
        runner = self.tiny_openvino.get(key)
        if runner is None:
            runner = OpenVinoTinyDecoder(tiny, key, cache_dir() / "openvino", plan.threads)
            self.tiny_openvino[key] = runner
        return runner.decode(latents)


def _vae_decode_openvino(ctx: JobContext, scaled: Any) -> Any:
    """The model's own VAE decode on OpenVINO, or None for PyTorch: not wanted, a VAE override,
    a tiled or sliced decode (memory modes), not fp32, seamless tiling, still being converted,
    or OpenVINO failed (then PyTorch for this model from now on)."""
    runner = openvino_vae_runner(ctx)
    return None if runner is None else runner.decode(scaled, ctx.status)


def openvino_vae_runner(ctx: JobContext) -> Any:
    """The OpenVINO runner of the model's own VAE when this job's decode may use it (see
    `_vae_decode_openvino`), made on first use; else None."""
    import torch

    from sneakerstudio.core.patches.model_files import own_vae

    cached, model = ctx.cached, ctx.model
    vae = model.pipe.vae
    if (
        ctx.plan.cpu_runtime != "openvino"
        or vae is not own_vae(model)
        or getattr(vae, "use_tiling", False)
        or getattr(vae, "use_slicing", False)
        or vae.dtype != torch.float32
        or ctx.request.tiling  # the compiled VAE pads with zeros
    ):
        return None
    from sneakerstudio.core.files.paths import cache_dir
    from sneakerstudio.core.runtime.openvino import OpenVinoVae

    runner = cached.openvino_vae
    if runner is None or runner.module is not vae:
        runner = OpenVinoVae(vae, cached.key, cache_dir() / "openvino", ctx.plan.threads)
        cached.openvino_vae = runner
    return runner


def vae_decode(ctx: JobContext, latents: Any, *, final: bool = True) -> list[Any]:
    """VAE-decode to PIL images, never a silent black one (on OpenVINO when the plan says so
    and `final`: the hires pass's intermediate decode, another size, stays on PyTorch rather
    than recompiling twice per image). Half-precision VAEs can overflow to NaN: then the VAE
    is upcast to fp32 (and stays so for this model, so the next job does not pay for a wasted
    decode) and decodes again. Still NaN (or NaN latents from the sampler): an
    `InvalidImageError`, nothing to save."""
    import torch

    model = ctx.model
    if not torch.isfinite(latents).all():
        raise InvalidImageError(
            "The model produced invalid values (NaN) while sampling, so there is no "
            "image; nothing was saved.",
            hint="Try another sampler, a lower CFG scale, or fp32 precision.",
        )
    vae = model.pipe.vae
    scaled = latents / model.vae_scaling_factor
    with torch.inference_mode():
        image = _vae_decode_openvino(ctx, scaled) if final else None
        if image is None or not torch.isfinite(image).all():
            image = vae.decode(scaled.to(vae.dtype), return_dict=False)[0]
        if torch.isfinite(image).all():
            return model.pipe.image_processor.postprocess(image.float(), output_type="pil")
        del image
        was = precision_name(vae.dtype)
        if vae.dtype != torch.float32:
            vae.to(torch.float32)
            note = f"the VAE overflowed (NaN) in {was}; decoded again in fp32"
        else:
            note = "the VAE returned invalid values (NaN); decoded again"
        ctx.status(f"Decoding again in fp32: {note.split(';')[0]}…")
        image = vae.decode(scaled.float(), return_dict=False)[0]
        if not torch.isfinite(image).all():
            raise InvalidImageError(
                "The VAE produced an invalid image (NaN) even in full precision; "
                "nothing was saved.",
                hint="Choose another VAE (or the model's own), or a lower CFG scale.",
            )
    if ctx.memory is not None:
        ctx.memory.vae_upcast = True
        ctx.memory.info["vae_upcast"] = note
    return model.pipe.image_processor.postprocess(image.float(), output_type="pil")


def precision_name(dtype: Any) -> str:
    """ "fp32", "bf16" or "fp16" for a torch dtype."""
    names = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
    return names.get(str(dtype).rsplit(".", 1)[-1], str(dtype))
