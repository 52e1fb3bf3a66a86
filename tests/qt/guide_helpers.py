"""Header-only model files and a window with its model library, for the tests of the window's
guidance (picker, LoRA fit, trigger words)."""

from __future__ import annotations

import json
from pathlib import Path

from sneakerstudio.qt.main_window import MainWindow, create_main_window
from tests.core.library_helpers import kohya_lora, sd1_checkpoint, write_safetensors

UNET = "model.diffusion_model."


def sdxl_checkpoint(path: Path, fill: int = 7) -> Path:
    """Enough of an SDXL UNet-only checkpoint for identification (size conditioning, 2048)."""
    return write_safetensors(
        path,
        {
            f"{UNET}input_blocks.0.0.weight": ("F16", [8, 4, 3, 3]),
            f"{UNET}label_emb.0.0.weight": ("F16", [8, 16]),
            f"{UNET}input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": ("F16", [8, 2048]),
        },
        fill=fill,
    )


def sdxl_lora(path: Path, tags: dict[str, dict[str, int]] | None = None) -> Path:
    """A kohya SDXL LoRA (its metadata says so)."""
    meta = {"ss_base_model_version": "sdxl_base_v1-0", "ss_network_dim": "4"}
    if tags is not None:
        meta["ss_tag_frequency"] = json.dumps(tags)
    base = "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k"
    return write_safetensors(
        path,
        {
            f"{base}.lora_down.weight": ("F16", [4, 2048]),
            f"{base}.lora_up.weight": ("F16", [640, 4]),
            f"{base}.alpha": ("F16", []),
        },
        meta,
        fill=9,
    )


def model_folder(root: Path) -> dict[str, Path]:
    """An A1111 layout: SD 1.5 and SDXL checkpoints (one of each a Turbo model), an SD1 and an
    SDXL LoRA, an SD1 embedding."""
    from tests.core.library_helpers import embedding_file

    ckpt, lora = root / "models" / "Stable-diffusion", root / "models" / "Lora"
    files = {
        "sd1": sd1_checkpoint(ckpt / "dreamshaper_8.safetensors", fill=1),
        "sd1_turbo": sd1_checkpoint(ckpt / "sd_turbo.safetensors", fill=2),
        "sdxl": sdxl_checkpoint(ckpt / "juggernautXL.safetensors", fill=3),
        "sdxl_turbo": sdxl_checkpoint(ckpt / "sdxl_turbo.safetensors", fill=4),
        "sd1_lora": kohya_lora(lora / "graffiti.safetensors", {"d": {"graffiti style": 3}}),
        "sdxl_lora": sdxl_lora(lora / "pixelXL.safetensors"),
        "sd1_embedding": embedding_file(root / "embeddings" / "easynegative.safetensors"),
    }
    return files


def library_window(qtbot, engine, folder: Path | None = None) -> MainWindow:
    """A shown window with its library, `folder` added and scanned, worker started."""
    window = create_main_window(lambda: engine, None, with_library=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    panel = window.library_panel
    assert panel is not None
    if folder is not None:
        with qtbot.waitSignal(panel.scan_finished, timeout=10_000):
            assert panel.add_folder(str(folder))
    return window
