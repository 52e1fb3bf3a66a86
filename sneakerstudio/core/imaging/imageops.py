"""Pixel work around generation: reading user images safely, fitting them to the request size,
masks (binarize, blur, bounding box), fills for masked and outpainted areas, and compositing.

PIL and numpy (scipy for distance transforms and blurs); OpenCV's Telea when the user has
`opencv-python-headless` installed, else our own numpy version of it. No torch.
"""

from __future__ import annotations

import io
import itertools
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from sneakerstudio.core.files.sniff import PNG_SIGNATURE, sniff
from sneakerstudio.core.protocol.errors import ImageFileError

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
MAX_IMAGE_SIDE = 16384
MAX_IMAGE_PIXELS = 64 * 1024 * 1024
MAX_TEXT_STRIP_BYTES = 512 * 1024 * 1024  # a PNG read into memory to drop oversized text
FILLS = ("edge", "telea", "tile", "color", "noise")


# -- reading --------------------------------------------------------------------------------


def load_image(path: str | Path, mode: str = "RGB") -> Image.Image:
    """Read a PNG, JPEG or WebP file into memory as `mode` ("RGB", or "L" for masks).

    Only those decoders are tried, the size is checked from the header before any pixel is
    decoded (at most `MAX_IMAGE_SIDE` a side and `MAX_IMAGE_PIXELS` in all), and every failure
    is an `ImageFileError` that names the file. Text chunks too large for Pillow (a huge
    workflow, a zTXt that inflates to gigabytes) are left out rather than refusing the picture.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ImageFileError(f"Image not found: '{path}'.", hint="Check the path.")
    try:
        try:
            return _decode(path, path, mode)
        except ValueError as exc:
            if "MAX_TEXT" not in str(exc):  # Pillow's text-chunk caps, not the pixels
                raise
            return _decode(path, _without_png_text(path), mode)
    except ImageFileError:
        raise
    except Image.DecompressionBombError:
        raise _too_large(path.name, _png_header_size(path)) from None
    except UnidentifiedImageError:
        raise ImageFileError(
            f"'{path.name}' is not a PNG, JPEG or WebP picture, or it is damaged.",
            hint="Use a PNG, JPEG or WebP file.",
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise ImageFileError(
            f"'{path.name}' cannot be read as an image ({exc}).",
            hint="Use a PNG, JPEG or WebP file.",
        ) from None


def _decode(path: Path, source: Path | io.BytesIO, mode: str) -> Image.Image:
    with Image.open(source, formats=list(IMAGE_FORMATS)) as image:
        width, height = image.size
        too_big = max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS
        if too_big:
            raise _too_large(path.name, (width, height))
        if width < 1 or height < 1:
            raise ImageFileError(
                f"'{path.name}' is {width}×{height} pixels: it has no picture in it.",
                hint="Use an image at least 1 pixel wide and high.",
            )
        image.load()
        return _to_mode(_upright(image), mode)


def _upright(image: Image.Image) -> Image.Image:
    """The picture turned as its EXIF orientation says (a phone photo stored sideways), as the
    canvas shows it; unreadable EXIF leaves it as stored rather than refusing the picture."""
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, KeyError, TypeError, struct.error):
        return image


def _too_large(name: str, size: tuple[int, int] | None) -> ImageFileError:
    what = f"{size[0]}×{size[1]} pixels" if size else "far more pixels than any picture needs"
    return ImageFileError(
        f"'{name}' is {what}, too large to use (it was not decoded).",
        hint=f"Use an image up to {MAX_IMAGE_SIDE} pixels a side and "
        f"{MAX_IMAGE_PIXELS // (1024 * 1024)} megapixels.",
    )


def _png_header_size(path: Path) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR (bytes 16–24), without decoding anything."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or sniff(head) != "png" or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _without_png_text(path: Path) -> io.BytesIO:
    """The PNG at `path` in memory without its text chunks (tEXt, zTXt, iTXt), which carry no
    pixels. Raises ValueError for something that is not a well-formed chunk sequence."""
    if path.stat().st_size > MAX_TEXT_STRIP_BYTES:
        raise ValueError("its text chunks are too large and so is the file")
    data = path.read_bytes()
    if sniff(data[: len(PNG_SIGNATURE)]) != "png":
        raise ValueError("not a PNG file")
    out = io.BytesIO()
    out.write(data[:8])
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("the PNG chunks end early")
        if data[pos + 4 : pos + 8] not in (b"tEXt", b"zTXt", b"iTXt"):
            out.write(data[pos:end])
        pos = end
    out.seek(0)
    return out


def _to_mode(image: Image.Image, mode: str) -> Image.Image:
    """Convert, flattening transparency: on white for pictures; for masks, a transparent
    pixel counts as not masked. 16-bit greyscale is scaled to 8 bits (Pillow's own convert
    clips it at 255, which turns nearly every pixel white)."""
    image = to_eight_bit(image)
    transparent = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if mode == "L" and transparent:
        rgba = image.convert("RGBA")
        grey = rgba.convert("L")
        alpha = rgba.getchannel("A")
        return Image.fromarray(
            (np.asarray(grey, np.uint16) * np.asarray(alpha) // 255).astype(np.uint8)
        )
    if mode == "RGB" and image.mode in ("RGBA", "LA", "PA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert(mode)


def to_eight_bit(image: Image.Image) -> Image.Image:
    """`image` with 16-bit greyscale scaled down to 8-bit "L"; any other mode unchanged."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        return _sixteen_to_eight(image)
    return image


def _sixteen_to_eight(image: Image.Image) -> Image.Image:
    """16-bit greyscale (0–65535) as 8-bit "L", rounded, a strip at a time so that a large
    image needs little memory beyond its own pixels."""
    wide = np.asarray(image)
    grey = np.empty(wide.shape, np.uint8)
    for top in range(0, wide.shape[0], 1024):
        strip = wide[top : top + 1024].astype(np.int64)
        grey[top : top + 1024] = np.clip((strip + 128) // 257, 0, 255)
    return Image.fromarray(grey, "L")


# -- fitting --------------------------------------------------------------------------------


def fit_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """The init-image rule ("crop and resize"): scale to cover `width`×`height` keeping the
    aspect ratio, with Lanczos, then cut the overflow equally from both sides. An image that
    already has the size is returned unchanged (no resampling)."""
    if image.size == (width, height):
        return image
    scale = max(width / image.width, height / image.height)
    new_w = max(width, round(image.width * scale))
    new_h = max(height, round(image.height * scale))
    resample = Image.Resampling.LANCZOS if image.mode != "1" else Image.Resampling.NEAREST
    resized = image.resize((new_w, new_h), resample)
    left = (new_w - width) // 2
    top = (new_h - height) // 2
    return resized.crop((left, top, left + width, top + height))


# -- masks ------------------------------------------------------------------------------------


def binarize(mask: Image.Image, threshold: int = 128) -> Image.Image:
    """White (255) where the mask is at least `threshold`, else black."""
    return mask.convert("L").point(lambda v: 255 if v >= threshold else 0)


def blur_mask(mask: Image.Image, radius: float) -> Image.Image:
    """Gaussian blur of a mask by `radius` pixels (0 = unchanged): the soft edge where new
    and old pixels are blended."""
    if radius <= 0:
        return mask
    return mask.filter(ImageFilter.GaussianBlur(radius))


def grow_mask(mask: Image.Image, pixels: int) -> Image.Image:
    """The mask widened by `pixels` in every direction (a square grey dilation, separable, so
    large reaches on large images stay fast)."""
    if pixels <= 0:
        return mask
    from scipy import ndimage

    grown = ndimage.maximum_filter(np.asarray(mask.convert("L")), size=2 * pixels + 1)
    return Image.fromarray(grown)


def mask_box(mask: Image.Image) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the non-black pixels, or None for an empty mask."""
    return mask.getbbox()


def is_empty(mask: Image.Image | None) -> bool:
    return mask is None or mask.getbbox() is None


def composite(generated: Image.Image, original: Image.Image, mask: Image.Image) -> Image.Image:
    """`generated` where the mask is white, `original` where it is black, blended between.
    Where the mask is 0 the result is the original's pixels, bit for bit."""
    return Image.composite(generated.convert("RGB"), original.convert("RGB"), mask.convert("L"))


# -- fills ------------------------------------------------------------------------------------


def fill_from_surroundings(image: Image.Image, mask: Image.Image) -> Image.Image:
    """A1111's "fill": paint the masked area with blurred colours of what surrounds it.

    Normalised convolution: blur(image·known) / blur(known) at several radii, from wide to
    narrow, each filling what is still unknown, so large holes get the average colour around
    them and small ones their nearest colours. Wide blurs run on a reduced copy (fast at any
    size)."""
    pixels = np.asarray(image.convert("RGB"), np.float32)
    known = (np.asarray(mask.convert("L")) < 128).astype(np.float32)
    if known.all():
        return image.convert("RGB")
    if not known.any():
        return Image.new("RGB", image.size, (127, 127, 127))
    result = pixels.copy()
    hole = known == 0
    stack = np.concatenate([pixels * known[..., None], known[..., None]], axis=2)
    size = max(image.size)
    for sigma in (size / 4, size / 16, size / 64, 2.0, 0.5):
        blurred = _gaussian(stack, sigma)
        weight = blurred[..., 3]
        ok = hole & (weight > 1e-4)
        result[ok] = blurred[ok][:, :3] / weight[ok][:, None]
    return Image.fromarray(np.clip(result + 0.5, 0, 255).astype(np.uint8))


def _gaussian(stack: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an H×W×C float array; for wide sigmas on a copy reduced so that the
    blur is about 4 pixels there, then resized back."""
    from scipy import ndimage

    height, width = stack.shape[:2]
    factor = max(1, int(sigma // 4))
    if factor == 1:
        return ndimage.gaussian_filter(stack, (sigma, sigma, 0), mode="nearest")
    small_size = (max(1, width // factor), max(1, height // factor))
    channels = []
    for c in range(stack.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(stack[..., c]), "F")
        small = np.asarray(plane.resize(small_size, Image.Resampling.BOX), np.float32)
        small = ndimage.gaussian_filter(small, sigma / factor, mode="nearest")
        back = Image.fromarray(small, "F").resize((width, height), Image.Resampling.BILINEAR)
        channels.append(np.asarray(back, np.float32))
    return np.stack(channels, axis=2)


def fill_edge(image: Image.Image, mask: Image.Image, blur: float = 8.0) -> Image.Image:
    """Each masked pixel takes the colour of the nearest unmasked one (edge extension), then
    the filled area is blurred so it carries colour, not stripes."""
    from scipy import ndimage

    pixels = np.asarray(image.convert("RGB"))
    hole = np.asarray(mask.convert("L")) >= 128
    if not hole.any():
        return image.convert("RGB")
    if hole.all():
        return Image.new("RGB", image.size, (127, 127, 127))
    _, (rows, cols) = ndimage.distance_transform_edt(hole, return_indices=True)
    extended = Image.fromarray(pixels[rows, cols])
    if blur > 0:
        blurred = extended.filter(ImageFilter.GaussianBlur(blur))
        extended = Image.composite(blurred, extended, mask.convert("L"))
    return extended


def fill_tile(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """The outpaint canvas filled by mirrored copies of the original (placed at `box` =
    left, top, right, bottom), so the new area continues the picture without a hard seam."""
    left, top, right, bottom = box
    original = np.asarray(image.convert("RGB"))
    total_w = left + original.shape[1] + right
    total_h = top + original.shape[0] + bottom
    pad = ((top, bottom), (left, right), (0, 0))
    try:
        tiled = np.pad(original, pad, mode="symmetric")
    except ValueError:
        tiled = np.pad(original, pad, mode="wrap")
    assert tiled.shape[:2] == (total_h, total_w)
    return Image.fromarray(tiled)


def fill_color(image: Image.Image, mask: Image.Image, color: tuple[int, int, int]) -> Image.Image:
    """The masked area in one solid colour."""
    solid = Image.new("RGB", image.size, tuple(int(c) for c in color))
    return Image.composite(solid, image.convert("RGB"), binarize(mask))


def fill_telea(image: Image.Image, mask: Image.Image, radius: int = 5) -> Image.Image:
    """Telea's fast-marching inpainting of the masked area: OpenCV's when
    `opencv-python-headless` is installed (a 61 MB wheel we do not require), else our numpy
    version of the method (`telea_numpy`)."""
    try:
        import cv2
    except ImportError:
        return telea_numpy(image, mask, radius)
    pixels = np.ascontiguousarray(np.asarray(image.convert("RGB")))
    hole = (np.asarray(mask.convert("L")) >= 128).astype(np.uint8) * 255
    return Image.fromarray(cv2.inpaint(pixels, hole, radius, cv2.INPAINT_TELEA))


def telea_numpy(image: Image.Image, mask: Image.Image, radius: int = 5) -> Image.Image:
    """Telea (2004) inpainting, vectorised by distance layers: the hole is filled from its
    border inwards in steps of one pixel of distance T (a Euclidean distance transform stands
    in for the fast-marching front); each pixel of a layer is the weighted mean of the known
    pixels within `radius`, with Telea's weights — direction (alignment with ∇T), distance
    (1/d²) and level-set closeness (1/(1+|ΔT|)). Zeroth order: the gradient term is left out.
    Pixels of one layer do not feed each other."""
    from scipy import ndimage

    pixels = np.asarray(image.convert("RGB"), np.float32).copy()
    hole = np.asarray(mask.convert("L")) >= 128
    if not hole.any():
        return image.convert("RGB")
    if hole.all():
        return Image.new("RGB", image.size, (127, 127, 127))
    height, width = hole.shape
    distance, (near_y, near_x) = ndimage.distance_transform_edt(hole, return_indices=True)
    grad_y, grad_x = np.gradient(distance)
    norm = np.hypot(grad_y, grad_x) + 1e-6
    grad_y, grad_x = grad_y / norm, grad_x / norm
    known = ~hole
    offsets = [
        (dy, dx)
        for dy in range(-radius, radius + 1)
        for dx in range(-radius, radius + 1)
        if 0 < dy * dy + dx * dx <= radius * radius
    ]
    layers = np.ceil(distance[hole]).astype(np.int64)
    ys_all, xs_all = np.nonzero(hole)
    order = np.argsort(layers, kind="stable")
    bounds = np.searchsorted(layers[order], np.unique(layers), side="left").tolist()
    bounds.append(len(order))
    for start, end in itertools.pairwise(bounds):
        ys, xs = ys_all[order[start:end]], xs_all[order[start:end]]
        total = np.zeros((len(ys), 3), np.float32)
        weight = np.zeros(len(ys), np.float32)
        t_p = distance[ys, xs]
        for dy, dx in offsets:
            qy, qx = ys + dy, xs + dx
            inside = (qy >= 0) & (qy < height) & (qx >= 0) & (qx < width)
            qy, qx = np.clip(qy, 0, height - 1), np.clip(qx, 0, width - 1)
            use = inside & known[qy, qx]
            if not use.any():
                continue
            d2 = float(dy * dy + dx * dx)
            direction = np.abs(-dy * grad_y[ys, xs] - dx * grad_x[ys, xs]) / np.sqrt(d2)
            direction = np.maximum(direction, 1e-6)
            level = 1.0 / (1.0 + np.abs(t_p - distance[qy, qx]))
            w = np.where(use, direction * level / d2, 0.0).astype(np.float32)
            total += w[:, None] * pixels[qy, qx]
            weight += w
        filled = weight > 0
        pixels[ys[filled], xs[filled]] = total[filled] / weight[filled, None]
        lonely = ~filled  # nothing known within the radius: take the nearest known pixel
        pixels[ys[lonely], xs[lonely]] = pixels[
            near_y[ys[lonely], xs[lonely]], near_x[ys[lonely], xs[lonely]]
        ]
        known[ys, xs] = True
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))
