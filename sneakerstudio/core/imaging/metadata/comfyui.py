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
    input is a literal or a link `[node_id, output_index]`.

    The graph comes from a stranger's file: links may point back at their own node or fan out
    twice to the same node at every level, so a plain walk would explore branching^depth paths
    (a 200-byte PNG that never finishes reading). Every walk keeps a visited set, and all walks
    of one graph share a budget of node visits, so reading any graph is linear and bounded."""

    MAX_DEPTH = 32
    MAX_VISITS = 100_000  # node visits for all walks of one graph together

    def __init__(self, nodes: dict[str, Any]) -> None:
        self.nodes = {str(k): v for k, v in nodes.items() if isinstance(v, dict)}
        self.visits_left = self.MAX_VISITS

    @staticmethod
    def node_id(ref: Any) -> str | None:
        if isinstance(ref, list) and len(ref) == 2 and isinstance(ref[1], int):
            return str(ref[0])
        return None

    def node(self, ref: Any) -> dict[str, Any] | None:
        node_id = self.node_id(ref)
        return None if node_id is None else self.nodes.get(node_id)

    def _visit(self) -> bool:
        """Spend one node visit; False once the graph's budget is spent."""
        self.visits_left -= 1
        return self.visits_left >= 0

    @staticmethod
    def inputs(node: dict[str, Any] | None) -> dict[str, Any]:
        value = (node or {}).get("inputs")
        return value if isinstance(value, dict) else {}

    def scalar(self, value: Any, keys: tuple[str, ...] = ()) -> Any:
        """A literal input, following links to primitive / value nodes (one link per node, so
        this is a chain; a loop in it ends at the first node seen twice)."""
        seen: set[str] = set()
        for _ in range(self.MAX_DEPTH + 1):
            node_id = self.node_id(value)
            target = None if node_id is None else self.nodes.get(node_id)
            if target is None:
                return None if isinstance(value, (list, dict)) else value
            if node_id in seen or not self._visit():
                return None
            seen.add(node_id)  # type: ignore[arg-type]  # not None when target is found
            inputs = self.inputs(target)
            key = next((k for k in (*keys, *_VALUE_KEYS) if k in inputs), None)
            if key is None:
                return None
            value = inputs[key]
        return None

    def upstream(self, ref: Any, stop: Any, follow: Any) -> Any:
        """Walk links from `ref` (depth first, each node once, at most `MAX_DEPTH` links away)
        until `stop(node)` returns something; `follow(node)` names the inputs to walk next."""
        seen: set[str] = set()
        pending: list[tuple[Any, int]] = [(ref, 0)]
        while pending:
            current, depth = pending.pop()
            node_id = self.node_id(current)
            node = None if node_id is None else self.nodes.get(node_id)
            if node is None or node_id in seen or depth > self.MAX_DEPTH:
                continue
            if not self._visit():
                return None
            seen.add(node_id)  # type: ignore[arg-type]
            found = stop(node)
            if found is not None:
                return found
            inputs = self.inputs(node)
            # reversed: the first input named by `follow` is walked first, as before
            pending.extend((inputs.get(key), depth + 1) for key in reversed(follow(node)))
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

    def samplers_before(self, node: dict[str, Any]) -> int:
        """How many sampler nodes feed this one's latent (0 for the first pass), each counted
        once however many paths lead to it."""
        seen: set[str] = set()
        pending = [(node, 0)]
        count = 0
        while pending:
            current, depth = pending.pop()
            if depth >= self.MAX_DEPTH:
                continue
            for key in self._latent_inputs(current):
                ref = self.inputs(current)[key]
                node_id = self.node_id(ref)
                source = self.node(ref)
                if source is None or node_id in seen or not self._visit():
                    continue
                seen.add(node_id)  # type: ignore[arg-type]
                count += self.is_sampler(source)
                pending.append((source, depth + 1))
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
