"""Autoencoder decoders on OpenVINO: the model's own VAE and TAESD."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sneakerstudio.core.runtime.openvino.graph import OpenVinoGraph, config_of


class _DecoderGraph(OpenVinoGraph):
    """An autoencoder's `decode(latents)` (AutoencoderKL or AutoencoderTiny)."""

    def traced_module(self) -> Any:
        import torch

        autoencoder = self.module

        class Traced(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.autoencoder = autoencoder

            def forward(self, latents: Any) -> Any:
                return self.autoencoder.decode(latents, return_dict=False)[0]

        return Traced()

    def example(self) -> tuple[list[Any], list[list[int]]]:
        import torch

        channels = int(self.module.config.latent_channels)
        return [torch.zeros(1, channels, 64, 64)], [[-1, channels, -1, -1]]

    def decode(self, latents: Any, status: Callable[[str], None] = lambda _text: None) -> Any:
        """The decoded image tensor, or None when OpenVINO failed (now or before: then the
        caller decodes with PyTorch, from now on) or the model is still being converted in
        the background (then PyTorch decodes this time)."""
        import torch

        from sneakerstudio.core.runtime.openvino.convert import Conversion
        from sneakerstudio.core.runtime.openvino.support import convert_in_background

        if self.failed:
            return None
        try:
            if not self.read_converted():
                if Conversion.running_for(self) is not None:
                    return None  # converting in the background: PyTorch this time
                if self.kind == "vae" and convert_in_background():
                    Conversion.start([self], self.child_source())
                    return None
            feeds = [latents.detach().to("cpu", torch.float32).contiguous()]
            self.prepare(feeds, status)
            image = self.run(feeds, lambda: None)
            self.release_buffers()  # once per image: not held between jobs
            return image
        except Exception as exc:
            self.failed = f"{type(exc).__name__}: {exc}"
            return None


class OpenVinoVae(_DecoderGraph):
    """A model's own VAE decoder on OpenVINO (1.15-1.4x here, docs/PERFORMANCE.md). Only for
    a plain decode: tiled / sliced decodes and VAE overrides stay on PyTorch."""

    kind = "vae"

    def __init__(self, vae: Any, source_key: tuple[Any, ...], folder: Path, threads: int) -> None:
        source = {"file": [str(part) for part in source_key], "config": config_of(vae)}
        super().__init__(vae, source, folder, threads)

    def converting_message(self) -> str:
        return "Preparing the VAE decoder for OpenVINO (once per model)…"


class OpenVinoTinyDecoder(_DecoderGraph):
    """TAESD's decoder (diffusers AutoencoderTiny) on OpenVINO: 0.92 s instead of 1.7 s for a
    512² image here. Small: converted in seconds, no message."""

    kind = "taesd"

    def __init__(self, tiny: Any, folder_key: str, folder: Path, threads: int) -> None:
        weights = sorted(Path(folder_key).glob("*.safetensors")) or sorted(
            Path(folder_key).glob("*.bin")
        )
        stamp = [(str(w), w.stat().st_size, w.stat().st_mtime_ns) for w in weights]
        source = {"file": [folder_key], "weights": stamp, "config": config_of(tiny)}
        super().__init__(tiny, source, folder, threads)
