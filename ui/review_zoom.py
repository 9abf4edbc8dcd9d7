"""Zoom, pan and direct box edits on the Review page's canvas.

The canvas (streamlit-drawable-canvas) has no zoom and reports nothing but its boxes, so
the page shows a part of the image on a canvas of the same size (:mod:`ui.canvas_view`
converts, in one tested place) and a small inline component, the bridge
(``ui/canvas_bridge.js``), turns keys, the wheel and presses on a box's edge into one
trigger per change, applied here to the working boxes (:class:`ui.working.Working`) before
the editor draws again. The view of each image (zoom and where) is kept per image in
``st.session_state["rv_zoom"]`` while the page is open.
"""
from __future__ import annotations

import io
from pathlib import Path

import streamlit as st
from PIL import Image, ImageDraw

from al_core.formats.images import ImageError
from ui import canvas, review_palette
from ui import review_nav as nav
from ui.canvas_view import View, pan, step_zoom, to_image, view_at, zoom_levels

BRIDGE_KEY = "rv-bridge"
ACKED = "als_bridge_acked"  # the bridge's last change applied (kept when the page resets rv_*)
OVERVIEW_H = 56  # CSS pixels: the overview's height under the canvas

_bridge = st.components.v2.component(
    "als_canvas_bridge", js=(Path(__file__).with_name("canvas_bridge.js")).read_text(),
    html="<span></span>", isolate_styles=False)


def view_of(item_id: int, fit: View) -> View:
    """The view the page shows image ``item_id`` in: its zoom and place if it was zoomed,
    else the whole image (``fit``)."""
    z = st.session_state.setdefault("rv_zoom", {}).get(item_id)
    return fit if z is None else view_at(fit, *z)


def _keep(item_id: int, view: View) -> None:
    st.session_state.setdefault("rv_zoom", {})[item_id] = (view.zoom, view.x0, view.y0)


def bridge(w, view: View, fit: View, classes, focus: int | None) -> None:
    """Draw the bridge for the canvas of ``w`` shown in ``view`` (call right after the
    canvas, once its edits are in ``w``): it gets the boxes on the canvas in canvas
    pixels, with their indices among ``w.boxes``."""
    colors = {c.id: c.color for c in classes}
    boxes = []
    for k in w.on_canvas if w.on_canvas is not None else range(len(w.boxes)):
        if k < len(w.boxes):
            b = w.boxes[k]
            c = canvas.to_canvas(b["box"], view)
            boxes.append({"k": k, "l": c["left"], "t": c["top"], "w": c["width"],
                          "h": c["height"], "color": colors.get(b["class_id"], "#ffffff")})
    st.session_state["rv_view"] = {"tag": w.tag, "item": w.item_id, "view": view, "fit": fit}
    _bridge(key=BRIDGE_KEY, on_act_change=_on_act, width="content", height="content",
            data={"canvas_key": canvas.canvas_key(w.tag, view), "tag": w.tag,
                  "canvas_w": view.canvas_w, "canvas_h": view.canvas_h,
                  "zoomed": view.zoomed, "view": [view.x0, view.y0, view.scale],
                  "acked": st.session_state.get(ACKED, 0),
                  "zero_is_class": review_palette.zero_keyed(classes),
                  "boxes": boxes, "focus": focus,
                  "color": colors.get(st.session_state.get("rv_class"), "#ffffff")})


def _opening(tag: str) -> str:
    return str(tag).rsplit("-", 1)[0]  # item and opening, without the revision


def _on_act() -> None:
    """Apply the bridge's changes not applied yet, in order (a callback: before the editor
    draws again). The bridge sends each change until the page says it was applied
    (``acked``, the last change's number), so one is never lost and never applied twice."""
    sent = (st.session_state.get(BRIDGE_KEY) or {}).get("act")
    acts = sent.get("acts") if isinstance(sent, dict) else None
    if not isinstance(acts, list):
        return
    w = nav.sync()  # an edit the canvas sent first is applied first
    for act in acts:
        if not isinstance(act, dict) or not isinstance(act.get("n"), int) or \
                act["n"] <= st.session_state.get(ACKED, 0):
            continue
        st.session_state[ACKED] = act["n"]
        w = nav.current()
        shown = st.session_state.get("rv_view")
        if w is None or not shown or shown["item"] != w.item_id or \
                _opening(act.get("tag", "")) != _opening(w.tag):
            continue  # meant for another image, or another opening of it
        try:
            apply(w, act, shown["view"], shown["fit"])
        except (KeyError, TypeError, ValueError, IndexError):
            nav.msg("warning", "That change on the image could not be read; nothing changed.")


def apply(w, act: dict, view: View, fit: View) -> None:
    """Apply bridge trigger ``act`` (``{"act": kind, ...}``; canvas pixels of ``view``)
    to the working boxes ``w`` or to the image's view. Kinds: ``zoom`` (``steps``: +n in,
    -n out, 0 the whole image; ``at``: the canvas point to keep still, or None), ``pan``
    (``dx``, ``dy``), ``box`` (box ``k`` resized or moved to ``box`` = ``[x1, y1, x2, y2]``),
    ``add`` (a new box of the current class), ``nudge`` (box ``k``'s edges by ``d`` =
    ``(dx1, dy1, dx2, dy2)`` image pixels), ``focus`` (highlight box ``k``, again: none),
    ``delete`` (box ``k``). Index changes need the drawing the bridge saw (same revision).
    Raises ``KeyError``/``TypeError``/``ValueError`` on a malformed trigger."""
    kind = act["act"]
    same_rev = act.get("tag") == w.tag
    now = view_of(w.item_id, fit)  # zoom and pan build on the view as it is now
    if kind == "zoom":
        at = act.get("at")
        point = (float(at[0]), float(at[1])) if at else None
        _keep(w.item_id, step_zoom(now, fit, int(act["steps"]), point))
    elif kind == "pan":
        _keep(w.item_id, pan(now, fit, float(act["dx"]), float(act["dy"])))
    elif kind == "nudge":  # sent faster than the redraws: an index of an earlier one
        if w.indexed_at(act.get("tag", "")) and \
                w.nudge(int(act["k"]), [float(v) for v in act["d"]]):
            st.session_state["rv_focus"] = int(act["k"])
    elif not same_rev:
        return  # an index into boxes that may have changed since
    elif kind == "box":
        k = int(act["k"])
        if w.set_box(k, _image_box(act["box"], view)):
            st.session_state["rv_focus"] = k
    elif kind == "add":
        class_id = st.session_state.get("rv_class")
        if class_id is not None:
            w.add(class_id, _image_box(act["box"], view))
    elif kind == "focus":
        k = act.get("k")
        focus = st.session_state.get("rv_focus")
        st.session_state["rv_focus"] = None if k is None or int(k) == focus else int(k)
        w.rev += 1  # redraw with the highlight
    elif kind == "delete":
        k = int(act["k"])
        if 0 <= k < len(w.boxes):
            w.delete(k)
            st.session_state["rv_focus"] = None
    else:
        raise ValueError(f"unknown change {kind!r}")


def _image_box(box, view: View) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return to_image({"left": x1, "top": y1, "width": x2 - x1, "height": y2 - y1}, view)


# -- the line under the canvas: zoom buttons, what the keys do, the overview ---------------
def controls(item_id: int, view: View, fit: View, path: str, mtime: float, *,
             reopen_key: bool = False) -> None:
    """Zoom buttons, the keys, and (zoomed) the overview: the whole image small, with the
    part on the canvas framed. ``reopen_key``: box-level review is on (its O key)."""
    with st.container(horizontal=True, vertical_alignment="center", gap="small",
                      key="rv-zoom-row"):
        st.button("", icon=":material/zoom_out:", key="rv-zoom-out", type="tertiary",
                  on_click=_zoom_cb, args=(item_id, -1), disabled=not view.zoomed)
        st.button("", icon=":material/fit_screen:", key="rv-zoom-fit", type="tertiary",
                  on_click=_zoom_cb, args=(item_id, 0), disabled=not view.zoomed)
        st.button("", icon=":material/zoom_in:", key="rv-zoom-in", type="tertiary",
                  on_click=_zoom_cb, args=(item_id, 1),
                  disabled=view.zoom >= zoom_levels(fit)[-1])
        st.caption(f"**{_zoom_text(view)}** · **+ − 0**, wheel · pan: arrows, Space+drag",
                   width="content")
        if view.zoomed:
            try:
                st.image(overview(path, mtime, tuple(round(v, 2) for v in view.rect),
                                  OVERVIEW_H * 2), width=_overview_w(fit), caption=None)
            except ImageError:
                pass  # the canvas says it
        else:
            st.container(width=_overview_w(fit), height=OVERVIEW_H, border=False)
    st.caption("Drag on the image to draw a box, a box's edge to resize it, inside the "
               "highlighted box to move it · highlighted box: arrows move it 1 px, "
               "Shift+arrow pushes that side out, Ctrl+arrow pulls it in · **E** edit mode · "
               "**Del** deletes" + (" · **O** reopens the boxes accepted without asking"
                                    if reopen_key else ""))


def _overview_w(fit: View) -> int:
    return max(24, round(OVERVIEW_H * fit.width / fit.height))


def _zoom_text(view: View) -> str:
    z = view.zoom
    return "Whole image" if not view.zoomed else f"Zoom {z:g}×"


def _zoom_cb(item_id: int, steps: int) -> None:
    w = nav.sync()
    shown = st.session_state.get("rv_view")
    if w is None or w.item_id != item_id or not shown:
        return
    _keep(item_id, step_zoom(view_of(item_id, shown["fit"]), shown["fit"], steps))


@st.cache_data(max_entries=64, show_spinner=False)
def overview(path: str, mtime: float, rect: tuple[float, float, float, float],
             height: int) -> bytes:
    """The whole image ``height`` pixels high (PNG bytes) with ``rect`` (image pixels,
    the part on the canvas) framed. Raises :class:`al_core.formats.images.ImageError`."""
    image = canvas.decoded_image(path, mtime)
    k = height / image.height
    small = image.convert("RGB").resize((max(1, round(image.width * k)), height),
                                        Image.BILINEAR)
    draw = ImageDraw.Draw(small)
    x1, y1, x2, y2 = (v * k for v in rect)
    draw.rectangle([x1, y1, x2 - 1, y2 - 1], outline=(255, 214, 0), width=2)
    draw.rectangle([x1 - 1, y1 - 1, x2, y2], outline=(0, 0, 0), width=1)
    buf = io.BytesIO()
    small.save(buf, format="PNG")
    return buf.getvalue()
