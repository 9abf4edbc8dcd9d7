"""The label chips the review canvas draws on its boxes, kept inside the image.

streamlit-drawable-canvas 0.13 draws a box's chip itself (its bundle's ``Tc``, called
from ``LabeledRect._render``): from the box's left edge rightwards, ``text width + 12``
canvas pixels wide and ``fontSize + 8`` high, above the box or inside it when there is
no room above, and it never looks at the canvas's right edge, so the chip of a box near
that edge was cut off. Where the chip is drawn cannot be changed from outside the
bundle, but what it holds can: its text and font size are the box's ``label`` and
``fontSize``, both kept by the canvas. A chip that would pass the edge gets its model
score dropped first (the class name is what the canvas gives back), then a smaller
font, down to :data:`MIN_FONT_PX`. Only a box whose left edge is closer to the right
edge than its name at that size (about 40 canvas pixels for ``three``) still shows a
cut chip.
"""
from __future__ import annotations

from collections.abc import Collection

CHAR_EM = 0.62  # a generous mean glyph width of the canvas's system-ui font, in em
PAD_PX = 12  # the chip's width past its text (the bundle: text width + 12)
MIN_FONT_PX = 9


def chip_width(text: str, font_px: float) -> float:
    """The chip's width in canvas pixels for ``text`` at ``font_px`` (an upper estimate:
    the browser measures it with its own font)."""
    return len(text) * CHAR_EM * font_px + PAD_PX


def fit_chips(drawing: dict, canvas_w: float, names: Collection[str]) -> dict:
    """``drawing`` (an ``initial_drawing``, :func:`ui.canvas.drawing`) with the chips
    that would pass the canvas's right edge (``canvas_w`` pixels) made to fit: the score
    dropped from ``"<name> <score>"`` (``names``: the chip names,
    :func:`ui.canvas.chip_names`, so a name that ends in a number keeps it), then the
    font made smaller. The other objects, and the drawing's other keys, are unchanged."""
    objects = []
    for obj in drawing.get("objects", []):
        label = str(obj.get("label", ""))
        font = obj.get("fontSize", 14)
        room = canvas_w - obj.get("left", 0)
        if label and chip_width(label, font) > room:
            head, _, tail = label.rpartition(" ")
            if label not in names and head in names and _is_number(tail):
                label = head
            while font > MIN_FONT_PX and chip_width(label, font) > room:
                font -= 1
            obj = {**obj, "label": label, "fontSize": font}
        objects.append(obj)
    return {**drawing, "objects": objects}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
