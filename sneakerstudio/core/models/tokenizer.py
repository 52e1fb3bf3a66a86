"""The CLIP tokenizer the app ships, for counting prompt tokens before any model is loaded."""

from __future__ import annotations

import functools
from typing import Any

from sneakerstudio.core.protocol.prompt import CHUNK_TOKENS


@functools.lru_cache(maxsize=1)
def shipped_tokenizer() -> Any:
    """SD1's CLIP tokenizer from the package's resources (SD2 and SDXL tokenize the same
    words); loaded once, offline."""
    from transformers import CLIPTokenizer

    from sneakerstudio.core.files.resources import model_template_dir

    folder = model_template_dir("sd1") / "tokenizer"
    tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    tokenizer.model_max_length = CHUNK_TOKENS + 2
    return tokenizer
