"""The training set: captions, repeats, image checks and buckets (no torch, fast)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sneakerstudio.core.protocol.errors import RequestError
from sneakerstudio.core.protocol.training import TrainingError, TrainingRequest, training_preset
from sneakerstudio.core.training.buckets import choose_bucket, make_buckets, plan_batches
from sneakerstudio.core.training.captions import add_tag, replace_text, tag_frequency
from sneakerstudio.core.training.dataset import require_usable, scan_dataset
from tests.core.training.helpers import sneaker_picture


def _bomb_png(path: Path, width: int = 30000, height: int = 30000) -> None:
    """A tiny file whose header claims a huge picture (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))  # fmt: skip


def test_captions_repeats_and_the_skipped_list(tmp_path: Path) -> None:
    root = tmp_path / "set"
    (root / "10_sneakr").mkdir(parents=True)
    sneaker_picture(1).save(root / "blue_runner.png")
    sneaker_picture(2).save(root / "10_sneakr" / "a.jpg")
    (root / "10_sneakr" / "a.txt").write_text("red shoe, white sole", encoding="utf-8")
    sneaker_picture(3).save(root / "with caption.png")
    (root / "with caption.caption").write_bytes("sneakr, café crème".encode("cp1252"))
    sneaker_picture(4).convert("CMYK").save(root / "cmyk.jpg")
    rgba = sneaker_picture(5).convert("RGBA")
    rgba.putalpha(0)
    rgba.save(root / "transparent.png")
    wide = np.asarray(sneaker_picture(6), dtype=np.uint16) * 257
    Image.fromarray(np.ascontiguousarray(wide[:, :, 0])).save(root / "sixteen.png")
    _bomb_png(root / "bomb.png")
    (root / "readme.pdf").write_bytes(b"%PDF")
    sneaker_picture(7, (32, 32)).save(root / "tiny.png")
    data = scan_dataset(root, "sneakr")
    by_name = {item.path.name: item for item in data.items}
    assert set(by_name) == {"blue_runner.png", "a.jpg", "with caption.png", "cmyk.jpg",
                            "transparent.png", "sixteen.png"}  # fmt: skip
    assert by_name["blue_runner.png"].caption == "sneakr, blue runner"
    assert by_name["a.jpg"].caption == "sneakr, red shoe, white sole"  # trigger added in front
    assert by_name["a.jpg"].repeats == 10 and by_name["a.jpg"].folder == "sneakr"
    assert by_name["with caption.png"].caption == "sneakr, café crème"
    assert any("not UTF-8" in note for note in data.notes)
    skipped = dict(data.skipped)
    assert "too large" in skipped["bomb.png"]
    assert skipped["readme.pdf"] == "not a PNG, JPEG or WebP picture"
    assert "smaller than 64" in skipped["tiny.png"]
    require_usable(data)


def test_empty_and_unusable_folders_are_refused_with_reasons(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrainingError, match="There are no images"):
        require_usable(scan_dataset(empty, "x"))
    (empty / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(TrainingError, match=r"broken\.png"):
        require_usable(scan_dataset(empty, "x"))
    with pytest.raises(TrainingError, match="does not exist"):
        scan_dataset(tmp_path / "missing", "x")


def test_caption_editing_helpers() -> None:
    assert add_tag("sneakr, red", "studio light") == "sneakr, red, studio light"
    assert add_tag("sneakr, red", "RED") == "sneakr, red"
    assert replace_text("sneakr, red, blurry", "blurry", "") == "sneakr, red"
    assert tag_frequency([("1_a", "x, y"), ("1_a", "x")]) == {"1_a": {"x": 2, "y": 1}}


def test_buckets_keep_the_aspect_ratio_without_square_crops() -> None:
    buckets = make_buckets(512)
    assert (512, 512) in buckets and (640, 384) in buckets and (384, 640) in buckets
    assert all(w * h <= 512 * 512 and w % 64 == 0 and h % 64 == 0 for w, h in buckets)
    assert choose_bucket(1200, 800, buckets) == (640, 384)  # 3:2 landscape stays landscape
    assert choose_bucket(800, 1200, buckets) == (384, 640)
    assert choose_bucket(1000, 1000, buckets) == (512, 512)


def test_the_batch_plan_is_the_same_for_the_same_seed_and_batches_share_a_bucket() -> None:
    sizes = [(512, 512), (640, 384), (512, 512), (640, 384), (512, 512)]
    plan, epochs = plan_batches(sizes, [1, 1, 2, 1, 1], 2, seed=3, steps=9, epochs=None)
    again, _ = plan_batches(sizes, [1, 1, 2, 1, 1], 2, seed=3, steps=9, epochs=None)
    assert plan == again and len(plan) == 9 and epochs[0] == 1 and epochs[-1] >= 2
    assert all(len({sizes[i] for i in batch}) == 1 for batch in plan)
    other, _ = plan_batches(sizes, [1, 1, 2, 1, 1], 2, seed=4, steps=9, epochs=None)
    assert other != plan


def test_requests_are_checked_and_presets_fill_the_rest(tmp_path: Path) -> None:
    bad = TrainingRequest(model=None, data=tmp_path / "nope", trigger="", rank=0, steps=-1,
                          learning_rate=float("nan"))  # fmt: skip
    problems = bad.problems()
    assert any("base model" in p for p in problems)
    assert any("does not exist" in p for p in problems)
    assert any("trigger word" in p for p in problems)
    assert any("rank" in p for p in problems) and any("Steps" in p for p in problems)
    assert any("learning rate" in p for p in problems)
    with pytest.raises(RequestError):
        bad.validate()
    plain = TrainingRequest(model=tmp_path, data=tmp_path, trigger="sneakr", memory="8gb")
    xl = plain.resolved("sdxl")
    assert xl.resolution == 1024 and xl.gradient_checkpointing is True
    assert xl.rank == training_preset("sdxl", "8gb").rank and xl.steps == 1000
    assert plain.resolved("sd1").resolution == 512
    assert TrainingRequest.from_dict(xl.to_dict()) == xl
