"""Textual-inversion embeddings: the file's stem, written in a prompt, becomes its vectors.

Files: A1111 `.safetensors` (`emb_params`), `.pt` (`string_to_param.*`, through the safe
converter), SDXL (`clip_l` for the first text encoder, `clip_g` for the second), and the
diffusers single-key form. Each vector gets a new row in the text encoder's token table (rows
stay, recorded in `model.patches`); while the `EmbeddingPatch` is on, the pipeline's tokenizer
is wrapped in an `EmbeddingTokenizer` that knows which names stand for which rows. Nothing is
added to the tokenizer's vocabulary, so an embedding that is not requested is simply not active
(its name is ordinary text again) and switching sets never needs a reload.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sneakerstudio.core.protocol.errors import ModelFileError

if TYPE_CHECKING:  # pragma: no cover
    from sneakerstudio.core.models.loading import LoadedModel

_PASSTHROUGH_KWARGS = frozenset({"add_special_tokens", "verbose"})


class EmbeddingError(ModelFileError):
    """An embedding that does not fit the model or cannot be read."""

    kind = "embedding"


def read_embedding(path: Path) -> dict[str, Any]:
    """The vectors of an embedding file by encoder: `{"": (n, width)}` for SD1/SD2, or
    `{"clip_l": …, "clip_g": …}` for SDXL. A file whose vectors are empty, scalars, NaN or
    infinite is refused here, naming it."""
    from safetensors import safe_open

    from sneakerstudio.core.models.header import read_header
    from sneakerstudio.core.models.pickle_convert import convert_pickle, is_pickle

    source = convert_pickle(path) if is_pickle(path) else path
    read_header(source)  # a broken file is refused here, with a message naming it
    tensors: dict[str, Any] = {}
    with safe_open(str(source), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 (safe_open is not a dict)
            tensors[key] = f.get_tensor(key)
    if "clip_l" in tensors or "clip_g" in tensors:
        return {k: _rows(path, k, tensors[k]) for k in ("clip_l", "clip_g") if k in tensors}
    for key in ("emb_params", "string_to_param.*"):
        if key in tensors:
            return {"": _rows(path, key, tensors[key])}
    params = [k for k in tensors if k.startswith("string_to_param.")]
    if params:
        return {"": _rows(path, params[0], tensors[params[0]])}
    if len(tensors) == 1:  # diffusers' {token: vector}
        key, tensor = next(iter(tensors.items()))
        return {"": _rows(path, key, tensor)}
    raise EmbeddingError(
        f"'{path.name}' is not a textual-inversion embedding.",
        hint="Choose an embedding file (.safetensors or .pt).",
    )


def _rows(path: Path, key: str, tensor: Any) -> Any:
    """The vectors of `tensor` as rows (n, width), checked to be real vectors of real numbers."""
    from sneakerstudio.core.patches.checks import require_finite

    if tensor.ndim == 0 or tensor.numel() == 0 or not tensor.is_floating_point():
        shape = "×".join(map(str, tensor.shape)) or "a single number"
        raise EmbeddingError(
            f"'{path.name}' is not a usable embedding: its '{key}' is {shape} "
            f"({str(tensor.dtype).removeprefix('torch.')}), not a list of vectors.",
            hint="The file is damaged or not an embedding: download it again, or choose another.",
        )
    require_finite(path, key, tensor, EmbeddingError)
    tensor = tensor.detach().float()
    return tensor[None] if tensor.ndim == 1 else tensor.reshape(-1, tensor.shape[-1])


def embedding_token(path: Path) -> str:
    """The word that triggers an embedding in a prompt: its file name without the suffix."""
    return Path(path).stem


_TOKENIZER_ATTRS = {"": "tokenizer", "clip_l": "tokenizer", "clip_g": "tokenizer_2"}


def _encoders(pipe: Any) -> list[tuple[str, Any, Any]]:
    """(slot, tokenizer, text encoder) pairs: slot "clip_l"/"clip_g" for SDXL, "" otherwise."""
    first = (getattr(pipe, "tokenizer", None), getattr(pipe, "text_encoder", None))
    second = (getattr(pipe, "tokenizer_2", None), getattr(pipe, "text_encoder_2", None))
    if second[1] is not None:
        out = []
        if first[1] is not None:
            out.append(("clip_l", *first))
        out.append(("clip_g", *second))
        return out
    return [("", *first)]


@dataclass(frozen=True)
class EmbeddingPatch:
    """Exactly these embedding files active on the model (a patch, see `base.py`)."""

    slot: ClassVar[str] = "embeddings"
    keep: ClassVar[bool] = True
    paths: tuple[Path, ...]
    files: tuple[tuple[str, int], ...]  # (resolved path, mtime) of each

    @classmethod
    def for_files(cls, paths: list[Path]) -> EmbeddingPatch:
        files = tuple((str(Path(p).resolve()), Path(p).stat().st_mtime_ns) for p in paths)
        return cls(tuple(paths), files)

    @property
    def key(self) -> Hashable:
        return self.files

    def apply(self, model: LoadedModel) -> None:
        """Check every file against every text encoder, then add the rows of files not seen
        before and wrap the tokenizers: a refused file leaves the model as it was."""
        import torch

        pipe = model.pipe
        wanted = [(p, read_embedding(p)) for p in self.paths]
        encoders = [(s, t, e) for s, t, e in _encoders(pipe) if t is not None and e is not None]
        for slot, _tokenizer, encoder in encoders:
            width = encoder.get_input_embeddings().weight.shape[1]
            for path, vectors in wanted:
                _check_fits(path, vectors, slot, width)
        tokenizers: dict[str, Any] = {}
        for slot, _tokenizer, encoder in encoders:
            registry = model.patches.embedding_rows.setdefault(slot, {})
            active: dict[str, list[int]] = {}
            for (path, vectors), key in zip(wanted, self.files, strict=True):
                rows = vectors.get(slot)
                if rows is None:
                    continue
                ids = registry.get(key)
                if ids is None:
                    start = encoder.get_input_embeddings().weight.shape[0]
                    encoder.resize_token_embeddings(start + rows.shape[0])
                    table = encoder.get_input_embeddings()
                    with torch.no_grad():
                        table.weight[start:] = rows.to(table.weight.device, table.weight.dtype)
                    ids = list(range(start, start + rows.shape[0]))
                    registry[key] = ids
                active[embedding_token(path).lower()] = ids
            if active:
                tokenizers[_TOKENIZER_ATTRS[slot]] = active
        for attr, active in tokenizers.items():
            original = getattr(pipe, attr)
            model.patches.own_tokenizers[attr] = original
            setattr(pipe, attr, EmbeddingTokenizer(original, active))

    def undo(self, model: LoadedModel) -> None:
        """Put the pipeline's own tokenizers back (the added rows stay, unused)."""
        for attr, original in model.patches.own_tokenizers.items():
            setattr(model.pipe, attr, original)
        model.patches.own_tokenizers.clear()


def _check_fits(path: Path, vectors: dict[str, Any], slot: str, width: int) -> None:
    """Raise `EmbeddingError` when the file's vectors do not fit the text encoder `slot`."""
    rows = vectors.get(slot)
    if rows is None:
        if slot in ("clip_l", "clip_g") and "" in vectors:
            raise EmbeddingError(
                f"'{path.name}' is an SD1/SD2 embedding; the model is SDXL.",
                hint="Choose an SDXL embedding (with clip_l and clip_g vectors).",
            )
        if slot == "":
            raise EmbeddingError(
                f"'{path.name}' is an SDXL embedding; the model is not SDXL.",
                hint="Choose an embedding made for this model's family.",
            )
        return
    if rows.shape[-1] != width:
        raise EmbeddingError(
            f"'{path.name}' has {rows.shape[-1]}-wide vectors but the model's text encoder is "
            f"{width} wide: it is for another family.",
            hint="Choose an embedding made for this model's family.",
        )


class EmbeddingTokenizer:
    """A pipeline's tokenizer that puts the row ids of active embeddings where their names
    appear; other text is tokenized by the wrapped tokenizer as before (every other attribute
    is the wrapped tokenizer's)."""

    def __init__(self, tokenizer: Any, active: dict[str, list[int]]) -> None:
        self.tokenizer = tokenizer
        self.active = dict(active)
        self.pattern = re.compile(
            r"(?<![\w-])("
            + "|".join(re.escape(n) for n in sorted(self.active, key=len, reverse=True))
            + r")(?![\w-])",
            re.IGNORECASE,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tokenizer, name)

    def __call__(self, text: Any = None, *args: Any, **kwargs: Any) -> Any:
        from transformers import BatchEncoding

        plain = args or set(kwargs) - _PASSTHROUGH_KWARGS
        if isinstance(text, list) and all(isinstance(t, str) for t in text) and not plain:
            # A batch (the prompt parser tokenizes every fragment in one call): each text as
            # below, so embedding names work there too.
            rows = [self(t, **kwargs)["input_ids"] for t in text]
            return BatchEncoding(
                {"input_ids": rows, "attention_mask": [[1] * len(r) for r in rows]}
            )
        if not isinstance(text, str) or plain:
            return self.tokenizer(text, *args, **kwargs)
        special = kwargs.pop("add_special_tokens", True)
        ids: list[int] = []
        for index, piece in enumerate(self.pattern.split(text)):
            if index % 2:
                ids.extend(self.active[piece.lower()])
            elif piece.strip():
                encoded = self.tokenizer(piece, add_special_tokens=False, **kwargs)
                ids.extend(encoded["input_ids"])
        if special:
            ids = [self.tokenizer.bos_token_id, *ids, self.tokenizer.eos_token_id]
        return BatchEncoding({"input_ids": ids, "attention_mask": [1] * len(ids)})
