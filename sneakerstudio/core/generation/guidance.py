"""One denoiser call: the UNet on the step's conditioning, and classifier-free guidance.

The usual case — one prompt part of weight 1, as long as the negative — is one batched UNet
call on `[negative, prompt]`, as diffusers' pipelines make it. Otherwise (A1111's rules):

- a prompt and a negative of different chunk counts are two UNet calls (nothing padded);
- `AND` parts are one call each, combined by composable diffusion:
  `uncond + Σ weight_k × guidance × (cond_k − uncond)`; without guidance (CFG ≤ 1, distilled
  models) the parts' weighted mean.

Extensions (inpainting input, ControlNet) see each call as its own batch; a call that is
not the batched pair runs them as without guidance (`use_cfg` False), except that a
negative-prompt call of its own gets the residuals of a guided pair's negative half (a
ControlNet unit in "control" mode guides only the prompt).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.generation.prompt_conditioning import Encoded, StepConditioning
    from sneakerstudio.core.generation.sampling import LoopExtension, UnetCall


class GuidedUnet:
    """Noise prediction for one denoiser call (see the module's docstring)."""

    def __init__(
        self,
        unet: Any,
        scheduler: Any,
        loop: Sequence[LoopExtension],
        *,
        guidance: float,
        use_cfg: bool,
        time_cond: Any,
        time_ids: tuple[Any, Any] | None,
        unet_call: UnetCall | None,
    ) -> None:
        self.unet, self.scheduler, self.loop = unet, scheduler, loop
        self.guidance, self.use_cfg, self.time_cond = guidance, use_cfg, time_cond
        self.time_ids = time_ids  # SDXL (prompt, negative) size/crop ids, batched
        self.unet_call = unet_call
        self._batched: dict[int, tuple[Any, Any]] = {}

    def __call__(self, i: int, n: int, t: Any, latents: Any, step: StepConditioning) -> Any:
        import torch

        if self.use_cfg and step.uncond is not None and step.simple:
            embeds, added = self._pair(step)
            pred = self._unet(i, n, t, latents, embeds, added, True)
            uncond, text = pred.chunk(2)
            return uncond + self.guidance * (text - uncond)
        preds = [
            (w, self._unet(i, n, t, latents, e.embeds, self._added(e, 0), False))
            for w, e in step.parts
        ]
        if self.use_cfg and step.uncond is not None:
            u = step.uncond
            base = self._unet(i, n, t, latents, u.embeds, self._added(u, 1), False, uncond=True)
            out = base.clone()
            for w, pred in preds:
                out = out + (pred - base) * (w * self.guidance)
            return out
        if len(preds) == 1:
            return preds[0][1]
        total = sum(w for w, _ in preds)
        if total == 0:
            return preds[0][1]
        return torch.stack([p * (w / total) for w, p in preds]).sum(0)

    def _added(self, encoded: Encoded, which: int) -> dict[str, Any] | None:
        if encoded.pooled is None or self.time_ids is None:
            return None
        return {"text_embeds": encoded.pooled, "time_ids": self.time_ids[which]}

    def _pair(self, step: StepConditioning) -> tuple[Any, dict[str, Any] | None]:
        """`[negative, prompt]` batched (cached per step conditioning)."""
        import torch

        found = self._batched.get(id(step))
        if found is None:
            assert step.uncond is not None
            part, uncond = step.parts[0][1], step.uncond
            embeds = torch.cat([uncond.embeds, part.embeds])
            added = None
            if part.pooled is not None and self.time_ids is not None:
                added = {
                    "text_embeds": torch.cat([uncond.pooled, part.pooled]),
                    "time_ids": torch.cat([self.time_ids[1], self.time_ids[0]]),
                }
            found = (embeds, added)
            self._batched[id(step)] = found
        return found

    def _uncond_residuals(
        self, i: int, n: int, t: Any, model_in: Any, embeds: Any, added: dict[str, Any] | None
    ) -> tuple[list[Any], Any] | None:
        """The extensions' residuals for a negative-prompt call of its own: what the negative
        half of a guided pair gets (a ControlNet unit in "control" mode, which guides only the
        prompt's half, gives it nothing), computed at this call's batch, not doubled."""
        return residuals_of(
            self.loop, i, n, t, model_in, embeds, self.time_cond, added, False, negative_half=True
        )

    def _unet(
        self,
        i: int,
        n: int,
        t: Any,
        latents: Any,
        embeds: Any,
        added: dict[str, Any] | None,
        use_cfg: bool,
        *,
        uncond: bool = False,
    ) -> Any:
        import torch

        model_in = torch.cat([latents] * 2) if use_cfg else latents
        model_in = self.scheduler.scale_model_input(model_in, t)
        if uncond:
            residuals = self._uncond_residuals(i, n, t, model_in, embeds, added)
        else:
            residuals = residuals_of(
                self.loop, i, n, t, model_in, embeds, self.time_cond, added, use_cfg
            )
        for extension in self.loop:
            model_in = extension.model_input(model_in, use_cfg)
        time_cond = self.time_cond
        if time_cond is not None and time_cond.shape[0] != model_in.shape[0]:
            time_cond = time_cond.repeat(model_in.shape[0] // time_cond.shape[0], 1)
        if self.unet_call is not None:
            return self.unet_call(model_in, t, embeds, time_cond, added, residuals)
        if residuals is not None:
            return self.unet(
                model_in,
                t,
                encoder_hidden_states=embeds,
                timestep_cond=time_cond,
                added_cond_kwargs=added,
                down_block_additional_residuals=residuals[0],
                mid_block_additional_residual=residuals[1],
                return_dict=False,
            )[0]
        return self.unet(
            model_in,
            t,
            encoder_hidden_states=embeds,
            timestep_cond=time_cond,
            added_cond_kwargs=added,
            return_dict=False,
        )[0]


def residuals_of(
    loop: Sequence[LoopExtension],
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
    """The extensions' residuals for this call, added up; None when none has any."""
    total: tuple[list[Any], Any] | None = None
    for extension in loop:
        found = extension.residuals(
            i, n, t, sample, embeds, time_cond, added, use_cfg, negative_half
        )
        if found is None:
            continue
        if total is None:
            total = found
        else:
            total = (
                [a + b for a, b in zip(total[0], found[0], strict=True)],
                total[1] + found[1],
            )
    return total
