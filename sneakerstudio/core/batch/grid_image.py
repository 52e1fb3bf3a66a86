"""The grid picture: every cell's image in rows and columns, with the axes' values as labels.

X values label the columns (top), Y values the rows (left); with a Z axis there is one block
per Z value, side by side, each under its own title. A cell that did not finish stays grey.
"""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageDraw, ImageFont

from sneakerstudio.core.batch.grid import GridPlan

_BACKGROUND = (255, 255, 255)
_EMPTY = (200, 200, 200)
_INK = (0, 0, 0)


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """`text` shortened with an ellipsis until it fits `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while len(text) > 1 and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def grid_image(plan: GridPlan, images: dict[int, Image.Image]) -> Image.Image:
    """The grid of `images` (by cell index; missing ones grey) with axis labels."""
    nx, ny, nz = plan.shape
    first = next(iter(images.values()), None)
    cw, ch = first.size if first is not None else (plan.base.width, plan.base.height)
    font_size = max(10, min(32, cw // 10))
    font = _font(font_size)
    top = font_size * 2 + 8
    ztitle = top if plan.z else 0
    left = 4
    if plan.y:  # as wide as the longest row label, within reason
        measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        widest = max(measure.textlength(f"{plan.y.title}: {v}", font=font) for v in plan.y.labels)
        left += int(min(max(widest + 12, 64), max(cw, 320)))
    block_w = left + nx * cw
    gap = font_size if plan.z else 0
    width = nz * block_w + (nz - 1) * gap
    height = ztitle + top + ny * ch
    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for cell in plan.cells:
        x0 = cell.z * (block_w + gap) + left + cell.x * cw
        y0 = ztitle + top + cell.y * ch
        image = images.get(cell.index)
        if image is None:
            draw.rectangle((x0, y0, x0 + cw - 1, y0 + ch - 1), fill=_EMPTY)
        else:
            canvas.paste(image.convert("RGB").resize((cw, ch)), (x0, y0))
    for zi in range(nz):
        bx = zi * (block_w + gap)
        if plan.z:
            text = _fit(draw, f"{plan.z.title}: {plan.z.labels[zi]}", font, block_w)
            draw.text((bx + block_w // 2, ztitle // 2), text, fill=_INK, font=font, anchor="mm")
        for xi, label in enumerate(plan.x.labels):
            text = _fit(draw, f"{plan.x.title}: {label}", font, cw - 4)
            draw.text(
                (bx + left + xi * cw + cw // 2, ztitle + top // 2),
                text,
                fill=_INK,
                font=font,
                anchor="mm",
            )
        if plan.y:
            for yi, label in enumerate(plan.y.labels):
                text = _fit(draw, f"{plan.y.title}: {label}", font, left - 8)
                draw.text(
                    (bx + left - 6, ztitle + top + yi * ch + ch // 2),
                    text,
                    fill=_INK,
                    font=font,
                    anchor="rm",
                )
    return canvas
