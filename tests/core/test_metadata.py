"""PNG generation metadata: the A1111 text exactly, safe saving, and reading every tool's files."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from sneakerstudio import __version__
from sneakerstudio.core.imaging.metadata import (
    build_parameters,
    format_info,
    parse_parameters,
    read_png_metadata,
    save_png,
)
from sneakerstudio.core.protocol.errors import ImageFileError

PRODUCT_EXAMPLE = (
    "a doodle of a sneaker <lora:graffiti:0.8>\nNegative prompt: blurry\nSteps: 30, Sampler: "
    "DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 123, Size: 512x512, Model hash: "
    "31e35c80fc, Model: dreamshaper_8, Version: sneakerstudio 0.1"
)


def png_text_chunks(path: Path) -> list[tuple[bytes, str]]:
    """(chunk type, keyword) of each text chunk, read independently of the code under test."""
    data = path.read_bytes()
    out, pos = [], 8
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            body = data[pos + 8 : pos + 8 + length]
            out.append((ctype, body.split(b"\0", 1)[0].decode("latin-1")))
        pos += 12 + length
    return out


def small_image() -> Image.Image:
    return Image.new("RGB", (16, 8), (200, 30, 40))


# -- build_parameters -----------------------------------------------------------------------


def test_product_example_is_reproduced_byte_for_byte() -> None:
    text = build_parameters(
        prompt="a doodle of a sneaker <lora:graffiti:0.8>",
        negative_prompt="blurry",
        steps=30,
        sampler="DPM++ 2M",
        schedule_type="Karras",
        cfg=7.0,
        seed=123,
        width=512,
        height=512,
        model_hash="31e35c80fc",
        model_name="dreamshaper_8",
        version="sneakerstudio 0.1",
    )
    assert text == PRODUCT_EXAMPLE


def test_full_params_line_order_and_number_format() -> None:
    text = build_parameters(
        prompt="p",
        steps=20,
        sampler="Euler a",
        schedule_type="Automatic",
        cfg=7.5,
        seed=4294967295,
        width=768,
        height=512,
        model_hash="abcdef0123",
        model_name="m",
        vae_hash="0123456789",
        vae_name="vae-ft-mse",
        denoising_strength=0.75,
        clip_skip=2,
        extras={"Mask blur": 4, "Inpaint area": "Only masked", "Masked area padding": 32},
        lora_hashes={"graffiti": "0123456789ab", "ink": "ba9876543210"},
    )
    assert text == (
        "p\nSteps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7.5, "
        "Seed: 4294967295, Size: 768x512, Model hash: abcdef0123, Model: m, VAE hash: 0123456789, "
        "VAE: vae-ft-mse, Denoising strength: 0.75, Clip skip: 2, Mask blur: 4, "
        "Inpaint area: Only masked, Masked area padding: 32, "
        'Lora hashes: "graffiti: 0123456789ab, ink: ba9876543210", '
        f"Version: sneakerstudio {__version__}"
    )


def test_none_values_clip_skip_1_and_empty_negative_are_left_out() -> None:
    text = build_parameters(prompt="p", steps=4, cfg=1.0, clip_skip=1, version=None)
    assert text == "p\nSteps: 4, CFG scale: 1"


def test_values_with_comma_colon_or_newline_are_json_quoted() -> None:
    text = build_parameters(
        prompt="p", steps=1, extras={"A": "x, y", "B": "k: v", "C": "two\nlines", "D": "plain"}
    )
    assert 'A: "x, y", B: "k: v", C: "two\\nlines", D: plain' in text
    assert text.count("\n") == 1  # the quoted newline stays on the params line


# -- save_png / read_png_metadata round trips ----------------------------------------------

FIELDS: dict[str, Any] = {
    "prompt": "a (red:1.2) sneaker, white sole",
    "negative_prompt": "blurry, lowres",
    "steps": 28,
    "sampler": "DPM++ 2M",
    "schedule_type": "Karras",
    "cfg": 6.5,
    "seed": 987654321,
    "width": 640,
    "height": 512,
    "model_hash": "31e35c80fc",
    "model_name": "dreamshaper_8",
    "vae_hash": "735e4c3a44",
    "vae_name": "vae-ft-mse-840000",
    "denoising_strength": 0.55,
    "clip_skip": 2,
    "extras": {"Mask blur": 4, "Hires upscaler": "R-ESRGAN 4x+"},
    "lora_hashes": {"graffiti": "0123456789ab"},
}


def request_json(**overrides: Any) -> str:
    request = {
        "model": "/models/dreamshaper_8.safetensors",
        "prompt": FIELDS["prompt"],
        "negative_prompt": FIELDS["negative_prompt"],
        "steps": FIELDS["steps"],
        "guidance": FIELDS["cfg"],
        "width": FIELDS["width"],
        "height": FIELDS["height"],
        "seed": FIELDS["seed"],
        "sampler": "DPM++ 2M Karras",
        "batch_size": 1,
        "mode": "txt2img",
        "extra": {},
    }
    request.update(overrides)
    return json.dumps(request, ensure_ascii=False, sort_keys=True)


def assert_fields(meta: dict[str, Any], fields: dict[str, Any]) -> None:
    assert meta["prompt"] == fields["prompt"]
    assert meta["negative_prompt"] == fields["negative_prompt"]
    assert meta["steps"] == fields["steps"] and isinstance(meta["steps"], int)
    assert meta["sampler"] == fields["sampler"]
    assert meta["scheduler"] == fields["schedule_type"]
    assert meta["cfg"] == fields["cfg"] and isinstance(meta["cfg"], float)
    assert meta["seed"] == fields["seed"] and isinstance(meta["seed"], int)
    assert meta["size"] == f"{fields['width']}x{fields['height']}"
    assert meta["model"] == fields["model_name"]
    assert meta["model_hash"] == fields["model_hash"]
    extras = meta["extras"]
    assert extras["VAE hash"] == fields["vae_hash"]
    assert extras["VAE"] == fields["vae_name"]
    assert float(extras["Denoising strength"]) == fields["denoising_strength"]
    assert int(extras["Clip skip"]) == fields["clip_skip"]
    for key, value in fields["extras"].items():
        assert extras[key] == str(value)
    assert meta["lora_hashes"] == fields["lora_hashes"]
    assert extras["Version"] == f"sneakerstudio {__version__}"


def test_round_trip_build_save_read_gives_back_every_field(tmp_path: Path) -> None:
    parameters = build_parameters(**FIELDS)
    path = save_png(
        small_image(), tmp_path / "out.png", parameters=parameters, request_json=request_json()
    )
    meta = read_png_metadata(path)
    assert meta["source"] == "sneakerstudio"
    assert_fields(meta, FIELDS)
    assert meta["request"] == json.loads(request_json())
    assert meta["raw"]["parameters"] == parameters
    assert format_info(meta) == parameters
    # Pixels survive too.
    with Image.open(path) as im:
        assert im.size == (16, 8) and im.getpixel((3, 3)) == (200, 30, 40)
    assert png_text_chunks(path) == [(b"tEXt", "parameters"), (b"tEXt", "sneakerstudio")]


def test_parameters_alone_round_trip_through_the_a1111_parser(tmp_path: Path) -> None:
    path = save_png(
        small_image(), tmp_path / "a.png", parameters=build_parameters(**FIELDS), request_json=None
    )
    meta = read_png_metadata(path)
    assert meta["source"] == "sneakerstudio"  # recognised by its Version
    assert meta["request"] is None
    assert_fields(meta, FIELDS)


@pytest.mark.parametrize(
    "prompt",
    ["スニーカーの落書き, 白い靴底 👟🔥", "Größe: ä, ö — “quotes”"],
    ids=["japanese-emoji", "non-latin1-punctuation"],
)
def test_non_latin1_prompt_uses_itxt_and_round_trips(tmp_path: Path, prompt: str) -> None:
    fields = {**FIELDS, "prompt": prompt, "negative_prompt": "ぼやけた 😵"}
    parameters = build_parameters(**fields)
    path = save_png(
        small_image(),
        tmp_path / "u.png",
        parameters=parameters,
        request_json=request_json(prompt=prompt, negative_prompt="ぼやけた 😵"),
    )
    chunks = dict((key, ctype) for ctype, key in png_text_chunks(path))
    assert chunks == {"parameters": b"iTXt", "sneakerstudio": b"iTXt"}
    meta = read_png_metadata(path)
    assert_fields(meta, fields)
    assert meta["raw"]["parameters"] == parameters
    # And through the parameters text alone, without our JSON chunk.
    bare = save_png(small_image(), tmp_path / "u.png", parameters=parameters, request_json=None)
    assert_fields(read_png_metadata(bare), fields)


def test_prompt_with_commas_colons_quotes_and_newlines_round_trips(tmp_path: Path) -> None:
    fields = {
        **FIELDS,
        "prompt": 'line one: a, b, (c:1.3)\n"quoted" line two\n\nStyle: ink, 2 colours',
        "negative_prompt": "bad: hands,\nextra fingers",
        "model_name": "my model, v2: final",
        "extras": {
            "Note": 'he said "hi", then: left\nand a newline',
            "Lead quote": '"starts with a quote',
            "Backslash": "C:\\models\\x",
        },
    }
    parameters = build_parameters(**fields)
    path = save_png(small_image(), tmp_path / "t.png", parameters=parameters, request_json=None)
    assert_fields(read_png_metadata(path), fields)


def test_our_json_chunk_is_authoritative(tmp_path: Path) -> None:
    # A prompt line that looks like a negative prompt fools any A1111 reader; the JSON does not.
    prompt = "a sneaker\nNegative prompt: is part of my prompt"
    parameters = build_parameters(**{**FIELDS, "prompt": prompt, "negative_prompt": ""})
    path = save_png(
        small_image(),
        tmp_path / "j.png",
        parameters=parameters,
        request_json=request_json(prompt=prompt, negative_prompt=""),
    )
    meta = read_png_metadata(path)
    assert meta["prompt"] == prompt
    assert meta["negative_prompt"] == ""
    assert parse_parameters(parameters)["prompt"] == "a sneaker"  # what the text alone says


# -- parsing A1111 text ---------------------------------------------------------------------


def test_a1111_parser_handles_the_awkward_cases(tmp_path: Path) -> None:
    text = (
        "masterpiece, 1girl,\nsecond prompt line\n"
        "Negative prompt: lowres,\nbad anatomy\n"
        "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 42, Size: 512x768, "
        'Model hash: 6ce0161689, Model: v1-5, Lora hashes: "a: 111111111111, b: 222222222222", '
        'TI hashes: "emb: 3333", Hires prompt: "x, y\\nz", Version: v1.6.0'
    )
    meta = read_png_metadata(png_with_text(tmp_path, {"parameters": text}))
    assert meta["prompt"] == "masterpiece, 1girl,\nsecond prompt line"
    assert meta["negative_prompt"] == "lowres,\nbad anatomy"
    assert (meta["sampler"], meta["scheduler"]) == ("DPM++ 2M", "Karras")  # old-style name split
    assert meta["lora_hashes"] == {"a": "111111111111", "b": "222222222222"}
    assert meta["extras"]["TI hashes"] == "emb: 3333"
    assert meta["extras"]["Hires prompt"] == "x, y\nz"
    assert meta["extras"]["Version"] == "v1.6.0"
    assert meta["source"] == "a1111"


def test_a1111_without_negative_prompt_or_params_line(tmp_path: Path) -> None:
    text = "just a prompt\nSteps: 5, Sampler: Euler, Seed: 1"
    meta = read_png_metadata(png_with_text(tmp_path, {"parameters": text}))
    assert (meta["prompt"], meta["negative_prompt"], meta["steps"]) == ("just a prompt", "", 5)
    text = "a prompt, with: only two, pairs: here"
    meta = read_png_metadata(png_with_text(tmp_path, {"parameters": text}))
    assert meta["prompt"] == "a prompt, with: only two, pairs: here"
    assert meta["steps"] is None and meta["extras"] == {}


def png_with_text(folder: Path, chunks: dict[str, str]) -> Path:
    """A small PNG with the given text chunks, written by Pillow as A1111 and ComfyUI do."""
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    path = folder / "written-by-pillow.png"
    small_image().save(path, pnginfo=info)
    return path


# -- real files written by other tools -------------------------------------------------------

REAL: dict[str, dict[str, Any]] = {
    "a1111_cropped_duck.png": {
        "source": "a1111",
        "prompt": "photo of a duck",
        "negative_prompt": "monochrome",
        "steps": 15,
        "sampler": "UniPC",
        "scheduler": None,
        "cfg": 5.0,
        "seed": 235284042,
        "size": "512x400",  # the PNG itself is 1x1
        "model": "realistic_realisticVisionV20_v20",
        "model_hash": "c0d1994c73",
    },
    "a1111_stealth_pnginfo.png": {
        "source": "a1111",
        "prompt": "a circle",
        "negative_prompt": "a square",
        "steps": 20,
        "sampler": "Euler",
        "scheduler": "Automatic",
        "cfg": 7.0,
        "seed": 2015833630,
        "size": "64x64",
        "model": "realisticVisionV51_v51VAE",
        "model_hash": "15012c538f",
    },
    "comfyui_embedding_workflow.png": {
        "source": "comfyui",
        "prompt": "photograph in the style of embedding:SDA768.pt girl with blonde hair\n"
        "landscape scenery view",
        "negative_prompt": "bad hands",
        "steps": 20,
        "sampler": "uni_pc_bh2",
        "scheduler": "normal",
        "cfg": 8.0,
        "seed": 193694018275622,
        "size": "768x768",
        "model": "v2-1_768-ema-pruned.ckpt",
    },
    "comfyui_hypernetwork_example_output.png": {
        "source": "comfyui",
        "prompt": "woman (fennec ears fox ears:1.1), marble statue, museum",
        "negative_prompt": "text, watermark",
        "steps": 20,
        "sampler": "uni_pc_bh2",
        "scheduler": "normal",
        "cfg": 8.0,
        "seed": 572636856966402,
        "size": "512x512",
        "model": "v1-5-pruned-emaonly.ckpt",  # through the HypernetworkLoader
    },
    "comfyui_lora_workflow.png": {
        "source": "comfyui",
        "prompt": "masterpiece best quality girl",
        "negative_prompt": "bad hands",
        "steps": 20,
        "sampler": "euler",
        "scheduler": "normal",
        "cfg": 8.0,
        "seed": 851616030078638,
        "size": "512x512",
        "model": "v1-5-pruned-emaonly.ckpt",  # through the LoraLoader
    },
    "comfyui_sdxl_simple_example.png": {
        # Two KSamplerAdvanced nodes: the base pass (node 10) is the one reported.
        "source": "comfyui",
        "prompt": "evening sunset scenery blue sky nature, glass bottle with a galaxy in it",
        "negative_prompt": "text, watermark",
        "steps": 25,
        "sampler": "euler",
        "scheduler": "normal",
        "cfg": 8.0,
        "seed": 721897303308196,
        "size": "1024x1024",
        "model": "sd_xl_base_1.0.safetensors",
    },
    "comfyui_sdxlturbo_example.png": {
        # SamplerCustom: sampler from KSamplerSelect, steps from SDTurboScheduler.
        "source": "comfyui",
        "prompt": "beautiful landscape scenery glass bottle with a galaxy inside cute fennec fox "
        "snow HDR sunset",
        "negative_prompt": "text, watermark",
        "steps": 1,
        "sampler": "euler_ancestral",
        "scheduler": "SDTurboScheduler",
        "cfg": 1.0,
        "seed": 0,
        "size": "512x512",
        "model": "sd_xl_turbo_1.0_fp16.safetensors",
    },
    "invokeai_metadata_sdxl.png": {
        "source": "invokeai",
        "prompt": "digital artwork, oil painting. painterly brushstrokes, holidays,",
        "negative_prompt": "grainy+, photo, oversaturated, overexposed, blurry, compressed jpg+, "
        "noisy++, unfocused , black and white",
        "steps": 35,
        "sampler": "euler",
        "cfg": 8.0,
        "seed": 3293022630,
        "size": "1024x1024",
        "model": "juggernautXL",
    },
    "fooocus_cropped.png": {
        "source": "fooocus",
        "prompt": "a smiling goldfish",
        "negative_prompt": "",
        "steps": 30,
        "sampler": "dpmpp_2m_sde_gpu",
        "scheduler": "karras",
        "cfg": 4.0,
        "seed": 6952411511246973023,  # stored as a string; read as int
        "size": "768x1280",  # "resolution": "(768, 1280)" is (width, height)
        "model": "juggernautXL_v8Rundiffusion",
        "model_hash": "aeb7e9e689",
    },
    "novelai_cropped.png": {
        "source": "novelai",
        "prompt": "masterpiece, best quality,  cat, space, icon",
        "steps": 50,
        "sampler": "k_euler_ancestral",
        "cfg": 10.0,
        "seed": 2253955223,
        "size": None,  # this NovelAI version did not record the size
        "model": "Stable Diffusion 1D44365E",
    },
}


def test_every_real_sample_has_an_expectation(real_metadata_dir: Path) -> None:
    assert {p.name for p in real_metadata_dir.glob("*.png")} == set(REAL)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_sample(real_metadata_dir: Path, name: str) -> None:
    meta = read_png_metadata(real_metadata_dir / name)
    for key, expected in REAL[name].items():
        assert meta[key] == expected, key
    for key in ("steps", "seed"):
        assert isinstance(meta[key], int)
    assert isinstance(meta["cfg"], float)
    info = format_info(meta)
    assert str(REAL[name]["seed"]) in info and "Steps: " in info


def test_real_sample_extras(real_metadata_dir: Path) -> None:
    lora = read_png_metadata(real_metadata_dir / "comfyui_lora_workflow.png")
    assert lora["extras"]["Loras"] == "epiNoiseoffset_v2.safetensors: 1"
    stealth = read_png_metadata(real_metadata_dir / "a1111_stealth_pnginfo.png")
    assert stealth["extras"] == {"Clip skip": "2", "Version": "v1.9.4-169-ga30b19dd"}
    assert format_info(stealth).startswith("a circle\nNegative prompt: a square\nSteps: 20")
    novelai = read_png_metadata(real_metadata_dir / "novelai_cropped.png")
    assert novelai["negative_prompt"].startswith("lowres, bad anatomy, bad hands")
    assert novelai["extras"]["strength"] == "0.4"
    invoke = read_png_metadata(real_metadata_dir / "invokeai_metadata_sdxl.png")
    assert invoke["extras"]["vae"] == "VAEFix"


# -- other containers and hidden metadata ----------------------------------------------------


def stealth_bits(text: str, signature: bytes) -> list[int]:
    payload = text.encode()
    if signature.endswith(b"comp"):
        payload = gzip.compress(payload)
    data = signature + struct.pack(">I", len(payload) * 8) + payload
    return [(byte >> (7 - i)) & 1 for byte in data for i in range(8)]


def test_stealth_info_in_rgb_low_bits(tmp_path: Path) -> None:
    text = "hidden prompt\nSteps: 9, Sampler: Euler, CFG scale: 3, Seed: 77, Size: 64x48"
    bits = stealth_bits(text, b"stealth_rgbinfo")
    width, height = 40, 30
    image = Image.new("RGB", (width, height), (128, 128, 128))
    pixels = image.load()
    for index in range(0, len(bits), 3):
        pixel = index // 3
        x, y = divmod(pixel, height)  # column by column
        rgb = list(pixels[x, y])
        for channel, bit in enumerate(bits[index : index + 3]):
            rgb[channel] = (rgb[channel] & ~1) | bit
        pixels[x, y] = tuple(rgb)
    path = tmp_path / "stealth.png"
    image.save(path)
    meta = read_png_metadata(path)
    assert (meta["source"], meta["prompt"], meta["seed"], meta["size"]) == (
        "a1111",
        "hidden prompt",
        77,
        "64x48",
    )


def test_jpeg_with_a1111_user_comment(tmp_path: Path) -> None:
    text = "a sneaker, 靴\nNegative prompt: dull\n"
    text += "Steps: 12, Sampler: Euler a, CFG scale: 7, Seed: 5"
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + text.encode("utf-16-be")
    path = tmp_path / "a.jpg"
    small_image().save(path, exif=exif)
    meta = read_png_metadata(path)
    assert (meta["source"], meta["prompt"], meta["negative_prompt"]) == (
        "a1111",
        "a sneaker, 靴",
        "dull",
    )
    assert (meta["steps"], meta["seed"], meta["cfg"]) == (12, 5, 7.0)


def test_comfyui_sampler_custom_advanced_graph(tmp_path: Path) -> None:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": ["9", 0], "clip": ["1", 1]}},
        "9": {"class_type": "PrimitiveString", "inputs": {"value": "a red sneaker"}},
        "3": {"class_type": "RandomNoise", "inputs": {"noise_seed": 31337}},
        "4": {"class_type": "BasicGuider", "inputs": {"model": ["1", 0], "conditioning": ["2", 0]}},
        "5": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "6": {
            "class_type": "BasicScheduler",
            "inputs": {"scheduler": "simple", "steps": 4, "denoise": 1.0, "model": ["1", 0]},
        },
        "7": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 832, "height": 1216}},
        "8": {
            "class_type": "SamplerCustomAdvanced",
            "inputs": {
                "noise": ["3", 0],
                "guider": ["4", 0],
                "sampler": ["5", 0],
                "sigmas": ["6", 0],
                "latent_image": ["7", 0],
            },
        },
    }
    meta = read_png_metadata(png_with_text(tmp_path, {"prompt": json.dumps(graph)}))
    assert meta["source"] == "comfyui"
    assert meta["prompt"] == "a red sneaker"
    assert meta["negative_prompt"] is None
    assert (meta["seed"], meta["steps"], meta["sampler"], meta["scheduler"]) == (
        31337,
        4,
        "euler",
        "simple",
    )
    assert (meta["size"], meta["model"], meta["cfg"]) == ("832x1216", "flux.safetensors", None)


def test_png_without_metadata_reads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.new("RGBA", (32, 32), (1, 2, 3, 255)).save(path)
    meta = read_png_metadata(path)
    assert meta["source"] is None and meta["prompt"] is None and meta["raw"] == {}
    assert format_info(meta) == "No generation metadata found."


# -- broken files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, not an image", b"GIF89a" + b"\0" * 40, b"%PDF-1.7\n"],
    ids=["empty", "text", "gif", "pdf"],
)
def test_non_images_are_refused_with_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "thing.png"
    path.write_bytes(content)
    with pytest.raises(ImageFileError, match="not a PNG, JPEG or WebP"):
        read_png_metadata(path)


def test_missing_file_is_an_image_file_error(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match=r"nope\.png"):
        read_png_metadata(tmp_path / "nope.png")


def test_truncated_png_is_an_image_file_error(tmp_path: Path) -> None:
    source = save_png(
        Image.effect_noise((64, 64), 50).convert("RGB"),
        tmp_path / "whole.png",
        parameters=build_parameters(**FIELDS),
        request_json=request_json(),
    )
    data = source.read_bytes()
    for cut in (9, 20, 40, len(data) // 2, len(data) - 5):
        broken = tmp_path / f"cut{cut}.png"
        broken.write_bytes(data[:cut])
        with pytest.raises(ImageFileError):
            read_png_metadata(broken)


def test_damaged_chunk_structure_is_an_image_file_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\xff\xff\xff\xff" + b"\x00\x01\x02\x03" + b"x" * 64)
    with pytest.raises(ImageFileError):
        read_png_metadata(path)


def test_corrupt_or_oversized_text_chunks_are_skipped(tmp_path: Path, monkeypatch) -> None:
    from sneakerstudio.core.imaging.metadata import chunks

    path = save_png(
        small_image(),
        tmp_path / "x.png",
        parameters=build_parameters(**FIELDS),
        request_json=request_json(),
    )
    data = bytearray(path.read_bytes())
    at = data.index(b"tEXtparameters") + 4 + len("parameters") + 3
    data[at] ^= 0x20  # flip a bit inside the parameters text: its CRC no longer matches
    path.write_bytes(bytes(data))
    meta = read_png_metadata(path)
    assert "parameters" not in meta["raw"] and "sneakerstudio" in meta["raw"]

    monkeypatch.setattr(chunks, "MAX_TEXT_CHUNK", 64)
    assert read_png_metadata(path)["raw"] == {}


# -- atomic, non-overwriting save ---------------------------------------------------------------


def test_save_never_overwrites_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "sneaker.png"
    first = save_png(small_image(), target, parameters="first\nSteps: 1", request_json=None)
    original = first.read_bytes()
    second = save_png(small_image(), target, parameters="second\nSteps: 2", request_json=None)
    third = save_png(small_image(), target, parameters="third\nSteps: 3", request_json=None)
    assert first == target
    assert (second.name, third.name) == ("sneaker-1.png", "sneaker-2.png")
    assert target.read_bytes() == original
    assert read_png_metadata(second)["raw"]["parameters"] == "second\nSteps: 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sneaker-1.png",
        "sneaker-2.png",
        "sneaker.png",
    ]


def test_failed_save_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    image = small_image()

    def broken_save(*args: Any, **kwargs: Any) -> None:
        args[0].write(b"\x89PNG half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(image, "save", broken_save)
    with pytest.raises(ImageFileError, match="No space left"):
        save_png(image, tmp_path / "out.png", parameters="p", request_json=None)
    assert list(tmp_path.iterdir()) == []


def test_save_creates_the_folder_and_converts_unusual_modes(tmp_path: Path) -> None:
    image = Image.new("CMYK", (4, 4), (0, 0, 0, 0))
    path = save_png(image, tmp_path / "new" / "x.png", parameters="p", request_json=None)
    with Image.open(path) as im:
        assert im.mode == "RGB"
