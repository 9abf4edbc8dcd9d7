"""Drawing boxes on images for display."""
from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from al_core.names import printable
from al_core.types import Annotation, ClassInfo, LabeledBox

MIN_LABEL_PX = 13  # below this a class name on a thumbnail cannot be read


def thumbnail_scale(width: int, height: int, size: int) -> float:
    """The scale that fits an image's longer side to ``size`` pixels."""
    return size / max(width, height, 1)


def draw_boxes(image: Image.Image, annotations: Sequence[Annotation | LabeledBox],
               classes: Sequence[ClassInfo], *, scale: float = 1.0,
               scores: Sequence[float | None] | None = None) -> Image.Image:
    """A copy of ``image`` resized by ``scale`` with each box outlined in its class colour
    and a chip with its class name (and its score, ``name 0.87``, where ``scores`` gives
    one; ``scores`` has one entry per annotation, None for none).

    Line, font and chip sizes follow the output's size. Lines and chips stay inside the
    image: a chip sits above its box, or inside it when the box touches the top edge.
    Overlapping chips leave the higher score's on top."""
    if scores is not None and len(scores) != len(annotations):
        raise ValueError(f"scores has {len(scores)} entries for {len(annotations)} "
                         "annotations; give one per annotation (None for none)")
    by_id = {c.id: c for c in classes}
    out = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                       Image.NEAREST if scale >= 2 else Image.BILINEAR)
    draw = ImageDraw.Draw(out)
    longer = max(out.size)
    width = max(2, round(longer / 160))
    font = ImageFont.load_default(size=max(MIN_LABEL_PX, min(32, round(longer / 14))))
    chips = []
    for k, a in enumerate(annotations):
        cls = by_id.get(a.class_id)
        color = cls.color if cls else "#ffffff"
        x1, y1, x2, y2 = _inside([v * scale for v in a.box.as_list()], out.size)
        draw.rectangle([x1, y1, x2, y2], outline=color, width=width)
        score = scores[k] if scores is not None else None
        name = printable(cls.name, 40) if cls else str(a.class_id)  # one line, whatever
        text = name + ("" if score is None else f" {score:.2f}")  # the stored name holds
        chips.append((-1.0 if score is None else score, x1, y1, color, text))
    # after every line, so no box crosses a chip; where chips overlap, the most
    # confident is drawn last, on top
    for _, x1, y1, color, text in sorted(chips, key=lambda c: c[0]):
        _chip(draw, out.size, x1, y1, color, text, font)
    return out


def _inside(coords: list[float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Pixel corners of a box, within the image (inclusive: the last pixel is size - 1)."""
    w, h = size
    x1, y1, x2, y2 = coords
    x1, y1 = min(max(round(x1), 0), w - 1), min(max(round(y1), 0), h - 1)
    x2, y2 = min(max(round(x2) - 1, x1), w - 1), min(max(round(y2) - 1, y1), h - 1)
    return x1, y1, x2, y2


def _chip(draw: ImageDraw.ImageDraw, size: tuple[int, int], x1: int, y1: int, color: str,
          text: str, font) -> None:
    """A filled label chip at a box's top-left corner, above the box when there is room."""
    ascent, descent = font.getmetrics()
    pad = max(2, round((ascent + descent) / 6))
    cw = round(draw.textlength(text, font=font)) + 2 * pad
    ch = ascent + descent + pad
    cx = max(0, min(x1, size[0] - cw))
    cy = y1 - ch if y1 >= ch else min(y1, max(0, size[1] - ch))
    draw.rectangle([cx, cy, cx + cw - 1, cy + ch - 1], fill=color)
    draw.text((cx + pad, cy + pad // 2), text, font=font,
              fill="#000000" if _light(color) else "#ffffff")


def _light(hex_color: str) -> bool:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b > 140


DIM_ALPHA = 0.75  # box-level review: an accepted box's dashes, this opaque
HALO_ALPHA = 0.5  # under a white halo this opaque, so a dash shows on any colour
DIM_FILL = 0.10  # and its inside, tinted this much
DASH_PX = 6


def _dashes(x1: int, y1: int, x2: int, y2: int, dash: int = DASH_PX
            ) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The dashes of a rectangle's outline: ``dash`` pixels on, as many off."""
    out = []
    for start in range(x1, x2 + 1, 2 * dash):
        end = min(start + dash - 1, x2)
        out += [((start, y1), (end, y1)), ((start, y2), (end, y2))]
    for start in range(y1, y2 + 1, 2 * dash):
        end = min(start + dash - 1, y2)
        out += [((x1, start), (x1, end)), ((x2, start), (x2, end))]
    return out


def draw_dimmed(image: Image.Image, boxes: Sequence[tuple], *,
                width: int = 2) -> Image.Image:
    """A copy of ``image`` (RGB) with each ``(hex colour, [x1, y1, x2, y2] in its
    pixels[, label])`` drawn faint: a dashed outline (the colour at :data:`DIM_ALPHA` on a
    white halo), a light tint inside and the label, if any, in small faint text inside
    the box's bottom-left corner, no chip. Box-level review draws the boxes it accepted
    without asking this way, beside the solid, labeled boxes the annotator decides on."""
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=MIN_LABEL_PX)
    for color, coords, *label in boxes:
        r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
        x1, y1, x2, y2 = _inside(list(coords), base.size)
        draw.rectangle([x1, y1, x2, y2], fill=(r, g, b, round(255 * DIM_FILL)))
        dashes = _dashes(x1, y1, x2, y2)
        for a, z in dashes:
            draw.line([a, z], fill=(255, 255, 255, round(255 * HALO_ALPHA)), width=width + 2)
        for a, z in dashes:
            draw.line([a, z], fill=(r, g, b, round(255 * DIM_ALPHA)), width=width)
        if label and label[0]:
            ascent, descent = font.getmetrics()
            draw.text((x1 + width + 2, max(y1, y2 - width - 2 - ascent - descent)),
                      str(label[0]), font=font, fill=(r, g, b, round(255 * DIM_ALPHA)),
                      stroke_width=2, stroke_fill=(255, 255, 255, round(255 * HALO_ALPHA)))
    return Image.alpha_composite(base, layer).convert("RGB")


PIN_GAP_PX = 5  # a reviewer's pinned box is outlined this far outside the box itself
PIN_DASH_PX = 8
PIN_COLORS = ("#000000", "#ffd400")  # its ring's dashes, alternating: no class looks so


def draw_pins(image: Image.Image, pins: Sequence[tuple]) -> Image.Image:
    """A copy of ``image`` (RGB) with each reviewer's comment pinned to a box, ``(number,
    [x1, y1, x2, y2] in its pixels)``, drawn as a ring of black and yellow dashes
    :data:`PIN_GAP_PX` outside the box (so the annotator's own box, drawn over the
    picture, stays visible inside it) and a round numbered badge on its top-right corner,
    as the comment is numbered beside the image. The number is drawn as text."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=15)
    width = 3
    for number, coords in pins:
        x1, y1, x2, y2 = coords
        g = PIN_GAP_PX
        x1, y1, x2, y2 = _inside([x1 - g, y1 - g, x2 + g, y2 + g], out.size)
        draw.line([(x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1, y1)], fill=PIN_COLORS[1],
                  width=width)
        for a, z in _dashes(x1, y1, x2, y2, PIN_DASH_PX):
            draw.line([a, z], fill=PIN_COLORS[0], width=width)
        text = str(number)
        r = max(11, round(draw.textlength(text, font=font) / 2) + 6)
        cx = min(max(x2, r), out.width - 1 - r)
        cy = min(max(y1, r), out.height - 1 - r)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=PIN_COLORS[1],
                     outline=PIN_COLORS[0], width=2)
        draw.text((cx, cy), text, font=font, fill=PIN_COLORS[0], anchor="mm")
    return out
