"""Prompt → text embeddings, chunked and weighted as AUTOMATIC1111 does, for SD1/SD2 and SDXL.

Each 75-token chunk is encoded on its own as `start + 75 tokens + end (+ padding)` and the
chunks are concatenated along the sequence, so a 200-token prompt gives 3 × 77 positions
instead of being cut at 77. The positive and the negative prompt keep their own chunk counts
(A1111's default; the loop runs them as two UNet calls when they differ); `pad=True` pads the
shorter with empty chunks. Attention weights scale each token's embedding, then the chunk is
rescaled so its mean is unchanged (A1111's rule), per text encoder.
CLIP skip `n` takes the n-th hidden state from the end (1 = the last, the usual).

Note: transformers 5.x's `CLIPTextModel` has `final_layer_norm` at the top level (no
`text_model`), which diffusers' own clip-skip path does not expect; we find it either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sneakerstudio.core.protocol.prompt import (
    CHUNK_TOKENS,
    TokenChunk,
    tokenize_chunks,
)


@dataclass
class Conditioning:
    """What the UNet is conditioned on, batched: `prompt_embeds` (B, 77·chunks, dim) and, for
    classifier-free guidance, `negative_embeds`; SDXL adds pooled embeddings."""

    prompt_embeds: Any
    negative_embeds: Any = None
    pooled: Any = None
    negative_pooled: Any = None
    chunks: int = 1


def is_sdxl(pipe: Any) -> bool:
    """SDXL base and refiner have a second (OpenCLIP bigG) text encoder."""
    return getattr(pipe, "text_encoder_2", None) is not None


def _final_layer_norm(encoder: Any) -> Any:
    norm = getattr(encoder, "final_layer_norm", None)
    if norm is None:
        norm = encoder.text_model.final_layer_norm
    return norm


def _chunk_ids(chunk: TokenChunk, tokenizer: Any) -> tuple[list[int], list[float]]:
    """77 ids: start, the chunk, end, then padding (SD2 / SDXL's second tokenizer pad with `!`,
    id 0; SD1 with the end token), and the matching weights (1.0 outside the text)."""
    bos = tokenizer.bos_token_id
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    room = CHUNK_TOKENS - len(chunk.ids)
    ids = [bos, *chunk.ids, eos] + [pad] * room
    weights = [1.0, *chunk.weights, 1.0] + [1.0] * room
    return ids, weights


def _pad_chunks(chunks: list[TokenChunk], count: int) -> list[TokenChunk]:
    return chunks + [TokenChunk((), ())] * (count - len(chunks))


def _hidden(encoder: Any, ids: Any, clip_skip: int, *, penultimate: bool) -> Any:
    """One encoder's per-token output. SD1/SD2: the last layer after the final norm, or the
    `clip_skip`-th from the end, normed. SDXL: hidden states without the final norm, from the
    penultimate layer (clip skip 1) or further back."""
    out = encoder(ids, output_hidden_states=penultimate or clip_skip > 1)
    if penultimate:
        return out.hidden_states[-(clip_skip + 1)], out
    if clip_skip <= 1:
        return out[0], out
    layers = len(out.hidden_states) - 1
    index = -min(clip_skip, layers)
    return _final_layer_norm(encoder)(out.hidden_states[index]), out


def _apply_weights(z: Any, weights: Any) -> Any:
    """Scale each token's embedding by its weight, then restore the chunk's mean (A1111's
    "Original" emphasis, without any limit on the restoring factor, as A1111)."""
    if bool((weights == 1.0).all()):
        return z
    original_mean = z.float().mean()
    z = z * weights.reshape(1, -1, 1).to(z.dtype)
    new_mean = z.float().mean()
    return z * (original_mean / new_mean).to(z.dtype)


def _encode_chunks(
    pipe: Any, chunks_per_encoder: list[list[TokenChunk]], clip_skip: int, device: Any
) -> tuple[Any, Any]:
    """Embeddings (1, 77·n, dim) and the pooled embedding of the first chunk (SDXL). The
    weights are applied to each encoder's output on its own (SDXL: CLIP-L and bigG each keep
    their own mean, as A1111's two embedders do), then the encoders are concatenated."""
    import torch

    sdxl = is_sdxl(pipe)
    encoders = [
        (pipe.tokenizer, pipe.text_encoder),
        (getattr(pipe, "tokenizer_2", None), getattr(pipe, "text_encoder_2", None)),
    ]
    encoders = [(t, e) for t, e in encoders if t is not None and e is not None]
    pieces: list[Any] = []
    pooled = None
    for index in range(len(chunks_per_encoder[0])):
        per_encoder: list[Any] = []
        for (tokenizer, encoder), chunks in zip(encoders, chunks_per_encoder, strict=True):
            ids, w = _chunk_ids(chunks[index], tokenizer)
            tensor = torch.tensor([ids], device=device)
            hidden, out = _hidden(encoder, tensor, clip_skip, penultimate=sdxl)
            per_encoder.append(_apply_weights(hidden, torch.tensor(w, device=device)))
            if sdxl and encoder is encoders[-1][1] and pooled is None:
                pooled = out[0]  # CLIPTextModelWithProjection: text_embeds
        pieces.append(torch.cat(per_encoder, dim=-1))
    return torch.cat(pieces, dim=1), pooled


def _tokenizers(pipe: Any) -> list[Any]:
    tokenizers = [t for t in (pipe.tokenizer, getattr(pipe, "tokenizer_2", None)) if t]
    if getattr(pipe, "text_encoder", None) is None:
        tokenizers = tokenizers[-1:]  # the SDXL refiner has only the second encoder
    return tokenizers


def _encoder_pipe(pipe: Any) -> Any:
    return _OnlySecond(pipe) if getattr(pipe, "text_encoder", None) is None else pipe


def encode_prompts(
    pipe: Any,
    prompt: str,
    negative_prompt: str,
    *,
    batch: int,
    guidance: bool,
    clip_skip: int = 1,
    device: Any = "cpu",
    pad: bool = True,
) -> Conditioning:
    """Encode the prompt (and, with `guidance`, the negative prompt) for `batch` images.
    Extra-network tags (`<lora:…>`) are removed before encoding (they are not words). With
    `pad` the shorter of the two gets empty chunks up to the other's count (A1111's "pad
    prompt/negative prompt" option); without, each keeps its own length (A1111's default)."""
    import torch

    from sneakerstudio.core.protocol.extra_networks import parse_extra_networks

    prompt = parse_extra_networks(prompt or "").text
    negative_prompt = parse_extra_networks(negative_prompt or "").text
    tokenizers = _tokenizers(pipe)
    positive = [tokenize_chunks(prompt, t) for t in tokenizers]
    negative = [tokenize_chunks(negative_prompt, t) for t in tokenizers] if guidance else []
    count = max(len(c) for c in positive + negative)
    if pad:
        positive = [_pad_chunks(c, count) for c in positive]
        negative = [_pad_chunks(c, count) for c in negative]

    encoder_pipe = _encoder_pipe(pipe)
    with torch.inference_mode():
        embeds, pooled = _encode_chunks(encoder_pipe, positive, clip_skip, device)
        neg_embeds = neg_pooled = None
        if guidance:
            zeros = (
                is_sdxl(pipe)
                and not negative_prompt
                and bool(getattr(pipe, "config", {}).get("force_zeros_for_empty_prompt", False))
            )
            neg_embeds, neg_pooled = _encode_chunks(encoder_pipe, negative, clip_skip, device)
            if zeros:
                neg_embeds = torch.zeros_like(neg_embeds)
                neg_pooled = torch.zeros_like(neg_pooled) if neg_pooled is not None else None

    def repeat(x: Any) -> Any:
        return None if x is None else x.repeat(batch, *([1] * (x.ndim - 1)))

    return Conditioning(
        prompt_embeds=repeat(embeds),
        negative_embeds=repeat(neg_embeds),
        pooled=repeat(pooled),
        negative_pooled=repeat(neg_pooled),
        chunks=count,
    )


def encode_text(
    pipe: Any, text: str, *, negative: bool, batch: int, clip_skip: int, device: Any
) -> tuple[Any, Any]:
    """One text (tags already removed, no schedule left) → embeddings (B, 77·n, dim) and
    SDXL's pooled embedding (B, d) or None. An empty SDXL negative is zeros, as diffusers and
    A1111 make it."""
    import torch

    chunks = [tokenize_chunks(text, t) for t in _tokenizers(pipe)]
    with torch.inference_mode():
        embeds, pooled = _encode_chunks(_encoder_pipe(pipe), chunks, clip_skip, device)
        zeros = (
            negative
            and not text
            and is_sdxl(pipe)
            and bool(getattr(pipe, "config", {}).get("force_zeros_for_empty_prompt", False))
        )
        if zeros:
            embeds = torch.zeros_like(embeds)
            pooled = torch.zeros_like(pooled) if pooled is not None else None

    def repeat(x: Any) -> Any:
        return None if x is None else x.repeat(batch, *([1] * (x.ndim - 1)))

    return repeat(embeds), repeat(pooled)


class _OnlySecond:
    """A view of an SDXL refiner pipe with its one encoder in the first slot, so that the
    chunk encoder above treats it like a single-encoder model with SDXL's conventions."""

    def __init__(self, pipe: Any) -> None:
        self.tokenizer = pipe.tokenizer_2
        self.text_encoder = pipe.text_encoder_2
        self.tokenizer_2 = None
        self.text_encoder_2 = pipe.text_encoder_2  # marks it as SDXL for is_sdxl
