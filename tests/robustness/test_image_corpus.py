"""Bad and unusual images thrown at every place that reads a user's image.

The entry points: `imageops.load_image` (init images and masks for img2img / inpaint, the
CLI's `--init-image` / `--mask`), `metadata.read_png_metadata` (`sneakerstudio info`, drag and
drop), the library's thumbnailer (`Library.set_thumbnail_from_image`) and the Qt conversion in
`qt/images.py`. The corpus is generated here: random bytes named `.png`, decompression bombs
(a tiny file whose header claims a huge picture), a 0×0 PNG, a 65535×65535 header, a zTXt chunk
that inflates to 50 MB, and the colour variants real files come in (CMYK JPEG, 16-bit grey and
RGB, palette with transparency, LA, RGBA, 1-bit). Each one either becomes the documented RGB
picture / mask, or an `ImageFileError` that names the file and says what to use instead; a
bomb is refused before any pixel is decoded.
"""

from __future__ import annotations

import functools
import io
import json
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from sneakerstudio.core.imaging.imageops import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, load_image
from sneakerstudio.core.imaging.metadata import read_png_metadata
from sneakerstudio.core.protocol.errors import ImageFileError, SneakerError

REPO = Path(__file__).resolve().parents[2]

# -- building PNGs by hand (Pillow refuses to write most of these) --------------------------


def chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def png_bytes(
    width: int,
    height: int,
    *,
    depth: int = 8,
    color: int = 2,
    idat: bytes | None = None,
    before_idat: bytes = b"",
    palette: bytes | None = None,
) -> bytes:
    """A PNG from its parts: IHDR, optional PLTE, extra chunks, one IDAT, IEND."""
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", palette)
    out += before_idat
    out += chunk(b"IDAT", zlib.compress(b"") if idat is None else idat)
    return out + chunk(b"IEND", b"")


@functools.cache
def palette_bomb(width: int, height: int) -> bytes:
    """A 1-bit palette PNG of width×height black pixels: ~100 KB on disk for 30000², whose
    pixels would take 900 MB as an 8-bit image once decoded."""
    packer = zlib.compressobj(6)
    row = b"\0" * (1 + (width + 7) // 8)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return png_bytes(width, height, depth=1, color=3, idat=data, palette=b"\0\0\0\xff\xff\xff")


@functools.cache
def rgba_zeros(width: int, height: int) -> bytes:
    """A transparent RGBA PNG built row by row (no full-size array in this process)."""
    packer = zlib.compressobj(6)
    row = b"\0" * (1 + 4 * width)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return png_bytes(width, height, color=6, idat=data)


def small_png(mode: str = "RGB", size: tuple[int, int] = (16, 16), color=(10, 200, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, "PNG")
    return buffer.getvalue()


def with_chunks_after_ihdr(png: bytes, *chunks: bytes) -> bytes:
    """Insert chunks right after IHDR (signature 8 + IHDR 25 bytes)."""
    return png[:33] + b"".join(chunks) + png[33:]


def ztxt_bomb(png: bytes, inflated: int = 50_000_000) -> bytes:
    """`png` with a zTXt `parameters` chunk of ~50 KB that inflates to `inflated` bytes."""
    packed = zlib.compress(b"a" * inflated, 9)
    return with_chunks_after_ihdr(png, chunk(b"zTXt", b"parameters\0\0" + packed))


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


# -- the bad files -----------------------------------------------------------------------------

BOMBS: dict[str, Callable[[], bytes]] = {
    # Past Pillow's own limit (2 × 89.5 Mpx): Pillow refuses in open().
    "bomb-30000.png": lambda: palette_bomb(30000, 30000),
    "header-65535.png": lambda: png_bytes(65535, 65535, idat=zlib.compress(b"\0" * 64)),
    # Between Pillow's warning and its error: only our own budget stands in the way.
    "bomb-12000.png": lambda: palette_bomb(12000, 12000),
    # One side past our limit, few pixels in all.
    "strip-40000x2.png": lambda: palette_bomb(40000, 2),
}


@pytest.fixture
def no_decode(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every pixel decode (`ImageFile.load`); a refused bomb must leave it empty."""
    calls: list[str] = []
    original = ImageFile.ImageFile.load

    def recording_load(self: ImageFile.ImageFile):  # type: ignore[no-untyped-def]
        calls.append(f"{self.format} {self.size}")
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return calls


BOMB_SIZES = {
    "bomb-30000.png": "30000×30000",
    "header-65535.png": "65535×65535",
    "bomb-12000.png": "12000×12000",
    "strip-40000x2.png": "40000×2",
}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("name", sorted(BOMBS))
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_bomb_is_refused_before_any_pixel_is_decoded(
    tmp_path: Path, name: str, mode: str, no_decode: list[str]
) -> None:
    path = write(tmp_path, name, BOMBS[name]())
    assert path.stat().st_size < 2_000_000  # a small file on disk
    with pytest.raises(ImageFileError) as caught:
        load_image(path, mode)
    message = str(caught.value)
    assert name in message and "too large" in message
    assert BOMB_SIZES[name] in message  # the size the header claims, read without decoding
    assert f"{MAX_IMAGE_SIDE} pixels a side" in message  # what to do instead
    assert no_decode == []


def test_bombs_stay_within_a_fixed_memory_budget(tmp_path: Path) -> None:
    """In a fresh process (so earlier tests cannot hide a peak): every bomb, through the
    loader and the metadata reader, raises the resident-memory peak by less than 64 MB; and
    looking for hidden "stealth" text in a 16-megapixel RGBA picture without any costs one
    decode (64 MB), not several full-size copies."""
    for name, build in BOMBS.items():
        write(tmp_path, name, build())
    write(tmp_path, "ztxt-bomb.png", ztxt_bomb(small_png()))
    plain = tmp_path / "plain" / "rgba-4096.png"
    plain.parent.mkdir()
    plain.write_bytes(rgba_zeros(4096, 4096))
    script = f"""
import json, resource, sys, warnings
from pathlib import Path
warnings.simplefilter("ignore")
from sneakerstudio.core.protocol.errors import ImageFileError
from sneakerstudio.core.imaging.imageops import load_image
from sneakerstudio.core.imaging.metadata import read_png_metadata
def peak():  # VmHWM: this process's own peak (ru_maxrss keeps the forking parent's, on Linux)
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) * 1024
load_image(Path({str(tmp_path)!r}) / "ztxt-bomb.png")  # warm up the decoders
before = peak()
outcomes = {{}}
for path in sorted(Path({str(tmp_path)!r}).glob("*.png")):
    for mode in ("RGB", "L"):
        try:
            load_image(path, mode)
            outcomes[f"{{path.name}} {{mode}}"] = "loaded"
        except ImageFileError:
            outcomes[f"{{path.name}} {{mode}}"] = "refused"
    read_png_metadata(path)
bombs = peak() - before
meta = read_png_metadata(Path({str(plain)!r}))
print(json.dumps({{"growth": bombs, "stealth": peak() - before, "outcomes": outcomes,
                  "source": meta["source"]}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["growth"] < 64 * 1024 * 1024, report
    assert report["stealth"] < 112 * 1024 * 1024, report  # was 268 MB: 4 full-size copies
    assert report["source"] is None
    for key, outcome in report["outcomes"].items():
        expected = "loaded" if key.startswith("ztxt-bomb") else "refused"
        assert outcome == expected, key


def test_random_bytes_named_png_are_refused_with_a_plain_message(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    for i, size in enumerate((0, 7, 100, 4096)):
        path = write(tmp_path, f"random-{i}.png", rng.bytes(size))
        for mode in ("RGB", "L"):
            with pytest.raises(ImageFileError, match=rf"random-{i}\.png.*PNG, JPEG or WebP"):
                load_image(path, mode)
        with pytest.raises(ImageFileError, match=rf"random-{i}\.png"):
            read_png_metadata(path)


def test_zero_by_zero_and_broken_pngs_are_refused(tmp_path: Path) -> None:
    good = small_png()
    cases = {
        "zero.png": png_bytes(0, 0),
        "zero-wide.png": png_bytes(0, 16, idat=zlib.compress(b"\0" * 16)),
        "truncated.png": good[: len(good) // 2],
        "no-idat.png": good[:33] + chunk(b"IEND", b""),
        "bad-crc.png": good[:29] + b"\0\0\0\0" + good[33:],
        "only-signature.png": good[:8],
        "text-file.png": b"just some text, not a picture\n" * 10,
    }
    for name, data in cases.items():
        path = write(tmp_path, name, data)
        with pytest.raises(ImageFileError) as caught:
            load_image(path)
        assert name in str(caught.value), name
        assert caught.value.hint, name  # says what to use instead
    with pytest.raises(ImageFileError, match="not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageFileError, match="not found"):
        load_image(tmp_path)  # a folder is not an image


def test_a_huge_text_chunk_does_not_cost_the_picture(tmp_path: Path) -> None:
    """A zTXt inflating to 50 MB (past Pillow's text cap) and a 2 MB tEXt: the pixels still
    load, and the inflated text never sits in memory."""
    png = small_png(color=(10, 200, 30))
    path = write(tmp_path, "ztxt-bomb.png", ztxt_bomb(png))
    tracemalloc.start()
    try:
        image = load_image(path)
        meta = read_png_metadata(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert image.mode == "RGB" and image.size == (16, 16)
    assert image.getpixel((3, 3)) == (10, 200, 30)
    assert peak < 24 * 1024 * 1024  # our per-chunk cap is 8 MiB; 50 MB never materialises
    assert meta["prompt"] is None  # the oversized chunk was skipped, not half-read
    big = with_chunks_after_ihdr(png, chunk(b"tEXt", b"parameters\0" + b"a" * 2_000_000))
    path = write(tmp_path, "big-text.png", big)
    assert load_image(path).getpixel((0, 0)) == (10, 200, 30)


# -- colour variants: each becomes the documented RGB picture or L mask ----------------------


def _gradient16() -> np.ndarray:
    return (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)


def _png16(array: np.ndarray, color: int) -> bytes:
    height, width = array.shape[:2]
    rows = b"".join(b"\0" + array[y].astype(">u2").tobytes() for y in range(height))
    return png_bytes(width, height, depth=16, color=color, idat=zlib.compress(rows))


def test_sixteen_bit_greyscale_keeps_its_tones(tmp_path: Path) -> None:
    """Pillow's own convert clips 16-bit values at 255 (a nearly white picture); the loader
    scales them: 0 → 0, 32768 → 128, 65535 → 255."""
    gradient = _gradient16()
    for name, data in {
        "grey16.png": _png16(gradient, color=0),
        "grey16-pillow.png": _save(Image.fromarray(gradient)),
    }.items():
        path = write(tmp_path, name, data)
        rgb = np.asarray(load_image(path, "RGB"))
        mask = np.asarray(load_image(path, "L"))
        expected = np.round(gradient / 257).astype(np.uint8)
        assert rgb.shape == (64, 64, 3) and mask.shape == (64, 64)
        assert np.abs(rgb[..., 0].astype(int) - expected).max() <= 1, name
        assert np.abs(mask.astype(int) - expected).max() <= 1, name
        assert 120 < rgb.mean() < 136  # mid-grey on average, not white
    fixed = np.array([[0, 32768, 65535]], dtype=np.uint16)
    path = write(tmp_path, "levels.png", _png16(fixed, color=0))
    assert np.asarray(load_image(path, "L")).tolist() == [[0, 128, 255]]


def test_sixteen_bit_rgb_becomes_eight_bit_rgb(tmp_path: Path) -> None:
    gradient = _gradient16()
    rgb16 = np.stack([gradient, np.full_like(gradient, 32768), 65535 - gradient], axis=-1)
    height, width = gradient.shape
    rows = b"".join(b"\0" + rgb16[y].astype(">u2").tobytes() for y in range(height))
    path = write(
        tmp_path, "rgb16.png", png_bytes(width, height, depth=16, color=2, idat=zlib.compress(rows))
    )
    image = np.asarray(load_image(path))
    assert image.shape == (64, 64, 3)
    assert abs(int(image[..., 1].mean()) - 128) <= 1
    assert image[0, 0, 2] == 255 and image[0, 0, 0] == 0


def _save(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red in print colours
    path = write(tmp_path, "cmyk.jpg", _save(cmyk, "JPEG", quality=95))
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (32, 32)
    red, green, blue = image.getpixel((16, 16))
    assert red > 230 and green < 30 and blue < 30
    mask = load_image(path, "L")
    assert mask.mode == "L"


def test_transparency_is_flattened_on_white_and_means_not_masked(tmp_path: Path) -> None:
    """Palette with a transparent entry, LA and RGBA: in a picture a transparent pixel is
    white; in a mask it is not masked (0) whatever its colour."""
    palette = Image.new("P", (4, 1))
    palette.putpalette([255, 255, 255, 200, 0, 0] + [0] * 762)
    palette.putdata([0, 1, 1, 0])
    rgba = Image.new("RGBA", (4, 1))
    rgba.putdata([(255, 255, 255, 0), (200, 0, 0, 255), (200, 0, 0, 255), (255, 255, 255, 0)])
    la = Image.new("LA", (4, 1))
    la.putdata([(255, 0), (100, 255), (100, 255), (255, 0)])
    files = {
        "palette-trns.png": _save(palette, transparency=0),
        "rgba.png": _save(rgba),
        "la.png": _save(la),
    }
    for name, data in files.items():
        path = write(tmp_path, name, data)
        picture = load_image(path, "RGB")
        mask = np.asarray(load_image(path, "L"))
        assert picture.mode == "RGB"
        assert picture.getpixel((0, 0)) == (255, 255, 255), name  # transparent → white
        assert picture.getpixel((1, 0)) != (255, 255, 255), name
        assert mask[0, 0] == 0 and mask[0, 3] == 0, name  # transparent → not masked
        assert mask[0, 1] > 0, name


def test_one_bit_and_palette_images_load_as_rgb_and_binary_masks(tmp_path: Path) -> None:
    one = Image.new("1", (8, 8), 0)
    one.putpixel((2, 2), 1)
    path = write(tmp_path, "one-bit.png", _save(one))
    assert load_image(path).getpixel((2, 2)) == (255, 255, 255)
    assert load_image(path).getpixel((0, 0)) == (0, 0, 0)
    mask = np.asarray(load_image(path, "L"))
    assert set(np.unique(mask).tolist()) == {0, 255}
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    path = write(tmp_path, "palette.png", _save(palette))
    assert load_image(path).getpixel((4, 4)) == (0, 0, 255)
    grey_jpeg = write(tmp_path, "grey.jpg", _save(Image.new("L", (8, 8), 77), "JPEG"))
    assert load_image(grey_jpeg).mode == "RGB"
    webp = write(tmp_path, "pic.webp", _save(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "WEBP"))
    assert load_image(webp).getpixel((1, 1)) == (255, 255, 255)


def test_other_formats_are_not_decoded(tmp_path: Path) -> None:
    """Only the PNG, JPEG and WebP decoders run: a BMP, GIF or TIFF (rarely used, more attack
    surface) is refused with a message that names the formats to use."""
    for fmt, name in (("BMP", "pic.bmp"), ("GIF", "pic.gif"), ("TIFF", "pic.png")):
        path = write(tmp_path, name, _save(Image.new("RGB", (8, 8)), fmt))
        with pytest.raises(ImageFileError, match="PNG, JPEG or WebP"):
            load_image(path)


# -- the library thumbnailer (read-only here: its errors must be typed) ----------------------


def test_the_thumbnailer_refuses_bad_images_with_a_typed_error(tmp_path: Path) -> None:
    from sneakerstudio.core.models.library import Library
    from tests.core.library_helpers import sd1_checkpoint

    folder = tmp_path / "models"
    model = sd1_checkpoint(folder / "plain.safetensors")
    library = Library(tmp_path / "data", detect_home=tmp_path / "nohome")
    try:
        library.add_folder(folder)
        library.scan()
        bad = {
            "random.png": os.urandom(512),
            "zero.png": png_bytes(0, 0),
            "bomb-30000.png": BOMBS["bomb-30000.png"](),
            "header-65535.png": BOMBS["header-65535.png"](),
            "bomb-12000.png": BOMBS["bomb-12000.png"](),  # under Pillow's limit, over ours
        }
        for name, data in bad.items():
            path = write(tmp_path, name, data)
            with pytest.raises(SneakerError, match="thumbnail"):
                library.set_thumbnail_from_image(model, path)
        grey16 = write(tmp_path, "grey16.png", _png16(_gradient16(), color=0))
        entry = library.set_thumbnail_from_image(model, grey16)
        assert Path(entry.thumbnail).is_file()
    finally:
        library.close()


# -- Qt: engine images to QImage -------------------------------------------------------------


@pytest.fixture
def qt_app(qapp):  # pytest-qt's QApplication (a bare QGuiApplication would break widget tests)
    return qapp


def test_every_loaded_variant_converts_to_a_qimage(tmp_path: Path, qt_app) -> None:
    from PySide6.QtGui import QImage

    from sneakerstudio.qt.images import array_to_qimage, pil_to_qimage

    gradient = _gradient16()
    images = {
        mode: Image.new(mode, (5, 3))
        for mode in ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I", "F", "PA", "YCbCr")
    }
    images["I;16"] = Image.fromarray(gradient)
    for mode, image in images.items():
        qimage = pil_to_qimage(image)
        assert not qimage.isNull() and (qimage.width(), qimage.height()) == image.size, mode
    grey = pil_to_qimage(Image.fromarray(gradient))
    assert 100 < QImage.pixelColor(grey, 32, 32).red() < 160  # scaled, not clipped to white
    transparent = Image.new("P", (2, 2), 0)
    transparent.info["transparency"] = 0
    assert pil_to_qimage(transparent).hasAlphaChannel()
    for array in (
        np.zeros((4, 4, 3), np.uint8),
        np.full((4, 4), 300, np.int64),  # clipped to 255, not wrapped to 44
        np.full((4, 4, 3), np.nan),
        np.ones((4, 4, 4), bool),
    ):
        assert not array_to_qimage(array).isNull()
    assert QImage.pixelColor(array_to_qimage(np.full((2, 2), 300, np.int64)), 0, 0).red() == 255
    for bad in (np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 2), np.uint8), np.zeros(3)):
        with pytest.raises(ValueError):
            array_to_qimage(bad)


@pytest.mark.qt_log_ignore("exceeds the current allocation limit")
def test_qt_image_reader_refuses_the_bomb_without_decoding(tmp_path: Path, qt_app) -> None:
    """The canvas opens files with QImageReader: its allocation limit (256 MB by default in
    Qt 6) refuses the 30000² bomb instead of allocating 3.6 GB."""
    from PySide6.QtGui import QImageReader

    path = write(tmp_path, "bomb-30000.png", BOMBS["bomb-30000.png"]())
    reader = QImageReader(str(path))
    assert reader.allocationLimit() <= 1024
    image = reader.read()
    assert image.isNull() and reader.errorString()


def test_the_pixel_budget_is_what_the_messages_say() -> None:
    assert MAX_IMAGE_PIXELS == 64 * 1024 * 1024 and MAX_IMAGE_SIDE == 16384


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_exif_orientation_is_applied_and_broken_exif_is_ignored(tmp_path: Path) -> None:
    """A phone photo stored sideways comes out upright (as the canvas shows it); EXIF that
    cannot be read leaves the picture as stored instead of refusing it."""
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    path = write(tmp_path, "sideways.jpg", _save(image, "JPEG", exif=exif.tobytes()))
    assert load_image(path).size == (20, 40) and load_image(path, "L").size == (20, 40)
    junk = with_chunks_after_ihdr(small_png(), chunk(b"eXIf", b"MM\0*garbage" + os.urandom(40)))
    assert load_image(write(tmp_path, "junk-exif.png", junk)).size == (16, 16)
