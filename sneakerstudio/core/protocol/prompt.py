"""Prompt text → weighted tokens, the AUTOMATIC1111 way (no torch here).

- Attention: `(x)` ×1.1, `[x]` ÷1.1, `(x:w)` ×w; nesting multiplies; `\\(` `\\)` `\\[` `\\]`
  `\\\\` are literal characters, any other backslash is dropped; brackets still open at the
  end close there.
- Brackets nest at most `MAX_NESTING` deep (deeper ones are literal text, so pathological
  prompts parse in linear time), and every weight is kept within ±`MAX_WEIGHT` (a typed
  `(x:1e400)` would otherwise make an infinite weight and a black image).
- The parser takes any text and never raises; `BREAK` (a whole word, upper case) ends the
  current 75-token chunk.
- `<lora:name:weight>` tags are taken out of the text (`extract_lora_tags`); the model-files
  code resolves and applies them.
- Tokens are grouped in chunks of 75 (CLIP's 77 positions minus start and end), so a prompt of
  any length is encoded chunk by chunk and concatenated: nothing is silently truncated.
  `prompt_token_info` gives the UI the count and the chunk boundaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

CHUNK_TOKENS = 75  # CLIP encodes 77 positions: start + 75 + end
ROUND_MULTIPLIER = 1.1
BREAK_WORD = "BREAK"
MAX_NESTING = 32  # open brackets at once; 1.1**32 ≈ 21, far past any useful emphasis
MAX_WEIGHT = 100.0

# One lexical item of the attention grammar; order matters (escapes before brackets).
_ATTENTION_TOKEN = re.compile(
    r"""
    \\[()\[\]\\]            # an escaped bracket or backslash: a literal
    | \\                    # a lone backslash: dropped
    | \(                    # open round
    | \[                    # open square
    | :\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\)   # ":1.3)" closes a round bracket with a weight
    | \)                    # close round
    | \]                    # close square
    | [^\\()\[\]:]+         # plain text
    | :                     # a colon that is not a weight
    """,
    re.VERBOSE,
)
_BREAK_SPLIT = re.compile(r"\s*\bBREAK\b\s*")
_LORA_TAG = re.compile(r"<lora:([^:<>]+)(?::([+-]?(?:\d+\.?\d*|\.\d+)))?(?::[^<>]*)?>", re.I)


@dataclass(frozen=True)
class Fragment:
    """A run of prompt text with one attention weight; `text == BREAK_WORD` and
    `is_break` marks a chunk break."""

    text: str
    weight: float
    is_break: bool = False


def extract_lora_tags(text: str) -> tuple[str, list[tuple[str, float]]]:
    """`"a <lora:graffiti:0.8> shoe"` → (`"a  shoe"`, [("graffiti", 0.8)]). A tag without a
    weight means 1.0. The tags are removed so that they are not encoded as words."""
    found: list[tuple[str, float]] = []

    def take(match: re.Match[str]) -> str:
        weight = float(match.group(2)) if match.group(2) else 1.0  # may be inf: the request
        # check refuses LoRA weights beyond ±10 with a message
        found.append((match.group(1).strip(), weight))
        return ""

    return _LORA_TAG.sub(take, text), found


def parse_attention(text: str) -> list[Fragment]:
    """The prompt as weighted fragments, merged where neighbours share a weight.

    >>> [(f.text, round(f.weight, 4)) for f in parse_attention("a (b:1.5) [c]")]
    [('a ', 1.0), ('b', 1.5), (' ', 1.0), ('c', 0.9091)]
    """
    # Each part: [pieces of text, is_break]; its weight is weights[index]. Neighbours that
    # can no longer end up with different weights are merged as soon as possible, and a long
    # run of weights is multiplied with numpy (same rounding as one multiplication after
    # another), so the parse stays fast on any input (100 k characters of brackets included).
    parts: list[list[Any]] = []
    weights: list[float] = []
    round_open: list[int] = []  # index of the first part each open bracket covers
    square_open: list[int] = []

    def scale(start: int, factor: float) -> None:
        if len(weights) - start <= 32:
            for i in range(start, len(weights)):
                weights[i] = _finite(weights[i] * factor)
        else:
            import numpy as np

            run = np.array(weights[start:], dtype=np.float64) * factor
            weights[start:] = np.clip(run, -MAX_WEIGHT, MAX_WEIGHT).tolist()
        settle()

    def settle() -> None:
        """Merge the last two parts while they have one weight and every open bracket
        covers both or neither (so no later factor can tell them apart)."""
        while len(parts) >= 2:
            split_at = len(parts) - 1
            if parts[-1][1] or parts[-2][1] or weights[split_at] != weights[split_at - 1]:
                return
            if split_at in round_open or split_at in square_open:
                return
            parts[-2][0].extend(parts.pop()[0])
            weights.pop()
            for stack in (round_open, square_open):  # starts only grow along a stack
                i = len(stack) - 1
                while i >= 0 and stack[i] > split_at:
                    stack[i] -= 1
                    i -= 1

    def add(text_piece: str) -> None:
        count = len(parts)
        if (
            count
            and not parts[-1][1]
            and weights[count - 1] == 1.0
            and not (round_open and round_open[-1] == count)
            and not (square_open and square_open[-1] == count)
        ):
            parts[-1][0].append(text_piece)  # same weight, and no open bracket between them
        else:
            parts.append([[text_piece], False])
            weights.append(1.0)

    def literal(token: str) -> None:
        """Plain text, or a stray bracket / weight: literal text. BREAK splits it."""
        if BREAK_WORD not in token:
            add(token)
            return
        pieces = _BREAK_SPLIT.split(token)
        for i, piece in enumerate(pieces):
            if i > 0:
                # A1111 gives a BREAK the weight -1; brackets around it scale that too, and
                # only an exact -1 breaks the chunk (see the end): inside brackets it is
                # the word "BREAK" with a negative weight, as in A1111.
                parts.append([[BREAK_WORD], True])
                weights.append(-1.0)
            if piece:
                add(piece)

    for match in _ATTENTION_TOKEN.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            if len(token) > 1:
                add(token[1:])  # a lone backslash is dropped, as in A1111
        elif token in "([" and len(round_open) + len(square_open) >= MAX_NESTING:
            literal(token)
        elif token == "(":
            round_open.append(len(parts))
        elif token == "[":
            square_open.append(len(parts))
        elif weight is not None and round_open:
            scale(round_open.pop(), _finite(float(weight)))
        elif token == ")" and round_open:
            scale(round_open.pop(), ROUND_MULTIPLIER)
        elif token == "]" and square_open:
            scale(square_open.pop(), 1 / ROUND_MULTIPLIER)
        else:
            literal(token)
    while round_open:
        scale(round_open.pop(), ROUND_MULTIPLIER)
    while square_open:
        scale(square_open.pop(), 1 / ROUND_MULTIPLIER)

    merged: list[Fragment] = []
    for index, (pieces, is_break) in enumerate(parts):
        weight = float(weights[index])
        if is_break and weight == -1.0:
            merged.append(Fragment(BREAK_WORD, 1.0, True))
        elif is_break:  # a BREAK inside brackets: a word with its (negative) weight
            merged.append(Fragment(BREAK_WORD, weight))
        elif merged and not merged[-1].is_break and merged[-1].weight == weight:
            merged[-1] = Fragment(merged[-1].text + "".join(pieces), weight)
        else:
            merged.append(Fragment("".join(pieces), weight))
    return merged or [Fragment("", 1.0)]


def _finite(weight: float) -> float:
    """A typed weight within ±MAX_WEIGHT (a 400-digit number parses as infinity)."""
    return min(MAX_WEIGHT, max(-MAX_WEIGHT, weight))


@dataclass(frozen=True)
class TokenChunk:
    """Up to 75 token ids with one weight each (without start/end tokens)."""

    ids: tuple[int, ...]
    weights: tuple[float, ...]


def tokenize_chunks(text: str, tokenizer: Any) -> list[TokenChunk]:
    """Tokenize a prompt (LoRA tags already removed) into chunks of at most 75 tokens.

    A fragment longer than the room left in a chunk continues in the next one; when a chunk
    fills up mid-phrase and a comma was among its last 20 tokens, the chunk ends after that
    comma instead (as A1111 does) so the phrase stays together. `BREAK` ends a chunk early.
    Always at least one chunk (an empty prompt is one empty chunk).
    """
    comma_id = _comma_id(tokenizer)
    chunks: list[TokenChunk] = []
    ids: list[int] = []
    weights: list[float] = []
    last_comma = -1

    def flush() -> None:
        nonlocal ids, weights, last_comma
        chunks.append(TokenChunk(tuple(ids), tuple(weights)))
        ids, weights, last_comma = [], [], -1

    fragments = parse_attention(text)
    # Each distinct fragment text is tokenized once, all in one call (a long prompt with many
    # weighted parts would otherwise pay the tokenizer's per-call cost thousands of times).
    texts = list(dict.fromkeys(f.text for f in fragments if f.text and not f.is_break))
    encoded = (
        tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"] if texts else []
    )
    ids_of = dict(zip(texts, encoded, strict=True))
    for fragment in fragments:
        if fragment.is_break:
            flush()
            continue
        if not fragment.text:
            continue
        for token in ids_of[fragment.text]:
            if token == comma_id:
                # A comma as the 76th token opens the next chunk and nothing moves; the
                # next chunk does not remember it (A1111's order of checks).
                last_comma = len(ids)
            elif len(ids) == CHUNK_TOKENS and last_comma >= 0 and len(ids) - last_comma <= 20:
                carry_ids, carry_w = ids[last_comma + 1 :], weights[last_comma + 1 :]
                ids, weights = ids[: last_comma + 1], weights[: last_comma + 1]
                flush()
                ids, weights = carry_ids, carry_w
            if len(ids) == CHUNK_TOKENS:
                flush()
            ids.append(int(token))
            weights.append(fragment.weight)
    if ids or not chunks:
        flush()
    return chunks


def _comma_id(tokenizer: Any) -> int | None:
    ids = tokenizer(",", add_special_tokens=False)["input_ids"]
    return int(ids[0]) if len(ids) == 1 else None


@dataclass(frozen=True)
class TokenInfo:
    """What the prompt box shows: tokens used, how many chunks, where each chunk ends (its
    cumulative token count), and the limit of the current chunk (75, 150, …)."""

    count: int
    chunks: int
    boundaries: tuple[int, ...]
    limit: int
    lora_tags: tuple[tuple[str, float], ...]


def prompt_token_info(text: str, tokenizer: Any) -> TokenInfo:
    """Token count and chunk boundaries of `text` for the UI, e.g. "80/150" (the window passes
    `core.models.tokenizer.shipped_tokenizer()`: no model needs to be loaded)."""
    stripped, tags = extract_lora_tags(text)
    chunks = tokenize_chunks(stripped, tokenizer)
    boundaries: list[int] = []
    total = 0
    for chunk in chunks:
        total += len(chunk.ids)
        boundaries.append(total)
    return TokenInfo(
        count=total,
        chunks=len(chunks),
        boundaries=tuple(boundaries),
        limit=max(1, len(chunks)) * CHUNK_TOKENS,
        lora_tags=tuple(tags),
    )
