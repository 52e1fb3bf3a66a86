"""ComfyUI: the API-format graph in the `prompt` chunk, followed from the first-pass sampler
to its prompts, checkpoint and latent size."""

from __future__ import annotations

import re
from typing import Any

from sneakerstudio.core.imaging.metadata.values import format_number, to_float, to_int, to_text

_VALUE_KEYS = ("value", "seed", "noise_seed", "int", "float", "number", "string", "text")
_NOT_CONDITIONING = {"clip", "model", "vae", "control_net", "image", "mask", "style_model"}


class _ComfyGraph:
    """The API-format graph in ComfyUI's `prompt` chunk: {id: {class_type, inputs}}, where an
    input is a literal or a link `[node_id, output_index]`."""

    MAX_DEPTH = 32

    def __init__(self, nodes: dict[str, Any]) -> None:
        self.nodes = {str(k): v for k, v in nodes.items() if isinstance(v, dict)}

    def node(self, ref: Any) -> dict[str, Any] | None:
        if isinstance(ref, list) and len(ref) == 2 and isinstance(ref[1], int):
            return self.nodes.get(str(ref[0]))
        return None

    @staticmethod
    def inputs(node: dict[str, Any] | None) -> dict[str, Any]:
        value = (node or {}).get("inputs")
        return value if isinstance(value, dict) else {}

    def scalar(self, value: Any, keys: tuple[str, ...] = (), depth: int = 0) -> Any:
        """A literal input, following links to primitive / value nodes."""
        if depth > self.MAX_DEPTH:
            return None
        target = self.node(value)
        if target is None:
            return None if isinstance(value, (list, dict)) else value
        inputs = self.inputs(target)
        for key in (*keys, *_VALUE_KEYS):
            if key in inputs:
                return self.scalar(inputs[key], keys, depth + 1)
        return None

    def upstream(self, ref: Any, stop: Any, follow: Any, depth: int = 0) -> Any:
        """Walk links from `ref` until `stop(node)` returns something; `follow(node)` names the
        inputs to walk next."""
        node = self.node(ref)
        if node is None or depth > self.MAX_DEPTH:
            return None
        found = stop(node)
        if found is not None:
            return found
        for key in follow(node):
            result = self.upstream(self.inputs(node).get(key), stop, follow, depth + 1)
            if result is not None:
                return result
        return None

    def text(self, ref: Any) -> str | None:
        """The prompt text behind a conditioning link (CLIPTextEncode and friends)."""

        def stop(node: dict[str, Any]) -> str | None:
            inputs = self.inputs(node)
            texts: list[str] = []
            for key in ("text", "text_g", "text_l", "prompt"):
                if key in inputs:
                    value = self.scalar(inputs[key], ("text", "string"))
                    if isinstance(value, str) and value not in texts:
                        texts.append(value)
            return "\n".join(texts) if texts else None

        def follow(node: dict[str, Any]) -> list[str]:
            return [
                k
                for k, v in self.inputs(node).items()
                if k not in _NOT_CONDITIONING and self.node(v) is not None
            ]

        return self.upstream(ref, stop, follow)

    def model_name(self, ref: Any) -> str | None:
        def stop(node: dict[str, Any]) -> str | None:
            inputs = self.inputs(node)
            for key in ("ckpt_name", "unet_name"):
                value = self.scalar(inputs.get(key))
                if isinstance(value, str):
                    return value
            return None

        return self.upstream(ref, stop, lambda node: ["model"])

    def size(self, ref: Any) -> str | None:
        def stop(node: dict[str, Any]) -> str | None:
            inputs = self.inputs(node)
            width = to_int(self.scalar(inputs.get("width")))
            height = to_int(self.scalar(inputs.get("height")))
            return f"{width}x{height}" if width and height else None

        return self.upstream(ref, stop, self._latent_inputs)

    def _latent_inputs(self, node: dict[str, Any]) -> list[str]:
        return [k for k in self.inputs(node) if "latent" in k or "samples" in k]

    def is_sampler(self, node: dict[str, Any]) -> bool:
        inputs = self.inputs(node)
        return "latent_image" in inputs and any(
            k in inputs for k in ("seed", "noise_seed", "noise", "sampler", "sampler_name")
        )

    def samplers_before(self, node: dict[str, Any], depth: int = 0) -> int:
        """How many sampler nodes feed this one's latent (0 for the first pass)."""
        if depth > self.MAX_DEPTH:
            return 0
        count = 0
        for key in self._latent_inputs(node):
            source = self.node(self.inputs(node)[key])
            if source is not None:
                count += self.is_sampler(source) + self.samplers_before(source, depth + 1)
        return count


def _node_order(node_id: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", node_id)) or (1 << 30,)


def apply_comfyui(meta: dict[str, Any], nodes: dict[str, Any]) -> None:
    """Fill `meta` from the first-pass sampler of a ComfyUI graph (KSampler, KSamplerAdvanced,
    SamplerCustom, SamplerCustomAdvanced), following its links to the prompts, checkpoint and
    latent size."""
    meta["source"] = "comfyui"
    graph = _ComfyGraph(nodes)
    candidates = [(i, n) for i, n in graph.nodes.items() if graph.is_sampler(n)]
    if not candidates:
        return
    _, sampler = min(candidates, key=lambda c: (graph.samplers_before(c[1]), _node_order(c[0])))
    inputs = graph.inputs(sampler)
    guider = graph.inputs(graph.node(inputs.get("guider")))
    sigmas_node = graph.node(inputs.get("sigmas"))
    sigmas = graph.inputs(sigmas_node)
    noise = graph.inputs(graph.node(inputs.get("noise")))
    picker = graph.node(inputs.get("sampler"))

    def first(*values: Any) -> Any:
        for value in values:
            if value is not None:
                return value
        return None

    meta["seed"] = to_int(
        first(
            graph.scalar(inputs.get("seed"), ("seed",)),
            graph.scalar(inputs.get("noise_seed"), ("noise_seed", "seed")),
            graph.scalar(noise.get("noise_seed"), ("noise_seed", "seed")),
        )
    )
    meta["steps"] = to_int(
        first(graph.scalar(inputs.get("steps")), graph.scalar(sigmas.get("steps")))
    )
    meta["cfg"] = to_float(first(graph.scalar(inputs.get("cfg")), graph.scalar(guider.get("cfg"))))
    sampler_name = first(
        graph.scalar(inputs.get("sampler_name")),
        graph.scalar(graph.inputs(picker).get("sampler_name")),
        (picker or {}).get("class_type"),
    )
    meta["sampler"] = to_text(sampler_name)
    scheduler = first(
        graph.scalar(inputs.get("scheduler")),
        graph.scalar(sigmas.get("scheduler")),
        (sigmas_node or {}).get("class_type"),
    )
    meta["scheduler"] = to_text(scheduler)
    positive = first(inputs.get("positive"), guider.get("positive"), guider.get("conditioning"))
    negative = first(inputs.get("negative"), guider.get("negative"))
    meta["prompt"] = graph.text(positive)
    meta["negative_prompt"] = graph.text(negative) if negative is not None else None
    meta["model"] = graph.model_name(first(inputs.get("model"), guider.get("model")))
    meta["size"] = graph.size(inputs.get("latent_image"))

    extras: dict[str, str] = {}
    denoise = to_float(
        first(graph.scalar(inputs.get("denoise")), graph.scalar(sigmas.get("denoise")))
    )
    if denoise is not None and denoise != 1.0:
        extras["Denoising strength"] = format_number(denoise)
    loras, hypernetworks = [], []
    for _, node in sorted(graph.nodes.items(), key=lambda item: _node_order(item[0])):
        node_inputs = graph.inputs(node)
        name = node_inputs.get("lora_name")
        if isinstance(name, str):
            weight = to_float(node_inputs.get("strength_model", node_inputs.get("strength")))
            loras.append(name if weight is None else f"{name}: {format_number(weight)}")
        name = node_inputs.get("hypernetwork_name")
        if isinstance(name, str):
            weight = to_float(node_inputs.get("strength"))
            hypernetworks.append(name if weight is None else f"{name}: {format_number(weight)}")
    if loras:
        extras["Loras"] = ", ".join(loras)
    if hypernetworks:
        extras["Hypernetworks"] = ", ".join(hypernetworks)
    meta["extras"] = extras
