"""The pre-label threshold chosen per model (al_core.review.prelabel_threshold): known
answers worked out by hand on tiny synthetic predictions, the fallbacks, and the cache."""
from __future__ import annotations

import json

import numpy as np
import pytest

from al_core.review import prelabel_threshold as pt
from al_core.review.effort import CostModel
from al_core.review.prelabel_threshold import (MinScore, best_threshold, choose_threshold,
                                               min_score_of, prelabel_threshold)
from al_core.store import Store
from al_core.types import Box, LabeledBox

# the brief's action counts: a hidden right box is redrawn (a drag + a class key, 2), a
# shown wrong one deleted (1)
ACTIONS = CostModel(image=0, kept=0, moved=0, relabeled=0, deleted=1, added=2)

# six boxes: (score, right)
SIX = (np.array([0.9, 0.6, 0.4, 0.25, 0.12, 0.08]),
       np.array([True, True, False, True, False, False]))


def test_the_published_costs_show_a_box_right_one_time_in_ten():
    # 23.9 s to redraw a hidden right box against 2.6 s to delete a shown wrong one:
    # t <= 0.05 shows 3 wrong (7.8); 0.10 shows 2 (5.2); 0.15-0.25 shows 1 (2.6);
    # 0.30 hides the right 0.25 (23.9 + 2.6): the least, 2.6, nearest 0.30 is 0.25
    assert best_threshold(*SIX, hidden_cost=23.9, shown_cost=2.6) == 0.25


def test_ties_go_to_the_candidate_nearest_the_default():
    # costs 1 and 1: 0.15-0.25 (the 0.4 wrong box shown) and 0.45-0.60 (the 0.25 right
    # box hidden) both cost 1; 0.30 and 0.40 cost 2 (both)
    assert best_threshold(*SIX, hidden_cost=1, shown_cost=1, default=0.3) == 0.25
    assert best_threshold(*SIX, hidden_cost=1, shown_cost=1, default=0.4) == 0.45
    # nothing to go on: the default itself, even off the slider's steps
    assert best_threshold(np.array([]), np.array([], bool), hidden_cost=1, shown_cost=1,
                          default=0.33) == 0.33


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="shape"):
        best_threshold(np.array([0.5]), np.array([True, False]), hidden_cost=1, shown_cost=1)
    with pytest.raises(ValueError, match="costs"):
        best_threshold(*SIX, hidden_cost=-1, shown_cost=1)


def _row(cls, box, score):
    return {"class_id": cls, "x1": box[0], "y1": box[1], "x2": box[2], "y2": box[3],
            "score": score}


def _two_images():
    """Image 1: class 0 at A and class 1 at B; image 2: class 0 at C. Class 0's boxes:
    0.9 right (A), 0.5 wrong, 0.45 wrong, 0.15 right (C); class 1's: 0.35 right (B),
    0.2 wrong."""
    a, b = (0, 0, 10, 10), (20, 20, 30, 30)
    truth = {1: [LabeledBox(0, Box(*a)), LabeledBox(1, Box(*b))], 2: [LabeledBox(0, Box(*a))]}
    preds = {1: [_row(0, a, 0.9), _row(0, (50, 50, 60, 60), 0.5), _row(1, b, 0.35),
                 _row(1, (70, 70, 80, 80), 0.2)],
             2: [_row(0, a, 0.15), _row(0, (40, 40, 50, 50), 0.45)]}
    return preds, truth


def test_a_model_wide_threshold_and_a_class_with_its_own():
    preds, truth = _two_images()
    # all six, at 2 a hidden right box and 1 a shown wrong one: 0.05-0.15 show the three
    # wrong ones (3); 0.20 hides 0.15 (2) and shows three (5); 0.25-0.35 hide 0.15 and
    # show 0.45 and 0.5 (4); 0.40-0.45 hide 0.15 and 0.35 (4) and show two (6) ...: 0.15.
    # Class 1 alone: 0.25-0.35 hide nothing and show nothing (0), nearest 0.15 is 0.25.
    # Class 0 alone: 0.05-0.15 and 0.55-0.90 cost 2: 0.15, the model-wide one.
    t = choose_threshold(preds, truth, model_id=7, cost=ACTIONS, min_class_objects=1)
    assert (t.threshold, t.per_class, t.chosen) == (0.15, {1: 0.25}, True)
    assert (t.val_images, t.val_objects) == (2, 3)
    # class 0 at 0.15 shows 0.5 and 0.45 wrong; class 1 at 0.25 hides and shows nothing;
    # at the default 0.30 the right 0.15 is hidden
    assert (t.hidden_right, t.shown_wrong, t.hidden_right_at_default) == (0, 2, 1)
    assert t.why == ("0.15 for model #7 (1 class has its own): on its 2 validation images "
                     "it hides 0 right boxes and shows 2 wrong ones; at 0.30 it would hide 1")
    assert t.min_score() == MinScore(0.15, {1: 0.25})


def test_a_class_with_too_few_validation_objects_takes_the_model_wide_threshold():
    preds, truth = _two_images()
    t = choose_threshold(preds, truth, model_id=7, cost=ACTIONS, min_class_objects=2)
    assert (t.threshold, t.per_class) == (0.15, {})  # class 1 has one true box
    assert (t.hidden_right, t.shown_wrong) == (0, 3)


def test_nothing_to_choose_on_falls_back_to_the_default_and_says_why():
    t = choose_threshold({}, {}, model_id=3, default=0.4)
    assert (t.threshold, t.chosen, t.per_class) == (0.4, False, {})
    assert t.why == "0.40, the project default: no labeled validation image"
    _, truth = _two_images()
    t = choose_threshold({1: [], 2: []}, truth, model_id=3)
    assert not t.chosen and t.why.endswith(": no box of model #3 on its 2 validation images")


def test_a_min_score_applies_per_class_and_as_a_plain_float():
    m = MinScore(0.2, {3: 0.45})
    assert (m.of(3), m.of(1), min_score_of(m, 3), min_score_of(0.3, 3)) == (0.45, 0.2, 0.45, 0.3)
    assert f"{m:.2f}" == "0.20" and 0.25 >= m and not 0.1 >= m
    assert m != 0.2 and MinScore(0.2) == 0.2 and 0.2 == MinScore(0.2)
    assert m != MinScore(0.2, {3: 0.5}) and m == MinScore(0.2, {3: 0.45})


# -- on a project ---------------------------------------------------------------------------
def _val_project(store: Store):
    """12 validation images with one true box of class a each, at (10, 10, 50, 50). The
    model's box there scores 0.9 on images 0-7, 0.22 on 8-9 and 0.12 on 10-11; a wrong
    box at (60, 60, 90, 90) scores 0.25 on images 0-5 and 0.08 on 6-11."""
    a = store.ensure_classes(["a"])["a"]
    model = store.add_model(name="m", arch="compact", status="active")
    items, rows, vectors = [], [], []
    for k in range(12):
        item = store.add_item(file=f"v{k}.png", width=100, height=100, sha256=f"v{k}",
                              source="import")
        store.set_labels(item, [LabeledBox(a, Box(10, 10, 50, 50))], source="human")
        rows.append((item, a, Box(10, 10, 50, 50), 0.9 if k < 8 else 0.22 if k < 10 else 0.12,
                     []))
        rows.append((item, a, Box(60, 60, 90, 90), 0.25 if k < 6 else 0.08, []))
        vectors.append((item, b"\0\0\0\0"))
        items.append(item)
    store.set_splits({i: "val" for i in items})
    store.replace_predictions(model, items, rows, vectors)
    return model, a, items


def test_a_projects_model_gets_its_threshold_from_its_validation_images(store):
    model, a, items = _val_project(store)
    # published costs: 0.05 shows 12 wrong (31.2 s); 0.10 shows the six 0.25s (15.6 s);
    # 0.15 hides the two right 0.12s too (47.8 + 15.6); 0.30 hides four right ones
    t = prelabel_threshold(store, model)
    assert (t.threshold, t.per_class, t.val_images, t.val_objects) == (0.1, {}, 12, 12)
    assert t.why == (f"0.10 for model #{model}: on its 12 validation images it hides 0 "
                     "right boxes and shows 6 wrong ones; at 0.30 it would hide 4")
    stored = json.loads(store.get_meta(pt.META_KEY.format(model)))
    assert stored["result"]["threshold"] == 0.1


def test_the_threshold_is_kept_per_model_and_computed_again_when_val_labels_change(
        store, monkeypatch):
    model, a, items = _val_project(store)
    first = prelabel_threshold(store, model)
    calls = []
    real = pt.choose_threshold
    monkeypatch.setattr(pt, "choose_threshold", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert prelabel_threshold(store, model) == first and calls == []  # from the meta
    # image 10's object is really where the 0.08 box is: that box is right, its 0.12 one
    # wrong. 0.05 shows 12 wrong (31.2 s); 0.10 hides the right 0.08 (23.9) and shows
    # seven wrong (18.2): 0.05 now
    store.set_labels(items[10], [LabeledBox(a, Box(60, 60, 90, 90))], source="human")
    second = prelabel_threshold(store, model)
    assert calls == [1] and second.threshold == 0.05


def test_no_model_or_an_unpredicted_validation_image_gives_the_project_default(store):
    assert prelabel_threshold(store, None).why == "0.30, the project default: no model yet"
    model, a, items = _val_project(store)
    extra = store.add_item(file="x.png", width=100, height=100, sha256="x", source="import")
    store.set_labels(extra, [LabeledBox(a, Box(1, 1, 9, 9))], source="human")
    store.set_splits({extra: "val"})
    store.set_meta("review_min_score", "0.4")  # a lead's project default
    t = prelabel_threshold(store, model)
    assert (t.threshold, t.chosen) == (0.4, False)
    assert t.why == (f"0.40, the project default: model #{model} has not predicted 1 of "
                     "its 13 validation images")


# -- the Review page's working boxes -------------------------------------------------------
def test_the_working_boxes_show_each_class_at_its_own_threshold():
    from ui.working import Working

    pre = [{"class_id": 0, "box": [1, 1, 20, 20], "score": 0.2},
           {"class_id": 1, "box": [30, 30, 50, 50], "score": 0.2},
           {"class_id": 1, "box": [60, 60, 80, 80], "score": 0.05}]
    w = Working.open(1, 100, 100, base_version=0, prelabels=pre, labels=None,
                     min_score=MinScore(0.3, {1: 0.1}))
    assert [b["pred"] for b in w.boxes] == [1]  # class 0's 0.2 under 0.3; class 1's 0.05
    assert [b.class_id for b in w.shown()] == [1]
    w.set_min_score(MinScore(0.3, {1: 0.01}))  # the same model-wide value, another class's
    assert [b["pred"] for b in w.boxes] == [1, 2] and w.rev == 1
    w.set_min_score(0.15)  # the annotator's own, for every class
    assert sorted(b["pred"] for b in w.boxes) == [0, 1]
    w.delete(0)
    w.set_min_score(MinScore(0.3, {1: 0.1}))
    assert w.undo() and [b["pred"] for b in w.boxes] == [1]  # never back under the threshold


# -- the simulation at the model's threshold -------------------------------------------------
@pytest.mark.slow
def test_a_simulation_counts_corrections_at_the_models_threshold_and_the_fixed_one(
        tmp_path, monkeypatch):
    from al_core.cli import main
    from al_core.review.corrections import prelabel_corrections, summed_changes
    from al_core.simulation import simulate as sim

    # the quick demo's tiny models find next to nothing on their validation images (the
    # default would come back): a known threshold instead, to check what is counted at it
    asked = []
    monkeypatch.setattr(sim, "round_threshold",
                        lambda store, model_id: asked.append(model_id) or MinScore(0.05, {1: 0.5}))
    out = tmp_path / "sim"
    assert main(["simulate", "--demo", "--quick", "--out", str(out), "--strategy", "random",
                 "--initial", "20", "--add", "15", "--rounds", "1",
                 "--prelabel-threshold", "model"]) == 0
    points = json.loads((out / "curves.json").read_text())["strategies"]["random"]["seeds"]["0"]
    # round 0 has no model: every box drawn, whatever the threshold
    assert points[0]["corrections"] == points[0]["corrections_fixed"] == points[0]["boxes"]
    assert (points[0]["threshold"], points[1]["threshold"]) == (None, 0.05)
    with Store(out / "runs" / "random" / "seed-0") as store:
        figures = json.loads(store.get_meta("sim-cost-round-1"))
        model = [m for m in store.models() if m["name"] == "initial-s0-r0"][0]["id"]
        ids = [i.item_id for i in store.selection("sim-round-1").items]
        truth = store.oracle_boxes(ids)
        rows = {i: [r for r in store.predictions(model, ids) if r["item_id"] == i] for i in ids}
    assert asked == [model]

    def counted(min_score):
        return summed_changes(prelabel_corrections(rows[i], truth[i], min_score=min_score)
                              for i in ids).corrections
    assert figures["corrections"] == counted(MinScore(0.05, {1: 0.5}))
    assert figures["fixed"]["corrections"] == counted(0.3)
    assert points[1]["corrections"] - points[0]["corrections"] == figures["corrections"]
    assert points[1]["corrections_fixed"] - points[0]["boxes"] == counted(0.3)
    assert figures["threshold"] == {"threshold": 0.05, "per_class": {"1": 0.5}}
    assert json.loads((out / "settings.json").read_text())["prelabel_threshold"] == "model"


def test_too_few_validation_boxes_keep_the_default_and_the_why_reads_right():
    """Seen by a new user: one validation image gave 'on its 1 validation images it hides
    0 right boxes ...; at 0.30 it would hide 0', a threshold chosen on nothing."""
    preds, truth = _two_images()  # 3 true boxes
    t = choose_threshold(preds, truth, model_id=7, cost=ACTIONS)  # it takes 10
    assert (t.threshold, t.chosen) == (0.3, False)
    assert t.why == ("0.30, the project default: 3 true boxes on the validation images, "
                     "too few to choose from (it takes 10)")
    one = {1: truth[1]}
    t = choose_threshold({1: preds[1]}, one, model_id=7, cost=ACTIONS, min_class_objects=1)
    assert t.why.startswith("0.") and "on its 1 validation image it hides" in t.why
