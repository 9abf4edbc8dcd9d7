"""The corrections an annotator needs to turn pre-labels into the ground truth."""
from al_core.review.corrections import FIT_IOU, prelabel_corrections
from al_core.types import DEFAULT_MIN_SCORE
from al_core.types import Box, LabeledBox

TRUTH = [LabeledBox(1, Box(0, 0, 20, 20)), LabeledBox(2, Box(40, 40, 60, 60)),
         LabeledBox(1, Box(100, 0, 130, 30)), LabeledBox(3, Box(0, 100, 20, 120))]


def _pred(class_id, x1, y1, x2, y2, score=0.9):
    return {"class_id": class_id, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "score": score}


def _exact(score=0.9):
    return [_pred(b.class_id, *b.box.as_list(), score=score) for b in TRUTH]


def test_a_perfect_pre_label_costs_nothing():
    counts = prelabel_corrections(_exact(), TRUTH)
    assert counts.corrections == 0 and counts.kept == 4


def test_a_box_slightly_off_is_accepted_as_drawn():
    near = [_pred(1, 1, 1, 21, 21)]  # IoU 0.82 with the true box
    assert prelabel_corrections(near, TRUTH[:1]).corrections == 0


def test_one_missed_one_spurious_one_relabeled_one_shifted_cost_four():
    preds = [_pred(1, 0, 0, 20, 20),            # right
             _pred(3, 40, 40, 60, 60),           # relabeled (2 -> 3)
             _pred(1, 106, 0, 136, 30),          # shifted 6 px: IoU 0.67 < 0.75, moved
             _pred(2, 200, 200, 230, 230)]       # spurious; the 4th true box is missed
    counts = prelabel_corrections(preds, TRUTH)
    assert (counts.added, counts.deleted, counts.moved, counts.relabeled) == (1, 1, 1, 1)
    assert counts.corrections == 4 and FIT_IOU == 0.75


def test_hidden_pre_labels_cost_nothing_and_without_any_every_box_is_drawn():
    assert prelabel_corrections(_exact(score=DEFAULT_MIN_SCORE - 0.01), TRUTH).added == 4
    assert prelabel_corrections([], TRUTH).corrections == len(TRUTH)
    assert prelabel_corrections(_exact(), []).deleted == 4  # an empty image: delete all


def test_a_box_barely_overlapping_is_deleted_and_the_object_drawn():
    preds = [_pred(1, 15, 15, 35, 35)]  # IoU 0.08 with the true box: not its box
    counts = prelabel_corrections(preds, TRUTH[:1])
    assert (counts.added, counts.deleted, counts.moved) == (1, 1, 0)


def test_change_counts_are_plain_ints_that_json_can_write():
    import json

    import numpy as np

    from al_core.review.changes import ChangeCounts
    from al_core.review.corrections import summed_changes

    counts = summed_changes([ChangeCounts(kept=np.int64(2), added=np.int64(1)),
                             ChangeCounts(deleted=np.int64(3))])
    assert json.loads(json.dumps(counts.as_dict())) == {
        "kept": 2, "moved": 0, "relabeled": 0, "deleted": 3, "added": 1}
    assert all(type(v) is int for v in counts.as_dict().values())
