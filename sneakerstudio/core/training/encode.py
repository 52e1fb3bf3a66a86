"""What the UNet trains on, encoded once: image latents per bucket and caption embeddings.

Latents are the VAE's mean (no sampling: the same latents every epoch and after a resume),
times the model's scaling factor; with flip augmentation the mirrored image is encoded too.
Caption embeddings are cached while the text encoders are frozen; when they are trained, the
captions are encoded at every step (with gradients). The same `encode_prompt` of the pipeline
that generation uses encodes them, so SDXL gets its two encoders' hidden states and pooled
embedding exactly as at inference.
"""

from __future__ import annotations

from typing import Any

from sneakerstudio.core.imaging.imageops import fit_image, load_image
from sneakerstudio.core.protocol.cancel import CancelToken
from sneakerstudio.core.training.dataset import DataItem


def image_tensor(item: DataItem, bucket: tuple[int, int]) -> Any:
    """The image fitted to its bucket (cover, then cut the overflow) as a 1×3×H×W tensor
    in [-1, 1]."""
    import numpy as np
    import torch

    with load_image(item.path) as image:
        fitted = fit_image(image, bucket[0], bucket[1])
    array = np.asarray(fitted, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()


def encode_images(pipe: Any, pixels: Any, scaling: float, device: str, shift: float = 0.0) -> Any:
    """VAE latents (mean) of a batch of [-1, 1] images, on the CPU in fp32."""
    import torch

    vae = pipe.vae
    with torch.no_grad():
        dist = vae.encode(pixels.to(device, vae.dtype)).latent_dist
        return ((dist.mean - shift) * scaling).float().cpu()


def cache_latents(
    pipe: Any,
    items: list[DataItem],
    buckets: list[tuple[int, int]],
    *,
    scaling: float,
    device: str,
    flip: bool,
    cancel: CancelToken,
    progress: Any = None,
) -> list[tuple[Any, Any]]:
    """(latent, mirrored latent or None) for every item, encoded once."""
    out: list[tuple[Any, Any]] = []
    for index, (item, bucket) in enumerate(zip(items, buckets, strict=True)):
        cancel.check()
        pixels = image_tensor(item, bucket)
        if flip:
            both = encode_images(pipe, _with_mirror(pixels), scaling, device)
            out.append((both[0], both[1]))
        else:
            out.append((encode_images(pipe, pixels, scaling, device)[0], None))
        if progress is not None:
            progress(index + 1, len(items))
    return out


def _with_mirror(pixels: Any) -> Any:
    import torch

    return torch.cat([pixels, pixels.flip(-1)])


def encode_captions(pipe: Any, captions: list[str], device: str) -> tuple[Any, Any]:
    """(hidden states, pooled embedding or None) of `captions`, with gradients when the text
    encoders have trainable layers."""
    if getattr(pipe, "text_encoder_2", None) is not None:
        embeds, _neg, pooled, _neg_pooled = pipe.encode_prompt(
            prompt=captions,
            device=device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=False,
        )
        return embeds, pooled
    embeds, _neg = pipe.encode_prompt(captions, device, 1, False)
    return embeds, None


class CaptionCache:
    """Embeddings of each distinct caption, encoded once (frozen text encoders)."""

    def __init__(self, pipe: Any, device: str) -> None:
        self.pipe, self.device = pipe, device
        self._store: dict[str, tuple[Any, Any]] = {}

    def fill(self, captions: list[str], cancel: CancelToken) -> None:
        import torch

        for caption in dict.fromkeys(captions):
            cancel.check()
            if caption not in self._store:
                with torch.no_grad():
                    embeds, pooled = encode_captions(self.pipe, [caption], self.device)
                self._store[caption] = (
                    embeds[0].detach(),
                    None if pooled is None else pooled[0].detach(),
                )

    def batch(self, captions: list[str]) -> tuple[Any, Any]:
        import torch

        embeds = torch.stack([self._store[c][0] for c in captions])
        pooled = [self._store[c][1] for c in captions]
        return embeds, (None if pooled[0] is None else torch.stack(pooled))


def sdxl_time_ids(buckets: list[tuple[int, int]], device: str, dtype: Any) -> Any:
    """SDXL's size conditioning per image: original size, crop corner (0, 0), target size —
    the bucket size for both (images are scaled to it)."""
    import torch

    rows = [[h, w, 0, 0, h, w] for (w, h) in buckets]
    return torch.tensor(rows, device=device, dtype=dtype)
