"""The boxes of the image under review, between saves: plain data kept in session state.

The working set is the truth the canvas shows. A canvas edit (draw, move, resize, delete,
inline relabel) replaces it; a change made from Python (relabel or delete in the box
list, the score threshold, undo) rewrites it and bumps ``rev``, which gives the canvas a
new key and so a fresh drawing. Every change pushes the previous boxes on an undo stack.
Boxes are ``{class_id, box: [x1, y1, x2, y2] image pixels, score, pred}``: ``score`` and
``pred`` (the index of the pre-label it still is) only while it is an untouched pre-label.

Box-level review: a pre-label marked ``accepted`` (at or above its class's threshold,
:mod:`al_core.review.auto_accept`) is not among the boxes the annotator works on; it is
saved beside them as auto-accepted (:meth:`Working.accepted`) until :meth:`Working.reopen`
puts it back among them, an ordinary pre-label again.
"""
from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from al_core.review.changes import MOVE_TOLERANCE_PX
from al_core.review.prelabel_threshold import min_score_of
from al_core.review.save import clip_box
from al_core.types import Box, LabeledBox

UNDO_DEPTH = 100
_serials = itertools.count(1)


@dataclass
class Working:
    item_id: int
    width: int
    height: int
    base_version: int
    prelabels: list[dict]  # {class_id, box, score}: the selection model's, all scores
    min_score: float  # a MinScore carries per-class thresholds (_shows)
    boxes: list[dict] = field(default_factory=list)
    rev: int = 0
    undo_stack: list[list[dict]] = field(default_factory=list)
    deleted_preds: set[int] = field(default_factory=set)
    opened: float = field(default_factory=time.monotonic)
    from_labels: bool = False  # the boxes shown were the item's labels, not pre-labels
    notes: list[str] = field(default_factory=list)  # where the pre-labels came from
    initial: list[dict] = field(default_factory=list)  # the labels it opened with
    serial: int = field(default_factory=lambda: next(_serials))  # one per opening
    reopened: bool = False  # box-level review: the accepted pre-labels were reopened
    # the indices of the boxes the canvas holds (None: all): set when a view is drawn
    on_canvas: list[int] | None = None
    # the revision from which the boxes have their present indices (a delete, undo or the
    # threshold moved them): a change naming a box by an index of an earlier revision
    # would land on another box (:meth:`indexed_at`)
    reindexed: int = 0
    # the last canvas edit's new index of each box it kept ({old: new}; None: no change
    # since :meth:`take_renumbered`): the page's highlight follows its box
    renumbered: dict[int, int] | None = None

    @property
    def tag(self) -> str:
        """Names this opening of the image at this revision, for widget and canvas keys:
        a widget's or the canvas's state under an older tag (another image, an earlier
        opening of this one, an earlier revision) is never read as this one's."""
        return f"{self.item_id}-{self.serial}-{self.rev}"

    def indexed_at(self, tag: str) -> bool:
        """Whether the box indices of the drawing named ``tag`` (:attr:`tag`, maybe of an
        earlier revision) are still the boxes' indices: same opening, and no box deleted,
        restored or hidden since."""
        opening, _, rev = str(tag).rpartition("-")
        return opening == f"{self.item_id}-{self.serial}" and rev.isdigit() and \
            int(rev) >= self.reindexed

    @classmethod
    def open(cls, item_id: int, width: int, height: int, *, base_version: int,
             prelabels: Sequence[dict], labels: Sequence[LabeledBox] | None,
             min_score: float) -> "Working":
        """Start on an item: its current labels when it has them, else the pre-labels
        scoring at least ``min_score``."""
        w = cls(item_id, width, height, base_version, [dict(p) for p in prelabels], min_score)
        if labels is not None:
            w.from_labels = True
            w.boxes = [{"class_id": b.class_id, "box": b.box.as_list(), "score": None,
                        "pred": None} for b in labels]
            w.initial = copy.deepcopy(w.boxes)
        else:
            w.boxes = w._visible_prelabels()
        return w

    def _asked(self, p: dict) -> bool:
        """Whether a pre-label is among the boxes the annotator decides on (not accepted
        without asking, or reopened)."""
        return self.reopened or not p.get("accepted")

    def _shows(self, p: dict) -> bool:
        """Whether a pre-label (or an untouched pre-label box) scores at least the
        threshold of its class (:func:`al_core.review.prelabel_threshold.min_score_of`)."""
        return p["score"] >= min_score_of(self.min_score, p["class_id"])

    def _visible_prelabels(self) -> list[dict]:
        return [{"class_id": p["class_id"], "box": list(p["box"]), "score": p["score"], "pred": k}
                for k, p in enumerate(self.prelabels)
                if self._shows(p) and k not in self.deleted_preds
                and self._asked(p)]

    def shown(self) -> list[LabeledBox]:
        """What the annotator was shown to start from: the changes are counted against it."""
        if self.from_labels:
            return [LabeledBox(b["class_id"], Box(*b["box"])) for b in self.initial]
        return [LabeledBox(p["class_id"], Box(*p["box"])) for p in self.prelabels
                if self._shows(p) and self._asked(p)]

    def accepted(self) -> list[LabeledBox]:
        """Box-level review: the pre-labels saved without asking (those at or above their
        class's threshold and the score shown), clipped; none once reopened."""
        if self.from_labels or self.reopened:
            return []
        out = []
        for p in self.prelabels:
            if p.get("accepted") and self._shows(p):
                box = clip_box(p["box"], self.width, self.height)
                if box is not None:
                    out.append(LabeledBox(p["class_id"], box))
        return out

    def accepted_boxes(self) -> list[dict]:
        """:meth:`accepted` as pre-label dicts ``{class_id, box, score}``, to draw."""
        if self.from_labels or self.reopened:
            return []
        return [p for p in self.prelabels if p.get("accepted") and self._shows(p)]

    def reopen(self) -> int:
        """Put the accepted pre-labels among the boxes to decide on (as pre-labels, at the
        end). Not an edit: like the threshold it stays through undo. Returns how many."""
        back = len(self.accepted_boxes())
        if not back:
            return 0
        self.reopened = True
        present = {b["pred"] for b in self.boxes}
        self.boxes = self.boxes + [b for b in self._visible_prelabels()
                                   if b["pred"] not in present
                                   and self.prelabels[b["pred"]].get("accepted")]
        self.rev += 1
        return back

    def final(self) -> list[LabeledBox]:
        """The boxes to save, clipped to the image (stray-click boxes dropped)."""
        out = []
        for b in self.boxes:
            box = clip_box(b["box"], self.width, self.height)
            if box is not None:
                out.append(LabeledBox(b["class_id"], box))
        return out

    @property
    def dirty(self) -> bool:
        return bool(self.undo_stack)

    def seconds(self) -> float:
        return time.monotonic() - self.opened

    def _push(self) -> None:
        self.undo_stack.append(copy.deepcopy(self.boxes))
        del self.undo_stack[:-UNDO_DEPTH]

    # -- changes from the canvas -----------------------------------------------------
    def from_canvas(self, boxes: Sequence[tuple[int | None, list[float]]],
                    noise: float = MOVE_TOLERANCE_PX) -> list[str]:
        """Take the canvas's boxes ``(class_id or None for an unknown name, image box)``.
        Only the working boxes at :attr:`on_canvas` were on the canvas (a zoomed view
        shows those on it, :func:`ui.canvas.on_canvas`); the others stay exactly as they
        are, in their places, and :attr:`on_canvas` follows the canvas's boxes. Returns
        problems to show (an unknown class keeps the box's former class, or is dropped
        when the box is new); the working set changes only when the boxes do: a box back from the canvas within ``noise``
        image pixels of where it was (the canvas rounds to 0.01 canvas pixel:
        :func:`ui.canvas.noise_px`) keeps its coordinates exactly; a larger move (under a
        pixel, as a zoomed canvas allows) is taken."""
        problems: list[str] = []
        new: list[dict] = []
        on = list(range(len(self.boxes))) if self.on_canvas is None else \
            [k for k in self.on_canvas if 0 <= k < len(self.boxes)]
        off = sorted(set(range(len(self.boxes))) - set(on))
        remaining = list(on)
        origin: list[int | None] = []  # the index each canvas box had, None: new or moved
        for class_id, coords in boxes:
            k = self._same(coords, remaining)
            old = self.boxes[k] if k is not None else None
            if k is not None:
                remaining.remove(k)
            if class_id is None:
                if old is None:
                    problems.append("a box with a class name that is not in the project was "
                                    "dropped")
                    continue
                problems.append("that class name is not in the project: the box keeps its class")
                class_id = old["class_id"]
            untouched = old is not None and old["class_id"] == class_id
            if old is not None and max(abs(u - v) for u, v in zip(old["box"], coords)) < noise:
                coords = list(old["box"])
            new.append({"class_id": class_id, "box": list(coords),
                        "score": old["score"] if untouched else None,
                        "pred": old["pred"] if untouched else None})
            origin.append(k)
        new, from_canvas, was = self._with_off_canvas(new, origin, off)
        if problems:
            self.rev += 1  # redraw: the canvas still shows the refused name
        if self._equal(new, self.boxes, tolerance=noise):
            return problems
        if self.on_canvas is not None:
            self.on_canvas = [k for k, c in enumerate(from_canvas) if c]
        self._push()
        gone = {b["pred"] for b in self.boxes if b["pred"] is not None} - \
            {b["pred"] for b in new if b["pred"] is not None}
        self.deleted_preds |= gone
        self.boxes = new
        now = {k: i for i, k in enumerate(was) if k is not None}
        self.renumbered = now if self.renumbered is None else {
            k: now[m] for k, m in self.renumbered.items() if m in now}
        return problems

    def take_renumbered(self) -> dict[int, int] | None:
        """The new index of each box kept by the canvas edits since the last call
        (``{old: new}``; a box that is not in it is gone), or None when none changed the
        boxes. Several edits in between compose."""
        out, self.renumbered = self.renumbered, None
        return out

    def _with_off_canvas(self, new: list[dict], origin: list[int | None], off: list[int]
                         ) -> tuple[list[dict], list[bool], list[int | None]]:
        """The canvas's boxes ``new`` with the boxes at indices ``off`` (not on the canvas)
        back among them, as they were, each before the first canvas box that came after it
        (new boxes after them all); which of them came from the canvas; and the index
        each had (None: new or moved)."""
        out: list[dict] = []
        mine: list[bool] = []
        was: list[int | None] = []
        pending = list(off)
        last = max((i for i, k in enumerate(origin) if k is not None), default=-1)
        for i, (box, k) in enumerate(zip(new, origin)):
            bound = k if i <= last else len(self.boxes)  # boxes drawn new go last
            while bound is not None and pending and pending[0] < bound:
                was.append(pending[0])
                out.append(copy.deepcopy(self.boxes[pending.pop(0)]))
                mine.append(False)
            out.append(box)
            mine.append(True)
            was.append(k)
        for k in pending:
            out.append(copy.deepcopy(self.boxes[k]))
            mine.append(False)
            was.append(k)
        return out, mine, was

    def _same(self, coords: list[float], candidates: list[int]) -> int | None:
        """The candidate box at the same place (every side within the tolerance)."""
        for k in candidates:
            if max(abs(u - v) for u, v in zip(self.boxes[k]["box"], coords)) < MOVE_TOLERANCE_PX:
                return k
        return None

    @staticmethod
    def _equal(a: list[dict], b: list[dict], tolerance: float = MOVE_TOLERANCE_PX) -> bool:
        return len(a) == len(b) and all(
            x["class_id"] == y["class_id"] and max(abs(u - v) for u, v in zip(x["box"], y["box"]))
            < tolerance for x, y in zip(a, b))

    # -- changes from Python (each redraws the canvas) -----------------------------------
    def relabel(self, k: int, class_id: int) -> None:
        if self.boxes[k]["class_id"] == class_id:
            return
        self._push()
        if self.boxes[k]["pred"] is not None:  # the annotator's box now, as set_box's: the
            self.deleted_preds.add(self.boxes[k]["pred"])  # threshold never brings it back
        self.boxes[k] = {**self.boxes[k], "class_id": class_id, "score": None, "pred": None}
        self.rev += 1

    def delete(self, k: int) -> None:
        self._push()
        gone = self.boxes.pop(k)
        if gone["pred"] is not None:
            self.deleted_preds.add(gone["pred"])
        self.rev += 1
        self.reindexed = self.rev

    def set_min_score(self, min_score: float) -> None:
        """Show the pre-labels scoring at least ``min_score``: untouched pre-labels below it
        go, those at or above it that the annotator has not deleted come back; boxes the
        annotator drew or changed stay. Not an edit: it does not go on the undo stack
        (the threshold is undone with the threshold), and undo keeps to it."""
        if min_score == self.min_score:
            return
        self.min_score = min_score
        if self.from_labels:
            return
        kept = [b for b in self.boxes if b["pred"] is None or self._shows(b)]
        present = {b["pred"] for b in kept}
        back = [b for b in self._visible_prelabels() if b["pred"] not in present]
        new = kept + back
        if not self._equal(new, self.boxes):
            self.boxes = new
            self.rev += 1
            self.reindexed = self.rev

    def undo(self) -> bool:
        """Go back one change; False when there is nothing to undo."""
        if not self.undo_stack:
            return False
        self.boxes = [b for b in self.undo_stack.pop()  # never back above the threshold
                      if b["pred"] is None or self._shows(b)]
        self.deleted_preds = {p for p in self.deleted_preds
                              if p not in {b["pred"] for b in self.boxes}}
        if not self.from_labels:  # and the pre-labels the threshold shows now stay (the
            present = {b["pred"] for b in self.boxes}  # threshold is not an edit), the
            self.boxes += [b for b in self._visible_prelabels()  # reopened ones too, though
                           if b["pred"] not in present]  # the change undone came before
        self.rev += 1
        self.reindexed = self.rev
        return True


    # -- direct edits of one box (the canvas bridge: a drag on its edge, the arrow keys) -----
    def set_box(self, k: int, coords: Sequence[float]) -> bool:
        """Put box ``k`` at ``coords`` (``[x1, y1, x2, y2]`` image pixels, any corner order;
        not clipped: :meth:`final` clips on save), keeping its class. A moved pre-label
        is the annotator's box from then on (no score), as a move on the canvas makes it.
        Returns False, changing nothing, for an index that is gone or an unchanged box."""
        if not 0 <= k < len(self.boxes):
            return False
        x1, x2 = sorted((float(coords[0]), float(coords[2])))
        y1, y2 = sorted((float(coords[1]), float(coords[3])))
        old = self.boxes[k]
        if [x1, y1, x2, y2] == list(old["box"]):
            return False
        self._push()
        if old["pred"] is not None:
            self.deleted_preds.add(old["pred"])
        self.boxes[k] = {**old, "box": [x1, y1, x2, y2], "score": None, "pred": None}
        self.rev += 1
        return True

    def nudge(self, k: int, deltas: Sequence[float]) -> bool:
        """Move the edges of box ``k`` by ``deltas`` = ``(dx1, dy1, dx2, dy2)`` image pixels
        (the arrow keys: 1 pixel a press), stopping at the image's edges and never turning
        the box inside out (a side stays at least 1 pixel). False when nothing moved."""
        if not 0 <= k < len(self.boxes):
            return False
        x1, y1, x2, y2 = self.boxes[k]["box"]
        dx1, dy1, dx2, dy2 = (float(d) for d in deltas)
        if dx1 == dx2 and dy1 == dy2:  # the whole box: it keeps its size at the edges
            dx1 = dx2 = min(max(dx1, min(0.0, -x1)), max(0.0, self.width - x2))
            dy1 = dy2 = min(max(dy1, min(0.0, -y1)), max(0.0, self.height - y2))
            new = [x1 + dx1, y1 + dy1, x2 + dx2, y2 + dy2]
        else:
            new = [min(max(x1 + dx1, 0.0), x2 - 1), min(max(y1 + dy1, 0.0), y2 - 1),
                   max(min(x2 + dx2, self.width), x1 + 1), max(min(y2 + dy2, self.height), y1 + 1)]
        return self.set_box(k, new)

    def add(self, class_id: int, coords: Sequence[float]) -> None:
        """A new box of ``class_id`` at ``coords`` (``[x1, y1, x2, y2]`` image pixels, any
        corner order), drawn by the annotator."""
        self._push()
        x1, x2 = sorted((float(coords[0]), float(coords[2])))
        y1, y2 = sorted((float(coords[1]), float(coords[3])))
        self.boxes.append({"class_id": class_id, "box": [x1, y1, x2, y2], "score": None,
                           "pred": None})
        self.rev += 1
