"""Hostile and nonsensical generation metadata in image files.

`read_png_metadata` (used by `sneakerstudio info` and by drag and drop onto the window) must
return what it can read or raise `ImageFileError` with a clear message, never anything else;
values that cannot be true (Steps: banana, Size: -5x0, a 23-digit seed, a NaN CFG) are left
out, and what does reach the panels is clamped there. Huge texts are read in linear time.
"""

from __future__ import annotations

import io
import json
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sneakerstudio.core.imaging.metadata import (
    MAX_READ_STEPS,
    format_info,
    parse_parameters,
    read_png_metadata,
)
from sneakerstudio.core.protocol.errors import ImageFileError, RequestError
from sneakerstudio.core.protocol.request import GenerationRequest
from tests.robustness.test_image_corpus import chunk, small_png, with_chunks_after_ihdr

PARAMS_TAIL = "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768"


def text_chunk(key: str, value: bytes | str) -> bytes:
    body = value.encode("latin-1") if isinstance(value, str) else value
    return chunk(b"tEXt", key.encode("latin-1") + b"\0" + body)


def itxt_chunk(key: str, value: bytes) -> bytes:
    return chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value)


def png_with(*chunks: bytes) -> bytes:
    return with_chunks_after_ihdr(small_png(), *chunks)


def read(tmp_path: Path, data: bytes, name: str = "image.png") -> dict[str, Any]:
    path = tmp_path / name
    path.write_bytes(data)
    meta = read_png_metadata(path)
    format_info(meta)  # what `sneakerstudio info` prints must work on anything read
    return meta


# -- A1111 parameters text -------------------------------------------------------------------


def test_a_two_megabyte_parameters_text_is_read_whole_and_fast(tmp_path: Path) -> None:
    prompt = "a sneaker, " * 190_000  # 2.09 MB
    data = png_with(text_chunk("parameters", f"{prompt}\nNegative prompt: blur\n{PARAMS_TAIL}"))
    started = time.perf_counter()
    meta = read(tmp_path, data)
    # Not a speed test: the quadratic parser took over a minute; linear takes ~1.5 s.
    assert time.perf_counter() - started < 20.0
    assert meta["prompt"] == prompt.strip() and meta["negative_prompt"] == "blur"
    assert meta["steps"] == 20 and meta["size"] == "512x768" and meta["seed"] == 42


def test_a_params_line_of_escaped_quotes_is_parsed_in_linear_time() -> None:
    """Every value opens a quoted string whose quotes are all escaped: a naive parser scans
    the rest of the line for each one (quadratic: about a minute for 1 MB)."""
    for line in ('k: "\\", ' * 130_000, 'k: "a\\"\\", ' * 100_000 + 'k: "end"x'):
        started = time.perf_counter()
        parsed = parse_parameters("prompt\n" + line)
        assert time.perf_counter() - started < 20.0  # quadratic: about a minute
        assert len(parsed["pairs"]) >= 100_000
    assert parse_parameters('p\nA: "x, y", B: "unterminated, C: 3, D: "q\\"" , E: "z"')[
        "pairs"
    ] == [("A", "x, y"), ("B", '"unterminated'), ("C", "3"), ("D", 'q"'), ("E", "z")]


def test_invalid_utf8_and_latin1_text_are_read_without_error(tmp_path: Path) -> None:
    meta = read(
        tmp_path, png_with(itxt_chunk("parameters", b"a \xff\xfe shoe\n" + PARAMS_TAIL.encode()))
    )
    assert meta["prompt"] == "a \ufffd\ufffd shoe" and meta["steps"] == 20
    meta = read(tmp_path, png_with(text_chunk("parameters", b"caf\xe9\n" + PARAMS_TAIL.encode())))
    assert meta["prompt"] == "café" and meta["seed"] == 42
    meta = read(tmp_path, png_with(text_chunk("param\xe9ters\xff", b"\xff\x00\x01")))
    assert meta["source"] is None


NONSENSE = {
    "Steps: banana": ("steps", "Steps", "banana"),
    "Size: -5x0": ("size", "Size", "-5x0"),
    "Size: 512x99999999999": ("size", "Size", "512x99999999999"),
    "Seed: 99999999999999999999999": ("seed", "Seed", "99999999999999999999999"),
    "Seed: -3": ("seed", "Seed", "-3"),
    "Steps: 99999999999": ("steps", "Steps", "99999999999"),
    "Steps: 0": ("steps", "Steps", "0"),
    "CFG scale: nan": ("cfg", "CFG scale", "nan"),
    "CFG scale: 1e308": ("cfg", "CFG scale", "1e308"),
}


@pytest.mark.parametrize("field", sorted(NONSENSE))
def test_nonsense_values_are_left_out_and_kept_as_text(tmp_path: Path, field: str) -> None:
    key, label, text = NONSENSE[field]
    others = "Sampler: Euler, Model: dreamshaper_8, Version: v1"
    meta = read(tmp_path, png_with(text_chunk("parameters", f"a shoe\n{field}, {others}")))
    assert meta["source"] == "a1111" and meta["prompt"] == "a shoe"
    assert meta[key] is None  # nothing absurd reaches whoever applies the values
    assert meta["extras"][label] == text  # but `info` still shows what the file says
    assert meta["sampler"] == "Euler" and meta["model"] == "dreamshaper_8"


def test_odd_layouts_of_the_parameters_text(tmp_path: Path) -> None:
    dup = read(tmp_path, png_with(text_chunk("parameters", "x\nSteps: 20, Seed: 1, Steps: 30")))
    assert dup["steps"] == 30  # as in A1111: the last one wins
    no_negative = read(tmp_path, png_with(text_chunk("parameters", f"a shoe\n{PARAMS_TAIL}")))
    assert no_negative["prompt"] == "a shoe" and no_negative["negative_prompt"] == ""
    for text in ("\n", "", "\n\n\n", "Negative prompt:", "Steps: 20"):
        meta = read(tmp_path, png_with(text_chunk("parameters", text)))
        assert meta["steps"] in (None, 20)
        assert isinstance(format_info(meta), str)
    assert format_info(read(tmp_path, png_with(text_chunk("parameters", "\n")))) == (
        "No generation metadata found."
    )
    two = read(
        tmp_path,
        png_with(
            text_chunk("parameters", "first\n" + PARAMS_TAIL),
            text_chunk("parameters", "second\n" + PARAMS_TAIL),
        ),
    )
    assert two["prompt"] == "first"  # the first chunk of a name counts, as in Pillow


# -- ComfyUI, InvokeAI, NovelAI, Fooocus, ours -------------------------------------------------


def _comfy(nodes: Any) -> bytes:
    return png_with(text_chunk("prompt", json.dumps(nodes)))


COMFY_SAMPLER = {
    "class_type": "KSampler",
    "inputs": {
        "seed": ["2", 0],
        "steps": ["2", 0],
        "cfg": 7,
        "positive": ["3", 0],
        "negative": ["9", 0],
        "latent_image": ["1", 0],
        "model": ["3", 0],
        "sampler_name": "euler",
        "scheduler": "karras",
    },
}


@pytest.mark.parametrize(
    "data",
    [
        png_with(text_chunk("prompt", "{not json")),
        png_with(text_chunk("prompt", "[1, 2, 3]")),
        png_with(text_chunk("prompt", "null")),
        png_with(text_chunk("prompt", "[" * 100_000 + "]" * 100_000)),
        png_with(text_chunk("prompt", '{"a":' * 100_000 + "1" + "}" * 100_000)),
        png_with(text_chunk("workflow", "{}")),
        _comfy({"1": COMFY_SAMPLER}),  # links to nodes that do not exist
        _comfy(
            {  # every link a cycle
                "1": COMFY_SAMPLER,
                "2": {"class_type": "Primitive", "inputs": {"value": ["2", 0]}},
                "3": {
                    "class_type": "CLIPTextEncode",
                    "inputs": {"text": ["3", 0], "model": ["3", 0], "clip": ["1", 0]},
                },
            }
        ),
        _comfy({"1": {"class_type": "KSampler", "inputs": [1, 2]}, "2": 5, "3": None}),
        _comfy(
            {
                "1": {
                    **COMFY_SAMPLER,
                    "inputs": {
                        **COMFY_SAMPLER["inputs"],
                        "seed": 10**40,
                        "steps": -4,
                        "cfg": "NaN",
                    },
                }
            }
        ),
    ],
    ids=[
        "not-json",
        "list",
        "null",
        "deep-list",
        "deep-object",
        "workflow-only",
        "missing-nodes",
        "cycles",
        "wrong-types",
        "absurd-values",
    ],
)
def test_broken_comfyui_graphs_give_what_can_be_read(tmp_path: Path, data: bytes) -> None:
    started = time.perf_counter()
    meta = read(tmp_path, data)
    assert time.perf_counter() - started < 10.0  # a cycle or a deep graph must not hang
    assert meta["source"] in (None, "comfyui")
    assert meta["seed"] is None or 0 <= meta["seed"] < 2**64
    assert meta["steps"] is None or 1 <= meta["steps"] <= MAX_READ_STEPS


@pytest.mark.parametrize(
    "chunks",
    [
        [text_chunk("invokeai_metadata", "[1]")],
        [
            text_chunk(
                "invokeai_metadata",
                json.dumps(
                    {
                        "positive_prompt": ["a"],
                        "steps": "x",
                        "model": [1],
                        "width": 1e309,
                        "seed": {"a": 1},
                        "cfg_scale": float("inf"),
                        "scheduler": 5,
                    }
                ),
            )
        ],
        [text_chunk("sd-metadata", json.dumps({"image": {"prompt": [1, "a", {"prompt": 5}]}}))],
        [text_chunk("sd-metadata", json.dumps({"image": "flat", "model_weights": {"x": 1}}))],
        [text_chunk("Software", "NovelAI"), text_chunk("Comment", "[1]")],
        [
            text_chunk("Software", "NovelAI"),
            text_chunk(
                "Comment",
                json.dumps({"uc": 1, "scale": "x", "prompt": 5, "width": -5, "height": 10**30}),
            ),
        ],
        [
            text_chunk(
                "parameters",
                json.dumps(
                    {"metadata_scheme": "fooocus", "prompt": 5, "resolution": [1], "steps": [2]}
                ),
            )
        ],
        [text_chunk("sneakerstudio", "[1]")],
        [text_chunk("sneakerstudio", "{broken")],
    ],
    ids=[
        "invoke-list",
        "invoke-types",
        "invoke2-prompt-list",
        "invoke2-flat",
        "novelai-list",
        "novelai-types",
        "fooocus-types",
        "ours-list",
        "ours-broken",
    ],
)
def test_json_metadata_of_the_wrong_shape_gives_what_can_be_read(
    tmp_path: Path, chunks: list[bytes]
) -> None:
    meta = read(tmp_path, png_with(*chunks))
    assert meta["prompt"] is None or isinstance(meta["prompt"], str)
    assert meta["size"] is None or meta["size"].count("x") == 1
    assert meta["cfg"] is None or 0 <= meta["cfg"] <= 100


def test_our_own_json_with_absurd_values_is_cleaned_and_refused(tmp_path: Path) -> None:
    bad = {
        "prompt": "x",
        "steps": 10**30,
        "guidance": float("nan"),
        "width": 10**40,
        "height": -3,
        "seed": -99,
        "sampler": ["a"],
        "model": 5,
        "batch_size": 2,
        "strength": 0.5,
        "negative_prompt": "blur",
    }
    data = png_with(
        text_chunk("parameters", "x\nSteps: 1, Sampler: a, Seed: 2"),
        text_chunk("sneakerstudio", json.dumps(bad)),
    )
    meta = read(tmp_path, data)
    request = meta["request"]
    assert request == {"prompt": "x", "batch_size": 2, "strength": 0.5, "negative_prompt": "blur"}
    assert meta["steps"] is None and meta["size"] is None and meta["cfg"] is None
    # The request type refuses the same values with messages, if anything builds one.
    with pytest.raises(RequestError):
        GenerationRequest.from_dict(bad)
    bad_but_typed = {k: v for k, v in bad.items() if k not in ("sampler", "model")}
    problems = GenerationRequest.from_dict(bad_but_typed).problems()
    assert any("Steps" in p for p in problems) and any("Width" in p for p in problems)
    assert any("Guidance" in p for p in problems) and any("Seed" in p for p in problems)


def test_restoring_any_corpus_file_into_the_panels_stays_in_range(tmp_path: Path, qtbot) -> None:
    """What drag and drop does: read the file, map it to panel values, set them. Nothing
    raises (QSpinBox.setValue overflows past 2^31) and every field stays in its range."""
    from sneakerstudio.qt.main_window import params_from_metadata
    from sneakerstudio.qt.mode_panel import ModePanel
    from sneakerstudio.qt.params_panel import ParamsPanel

    params, modes = ParamsPanel(), ModePanel()
    qtbot.addWidget(params)
    qtbot.addWidget(modes)
    files = [
        png_with(text_chunk("parameters", f"a shoe\n{field}, Sampler: Euler")) for field in NONSENSE
    ]
    files.append(
        png_with(
            text_chunk(
                "sneakerstudio",
                json.dumps(
                    {
                        "prompt": "x",
                        "steps": 10**30,
                        "guidance": float("inf"),
                        "width": 10**12,
                        "height": 2**31,
                        "seed": 2**70,
                        "batch_size": 10**9,
                        "strength": float("nan"),
                        "mask_blur": 10**20,
                        "padding": -(10**20),
                    }
                ),
            )
        )
    )
    files.append(
        png_with(
            text_chunk(
                "parameters",
                "a\nSteps: 9999, CFG scale: 99, Seed: 18446744073709551615, Size: 65535x65535",
            )
        )
    )
    for i, data in enumerate(files):
        meta = read(tmp_path, data, f"corpus-{i}.png")
        values = params_from_metadata(meta)
        params.set_values(values)
        modes.set_values(values)
        got = params.values()
        assert 1 <= got["steps"] <= 500 and 0 <= got["guidance"] <= 50
        assert 64 <= got["width"] <= 4096 and 64 <= got["height"] <= 4096
        assert got["seed"] == -1 or 0 <= got["seed"] < 2**32


# -- the container -----------------------------------------------------------------------------


def _jpeg_with_comment(comment: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG", comment=comment)
    return buffer.getvalue()


def test_damaged_containers_raise_a_clear_image_file_error(tmp_path: Path) -> None:
    good = small_png()
    damaged = {
        "truncated-chunks.png": good[:40],
        "no-ihdr.png": good[:8] + chunk(b"tEXt", b"parameters\0x") + good[8:],
        "bad-ihdr.png": good[:8] + chunk(b"IHDR", b"\0" * 5) + good[33:],
        "length-past-end.png": good[:33] + struct.pack(">I", 2**31 - 1) + b"tEXt" + b"x" * 8,
        "chunk-type-junk.png": good[:33] + struct.pack(">I", 4) + b"\0\1\2\3" + b"x" * 8,
        "not-an-image.png": b"GIF89a" + b"\0" * 64,
        "empty.png": b"",
    }
    for name, data in damaged.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ImageFileError) as caught:
            read_png_metadata(path)
        assert name in str(caught.value), name
    with pytest.raises(ImageFileError, match="Cannot read"):
        read_png_metadata(tmp_path / "missing.png")


def test_odd_but_readable_containers(tmp_path: Path) -> None:
    good = small_png()
    after_iend = good + text_chunk("parameters", "late\n" + PARAMS_TAIL)
    assert read(tmp_path, after_iend)["prompt"] is None  # reading stops at IEND
    bad_crc = bytearray(png_with(text_chunk("parameters", "x\n" + PARAMS_TAIL)))
    bad_crc[44] ^= 0xFF  # a byte of the text, not of the chunk header
    assert read(tmp_path, bytes(bad_crc))["source"] is None  # a corrupt chunk is skipped
    broken_z = png_with(chunk(b"zTXt", b"parameters\0\0not zlib at all"))
    assert read(tmp_path, broken_z)["prompt"] is None
    jpeg = read(tmp_path, _jpeg_with_comment(b"a \xff shoe\n" + PARAMS_TAIL.encode()), "a.jpg")
    assert jpeg["steps"] == 20
    # Stealth pnginfo: the signature in the alpha bits, then a length far past the pixels.
    pixels = np.full((32, 32, 4), 255, np.uint8)
    bits = np.unpackbits(np.frombuffer(b"stealth_pnginfo" + b"\xff\xff\xff\xff", np.uint8))
    column_major = pixels.transpose(1, 0, 2)[..., 3].reshape(-1)
    column_major[: bits.size] = 254 | bits
    pixels[..., 3] = column_major.reshape(32, 32).T
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, "PNG")
    assert read(tmp_path, buffer.getvalue())["source"] is None
