"""What the review canvas shows of an image, and the one place where boxes cross
between image pixels and canvas pixels (:mod:`ui.canvas` re-exports it).

Image boxes are float ``[x1, y1, x2, y2]`` in image pixels; canvas boxes are the
component's ``{left, top, width, height}`` dicts in canvas pixels. A :class:`View` keeps
the image's aspect ratio (one ``scale`` for both axes) and may show a part of the image
(zoom): canvas = (image - (x0, y0)) * scale, exact both ways. Zoom keeps the canvas's size
(the page holds still) and shows less of the image in it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    """How an image of ``width`` x ``height`` pixels is shown: ``canvas_w`` x ``canvas_h``
    canvas pixels at ``scale`` canvas pixels per image pixel, the canvas's top-left corner
    at image point (``x0``, ``y0``). ``zoom`` is ``scale`` over the scale that fits the
    whole image (1: the whole image, ``x0 = y0 = 0``)."""

    width: int
    height: int
    canvas_w: int
    canvas_h: int
    scale: float
    x0: float = 0.0
    y0: float = 0.0
    zoom: float = 1.0

    @property
    def rect(self) -> tuple[float, float, float, float]:
        """The part of the image on the canvas, ``(x1, y1, x2, y2)`` image pixels."""
        return (self.x0, self.y0, self.x0 + self.canvas_w / self.scale,
                self.y0 + self.canvas_h / self.scale)

    @property
    def zoomed(self) -> bool:
        return self.zoom > 1.0

    @property
    def key(self) -> str:
        """Names the view in widget keys (letters, digits, ``x`` and ``_`` only)."""
        size = f"{self.canvas_w}x{self.canvas_h}"
        if not self.zoomed:
            return size
        return f"{size}z{round(self.zoom * 100)}_{round(self.x0 * 8)}_{round(self.y0 * 8)}"


def fit_view(width: int, height: int, *, max_w: int, max_h: int) -> View:
    """Scale an image up or down so it fills ``max_w`` without passing ``max_h``
    (pixels), keeping its aspect ratio. Raises ``ValueError`` on a non-positive size."""
    if width <= 0 or height <= 0 or max_w <= 0 or max_h <= 0:
        raise ValueError(f"sizes must be positive: image {width}x{height}, "
                         f"view {max_w}x{max_h}")
    scale = min(max_w / width, max_h / height)
    return View(width, height, max(1, round(width * scale)), max(1, round(height * scale)),
                scale)


# -- zoom and pan: the canvas keeps its size, and shows a part of the image ---------------
ZOOM_LEVELS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)
MAX_PX = 40.0  # zoom stops where one image pixel is this many canvas pixels


def zoom_levels(fit: View) -> tuple[float, ...]:
    """The zoom levels an image offers: up to where one image pixel is ``MAX_PX`` canvas
    pixels (at least 1 and 2, so any image can be zoomed once)."""
    top = max(2.0, MAX_PX / fit.scale)
    return tuple(z for z in ZOOM_LEVELS if z <= top)


def view_at(fit: View, zoom: float, x0: float, y0: float) -> View:
    """The view of ``fit``'s image at ``zoom`` (clamped to ``[1, zoom_levels(fit)[-1]]``)
    with its top-left at image point (``x0``, ``y0``), moved as little as needed to stay
    inside the image. ``fit``: the whole image's view (:func:`fit_view`)."""
    zoom = min(max(float(zoom), 1.0), zoom_levels(fit)[-1])
    if zoom <= 1.0:
        return fit
    scale = fit.scale * zoom
    vw, vh = fit.canvas_w / scale, fit.canvas_h / scale
    x0 = min(max(float(x0), 0.0), max(fit.width - vw, 0.0))
    y0 = min(max(float(y0), 0.0), max(fit.height - vh, 0.0))
    return View(fit.width, fit.height, fit.canvas_w, fit.canvas_h, scale, x0, y0, zoom)


def zoom_about(view: View, fit: View, zoom: float, at: tuple[float, float] | None = None
               ) -> View:
    """``view`` zoomed to ``zoom``, keeping the image point under canvas point ``at``
    (canvas pixels; the canvas's centre when None) where it is on the canvas."""
    cx, cy = at if at is not None else (view.canvas_w / 2, view.canvas_h / 2)
    px, py = view.x0 + cx / view.scale, view.y0 + cy / view.scale  # image point under it
    scale = fit.scale * min(max(float(zoom), 1.0), zoom_levels(fit)[-1])
    return view_at(fit, zoom, px - cx / scale, py - cy / scale)


def step_zoom(view: View, fit: View, steps: int, at: tuple[float, float] | None = None
              ) -> View:
    """``view`` zoomed ``steps`` levels in (positive) or out (negative) of
    :func:`zoom_levels`; 0 steps: the whole image."""
    if steps == 0:
        return fit
    levels = zoom_levels(fit)
    k = min(range(len(levels)), key=lambda i: abs(levels[i] - view.zoom))
    k = min(max(k + steps, 0), len(levels) - 1)
    return zoom_about(view, fit, levels[k], at)


def pan(view: View, fit: View, dx: float, dy: float) -> View:
    """``view`` moved by (``dx``, ``dy``) canvas pixels (positive: the view goes right and
    down over the image), stopping at the image's edges."""
    return view_at(fit, view.zoom, view.x0 + dx / view.scale, view.y0 + dy / view.scale)


def on_view(box: Sequence[float], view: View) -> bool:
    """Whether image box ``[x1, y1, x2, y2]`` shows on the canvas (overlaps the view)."""
    x1, y1, x2, y2 = view.rect
    return min(box[0], box[2]) < x2 and max(box[0], box[2]) > x1 and \
        min(box[1], box[3]) < y2 and max(box[1], box[3]) > y1


def to_canvas(box: Sequence[float], view: View) -> dict:
    """Image ``[x1, y1, x2, y2]`` -> canvas ``{left, top, width, height}``."""
    s = view.scale
    x1, y1 = (box[0] - view.x0) * s, (box[1] - view.y0) * s
    x2, y2 = (box[2] - view.x0) * s, (box[3] - view.y0) * s
    return {"left": x1, "top": y1, "width": x2 - x1, "height": y2 - y1}


def to_canvas_xyxy(box: Sequence[float], view: View) -> tuple[float, float, float, float]:
    """Image ``[x1, y1, x2, y2]`` -> canvas ``(x1, y1, x2, y2)``: for drawing into the
    canvas's background picture."""
    s = view.scale
    return ((box[0] - view.x0) * s, (box[1] - view.y0) * s, (box[2] - view.x0) * s,
            (box[3] - view.y0) * s)


def to_image(box: dict, view: View) -> list[float]:
    """Canvas ``{left, top, width, height}`` -> image ``[x1, y1, x2, y2]`` (unclipped)."""
    s = view.scale
    return [view.x0 + box["left"] / s, view.y0 + box["top"] / s,
            view.x0 + (box["left"] + box["width"]) / s,
            view.y0 + (box["top"] + box["height"]) / s]
