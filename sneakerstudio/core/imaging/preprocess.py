"""ControlNet preprocessors that need no downloaded weights, and the control image's resize.

`preprocess(image, name, options)` turns a picture into the control map a ControlNet expects
(white edges or lines on black for canny / scribble, the picture itself for tile, …);
`resize_control(image, width, height, mode)` fits it to the generation size with A1111's three
resize modes. The names and options are declared in `core/protocol/control.py`.

PIL, numpy and scipy; canny uses OpenCV when `opencv-python-headless` is installed (the same
function A1111 calls), else our own numpy version of the same algorithm (Sobel 3×3, L1
magnitude, non-maximum suppression, hysteresis). No torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from PIL import Image, ImageFilter

from sneakerstudio.core.imaging.imageops import fit_image, to_eight_bit
from sneakerstudio.core.protocol.errors import ImageFileError, RequestError
from sneakerstudio.core.protocol.preprocessors import find_preprocessor, preprocessor_names

Options = Mapping[str, float] | Iterable[tuple[str, float]]


def preprocess(image: Image.Image, name: str, options: Options = ()) -> Image.Image:
    """The control map of `image` by the preprocessor `name` (ours or A1111's module name), as
    an 8-bit RGB image of the same size. Unknown names raise `RequestError`."""
    pre = find_preprocessor(name)
    if pre is None:
        raise RequestError(
            [f"Unknown preprocessor '{name}': choose one of {', '.join(preprocessor_names())}."]
        )
    if pre.needs_weights:
        raise RequestError(
            [f"The {pre.label} preprocessor runs a network: use core.annotators.run_preprocessor."]
        )
    values = pre.defaults()
    values.update(dict(options.items() if isinstance(options, Mapping) else options))
    rgb = as_rgb(image)
    if pre.name == "none":
        return rgb
    if pre.name == "canny":
        return _grey_to_rgb(canny(_grey(rgb), values["low"], values["high"]))
    if pre.name == "scribble":
        return _grey_to_rgb(scribble(_grey(rgb), int(values["thickness"])))
    if pre.name == "threshold":
        return _grey_to_rgb(np.where(_grey(rgb) >= values["level"], 255, 0).astype(np.uint8))
    if pre.name == "invert":
        return Image.fromarray(255 - np.asarray(rgb))
    if pre.name == "blur":
        return rgb.filter(ImageFilter.GaussianBlur(radius=float(values["sigma"])))
    if pre.name == "tile":
        return tile_resample(rgb, float(values["down"]))
    if pre.name == "palette":
        return palette(rgb, int(values["cell"]))
    return shuffle(rgb, int(values["seed"]))


def as_rgb(image: Image.Image) -> Image.Image:
    """Any readable image as 8-bit RGB: 16-bit greyscale scaled, transparency flattened on
    black (an empty control layer means "no control here"), CMYK converted."""
    if not hasattr(image, "convert") or not hasattr(image, "size"):
        raise ImageFileError("The control image is not an image: choose a PNG, JPEG or WebP.")
    image = to_eight_bit(image)
    if image.mode in ("RGBA", "LA", "PA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


# -- resize ---------------------------------------------------------------------------------


def resize_control(image: Image.Image, width: int, height: int, mode: str) -> Image.Image:
    """`image` at `width`×`height` by A1111's resize mode: "just" stretches, "crop" covers and
    cuts the overflow equally from both sides, "fill" fits inside and fills the borders with
    the median colour of the image's edge pixels."""
    image = as_rgb(image)
    if image.size == (width, height):
        return image
    if mode == "just":
        return image.resize((width, height), Image.Resampling.LANCZOS)
    if mode == "crop":
        return fit_image(image, width, height)
    if mode != "fill":
        raise RequestError([f"Unknown resize mode '{mode}': choose crop, just or fill."])
    scale = min(width / image.width, height / image.height)
    new_w = max(1, min(width, round(image.width * scale)))
    new_h = max(1, min(height, round(image.height * scale)))
    resized = image.resize((new_w, new_h), Image.Resampling.LANCZOS)
    pixels = np.asarray(image)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]], axis=0)
    colour = tuple(int(v) for v in np.median(border, axis=0))
    out = Image.new("RGB", (width, height), colour)
    out.paste(resized, ((width - new_w) // 2, (height - new_h) // 2))
    return out


# -- the preprocessors --------------------------------------------------------------------------


def canny(grey: np.ndarray, low: float, high: float) -> np.ndarray:
    """Canny edges of an 8-bit greyscale array: 255 on edges, 0 elsewhere (cv2.Canny's
    defaults: 3×3 Sobel, L1 gradient magnitude, no pre-blur)."""
    low, high = min(low, high), max(low, high)
    try:
        import cv2
    except ImportError:
        return _canny_numpy(grey, low, high)
    return np.asarray(cv2.Canny(np.ascontiguousarray(grey), low, high), np.uint8)


def _canny_numpy(grey: np.ndarray, low: float, high: float) -> np.ndarray:
    from scipy import ndimage

    img = grey.astype(np.float32)
    gx = ndimage.sobel(img, axis=1, mode="reflect")
    gy = ndimage.sobel(img, axis=0, mode="reflect")
    magnitude = np.abs(gx) + np.abs(gy)
    # Non-maximum suppression along the gradient direction, quantised to 4 directions.
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    padded = np.pad(magnitude, 1, mode="constant")
    h, w = magnitude.shape
    neighbours = {
        0: ((0, 1), (0, -1)),  # horizontal gradient: compare left / right
        45: ((1, 1), (-1, -1)),
        90: ((1, 0), (-1, 0)),
        135: ((1, -1), (-1, 1)),
    }
    direction = ((angle + 22.5) // 45).astype(np.int32) % 4 * 45
    keep = np.zeros_like(magnitude, dtype=bool)
    for deg, ((dy1, dx1), (dy2, dx2)) in neighbours.items():
        a = padded[1 + dy1 : 1 + dy1 + h, 1 + dx1 : 1 + dx1 + w]
        b = padded[1 + dy2 : 1 + dy2 + h, 1 + dx2 : 1 + dx2 + w]
        keep |= (direction == deg) & (magnitude > a) & (magnitude >= b)
    thin = np.where(keep, magnitude, 0.0)
    strong = thin > high
    weak = thin > low
    # Hysteresis: weak edges survive when 8-connected to a strong one.
    labels, count = ndimage.label(weak, structure=np.ones((3, 3), bool))
    if count == 0:
        return np.zeros_like(grey, dtype=np.uint8)
    has_strong = np.zeros(count + 1, bool)
    has_strong[np.unique(labels[strong])] = True
    has_strong[0] = False
    return np.where(has_strong[labels], 255, 0).astype(np.uint8)


def scribble(grey: np.ndarray, thickness: int) -> np.ndarray:
    """Strokes as white lines on black, `thickness` pixels wide. Dark strokes on a light
    background (a doodle on paper, our canvas) are inverted; light strokes on dark are kept."""
    from scipy import ndimage

    lines = grey < 128 if grey.mean() >= 128 else grey >= 128
    radius = max(0, int(thickness) // 2)
    if radius:
        yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
        disk = xx * xx + yy * yy <= radius * radius
        lines = ndimage.binary_dilation(lines, structure=disk)
    return np.where(lines, 255, 0).astype(np.uint8)


def tile_resample(image: Image.Image, down: float) -> Image.Image:
    """The picture down-sampled by `down` (1 = unchanged) and scaled back to its size: the tile
    ControlNet then adds detail to a blurry copy."""
    if down <= 1.0:
        return image
    small = (max(1, round(image.width / down)), max(1, round(image.height / down)))
    return image.resize(small, Image.Resampling.BOX).resize(image.size, Image.Resampling.BICUBIC)


def palette(image: Image.Image, cell: int) -> Image.Image:
    """A colour grid: the picture reduced to one colour per `cell`×`cell` block (A1111's
    "color" / T2I-Adapter colour grid)."""
    small = (max(1, image.width // cell), max(1, image.height // cell))
    return image.resize(small, Image.Resampling.BICUBIC).resize(
        image.size, Image.Resampling.NEAREST
    )


def shuffle(image: Image.Image, seed: int) -> Image.Image:
    """The picture's content scrambled by a smooth random flow (content shuffle), the same for
    the same seed."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    w, h = image.size
    k = 256

    def noise_disk() -> np.ndarray:
        coarse = rng.uniform(0, 1, (math.ceil(h / k) + 2, math.ceil(w / k) + 2)).astype(np.float32)
        big = Image.fromarray(coarse, "F").resize((w + 2 * k, h + 2 * k), Image.Resampling.BICUBIC)
        field = np.asarray(big, np.float32)[k : k + h, k : k + w]
        field = field - field.min()
        return field / max(float(field.max()), 1e-6)

    xs = noise_disk() * (w - 1)
    ys = noise_disk() * (h - 1)
    pixels = np.asarray(image, np.float32)
    channels = [
        ndimage.map_coordinates(pixels[..., c], [ys, xs], order=1, mode="nearest") for c in range(3)
    ]
    return Image.fromarray(np.clip(np.stack(channels, axis=2) + 0.5, 0, 255).astype(np.uint8))


def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), np.uint8)


def _grey_to_rgb(grey: np.ndarray) -> Image.Image:
    return Image.fromarray(grey, "L").convert("RGB")
