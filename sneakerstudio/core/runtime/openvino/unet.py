"""A model's UNet on OpenVINO: its inputs in traced order, the sizes it covers, its LoRAs
(extra inputs, see `lora.py`: a new weight is new data, never a new conversion) and its
ControlNet residuals.

The graph is traced once with the ControlNet residuals (one per down-block output, one for the
middle block: diffusers' `down_block_additional_residuals` / `mid_block_additional_residual`)
as inputs. A job without ControlNet compiles the "plain" variant, in which each residual's
addition is taken out of the graph again before compiling (exactly the graph without them:
no cost); a ControlNet job compiles the "control" variant, whose residual inputs are fed the
units' summed residuals, or zeros on steps outside every unit's window (one compiled model
for the whole job). Either is a compile, never a conversion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sneakerstudio.core.runtime.openvino.graph import OpenVinoGraph, config_of
from sneakerstudio.core.runtime.openvino.lora import (
    LayerLora,
    add_lora_inputs,
    lora_arrays,
    structure_key,
)


@dataclass(frozen=True)
class UnetInputs:
    """The UNet's inputs in the traced order: always sample, timestep, encoder_hidden_states;
    then timestep_cond (LCM-distilled models), text_embeds and time_ids (SDXL)."""

    names: tuple[str, ...]

    @staticmethod
    def for_unet(unet: Any) -> UnetInputs:
        names = ["sample", "timestep", "encoder_hidden_states"]
        if getattr(unet.config, "time_cond_proj_dim", None) is not None:
            names.append("timestep_cond")
        if getattr(unet.config, "addition_embed_type", None) == "text_time":
            names += ["text_embeds", "time_ids"]
        return UnetInputs(tuple(names))


def residual_shapes(unet: Any, batch: int, height: int, width: int) -> list[tuple[int, ...]]:
    """The shapes of the ControlNet residuals the UNet takes for latents of `height`×`width`:
    the down path's outputs (conv_in, each ResNet of each down block, each down-sampling,
    which rounds an odd side up), then the middle block's."""
    widths = [int(c) for c in unet.config.block_out_channels]
    shapes: list[tuple[int, ...]] = [(batch, widths[0], height, width)]
    for level, block in enumerate(unet.down_blocks):
        shapes += [(batch, widths[level], height, width)] * len(block.resnets)
        if getattr(block, "downsamplers", None):
            height, width = (height + 1) // 2, (width + 1) // 2
            shapes.append((batch, widths[level], height, width))
    shapes.append((batch, widths[-1], height, width))
    return shapes


def downsampling(unet: Any) -> int:
    """How many latent cells the UNet's deepest level folds into one, per side (8 for SD)."""
    return 2 ** sum(1 for block in unet.up_blocks if getattr(block, "upsamplers", None))


def unsupported_reason(unet: Any, sample: Any) -> str | None:
    """Why this call cannot run on OpenVINO and give the same result, or None. Every latent
    size runs (see `OpenVinoUnet.example`)."""
    import torch

    if unet.dtype != torch.float32:
        return f"the weights are {str(unet.dtype).rsplit('.', 1)[-1]}, not fp32"
    return None


class OpenVinoUnet(OpenVinoGraph):
    """One loaded model's UNet on OpenVINO. Lives with the model in the engine's cache and is
    dropped with it."""

    kind = "unet"
    lora_plan = "auto"  # how `add_lora_inputs` adds the LoRAs (its `plan`; others: measurements)

    def __init__(
        self,
        unet: Any,
        source_key: tuple[Any, ...],
        folder: Path,
        threads: int,
        scale_factor: int = 8,
    ) -> None:
        """`source_key`: what identifies the model's file (path, size, mtime, …);
        `scale_factor`: pixels per latent cell."""
        self.inputs = UnetInputs.for_unet(unet)
        self.residuals = len(residual_shapes(unet, 1, 8, 8))  # down blocks' and the middle's
        source = {
            "file": [str(part) for part in source_key],
            "config": config_of(unet),
            "inputs": self.inputs.names,
            "control_residuals": self.residuals,  # the IR takes them (older IRs did not)
        }
        super().__init__(unet, source, folder, threads)
        self.scale_factor = scale_factor
        self.ups = downsampling(unet)
        self.loras: tuple[LayerLora, ...] = ()  # in effect for the next run
        self._compiled_loras = ""  # structure_key of the compiled variant's LoRA inputs
        self._lora_data: list[Any] = []  # kept alive: the request reads them in place
        self.lora_updates = 0  # LoRA data handed to a compiled model without compiling
        self.control = False  # compile the variant with ControlNet residual inputs
        self._compiled_control = False
        self._zeros: dict[tuple[int, ...], Any] = {}  # zero residuals, per shape

    @property
    def unet(self) -> Any:
        return self.module

    def reason_not_used(self, sample: Any) -> str | None:
        """Why this job's UNet calls go to PyTorch, or None when OpenVINO takes them."""
        if self.failed:
            return self.failed
        return unsupported_reason(self.unet, sample)

    # -- LoRAs --------------------------------------------------------------------------------

    def set_loras(self, layers: list[LayerLora] | tuple[LayerLora, ...]) -> None:
        """The LoRA changes of the next runs (empty: the plain model). The same layers and
        ranks as compiled: the data is handed over now, nothing compiles; other layers or
        ranks: the next `ensure_compiled` compiles that variant."""
        layers = tuple(layers)
        self.loras = layers
        if self._compiled is not None and self._lora_key() == self._compiled_loras:
            if layers:
                self._feed_loras()
                self.lora_updates += 1
        elif self._compiled is not None:
            self.drop_compiled()

    def set_control(self, control: bool) -> None:
        """Whether the next runs take ControlNet residuals (the "control" variant) or not
        (the plain one); another variant than the compiled one compiles at the next
        `ensure_compiled`."""
        if control != self.control:
            self.control = control
            if self._compiled is not None and self._compiled_control != control:
                self.drop_compiled()

    def variant(self, model: Any) -> Any:
        if not self.control:
            remove_residual_inputs(model, len(self.inputs.names), self.residuals)
        if self.loras:
            add_lora_inputs(model, self.loras, self.lora_plan)
        self._compiled_loras = self._lora_key()
        self._compiled_control = self.control
        return model

    def _lora_key(self) -> str:
        return f"{self.lora_plan}:{structure_key(self.loras)}" if self.loras else ""

    def after_compile(self) -> None:
        if self.loras:
            self._feed_loras()

    def _feed_loras(self) -> None:
        ov = self._ov()
        first = len(self.inputs.names) + (self.residuals if self._compiled_control else 0)
        self._lora_data = lora_arrays(self.loras)
        for offset, array in enumerate(self._lora_data):
            self._request.set_input_tensor(first + offset, ov.Tensor(array, shared_memory=True))

    @staticmethod
    def _ov() -> Any:
        from sneakerstudio.core.runtime.openvino.support import import_openvino

        return import_openvino()

    def compile_marker(self, shapes: tuple[tuple[int, ...], ...]) -> str:
        control = "control" if self.control else ""
        return super().compile_marker(shapes) + self._lora_key() + control

    # -- messages and the trace ---------------------------------------------------------------

    def converting_message(self) -> str:
        return (
            "Preparing the model for OpenVINO (once per model, about a minute for a "
            "full-size model; later runs start in seconds)…"
        )

    def compiling_message(self, shapes: tuple[tuple[int, ...], ...]) -> str:
        height, width = shapes[0][2] * self.scale_factor, shapes[0][3] * self.scale_factor
        parts = [
            *(["its LoRA layers"] if self.loras else []),
            *(["ControlNet"] if self.control else []),
        ]
        what = f" with {' and '.join(parts)}" if parts else ""
        return f"Compiling the model{what} for {width}×{height} (OpenVINO, once per size)…"

    def traced_module(self) -> Any:
        import torch

        unet, names, residuals = self.unet, self.inputs.names, self.residuals

        class Traced(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.unet = unet

            def forward(self, *args: Any) -> Any:
                given = dict(zip(names, args[: len(names)], strict=True))
                extra = list(args[len(names) :])
                assert len(extra) == residuals
                added = None
                if "text_embeds" in given:
                    added = {"text_embeds": given["text_embeds"], "time_ids": given["time_ids"]}
                return self.unet(
                    given["sample"],
                    given["timestep"],
                    encoder_hidden_states=given["encoder_hidden_states"],
                    timestep_cond=given.get("timestep_cond"),
                    added_cond_kwargs=added,
                    down_block_additional_residuals=tuple(extra[:-1]),
                    mid_block_additional_residual=extra[-1],
                    return_dict=False,
                )[0]

        return Traced()

    def example(self) -> tuple[list[Any], list[list[int]]]:
        """Latents of 64 rows and a width that is NOT a multiple of the UNet's down-sampling
        (68 for SD), batch 1, and the shape-free shapes. Traced at such a size, diffusers
        sizes each up-sampling to its skip connection (`upsample_size`) instead of doubling,
        so the graph takes every latent size, multiples too (nearest up-sampling to twice
        the size is doubling: the same numbers)."""
        import torch

        config = self.unet.config
        channels = int(config.in_channels)
        cross = int(config.cross_attention_dim)
        width = 64 + max(1, self.ups // 2) if self.ups > 1 else 64
        example = [
            torch.zeros(1, channels, 64, width),
            torch.full((1,), 999.0),
            torch.zeros(1, 77, cross),
        ]
        shapes = [[-1, channels, -1, -1], [-1], [-1, -1, cross]]
        if "timestep_cond" in self.inputs.names:
            dim = int(config.time_cond_proj_dim)
            example.append(torch.zeros(1, dim))
            shapes.append([-1, dim])
        if "text_embeds" in self.inputs.names:
            pooled = int(config.projection_class_embeddings_input_dim) - 6 * int(
                config.addition_time_embed_dim
            )
            example += [torch.zeros(1, pooled), torch.zeros(1, 6)]
            shapes += [[-1, pooled], [-1, 6]]
        for shape in residual_shapes(self.unet, 1, 64, width):
            example.append(torch.zeros(shape))
            shapes.append([-1, shape[1], -1, -1])
        return example, shapes

    def feeds(
        self,
        sample: Any,
        timestep: Any,
        encoder_hidden_states: Any,
        timestep_cond: Any = None,
        added_cond_kwargs: dict[str, Any] | None = None,
        residuals: tuple[list[Any], Any] | None = None,
    ) -> list[Any]:
        """The inputs as contiguous fp32 CPU tensors, in the traced order; with the control
        variant the ControlNet residuals follow (zeros when this call has none)."""
        import torch

        batch = sample.shape[0]
        values = {
            "sample": sample,
            "timestep": torch.as_tensor(timestep).reshape(-1).expand(batch),
            "encoder_hidden_states": encoder_hidden_states,
            "timestep_cond": timestep_cond,
        }
        if added_cond_kwargs:
            values.update(added_cond_kwargs)
        feeds = [
            values[name].detach().to("cpu", torch.float32).contiguous()
            for name in self.inputs.names
        ]
        if not self.control:
            return feeds
        if residuals is not None:
            given = [*residuals[0], residuals[1]]
            return feeds + [r.detach().to("cpu", torch.float32).contiguous() for r in given]
        for shape in residual_shapes(self.unet, batch, sample.shape[2], sample.shape[3]):
            if shape not in self._zeros:
                self._zeros[shape] = torch.zeros(shape)
            feeds.append(self._zeros[shape])
        return feeds


def remove_residual_inputs(model: Any, first: int, count: int) -> None:
    """Take the ControlNet residual inputs (Parameters `first`..`first + count - 1`) and their
    additions out of `model`, in place: each addition's result is replaced by its other
    operand, so the graph is exactly the one traced without residuals."""
    params = list(model.get_parameters())[first : first + count]
    for param in params:
        for target in list(param.output(0).get_target_inputs()):
            add = target.get_node()
            if add.get_type_name() != "Add":
                raise RuntimeError(f"a ControlNet residual feeds {add.get_type_name()}, not Add")
            other = add.input_value(1 - target.get_index())
            for consumer in list(add.output(0).get_target_inputs()):
                consumer.replace_source_output(other)
        model.remove_parameter(param)
    model.validate_nodes_and_infer_types()
