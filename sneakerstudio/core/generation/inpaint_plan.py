"""Planning img2img, inpaint, "only masked" and outpaint jobs in pixels (no torch).

`plan_image_job(request)` turns a request into what the sampler needs — the image to encode at
the generation size, the mask of what it may change, how the masked latent starts — and a
`finish` step that turns the generated images back into results the size the user expects:

- img2img: the init image fitted to the request size (`imageops.fit_image`).
- inpaint, whole picture: the same, and the result is composited with the blurred mask, so
  every pixel where the blurred mask is 0 is the fitted input's pixel, bit for bit.
- inpaint, only masked (docs/FORMATS.md): binarize at 128, blur, bounding box + padding, clamped,
  grown to the generation aspect ratio and shifted inside the image; crop, resize to the
  generation size, generate, resize back, paste, composite. The result has the init image's
  own size.
- outpaint: the canvas grows by (left, top, right, bottom), the new area is filled, the
  sampler repaints it (its mask reaches max(8, 2 × mask blur) pixels into the original so the
  seam is generated in context) and the result is composited with a feathered mask that is 0 on the
  whole original, which therefore stays unchanged (but for a mask painted on it, which is
  repainted as in inpaint). With inpaint area "masked" only the box
  around the new area (+ padding) is generated, at the request's size, as in "only masked".
- an empty mask makes inpaint plain img2img.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image, ImageChops

from sneakerstudio.core.imaging import imageops

Box = tuple[int, int, int, int]


@dataclass
class ImagePlan:
    """Inputs for the sampler at `width`×`height`, and how to finish its images."""

    image: Image.Image  # RGB, generation size: encoded as the init latent
    width: int
    height: int
    mask: Image.Image | None = None  # "L", generation size, white = repaint; None = img2img
    latent_content: str = "original"  # "original", "noise" or "nothing" in the masked latent
    finish: Callable[[Image.Image], Image.Image] = field(default=lambda image: image)
    kind: str = "img2img"  # "img2img", "inpaint", "inpaint-masked" or "outpaint"
    # For crops (only masked, outpaint's band): the whole canvas's size and the box cut from
    # it, so control images are cut the same way.
    canvas: tuple[int, int] | None = None
    box: Box | None = None


def crop_region(mask: Image.Image, padding: int, width: int, height: int) -> Box | None:
    """The "only masked" box for a (blurred) mask: the bounding box of its non-black pixels
    plus `padding`, clamped to the image, grown to the aspect ratio `width`:`height` and
    shifted back inside the image. None for an empty mask."""
    box = imageops.mask_box(mask)
    if box is None:
        return None
    img_w, img_h = mask.size
    left, top, right, bottom = box
    left, top = max(0, left - padding), max(0, top - padding)
    right, bottom = min(img_w, right + padding), min(img_h, bottom + padding)
    box_w, box_h = right - left, bottom - top
    target = width / height
    if box_w / box_h < target:
        box_w = min(img_w, round(box_h * target))
    else:
        box_h = min(img_h, round(box_w / target))
    left, right = _grow(left, right, box_w, img_w)
    top, bottom = _grow(top, bottom, box_h, img_h)
    return left, top, right, bottom


def _grow(start: int, end: int, length: int, limit: int) -> tuple[int, int]:
    """Widen [start, end) to `length` around its centre, then shift it inside [0, limit)."""
    extra = length - (end - start)
    start -= extra // 2
    end = start + length
    if start < 0:
        start, end = 0, length
    if end > limit:
        start, end = limit - length, limit
    return max(0, start), min(limit, end)


def _masked_content_image(image: Image.Image, mask: Image.Image, content: str) -> Image.Image:
    """A1111's "fill" repaints the masked pixels with their blurred surroundings before
    encoding; the other choices keep the pixels (noise / nothing act on the latent)."""
    if content == "fill":
        return imageops.fill_from_surroundings(image, imageops.binarize(mask))
    return image


def _latent_content(content: str) -> str:
    return content if content in ("noise", "nothing") else "original"


def plan_image_job(request: object) -> ImagePlan:
    """The plan for an img2img / inpaint / outpaint request (see the module docstring).
    `request` is a validated `GenerationRequest`."""
    from sneakerstudio.core.protocol.request import GenerationRequest

    assert isinstance(request, GenerationRequest)
    init = request.init_image.convert("RGB")
    if request.mode == "outpaint":
        return _plan_outpaint(request, init)
    mask = request.mask if request.mode == "inpaint" else None
    if mask is not None and imageops.is_empty(imageops.binarize(mask)):
        mask = None  # an empty mask: plain img2img
    if mask is None:
        fitted = imageops.fit_image(init, request.width, request.height)
        return ImagePlan(fitted, fitted.width, fitted.height)
    if request.inpaint_area == "masked":
        return _plan_only_masked(request, init, mask)
    image = imageops.fit_image(init, request.width, request.height)
    soft = imageops.blur_mask(
        imageops.binarize(imageops.fit_image(mask.convert("L"), request.width, request.height)),
        request.mask_blur,
    )
    start = _masked_content_image(image, soft, request.masked_content)
    return ImagePlan(
        image=start,
        width=request.width,
        height=request.height,
        mask=soft,
        latent_content=_latent_content(request.masked_content),
        finish=lambda generated: imageops.composite(generated, image, soft),
        kind="inpaint",
    )


def _plan_only_masked(request: object, init: Image.Image, mask: Image.Image) -> ImagePlan:
    from sneakerstudio.core.protocol.request import GenerationRequest

    assert isinstance(request, GenerationRequest)
    soft = imageops.blur_mask(imageops.binarize(mask), request.mask_blur)
    return _crop_plan(
        request, init, soft, soft, _latent_content(request.masked_content), "inpaint-masked"
    )


def _crop_plan(
    request: object,
    image: Image.Image,
    sampler_mask: Image.Image,
    composite_mask: Image.Image,
    latent_content: str,
    kind: str,
) -> ImagePlan:
    """Generate only the box around `sampler_mask` (+ padding, at the generation aspect) at
    the request's size, then paste it back and composite with `composite_mask`."""
    from sneakerstudio.core.protocol.request import GenerationRequest

    assert isinstance(request, GenerationRequest)
    box = crop_region(sampler_mask, request.padding, request.width, request.height)
    assert box is not None  # empty masks were turned into img2img
    size = (request.width, request.height)
    crop_image = image.crop(box).resize(size, Image.Resampling.LANCZOS)
    crop_mask = sampler_mask.crop(box).resize(size, Image.Resampling.LANCZOS)
    if kind == "inpaint-masked":
        crop_image = _masked_content_image(crop_image, crop_mask, request.masked_content)
    box_size = (box[2] - box[0], box[3] - box[1])

    def finish(generated: Image.Image) -> Image.Image:
        pasted = image.copy()
        pasted.paste(generated.convert("RGB").resize(box_size, Image.Resampling.LANCZOS), box)
        return imageops.composite(pasted, image, composite_mask)

    return ImagePlan(
        image=crop_image,
        width=request.width,
        height=request.height,
        mask=crop_mask,
        latent_content=latent_content,
        finish=finish,
        kind=kind,
        canvas=image.size,
        box=box,
    )


def outpaint_size(
    image_size: tuple[int, int], extents: tuple[int, int, int, int]
) -> tuple[int, int]:
    """The canvas size after extending an image by (left, top, right, bottom)."""
    left, top, right, bottom = extents
    return image_size[0] + left + right, image_size[1] + top + bottom


def outpaint_canvas(
    image: Image.Image,
    extents: tuple[int, int, int, int],
    fill: str,
    color: tuple[int, int, int] = (127, 127, 127),
) -> tuple[Image.Image, Image.Image]:
    """The extended canvas with its new area filled, and the mask of the new area (white).
    Fills: "edge" (nearest edge colour, blurred), "telea" (Telea's method), "tile" (mirrored),
    "color" (solid), "noise" (edge fill in pixels; the sampler starts that latent from noise)."""
    left, top = extents[0], extents[1]
    width, height = outpaint_size(image.size, extents)
    new_area = Image.new("L", (width, height), 255)
    new_area.paste(0, (left, top, left + image.width, top + image.height))
    canvas = Image.new("RGB", (width, height), tuple(color))
    canvas.paste(image, (left, top))
    if fill == "tile":
        canvas = imageops.fill_tile(image, extents)
    elif fill == "color":
        canvas = imageops.fill_color(canvas, new_area, color)
    elif fill == "telea":
        canvas = imageops.fill_telea(canvas, new_area)
    else:  # edge, noise
        blur = max(4.0, min(max(extents), 64) / 4)
        canvas = imageops.fill_edge(canvas, new_area, blur=blur)
    canvas.paste(image, (left, top))  # the original, exactly
    return canvas, new_area


def _plan_outpaint(request: object, init: Image.Image) -> ImagePlan:
    from sneakerstudio.core.protocol.request import GenerationRequest

    assert isinstance(request, GenerationRequest)
    canvas, new_area = outpaint_canvas(init, request.outpaint, request.fill, request.fill_color)
    blur = max(0, request.mask_blur)
    # The sampler repaints a band of the original too (at least one 8-pixel latent block), so
    # the seam is generated in context; the composite below keeps the original untouched.
    reach = max(8, 2 * blur)
    sampler_mask = imageops.grow_mask(new_area, reach)
    feather = imageops.blur_mask(new_area, blur)
    feather = Image.composite(feather, new_area, new_area)  # 0 on the whole original
    if request.mask is not None and not imageops.is_empty(imageops.binarize(request.mask)):
        # A mask painted on the original as well: repaint it too, blended as in inpaint.
        placed = Image.new("L", canvas.size, 0)
        placed.paste(imageops.binarize(request.mask), request.outpaint[:2])
        painted = imageops.blur_mask(placed, blur)
        sampler_mask = ImageChops.lighter(sampler_mask, painted)
        feather = ImageChops.lighter(feather, painted)

    latent_content = "noise" if request.fill == "noise" else "original"
    if request.inpaint_area == "masked":
        # Only the band around the new area is generated, at the request's size: large
        # images are outpainted at the cost of one generation-sized image.
        return _crop_plan(request, canvas, sampler_mask, feather, latent_content, "outpaint")

    def finish(generated: Image.Image) -> Image.Image:
        return imageops.composite(generated, canvas, feather)

    return ImagePlan(
        image=canvas,
        width=canvas.width,
        height=canvas.height,
        mask=sampler_mask,
        latent_content=latent_content,
        finish=finish,
        kind="outpaint",
    )
