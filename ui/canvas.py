"""The review canvas: the only importer of streamlit-drawable-canvas, and the one place
where boxes cross between image pixels and canvas pixels.

Image boxes are float ``[x1, y1, x2, y2]`` in image pixels; canvas boxes are the
component's ``{label, left, top, width, height}`` dicts in canvas pixels. The canvas keeps
the image's aspect ratio (one ``scale`` for both axes), so the conversion is exact.
"""
from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from PIL import Image

from al_core.formats.images import load_image
from al_core.names import printable
from al_core.types import ClassInfo

STROKE_PX = 3
FONT_PX = 14
JPEG_QUALITY = 85
CHIP_CHARS = 60  # a longer class name is cut on its chip (it stays whole in the project)


@dataclass(frozen=True)
class View:
    """How an image of ``width`` x ``height`` pixels is shown: ``canvas_w`` x ``canvas_h``
    canvas pixels at ``scale`` canvas pixels per image pixel."""

    width: int
    height: int
    canvas_w: int
    canvas_h: int
    scale: float


def fit_view(width: int, height: int, *, max_w: int, max_h: int) -> View:
    """Scale an image up or down so it fills ``max_w`` without passing ``max_h``
    (pixels), keeping its aspect ratio. Raises ``ValueError`` on a non-positive size."""
    if width <= 0 or height <= 0 or max_w <= 0 or max_h <= 0:
        raise ValueError(f"sizes must be positive: image {width}x{height}, "
                         f"view {max_w}x{max_h}")
    scale = min(max_w / width, max_h / height)
    return View(width, height, max(1, round(width * scale)), max(1, round(height * scale)),
                scale)


def to_canvas(box: Sequence[float], view: View) -> dict:
    """Image ``[x1, y1, x2, y2]`` -> canvas ``{left, top, width, height}``."""
    x1, y1, x2, y2 = (v * view.scale for v in box)
    return {"left": x1, "top": y1, "width": x2 - x1, "height": y2 - y1}


def to_image(box: dict, view: View) -> list[float]:
    """Canvas ``{left, top, width, height}`` -> image ``[x1, y1, x2, y2]`` (unclipped)."""
    s = view.scale
    return [box["left"] / s, box["top"] / s, (box["left"] + box["width"]) / s,
            (box["top"] + box["height"]) / s]


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


def drawing(boxes: Sequence[dict], classes: Sequence[ClassInfo], view: View, *,
            focus: int | None = None, nonce: str = "") -> dict:
    """The canvas's ``initial_drawing`` for working boxes ``{class_id, box, score}``: one
    stroke colour per class, the focused box thicker and tinted. ``nonce`` makes two
    otherwise equal drawings differ, so the canvas always reloads for a new image."""
    by_id = {c.id: c for c in classes}
    names = chip_names(classes)
    objects = []
    for k, b in enumerate(boxes):
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


@st.cache_data(max_entries=256, show_spinner=False)
def background_jpeg(path: str, mtime: float, canvas_w: int, canvas_h: int) -> bytes:
    """The image resized to the canvas, as JPEG bytes (cached by path, mtime and size).
    Raises :class:`al_core.formats.images.ImageError` for a missing or unreadable file."""
    image = load_image(Path(path))
    up = canvas_w > image.width
    image = image.resize((canvas_w, canvas_h), Image.NEAREST if up and canvas_w >= 3 * image.width
                         else Image.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def canvas_key(tag: str, view: View) -> str:
    """A key per opening of an image, drawing revision (``Working.tag``) and size: a new
    key starts from its initial drawing, so a result meant for another image, revision or
    scale is never read."""
    return f"canvas-{tag}-{view.canvas_w}x{view.canvas_h}"


def state_boxes(value) -> list[dict] | None:
    """The labeled boxes (canvas pixels) in a canvas's session-state value (what the
    browser last sent under its key), or None when it has sent nothing."""
    from streamlit_drawable_canvas import CanvasResult  # importable only inside a run

    drawing = (value or {}).get("drawing") if hasattr(value, "get") else None
    if not drawing or not drawing.get("raw"):
        return None
    return CanvasResult(json_data=drawing["raw"], image_data_url=None,
                        return_image_data=False).boxes


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
    return w.from_canvas(to_working(boxes, drawn["classes"], drawn["view"]))


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
