"""A ControlNet on OpenVINO: traced once per ControlNet file (in the converter process, like
the UNet), compiled per input shape, returning the residuals the UNet takes (one per down-block
output, then the middle block's).

The unit's weight is an input (`conditioning_scale`), so changing it compiles nothing. Union /
ProMax ControlNets (a control type chosen per unit) are not traced: they stay on PyTorch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sneakerstudio.core.runtime.openvino.graph import OpenVinoGraph, config_of


def controlnet_input_names(model: Any) -> tuple[str, ...]:
    """The traced inputs in order: sample, timestep, encoder_hidden_states, controlnet_cond,
    conditioning_scale; then timestep_cond when the ControlNet takes one (its time embedding
    has a condition projection) and SDXL's text_embeds and time_ids."""
    names = [
        "sample",
        "timestep",
        "encoder_hidden_states",
        "controlnet_cond",
        "conditioning_scale",
    ]
    if getattr(model.time_embedding, "cond_proj", None) is not None:
        names.append("timestep_cond")
    if getattr(model.config, "addition_embed_type", None) == "text_time":
        names += ["text_embeds", "time_ids"]
    return tuple(names)


def cond_factor(model: Any) -> int:
    """Control-map pixels per latent cell (8 for real ControlNets: the map is the image)."""
    levels = len(model.config.conditioning_embedding_out_channels or (0, 0, 0, 0))
    return int(2 ** (levels - 1))


class OpenVinoControlNet(OpenVinoGraph):
    """One loaded ControlNet on OpenVINO. Lives with the ControlNet in the engine's cache."""

    kind = "controlnet"

    def __init__(
        self,
        model: Any,
        source_key: tuple[Any, ...],
        folder: Path,
        threads: int,
        unet_config: dict[str, Any] | None = None,
    ) -> None:
        """`source_key`: what identifies the ControlNet's file (path, size, mtime);
        `unet_config`: the config of the UNet it was loaded for (the converter process loads
        the file the same way)."""
        self.names = controlnet_input_names(model)
        source = {
            "file": [str(part) for part in source_key],
            "config": config_of(model),
            "inputs": self.names,
        }
        super().__init__(model, source, folder, threads)
        self.unet_config = {k: v for k, v in (unet_config or {}).items() if not k.startswith("_")}
        self.outputs = len(model.controlnet_down_blocks) + 1

    def child_arguments(self) -> list[str]:
        """What the converter process needs besides the file: the UNet's config."""
        return [f"--unet-config={json.dumps(self.unet_config, default=list)}"]

    def converting_message(self) -> str:
        return "Preparing the ControlNet for OpenVINO (once per ControlNet)…"

    def compiling_message(self, shapes: tuple[tuple[int, ...], ...]) -> str:
        height, width = shapes[3][2], shapes[3][3]
        return f"Compiling the ControlNet for {width}×{height} (OpenVINO, once per size)…"

    def traced_module(self) -> Any:
        import torch

        controlnet, names = self.module, self.names

        class Traced(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.controlnet = controlnet

            def forward(self, *args: Any) -> Any:
                given = dict(zip(names, args, strict=True))
                added = None
                if "text_embeds" in given:
                    added = {"text_embeds": given["text_embeds"], "time_ids": given["time_ids"]}
                down, mid = self.controlnet(
                    given["sample"],
                    given["timestep"],
                    encoder_hidden_states=given["encoder_hidden_states"],
                    controlnet_cond=given["controlnet_cond"],
                    conditioning_scale=given["conditioning_scale"],
                    timestep_cond=given.get("timestep_cond"),
                    added_cond_kwargs=added,
                    return_dict=False,
                )
                return (*down, mid)

        return Traced()

    def example(self) -> tuple[list[Any], list[list[int]]]:
        """Latents of 64 rows and 68 columns (every size works: the ControlNet only
        down-samples), batch 1, and the shape-free shapes."""
        import torch

        config = self.module.config
        channels = int(config.in_channels)
        cross = int(config.cross_attention_dim)
        factor = cond_factor(self.module)
        example = [
            torch.zeros(1, channels, 64, 68),
            torch.full((1,), 999.0),
            torch.zeros(1, 77, cross),
            torch.zeros(1, 3, 64 * factor, 68 * factor),
            torch.ones(()),
        ]
        shapes = [[-1, channels, -1, -1], [-1], [-1, -1, cross], [-1, 3, -1, -1], []]
        if "timestep_cond" in self.names:
            dim = int(self.module.time_embedding.cond_proj.in_features)
            example.append(torch.zeros(1, dim))
            shapes.append([-1, dim])
        if "text_embeds" in self.names:
            pooled = int(config.projection_class_embeddings_input_dim) - 6 * int(
                config.addition_time_embed_dim
            )
            example += [torch.zeros(1, pooled), torch.zeros(1, 6)]
            shapes += [[-1, pooled], [-1, 6]]
        return example, shapes

    def feeds(
        self,
        sample: Any,
        timestep: Any,
        encoder_hidden_states: Any,
        controlnet_cond: Any,
        scale: float,
        timestep_cond: Any = None,
        added_cond_kwargs: dict[str, Any] | None = None,
    ) -> list[Any] | None:
        """The inputs as contiguous fp32 CPU tensors in the traced order; None when the call
        has an input the graph does not take, or lacks one it needs (PyTorch runs it)."""
        import torch

        if (timestep_cond is not None) != ("timestep_cond" in self.names):
            return None
        if bool(added_cond_kwargs) != ("text_embeds" in self.names):
            return None
        batch = sample.shape[0]
        values = {
            "sample": sample,
            "timestep": torch.as_tensor(timestep).reshape(-1).expand(batch),
            "encoder_hidden_states": encoder_hidden_states,
            "controlnet_cond": controlnet_cond,
            "conditioning_scale": torch.tensor(float(scale)),
            "timestep_cond": timestep_cond,
        }
        if added_cond_kwargs:
            values.update(added_cond_kwargs)
        return [values[name].detach().to("cpu", torch.float32).contiguous() for name in self.names]

    def run_residuals(self, feeds: list[Any], poll: Any) -> tuple[list[Any], Any]:
        """One evaluation: the down-block residuals and the middle block's."""
        import torch

        first = self.run(feeds, poll)
        rest = [
            torch.from_numpy(self._request.get_output_tensor(i).data.copy())
            for i in range(1, self.outputs)
        ]
        outputs = [first, *rest]
        return outputs[:-1], outputs[-1]
