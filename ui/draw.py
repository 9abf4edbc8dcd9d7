"""Drawing boxes on images for display."""
from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from al_core.types import Annotation, ClassInfo


def thumbnail_scale(width: int, height: int, size: int) -> float:
    """The scale that fits an image's longer side to ``size`` pixels."""
    return size / max(width, height, 1)


def draw_boxes(image: Image.Image, annotations: Sequence[Annotation],
               classes: Sequence[ClassInfo], *, scale: float = 1.0) -> Image.Image:
    """A copy of ``image`` resized by ``scale`` with each box outlined in its class colour
    and labeled with the class name (line and text sizes are those of the output)."""
    by_id = {c.id: c for c in classes}
    out = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                       Image.NEAREST if scale >= 2 else Image.BILINEAR)
    draw = ImageDraw.Draw(out)
    width = 2
    font = ImageFont.load_default(size=11)
    for a in annotations:
        cls = by_id.get(a.class_id)
        color = cls.color if cls else "#ffffff"
        x1, y1, x2, y2 = (v * scale for v in a.box.as_list())
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], outline=color, width=width)
        text = cls.name if cls else str(a.class_id)
        tw = draw.textlength(text, font=font)
        ty = y1 - 13 if y1 >= 13 else y2
        draw.rectangle([x1, ty, x1 + tw + 4, ty + 13], fill=color)
        draw.text((x1 + 2, ty), text, font=font,
                  fill="#000000" if _light(color) else "#ffffff")
    return out


def _light(hex_color: str) -> bool:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b > 140
