"""Gold images (honeypots): labeled images a lead marks as gold are mixed into annotators'
queues at the project's rate, looking like any other image; an annotator's boxes on one
are scored against the gold labels and never saved as labels, so a gold image trains once,
with its own labels. The score (box F1 at IoU 0.5, class accuracy of the matched boxes) is
recorded for the team dashboard and never shown to the annotator.

Matching follows Labelbox's benchmarks and the COCO convention: boxes pair one to one by
IoU at or above 0.5, the pairing that maximises total IoU (the Hungarian method,
``scipy.optimize.linear_sum_assignment``); unmatched boxes on either side count against
F1. Boxes are float ``[x1, y1, x2, y2]`` in absolute image pixels.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from al_core.review.changes import iou_matrix
from al_core.types import LabeledBox

GOLD_IOU = 0.5


@dataclass(frozen=True)
class GoldScore:
    """``f1``: 2 x matched / (gold boxes + answer boxes), 1.0 when both are empty;
    ``class_accuracy``: matched pairs of the same class / matched pairs (None with no
    pair)."""

    gold_boxes: int
    answer_boxes: int
    matched: int
    same_class: int
    f1: float
    class_accuracy: float | None


def score_answer(gold: Sequence[LabeledBox], answer: Sequence[LabeledBox], *,
                 iou_threshold: float = GOLD_IOU) -> GoldScore:
    """Score ``answer`` against ``gold`` (both lists of boxes of one image)."""
    matched = same = 0
    if gold and answer:
        iou = iou_matrix([g.box for g in gold], [a.box for a in answer])
        rows, cols = linear_sum_assignment(-np.where(iou >= iou_threshold, iou, 0.0))
        for i, j in zip(rows, cols):
            if iou[i, j] >= iou_threshold:
                matched += 1
                same += gold[i].class_id == answer[j].class_id
    total = len(gold) + len(answer)
    return GoldScore(len(gold), len(answer), matched, same,
                     1.0 if total == 0 else 2 * matched / total,
                     same / matched if matched else None)


def record_answer(store, item_id: int, annotator: str, answer: Sequence[LabeledBox], *,
                  seconds: float | None) -> GoldScore:
    """Score ``annotator``'s answer on a gold image they were served and record it (in
    the caller's transaction); the gold labels are left as they were. ``store``: an
    :class:`al_core.store.Store`."""
    gold = [LabeledBox(a.class_id, a.box) for a in store._gold_truth(item_id)]
    score = score_answer(gold, answer)
    store.record_gold_answer(
        item_id, annotator, boxes=[[b.class_id, *b.box.as_list()] for b in answer],
        gold_boxes=score.gold_boxes, answer_boxes=score.answer_boxes, matched=score.matched,
        same_class=score.same_class, f1=score.f1, class_accuracy=score.class_accuracy,
        seconds=seconds)
    store.audit("gold.answer", object_type="item", object_id=item_id,
                summary=f"{annotator} answered a gold image ({len(answer)} boxes)",
                after={"f1": round(score.f1, 4)})
    return score
