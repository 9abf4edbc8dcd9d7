"""What the reviewer sees drawn on an image (pure: no widgets): the model's pre-labels
dashed and grey in the picture, those the annotator deleted dashed and faint red, and
the annotator's boxes on the canvas coloured by what the annotator changed (kept /
moved / relabeled / added against the pre-labels, :func:`al_core.review.changes.box_changes`),
each chip numbered as the box list is, a rejected box dashed with a cross.

Boxes are float ``[x1, y1, x2, y2]`` in image pixels; the canvas and its background are
in canvas pixels (:class:`ui.canvas.View`). The drawing helpers are
:mod:`ui.canvas`'s: the annotator's boxes go through :func:`ui.canvas.drawing` with one
stand-in class per box (its number and class name, the status colour).
"""
from __future__ import annotations

from collections.abc import Sequence

from al_core.types import ClassInfo, LabeledBox
from ui import canvas
from ui.canvas_view import to_canvas_xyxy

# Okabe-Ito colours: told apart with the common colour-vision deficiencies
STATUS_COLORS = {"kept": "#009E73", "moved": "#E69F00", "relabeled": "#CC79A7",
                 "moved+relabeled": "#CC79A7", "added": "#0072B2"}
STATUS_WORDS = {"kept": "kept", "moved": "moved", "relabeled": "relabeled",
                "moved+relabeled": "moved and relabeled", "added": "added"}
PRELABEL_COLOR = "#8A8A8A"
DELETED_COLOR = "#E8000B"  # red: told from moved's orange by more than the dashes
REJECTED_MARK = "\u2715"  # a cross on a rejected box's chip
DASH = [8, 6]  # a rejected box's outline, canvas pixels


def background_boxes(prelabels: Sequence[LabeledBox], deleted: Sequence[int],
                     view: canvas.View) -> tuple[tuple, ...]:
    """The pre-labels to draw into the canvas background (:func:`ui.canvas.with_accepted`:
    ``(colour, canvas-pixel box, label)`` each): grey and unlabeled where the annotator
    kept something there, faint red and labeled ``deleted`` where they removed it."""
    gone = set(deleted)
    return tuple((DELETED_COLOR if k in gone else PRELABEL_COLOR,
                  to_canvas_xyxy(b.box.as_list(), view),
                  "deleted" if k in gone else "")
                 for k, b in enumerate(prelabels))



def status_drawing(boxes: Sequence[LabeledBox], changes: Sequence[str],
                   verdicts: Sequence[bool], classes: Sequence[ClassInfo],
                   view: canvas.View, *, nonce: str) -> dict:
    """The read-only canvas drawing of the annotator's boxes: chip ``k class`` (``k``
    from 1, as the box list numbers them), the colour of the box's change, a rejected box
    dashed and its chip crossed."""
    names = canvas.chip_names(classes)
    stand_ins = [ClassInfo(k, f"{k + 1} {names.get(b.class_id, f'class #{b.class_id}')}"
                           + ("" if ok else f" {REJECTED_MARK}"),
                           STATUS_COLORS.get(change, STATUS_COLORS["added"]))
                 for k, (b, change, ok) in enumerate(zip(boxes, changes, verdicts))]
    drawn = canvas.drawing([{"class_id": k, "box": b.box.as_list()} for k, b in
                            enumerate(boxes)], stand_ins, view, nonce=nonce)
    for obj, ok in zip(drawn["objects"], verdicts):
        if not ok:
            obj["strokeDashArray"] = DASH
    return drawn


def legend_html(*, fixing: bool = False, base: str = "prelabels") -> str:
    """The legend under the image (HTML with fixed text only: no user text in it); while
    fixing, the boxes are in their class colours and only the pre-labels are in it. For a
    fix of a returned image (``base`` "returned") the dashed boxes are the annotator's
    boxes as the reviewer returned them, and the colours say what changed since."""
    def swatch(color: str, word: str, dashed: bool = False) -> str:
        line = "dashed" if dashed else "solid"
        return (f"<span style='display:inline-block;width:1.1em;height:0.8em;border:2px "
                f"{line} {color};margin:0 0.3em -0.1em 0'></span>{word}")

    parts = ["your fix: each box in its class's colour"] if fixing else \
        [swatch(STATUS_COLORS[s], s) for s in ("kept", "moved", "relabeled", "added")]
    was = "as you returned it" if base == "returned" else "model's pre-label"
    gone = "removed since you returned it" if base == "returned" else "pre-label deleted"
    parts += [swatch(PRELABEL_COLOR, was, True), swatch(DELETED_COLOR, gone, True),
              *([] if fixing else [f"{REJECTED_MARK} rejected by you"])]
    return ("<div style='font-size:0.85rem;opacity:0.85;display:flex;flex-wrap:wrap;"
            "gap:0.2em 1.1em'>" + "".join(f"<span>{p}</span>" for p in parts) + "</div>")
