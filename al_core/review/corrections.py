"""What an annotator must do to turn a model's pre-labels into the ground truth: the
cost of a labeled image when the review screen shows the model's boxes pre-drawn, as
the oracle simulation counts it (``curves.json``'s ``corrections``).

Pre-labels are the model's boxes scored at least the review screen's default
(:data:`al_core.types.DEFAULT_MIN_SCORE`). They are matched to the true boxes as the
review screen matches them to saved boxes (:func:`al_core.review.changes.match_changes`:
greedily by IoU, at IoU >= :data:`al_core.review.changes.MATCH_IOU`; a box overlapping an
object less is a wrong box, deleted, and the object drawn anew). Each correction
counts one:

- **added**: a true box no pre-label matches (a missed object, drawn by hand);
- **deleted**: a pre-label matching no true box (a false detection);
- **moved**: a matched pre-label whose IoU with its true box is below :data:`FIT_IOU`
  (0.75, COCO's strict AP75 threshold: below it an annotator drags its corners; above
  it the box is accepted as drawn);
- **relabeled**: a matched pre-label of the wrong class.

A matched box both off and of the wrong class costs two. Without pre-labels (round 0,
no model yet) every true box is added: the cost is the box count. This is the edit
count the pre-annotation literature compares against drawing every box (e.g.
Papadopoulos et al., "We don't need no bounding-boxes", CVPR 2016; Adhikari and Huttunen,
"Iterative bounding box annotation for object detection", ICPR 2020). What the counts cost
in annotator seconds, kept boxes (still looked at and confirmed) included:
:mod:`al_core.review.effort`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from al_core.review.changes import ChangeCounts, match_changes
from al_core.review.prelabel_threshold import min_score_of
from al_core.types import DEFAULT_MIN_SCORE
from al_core.types import Box, LabeledBox

FIT_IOU = 0.75  # a matched pre-label below this IoU with its true box is moved or resized


def prelabel_corrections(predictions: Iterable[dict], truth: Sequence[LabeledBox], *,
                         min_score: float = DEFAULT_MIN_SCORE) -> ChangeCounts:
    """The corrections that turn one image's pre-labels into its true boxes.

    ``predictions``: rows with ``class_id``, ``x1, y1, x2, y2`` (pixels) and ``score``,
    as :meth:`Store.predictions` returns them; those below ``min_score`` (their class's
    own where it is a :class:`~al_core.review.prelabel_threshold.MinScore` with one) are
    not shown, so they cost nothing. ``truth``: the image's true boxes. Returns the counts;
    ``.corrections`` is their total."""
    shown = [LabeledBox(int(p["class_id"]), Box(p["x1"], p["y1"], p["x2"], p["y2"]))
             for p in predictions if p["score"] >= min_score_of(min_score, p["class_id"])]
    return match_changes(shown, truth, fit_iou=FIT_IOU)


def summed_changes(counts: Iterable[ChangeCounts]) -> ChangeCounts:
    """Several images' change counts added up, field by field (kept, moved, relabeled,
    deleted, added): what a batch of reviews changed in all."""
    total = {name: 0 for name in ChangeCounts().as_dict()}
    for c in counts:
        for name, value in c.as_dict().items():
            total[name] += value
    return ChangeCounts(**total)
