"""The review canvas: the only importer of streamlit-drawable-canvas.

Image boxes are float ``[x1, y1, x2, y2]`` in image pixels; canvas boxes are the
component's ``{label, left, top, width, height}`` dicts in canvas pixels. They cross
between the two only through a :class:`ui.canvas_view.View` (:func:`to_canvas`,
:func:`to_image`, re-exported here), which may show a zoomed part of the image.
"""
from __future__ import annotations

import functools
import io
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import streamlit as st
from PIL import Image

from al_core.formats.images import load_image
from al_core.names import printable
from al_core.review.changes import MOVE_TOLERANCE_PX
from al_core.types import ClassInfo
from ui.canvas_view import View, fit_view, on_view, to_canvas, to_image

__all__ = ["View", "fit_view", "to_canvas", "to_image"]  # re-exported from ui.canvas_view

STROKE_PX = 3
FONT_PX = 14
JPEG_QUALITY = 85
CHIP_CHARS = 60  # a longer class name is cut on its chip (it stays whole in the project)


def chip_text(name: str, score: float | None) -> str:
    """The label chip on a box: the class's chip name (:func:`chip_names`), and the
    model's score for a pre-label."""
    return name if score is None else f"{name} {score:.2f}"


def chip_names(classes: Sequence[ClassInfo]) -> dict[int, str]:
    """The name each class goes by on the canvas, by class id: one line of visible text
    (control characters as escapes, each whitespace run one space, at most
    ``CHIP_CHARS``), and one per class. The canvas keeps a box's class only as its chip's
    text, and its text field may reflow spaces, so a class is found again by this table
    (:func:`parse_chip`), never by its stored name: ``traffic  light`` goes by
    ``traffic light`` and ``two\\nlines`` by ``two\\\\nlines`` (a visible backslash). Names
    that come out alike, and a name that reads as another's name and a score (``cat
    0.50`` beside ``cat``), get their class id added (``cat 0.50 (#4)``)."""
    names = {c.id: " ".join(printable(c.name, CHIP_CHARS).split()) or f"class #{c.id}"
             for c in classes}
    for _ in range(len(names) + 1):  # a suffix may meet a name that has it: again
        count = Counter(names.values())
        clash = {cid for cid, text in names.items()
                 if count[text] > 1 or _reads_as_scored(text, count)}
        if not clash:
            break
        names.update({cid: f"{names[cid]} (#{cid})" for cid in clash})
    return names


def _reads_as_scored(text: str, names) -> bool:
    head, _, tail = text.rpartition(" ")
    try:
        float(tail)
    except ValueError:
        return False
    return head in names


def parse_chip(text: str, classes: Sequence[ClassInfo]) -> int | None:
    """The class id a chip names (:func:`chip_names`; a trailing score is ignored, and an
    edit through the canvas may leave extra spaces or a newline). None for a text that
    names no class."""
    by_name = {name: cid for cid, name in chip_names(classes).items()}
    text = " ".join(str(text).split())
    if text in by_name:
        return by_name[text]
    head, _, tail = text.rpartition(" ")
    try:
        float(tail)
    except ValueError:
        return None
    return by_name.get(head)


def on_canvas(boxes: Sequence[dict], view: View) -> list[int]:
    """The indices of the working boxes ``{class_id, box, ...}`` the canvas shows: those
    overlapping the view (all of them when it shows the whole image). The others are not
    on the canvas, so nothing done there can change them."""
    return [k for k, b in enumerate(boxes) if not view.zoomed or on_view(b["box"], view)]


def drawing(boxes: Sequence[dict], classes: Sequence[ClassInfo], view: View, *,
            focus: int | None = None, nonce: str = "") -> dict:
    """The canvas's ``initial_drawing`` for working boxes ``{class_id, box, score}``: one
    stroke colour per class, the focused box thicker and tinted; only the boxes on the
    view (:func:`on_canvas`), in their order. ``nonce`` makes two otherwise equal drawings
    differ, so the canvas always reloads for a new image."""
    by_id = {c.id: c for c in classes}
    names = chip_names(classes)
    objects = []
    for k in on_canvas(boxes, view):
        b = boxes[k]
        cls = by_id[b["class_id"]]
        focused = k == focus
        objects.append({
            "type": "LabeledRect", "label": chip_text(names[cls.id], b.get("score")),
            **to_canvas(b["box"], view), "originX": "left", "originY": "top",
            "scaleX": 1, "scaleY": 1, "angle": 0, "stroke": cls.color,
            "strokeWidth": STROKE_PX * 2 if focused else STROKE_PX,
            "fill": _tint(cls.color) if focused else "rgba(0,0,0,0)",
            "lockRotation": True, "strokeUniform": True, "fontSize": FONT_PX})
    return {"objects": objects, "nonce": nonce}


def _tint(hex_color: str) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},0.25)"


@functools.lru_cache(maxsize=4)
def decoded_image(path: str, mtime: float) -> Image.Image:
    """The decoded image (the last few, shared by sessions: zooming and panning crop the
    same image again and again). Never changed in place."""
    return load_image(Path(path))


@st.cache_data(max_entries=256, show_spinner=False)
def background_jpeg(path: str, mtime: float, canvas_w: int, canvas_h: int,
                    crop: tuple[float, float, float, float] | None = None) -> bytes:
    """The image, or its part ``crop`` (``(x1, y1, x2, y2)`` image pixels, fractions
    allowed: :attr:`ui.canvas_view.View.rect`), resized to the canvas, as JPEG bytes
    (cached by path, mtime, size and crop). Enlarged three times or more, each image pixel
    stays a sharp square, so a box can be set on the pixel. Raises
    :class:`al_core.formats.images.ImageError` for a missing or unreadable file."""
    image = decoded_image(path, mtime)
    box = crop or (0, 0, image.width, image.height)
    up = canvas_w / max(box[2] - box[0], 1e-9)
    image = image.resize((canvas_w, canvas_h), Image.NEAREST if up >= 3 else Image.LANCZOS,
                         box=box)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def view_jpeg(path: str, mtime: float, view: View) -> bytes:
    """:func:`background_jpeg` for what ``view`` shows."""
    return background_jpeg(path, mtime, view.canvas_w, view.canvas_h,
                           tuple(round(v, 3) for v in view.rect) if view.zoomed else None)


def canvas_key(tag: str, view: View) -> str:
    """A key per opening of an image, drawing revision (``Working.tag``) and view: a new
    key starts from its initial drawing, so a result meant for another image, revision,
    scale or part of the image is never read."""
    return f"canvas-{tag}-{view.key}"


def state_boxes(value) -> list[dict] | None:
    """The labeled boxes (canvas pixels) in a canvas's session-state value (what the
    browser last sent under its key), or None when it has sent nothing."""
    from streamlit_drawable_canvas import CanvasResult  # importable only inside a run

    drawing = (value or {}).get("drawing") if hasattr(value, "get") else None
    if not drawing or not drawing.get("raw"):
        return None
    return CanvasResult(json_data=drawing["raw"], image_data_url=None,
                        return_image_data=False).boxes


def noise_px(view: View) -> float:
    """How far (image pixels) a box may come back from the canvas from where it was sent
    and still be unmoved: the canvas rounds coordinates to 0.01 canvas pixel, so 0.05
    canvas pixel, and never more than the tolerance of a kept box
    (:data:`al_core.review.changes.MOVE_TOLERANCE_PX`)."""
    return min(MOVE_TOLERANCE_PX, 0.05 / view.scale)


def to_working(boxes: Sequence[dict], classes, view: View) -> list[tuple[int | None, list[float]]]:
    """Canvas boxes as ``(class id or None, [x1, y1, x2, y2] image pixels)`` pairs, what
    :meth:`ui.working.Working.from_canvas` takes."""
    return [(parse_chip(b["label"], classes), to_image(b, view)) for b in boxes]


def sync_drawn(w, drawn: dict | None) -> list[str]:
    """Apply the drawing a canvas sent under ``drawn["key"]`` to the working boxes ``w``
    (a :class:`ui.working.Working`), when ``drawn`` (the record an editor leaves in the
    session state: ``tag``, ``key``, ``view``, ``classes``) is of ``w``: a drawing that
    reached the server together with a button or key is never dropped. Returns the
    problems found (none when nothing was applied)."""
    if w is None or not drawn or drawn["tag"] != w.tag:
        return []
    boxes = state_boxes(st.session_state.get(drawn["key"]))
    if boxes is None:
        return []
    return w.from_canvas(to_working(boxes, drawn["classes"], drawn["view"]),
                         noise_px(drawn["view"]))


def review_canvas(*, background: bytes, initial: dict, view: View, label: str, key: str,
                  disabled: bool = False) -> list[dict]:
    """Draw the canvas and return its labeled boxes in canvas pixels."""
    from streamlit_drawable_canvas import st_canvas  # only importable inside a Streamlit run

    result = st_canvas(drawing_mode="labeled_rect", label=label, initial_drawing=initial,
                       background_image=background, width=view.canvas_w,
                       height=view.canvas_h, stroke_width=STROKE_PX, fill_color="rgba(0,0,0,0)",
                       font_size=FONT_PX, key=key, disabled=disabled)
    return result.boxes


@st.cache_data(max_entries=64, show_spinner=False)
def with_accepted(background: bytes, boxes: tuple[tuple, ...]) -> bytes:
    """The canvas background (JPEG bytes) with box-level review's accepted boxes drawn
    faint on it (:func:`ui.draw.draw_dimmed`; ``(hex colour, canvas-pixel box[, label])``
    each):
    they are part of the picture, not of the canvas, so they cannot be edited until
    reopened."""
    from ui.draw import draw_dimmed

    if not boxes:
        return background
    image = draw_dimmed(Image.open(io.BytesIO(background)).convert("RGB"), boxes)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


@st.cache_data(max_entries=64, show_spinner=False)
def with_pins(background: bytes, pins: tuple[tuple[str, tuple[float, ...]], ...]) -> bytes:
    """The canvas background (JPEG bytes) with a reviewer's comments pinned to boxes
    drawn on it (:func:`ui.draw.draw_pins`; ``(number, canvas-pixel box)`` each): part
    of the picture, never an object of the canvas, so they cannot be moved, deleted or
    saved as boxes."""
    from ui.draw import draw_pins

    if not pins:
        return background
    image = draw_pins(Image.open(io.BytesIO(background)), pins)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()
