"""Write the CLIP tokenizer files (vocab.json, merges.txt, tokenizer_config.json,
special_tokens_map.json) from the CLIP BPE data, so the app never needs a hub to tokenize.

Every Stable Diffusion text encoder (CLIP ViT-L/14 in SD1, OpenCLIP ViT-H in SD2, both in SDXL)
uses the same byte-level BPE; the only difference between the families' tokenizer folders is the
padding token: SD1 (and SDXL's first tokenizer) pad with `<|endoftext|>`, SD2 (and SDXL's second
tokenizer) pad with `!`.

The BPE data is `open_clip/bpe_simple_vocab_16e6.txt.gz`, shipped inside the open-clip-torch
wheel. Get it without installing the package:

    /work/venv/bin/pip download open-clip-torch --no-deps -d /tmp/oc

then run (the script reads the .gz straight out of the wheel):

    python tools/make_clip_tokenizer.py /tmp/oc/open_clip_torch-*.whl \
        sneakerstudio/resources/models/sd1/tokenizer
    python tools/make_clip_tokenizer.py WHEEL OUT_DIR --pad '!'     # SD2 / SDXL tokenizer_2

The output is checked before the script exits: "a photo of a cat" must encode to
[49406, 320, 1125, 539, 320, 2368, 49407].
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import zipfile
from pathlib import Path

BPE_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
# CLIP keeps the first 49152 - 256 - 2 merges of the file (line 0 is a header).
MERGE_COUNT = 49152 - 256 - 2
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
MODEL_MAX_LENGTH = 77
CHECKS = {
    "a photo of a cat": [49406, 320, 1125, 539, 320, 2368, 49407],
    "Hello, world!": [49406, 3306, 267, 1002, 256, 49407],
}


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) reversible map from the 256 byte values to printable characters:
    printable Latin-1 bytes map to themselves, the others to code points from 256 upwards."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def read_bpe_text(source: Path) -> str:
    """The BPE text from the `.txt.gz` itself or from an open-clip-torch wheel holding it."""
    if source.suffix == ".whl" or zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            data = wheel.read(BPE_MEMBER)
    else:
        data = source.read_bytes()
    return gzip.decompress(data).decode("utf-8")


def build_vocab_and_merges(bpe_text: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The 49,408-entry vocabulary and 48,894 merges, in CLIP's order: the 256 byte symbols,
    the same with `</w>`, each merge joined, then the start and end tokens."""
    lines = bpe_text.split("\n")[1 : MERGE_COUNT + 1]
    merges = [tuple(line.split()) for line in lines]
    if len(merges) != MERGE_COUNT or any(len(m) != 2 for m in merges):
        raise SystemExit("unexpected BPE data: expected 48,894 merge lines of two symbols")
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [BOS, EOS]
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != 49408:
        raise SystemExit(f"unexpected vocabulary size {len(vocab)} (expected 49408)")
    return vocab, merges  # type: ignore[return-value]


def write_tokenizer(out_dir: Path, bpe_text: str, *, pad_token: str = EOS) -> None:
    """Write the four tokenizer files to `out_dir` (created if needed)."""
    vocab, merges = build_vocab_and_merges(bpe_text)
    if pad_token not in vocab:
        raise SystemExit(f"pad token {pad_token!r} is not in the vocabulary")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(
        json.dumps(vocab, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )
    merges_text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    (out_dir / "merges.txt").write_text(merges_text, encoding="utf-8")
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": pad_token}
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MODEL_MAX_LENGTH,
        "do_lower_case": True,
        "add_prefix_space": False,
        "errors": "replace",
        "clean_up_tokenization_spaces": True,
        **special,
    }
    for name, content in (("tokenizer_config.json", config), ("special_tokens_map.json", special)):
        (out_dir / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def check_tokenizer(out_dir: Path, pad_token: str) -> None:
    """Load the written folder with transformers and compare against CLIP's known ids."""
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(str(out_dir), local_files_only=True)
    for text, expected in CHECKS.items():
        if pad_token in text:
            # A pad token is a special token, matched before BPE: with `!` as pad (SD2), "!"
            # becomes id 0 instead of "!</w>" (256), as in the hub's SD2 tokenizer files.
            continue
        got = tok(text).input_ids
        if got != expected:
            raise SystemExit(f"check failed: {text!r} -> {got}, expected {expected}")
    padded = tok("a cat", padding="max_length", max_length=tok.model_max_length).input_ids
    if len(padded) != MODEL_MAX_LENGTH or padded[-1] != tok.convert_tokens_to_ids(pad_token):
        raise SystemExit(f"padding check failed: {padded}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="open-clip-torch wheel or bpe_simple_vocab.gz")
    parser.add_argument("out_dir", type=Path, help="tokenizer folder to write")
    parser.add_argument(
        "--pad",
        default=EOS,
        help=f"padding token: {EOS} (SD1, SDXL tokenizer) or '!' (SD2, SDXL tokenizer_2)",
    )
    parser.add_argument("--no-check", action="store_true", help="skip the transformers check")
    args = parser.parse_args(argv)
    write_tokenizer(args.out_dir, read_bpe_text(args.source), pad_token=args.pad)
    if not args.no_check:
        check_tokenizer(args.out_dir, args.pad)
    print(f"wrote {args.out_dir} (pad {args.pad})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
