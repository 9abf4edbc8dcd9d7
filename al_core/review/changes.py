"""Change counting: what an annotator changed against the pre-labels they were shown
(kept, moved, relabeled, deleted, added), matched by IoU. Boxes are float
``[x1, y1, x2, y2]`` in absolute image pixels."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from al_core.query.measures import box_iou
from al_core.types import Box, LabeledBox

MATCH_IOU = 0.3  # a saved box and a pre-label are the same object at IoU >= this
MOVE_TOLERANCE_PX = 1.0  # a box whose every side moved by less than this was kept as is


@dataclass(frozen=True)
class ChangeCounts:
    """What a review changed against the pre-labels it was shown, matched by IoU.

    ``kept``: same class, every side within :data:`MOVE_TOLERANCE_PX`; ``moved``: matched
    but moved or resized; ``relabeled``: matched with another class (a box both moved and
    relabeled counts in both); ``deleted``: pre-labels with no saved box; ``added``: saved
    boxes with no pre-label."""

    kept: int = 0
    moved: int = 0
    relabeled: int = 0
    deleted: int = 0
    added: int = 0

    def __post_init__(self) -> None:
        # plain ints whatever counted them (numpy's int64 is not JSON: a simulation's
        # round cost once failed to save)
        for name, value in asdict(self).items():
            object.__setattr__(self, name, int(value))

    @property
    def corrections(self) -> int:
        """Edits an annotator made: moves, relabels, deletions and additions."""
        return self.moved + self.relabeled + self.deleted + self.added

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def iou_matrix(a: Sequence[Box], b: Sequence[Box]) -> np.ndarray:
    """IoU of every box of ``a`` with every box of ``b``: shape (len(a), len(b)), float64."""
    return box_iou(np.array([x.as_list() for x in a]), np.array([x.as_list() for x in b]))


def match_changes(prelabels: Sequence[LabeledBox], saved: Sequence[LabeledBox], *,
                  iou_threshold: float = MATCH_IOU,
                  tolerance_px: float = MOVE_TOLERANCE_PX,
                  fit_iou: float | None = None) -> ChangeCounts:
    """Count the edits that turn ``prelabels`` (the boxes the annotator was shown) into
    ``saved``. Pairs are matched greedily by IoU, highest first (unchanged boxes, IoU 1,
    pair first), each box at most once, at IoU >= ``iou_threshold``. A matched box was
    moved when a side moved by ``tolerance_px`` or more (what a person did), or, with
    ``fit_iou``, when its IoU is below it (what a person would have to do to reach
    ``saved`` as the ground truth: :mod:`al_core.review.corrections`)."""
    kept = moved = relabeled = 0
    pairs = matched_pairs(prelabels, saved, iou_threshold=iou_threshold)
    for i, j, iou in pairs:
        p, s = prelabels[i], saved[j]
        same_place = iou >= fit_iou if fit_iou is not None else max(
            abs(u - v) for u, v in zip(p.box.as_list(), s.box.as_list())) < tolerance_px
        same_class = p.class_id == s.class_id
        kept += same_place and same_class
        moved += not same_place
        relabeled += not same_class
    return ChangeCounts(kept=kept, moved=moved, relabeled=relabeled,
                        deleted=len(prelabels) - len(pairs), added=len(saved) - len(pairs))


def matched_pairs(prelabels: Sequence[LabeledBox], saved: Sequence[LabeledBox], *,
                  iou_threshold: float = MATCH_IOU) -> list[tuple[int, int, float]]:
    """The pairs :func:`match_changes` counts, as ``(prelabel index, saved index, IoU)``:
    greedy by IoU, highest first (ties by index), each box at most once, IoU >=
    ``iou_threshold``."""
    iou = iou_matrix([p.box for p in prelabels], [s.box for s in saved])
    ranked = sorted(((iou[i, j], i, j) for i in range(iou.shape[0])
                     for j in range(iou.shape[1]) if iou[i, j] >= iou_threshold),
                    key=lambda t: (-t[0], t[1], t[2]))
    used_p: set[int] = set()
    used_s: set[int] = set()
    pairs = []
    for value, i, j in ranked:
        if i not in used_p and j not in used_s:
            used_p.add(i)
            used_s.add(j)
            pairs.append((i, j, float(value)))
    return pairs


def box_changes(prelabels: Sequence[LabeledBox], saved: Sequence[LabeledBox], *,
                tolerance_px: float = MOVE_TOLERANCE_PX) -> tuple[list[str], list[int]]:
    """What happened to each saved box against the pre-labels, as :func:`match_changes`
    counts it: one of ``kept``, ``moved``, ``relabeled``, ``moved+relabeled``, ``added``
    per saved box, and the indices of the pre-labels deleted."""
    status = ["added"] * len(saved)
    matched = set()
    for i, j, _ in matched_pairs(prelabels, saved):
        matched.add(i)
        p, s = prelabels[i], saved[j]
        moved = max(abs(u - v) for u, v in zip(p.box.as_list(), s.box.as_list())) \
            >= tolerance_px
        relabeled = p.class_id != s.class_id
        status[j] = "+".join(w for w, on in (("moved", moved), ("relabeled", relabeled))
                             if on) or "kept"
    return status, [i for i in range(len(prelabels)) if i not in matched]
