"""The CLIP tokenizer files shipped in sneakerstudio/resources/ tokenize exactly like CLIP, with no
hub, and the script that makes them rebuilds the same files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from sneakerstudio.core.files.resources import model_template_dir, resources_dir

TOKENIZER_DIR = model_template_dir("sd1") / "tokenizer"
SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "make_clip_tokenizer.py"


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR), local_files_only=True)


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_clip_tokenizer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_resources_dir_is_the_repo_folder() -> None:
    assert resources_dir() == Path(__file__).resolve().parents[2] / "sneakerstudio" / "resources"
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        assert (TOKENIZER_DIR / name).is_file(), name


def test_known_ids(tokenizer) -> None:
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tokenizer("Hello, world!").input_ids == [49406, 3306, 267, 1002, 256, 49407]


def test_vocab_and_specials(tokenizer) -> None:
    assert len(tokenizer) == 49408
    assert tokenizer.bos_token == "<|startoftext|>" and tokenizer.bos_token_id == 49406
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == 49407
    assert tokenizer.pad_token == "<|endoftext|>"  # SD1 pads with end-of-text


def test_pads_and_truncates_to_77(tokenizer) -> None:
    assert tokenizer.model_max_length == 77
    ids = tokenizer(
        "a cat", padding="max_length", truncation=True, max_length=tokenizer.model_max_length
    ).input_ids
    assert len(ids) == 77 and ids[:4] == [49406, 320, 2368, 49407] and set(ids[4:]) == {49407}
    long = tokenizer("cat " * 200, truncation=True, max_length=77).input_ids
    assert len(long) == 77 and long[-1] == 49407


def test_lowercases_and_decodes(tokenizer) -> None:
    assert tokenizer("A PHOTO").input_ids == tokenizer("a photo").input_ids
    assert tokenizer.decode(tokenizer("a red sneaker").input_ids, skip_special_tokens=True) == (
        "a red sneaker"
    )


def _bpe_text_from_shipped_merges() -> str:
    """The original BPE file's shape (a header line, then the merges) from merges.txt: enough
    to rerun the script without the open-clip-torch wheel."""
    lines = (TOKENIZER_DIR / "merges.txt").read_text("utf-8").splitlines()
    return "\n".join(["bpe_simple_vocab_16e6.txt#version: 0.2", *lines[1:], "extra merge", ""])


def test_script_rebuilds_the_shipped_vocab(script) -> None:
    vocab, merges = script.build_vocab_and_merges(_bpe_text_from_shipped_merges())
    shipped = json.loads((TOKENIZER_DIR / "vocab.json").read_text("utf-8"))
    assert vocab == shipped
    assert len(merges) == 48_894
    assert len(script.bytes_to_unicode()) == 256


def test_script_writes_the_sd2_variant_padding_with_bang(script, tmp_path: Path) -> None:
    from transformers import CLIPTokenizer

    script.write_tokenizer(tmp_path, _bpe_text_from_shipped_merges(), pad_token="!")
    script.check_tokenizer(tmp_path, "!")
    tok = CLIPTokenizer.from_pretrained(str(tmp_path), local_files_only=True)
    ids = tok("a photo of a cat", padding="max_length", max_length=77).input_ids
    assert ids[:7] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert ids[7:] == [0] * 70  # "!" is id 0
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["model_max_length"] == 77 and config["pad_token"] == "!"
