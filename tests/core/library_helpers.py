"""Small model files and tool folder layouts for the library tests (no weights, no torch)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

SD1_UNET = "model.diffusion_model."


def write_safetensors(
    path: Path,
    tensors: dict[str, tuple[str, list[int]]],
    metadata: dict[str, str] | None = None,
    fill: int = 0,
) -> Path:
    """A valid safetensors file with the given tensor names, dtypes and shapes; the data bytes
    are `fill` (vary it to make files of equal layout differ)."""
    sizes = {"F32": 4, "F16": 2, "U8": 1}
    header: dict[str, object] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        count = 1
        for dim in shape:
            count *= dim
        span = count * sizes[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + span]}
        offset += span
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes([fill % 256]) * offset)
    return path


def sd1_checkpoint(path: Path, fill: int = 0) -> Path:
    """Enough of an SD1 single-file checkpoint for identification (context width 768)."""
    return write_safetensors(
        path,
        {
            f"{SD1_UNET}input_blocks.0.0.weight": ("F16", [8, 4, 3, 3]),
            f"{SD1_UNET}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (
                "F16",
                [8, 768],
            ),
            f"{SD1_UNET}input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": (
                "F16",
                [8, 768],
            ),
            "first_stage_model.decoder.conv_in.weight": ("F16", [4, 4, 3, 3]),
            "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (
                "F16",
                [16, 8],
            ),
        },
        fill=fill,
    )


def kohya_lora(path: Path, tags: dict[str, dict[str, int]] | None = None, fill: int = 1) -> Path:
    """A kohya-style SD1 LoRA with `ss_tag_frequency` metadata."""
    meta = {
        "ss_network_dim": "4",
        "ss_network_alpha": "2",
        "ss_base_model_version": "sd_v1",
        "ss_output_name": path.stem,
        "ss_network_module": "networks.lora",
    }
    if tags is not None:
        meta["ss_tag_frequency"] = json.dumps(tags)
    base = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    return write_safetensors(
        path,
        {
            f"{base}.lora_down.weight": ("F16", [4, 768]),
            f"{base}.lora_up.weight": ("F16", [320, 4]),
            f"{base}.alpha": ("F16", []),
        },
        meta,
        fill=fill,
    )


def vae_file(path: Path) -> Path:
    return write_safetensors(
        path,
        {
            "encoder.conv_in.weight": ("F16", [4, 3, 3, 3]),
            "decoder.conv_in.weight": ("F16", [4, 4, 3, 3]),
        },
    )


def embedding_file(path: Path) -> Path:
    return write_safetensors(path, {"emb_params": ("F16", [2, 768])})


def tiny_png(path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path)
    return path


def make_a1111(parent: Path, name: str = "stable-diffusion-webui") -> Path:
    """An AUTOMATIC1111 install with one model of each kind, sidecars, and a venv and an
    extension holding model-like files that must not be indexed."""
    root = parent / name
    sd1_checkpoint(root / "models/Stable-diffusion/dreamshaper_8.safetensors")
    tiny_png(root / "models/Stable-diffusion/dreamshaper_8.preview.png")
    kohya_lora(
        root / "models/Lora/graffiti.safetensors",
        {"10_graffiti": {"graffiti style": 12, "spray paint": 4}},
    )
    (root / "models/Lora/graffiti.json").write_text(
        json.dumps({"activation text": "grffti, spray", "preferred weight": 0.7})
    )
    vae_file(root / "models/VAE/vae-ft-mse.safetensors")
    embedding_file(root / "embeddings/easynegative.safetensors")
    (root / "venv/lib/torch").mkdir(parents=True)
    (root / "venv/lib/torch/junk.pt").write_bytes(b"\x80\x02junk")
    (root / "extensions/x").mkdir(parents=True)
    (root / "extensions/x/model.safetensors").write_bytes(b"not indexed")
    return root


def make_comfyui(parent: Path, shared: Path | None = None) -> Path:
    """A ComfyUI install; with `shared`, an `extra_model_paths.yaml` pointing at that folder
    (relative `base_path`, a `|` block of two LoRA folders, comments)."""
    root = parent / "ComfyUI"
    sd1_checkpoint(root / "models/checkpoints/sub/v1-5-pruned.safetensors", fill=3)
    kohya_lora(root / "models/loras/pixel.safetensors", {"d": {"pixel art": 3}}, fill=4)
    vae_file(root / "models/vae/sdxl_vae.safetensors")
    embedding_file(root / "models/embeddings/badhands.safetensors")
    (root / "comfy").mkdir(parents=True)
    if shared is not None:
        rel = Path("..") / shared.name if shared.parent == parent else shared
        (root / "extra_model_paths.yaml").write_text(
            "# shared models\n"
            "shared:\n"
            f"    base_path: {rel}\n"
            "    checkpoints: ckpts  # main ones\n"
            "    loras: |\n"
            "        loras_a\n"
            "        loras_b\n"
            "    clip: clip\n",
            encoding="utf-8",
        )
    return root


def make_invokeai(parent: Path) -> Path:
    root = parent / "invokeai"
    (root / "invokeai.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "invokeai.yaml").write_text("schema_version: 4\n")
    sd1_checkpoint(root / "models/sd-1/main/deliberate.safetensors", fill=5)
    kohya_lora(root / "models/sd-1/lora/ink.safetensors", None, fill=6)
    return root
