"""Box-level review (al_core.review.auto_accept): per-class thresholds on the validation
images, auto-accepted boxes marked in the database, left out of exports on request, and
kept out of the test split."""
from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from sqlite_utils import Database

from al_core.evaluation.model_eval import test_ground_truth as ground_truth_of_test
from al_core.formats.export import coco_instances, export_coco, export_yolo
from al_core.review import auto_accept
from al_core.review.auto_accept import (ClassThreshold, Thresholds, lowest_threshold,
                                        match_predictions, split_prelabels, thresholds_for)
from al_core.review.save import submit_review
from al_core.store import Store, schema
from al_core.training.split import split_project
from al_core.types import Box, LabeledBox


# -- the threshold rule on known cases ---------------------------------------------------
def _known_case():
    """30 boxes scoring 0.99, 0.98, ..., 0.70; the 5th, 24th and 26th are wrong. The
    top 23 (down to 0.77) hold one wrong box: 22/23 = 95.7%; the top 24 hold two:
    22/24 = 91.7%, and no lower cut gets back to 95%."""
    scores = np.round(1 - 0.01 * np.arange(1, 31), 2)
    right = np.ones(30, bool)
    right[[4, 23, 25]] = False
    return scores, right


def test_the_threshold_is_the_lowest_score_that_keeps_95_percent_precision():
    scores, right = _known_case()
    t = lowest_threshold(scores, right, precision=0.95, min_support=20)
    assert t.threshold == pytest.approx(0.77)
    assert t.support == 23
    assert t.precision == pytest.approx(22 / 23)
    # the precision asked is reached by the boxes at or above it, exactly
    kept = scores >= t.threshold
    assert right[kept].mean() >= 0.95
    # and one score lower would not be
    assert right[scores >= 0.76].mean() < 0.95


def test_input_order_does_not_change_the_threshold():
    scores, right = _known_case()
    order = np.random.default_rng(0).permutation(30)
    assert lowest_threshold(scores[order], right[order]).threshold == pytest.approx(0.77)


def test_a_threshold_takes_every_box_of_its_score():
    # 20 right boxes at 0.9, then 5 at 0.8 of which 2 are wrong: 23/25 = 92% at 0.8,
    # although the first 3 boxes at 0.8 alone would read 23/23
    scores = np.array([0.9] * 20 + [0.8] * 5)
    right = np.array([True] * 23 + [False] * 2)
    assert lowest_threshold(scores, right).threshold == pytest.approx(0.9)


def test_a_class_without_enough_evidence_gets_no_threshold():
    few = lowest_threshold(np.linspace(0.99, 0.8, 19), np.ones(19, bool), min_support=20)
    assert few.threshold is None and "fewer than the 20" in few.why
    # enough boxes, but 95% is never reached
    scores = np.linspace(0.99, 0.5, 40)
    right = np.arange(40) % 5 != 0  # every fifth wrong: 80%
    never = lowest_threshold(scores, right)
    assert never.threshold is None and "95%" in never.why


def test_predictions_match_one_to_one_same_class_greedy_by_score():
    truth = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    truth_cls = np.array([1, 2])
    preds = np.array([[0, 0, 10, 10],     # duplicate of the first truth, lower score
                      [0, 0, 10, 11],     # the first truth, higher score: takes it
                      [20, 20, 30, 30],   # right place, wrong class
                      [40, 40, 50, 50]],  # nothing there
                     float)
    right = match_predictions(preds, np.array([0.6, 0.9, 0.8, 0.95]), np.array([1, 1, 1, 1]),
                              truth, truth_cls)
    assert right.tolist() == [False, True, False, False]
    # IoU below 0.5 is not a match
    half = match_predictions(np.array([[0, 0, 10, 30]], float), np.array([0.9]),
                             np.array([1]), truth[:1], truth_cls[:1])
    assert half.tolist() == [False]


# -- on a project ---------------------------------------------------------------------------
def _val_project(store: Store, *, n_val: int = 30, wrong: tuple[int, ...] = (4, 23, 25)):
    """Classes a and b; ``n_val`` validation images with one box of class a each; a model
    whose box on image k scores 0.99 - 0.01 k and is misplaced on the images in
    ``wrong``; class b has 5 validation boxes only."""
    ids = store.ensure_classes(["a", "b"])
    a, b = ids["a"], ids["b"]
    model = store.add_model(name="m", arch="compact", status="active")
    items, rows, vectors = [], [], []
    for k in range(n_val):
        item = store.add_item(file=f"v{k}.png", width=100, height=100, sha256=f"v{k}",
                              source="import")
        truth = [LabeledBox(a, Box(10, 10, 50, 50))]
        if k < 5:
            truth.append(LabeledBox(b, Box(60, 60, 90, 90)))
            rows.append((item, b, Box(60, 60, 90, 90), 0.99, []))
        store.set_labels(item, truth, source="human")
        place = Box(55, 55, 95, 95) if k in wrong else Box(10, 10, 50, 50)
        rows.append((item, a, place, round(0.99 - 0.01 * k, 2), []))
        vectors.append((item, b"\0\0\0\0"))
        items.append(item)
    store.set_splits({i: "val" for i in items})
    store.replace_predictions(model, items, rows, vectors)
    return model, a, b, items


def test_thresholds_on_the_validation_images_of_a_project(store):
    model, a, b, _ = _val_project(store)
    t = thresholds_for(store, model)
    assert t.threshold(a) == pytest.approx(0.77)
    assert t.classes[a].support == 23
    assert t.threshold(b) is None  # 5 validation boxes
    assert t.accepts(a, 0.77) and not t.accepts(a, 0.7699) and not t.accepts(b, 0.99)


def test_never_auto_accepts_a_box_below_its_class_threshold():
    t = Thresholds(1, "h", {1: ClassThreshold(1, 0.8, 20, 0.95), 2: ClassThreshold(
        2, None, 3, None, "few")}, 30)
    rng = np.random.default_rng(1)
    pre = [(LabeledBox(int(c), Box(0, 0, 5, 5)), float(s))
           for c, s in zip(rng.integers(1, 3, 200), rng.random(200))]
    accepted, uncertain = split_prelabels(pre, t)
    assert len(accepted) + len(uncertain) == 200
    assert accepted and all(b.class_id == 1 and s >= 0.8 for b, s in accepted)
    assert all(not (b.class_id == 1 and s >= 0.8) for b, s in uncertain)
    assert split_prelabels(pre, None)[0] == []


def test_thresholds_are_stored_per_model_and_validation_set_and_never_stale(store):
    model, a, _, items = _val_project(store)
    first = thresholds_for(store, model)
    assert store.auto_accept_thresholds(model, first.val_set_hash) is not None
    # a new label on a validation image is a new validation set: computed again
    store.set_labels(items[4], [LabeledBox(a, Box(55, 55, 95, 95))], source="human")
    second = thresholds_for(store, model)
    assert second.val_set_hash != first.val_set_hash
    assert second.threshold(a) < first.threshold(a)  # image 4's box is right now
    # a new model has its own (none: it predicted nothing yet)
    other = store.add_model(name="n", arch="compact", status="trained")
    store.replace_predictions(other, items[:1], [], [(items[0], b"\0\0\0\0")])
    fresh = thresholds_for(store, other)
    assert fresh.unpredicted == len(items) - 1
    assert all(c.threshold is None for c in fresh.classes.values())
    assert "has not predicted" in fresh.classes[a].why


def test_validation_images_with_auto_accepted_boxes_are_left_out(store):
    model, a, _, items = _val_project(store)
    store.set_labels(items[0], [LabeledBox(a, Box(10, 10, 50, 50))], source="human",
                     auto_accepted=[True])
    assert thresholds_for(store, model).val_images == len(items) - 1


# -- the database -----------------------------------------------------------------------
def _item(store: Store, name: str = "x") -> int:
    return store.add_item(file=f"{name}.png", width=100, height=80, sha256=name,
                          source="import")


def test_a_review_marks_the_auto_accepted_boxes_and_counts_them(store):
    a = store.ensure_classes(["a"])["a"]
    item = _item(store)
    auto = [LabeledBox(a, Box(1, 1, 20, 20)), LabeledBox(a, Box(30, 30, 60, 60))]
    asked = [LabeledBox(a, Box(5, 40, 25, 70))]
    result = submit_review(store, item, asked, author="ana", action="save",
                           prelabels=asked, auto_accepted=auto)
    assert result.changes.kept == 1 and result.changes.added == 0
    anns = store.annotations([item])[item]
    assert len(anns) == 3
    marked = store.auto_accepted_ids([item])
    assert {a.box.as_list()[0] for a in anns if a.id in marked} == {1.0, 30.0}
    assert store.items_with_auto_accepted() == {item}
    assert store.reviews(item_id=item)[-1]["auto_accepted"] == 2
    # a person's later save of the image makes every box theirs
    submit_review(store, item, [LabeledBox(x.class_id, x.box) for x in anns], author="ana",
                  action="save")
    assert store.auto_accepted_ids([item]) == set()


def test_the_migration_adds_the_marks_to_an_old_database(tmp_path):
    path = tmp_path / "project.db"
    db = Database(path)
    schema.migrations.apply(db, stop_before="m009_auto_accepted_boxes")
    db["classes"].insert({"name": "cat", "color": "#ffffff", "created": "t"})
    db["items"].insert({"file": "a.png", "width": 4, "height": 3, "sha256": "x",
                        "source": "import", "added": "t"})
    db["annotations"].insert({"item_id": 1, "class_id": 1, "x1": 0, "y1": 0, "x2": 2, "y2": 2,
                              "source": "human", "created": "t"})
    db.close()
    with Store(tmp_path) as store:
        assert "m009_auto_accepted_boxes" in schema.applied_migrations(store.db)
        assert len(store.annotations([1])[1]) == 1
        assert store.auto_accepted_ids() == set()  # old boxes were all decided by people
        assert "auto_accept_thresholds" in store.db.table_names()
        with pytest.raises(sqlite3.IntegrityError):
            store.db.execute("UPDATE annotations SET auto_accepted = 2")


# -- export -------------------------------------------------------------------------------
def _mixed(store: Store) -> tuple[int, int]:
    a = store.ensure_classes(["a"])["a"]
    (store.images_dir / "x.png").parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image
    Image.new("RGB", (100, 80)).save(store.images_dir / "x.png")
    item = _item(store)
    submit_review(store, item, [LabeledBox(a, Box(5, 40, 25, 70))], author="ana",
                  action="save", auto_accepted=[LabeledBox(a, Box(1, 1, 20, 20))])
    return a, item


def test_export_leaves_auto_accepted_boxes_out_when_asked(store, tmp_path):
    _mixed(store)
    assert len(coco_instances(store)["annotations"]) == 2
    without = coco_instances(store, without_auto_accepted=True)
    assert [a["bbox"] for a in without["annotations"]] == [[5.0, 40.0, 20.0, 30.0]]
    assert len(without["images"]) == 1  # the image stays, with the boxes people decided
    export_coco(store, tmp_path / "c.json", without_auto_accepted=True)
    assert len(json.loads((tmp_path / "c.json").read_text())["annotations"]) == 1
    counts = export_yolo(store, tmp_path / "yolo", without_auto_accepted=True)
    assert counts["annotations"] == 1
    lines = (tmp_path / "yolo" / "labels" / "train").glob("*.txt")
    assert sum(len(p.read_text().splitlines()) for p in lines) == 1


def test_the_export_command_takes_the_flag(store, tmp_path):
    from al_core.cli import main

    _mixed(store)
    out = tmp_path / "c.json"
    assert main(["export", "--project", str(store.root), "--format", "coco", "--out",
                 str(out), "--without-auto-accepted"]) == 0
    assert len(json.loads(out.read_text())["annotations"]) == 1


# -- the test split -----------------------------------------------------------------------
def test_auto_accepted_boxes_never_reach_the_test_split(store):
    a = store.ensure_classes(["a"])["a"]
    auto_items, plain = [], []
    for k in range(40):
        item = _item(store, f"i{k}")
        extra = {"auto_accepted": [LabeledBox(a, Box(1, 1, 20, 20))]} if k % 2 else {}
        submit_review(store, item, [LabeledBox(a, Box(30, 30, 60, 60))], author="ana",
                      action="save", **extra)
        (auto_items if k % 2 else plain).append(item)
    store.set_splits({i: None for i in auto_items + plain})
    # every share to test: the auto-accepted ones still go to train and val
    split_project(store, distribution={"train": 0.0, "val": 0.0, "test": 1.0}, resplit=True)
    assert {store.item(i).split for i in auto_items} <= {"train"}
    assert {store.item(i).split for i in plain} == {"test"}
    split_project(store, distribution={"train": 0.5, "val": 0.2, "test": 0.3}, resplit=True)
    assert "test" not in {store.item(i).split for i in auto_items}
    # the store refuses it outright, and saving auto-accepted boxes on a test image
    with pytest.raises(ValueError, match="cannot join the test split"):
        store.set_splits({auto_items[0]: "test"})
    test_item = next(i for i in plain if store.item(i).split == "test")
    with pytest.raises(ValueError, match="frozen test split"):
        submit_review(store, test_item, [], author="ana", action="save",
                      auto_accepted=[LabeledBox(a, Box(1, 1, 20, 20))])
    assert store.auto_accepted_ids([test_item]) == set()  # nothing was saved
    # one that got there anyway (written behind the store's back): evaluation refuses
    store.db.execute("UPDATE annotations SET auto_accepted = 1 WHERE item_id = ?", [test_item])
    with pytest.raises(ValueError, match="auto-accepted boxes"):
        ground_truth_of_test(store)


def test_pseudo_labels_never_come_from_the_test_split(store):
    from al_core.training.pseudo_labels import pseudo_label_set

    a = store.ensure_classes(["a"])["a"]
    model = store.add_model(name="m", arch="compact", status="active")
    ids = [_item(store, f"p{k}") for k in range(6)]
    for i in ids[:3]:
        store.set_labels(i, [LabeledBox(a, Box(1, 1, 20, 20))], source="human")
    store.set_splits({i: "test" for i in ids[:3]})
    rows = [(i, a, Box(1, 1, 20, 20), 0.99, []) for i in ids]
    store.replace_predictions(model, ids, rows, [(i, b"\0\0\0\0") for i in ids])
    chosen = pseudo_label_set(store, model, score=0.6, cap=100, seed=0)
    assert set(chosen.item_ids) == set(ids[3:])  # the pool only: never a test image
    assert store.annotations(ids[3:]) == {i: [] for i in ids[3:]}  # nothing written


def test_predict_validation_runs_nothing_for_a_model_without_a_checkpoint(store):
    model, *_ = _val_project(store)
    assert auto_accept.predict_validation(store, model) == 0


# -- the simulation's box-level annotator ---------------------------------------------------
def test_the_oracle_keeps_accepted_boxes_as_predicted_and_draws_the_rest():
    from al_core.review.auto_accept import oracle_box_level

    t = Thresholds(1, "h", {1: ClassThreshold(1, 0.9, 20, 0.95),
                            2: ClassThreshold(2, None, 0, None)}, 30)
    truth = [LabeledBox(1, Box(0, 0, 10, 10)), LabeledBox(2, Box(20, 20, 30, 30)),
             LabeledBox(1, Box(40, 40, 50, 50)), LabeledBox(2, Box(60, 60, 70, 70))]
    pre = [(LabeledBox(1, Box(0, 0, 10, 10)), 0.95),    # accepted, right
           (LabeledBox(1, Box(20, 20, 30, 30)), 0.97),  # accepted, wrong class: noise
           (LabeledBox(1, Box(40, 40, 50, 50)), 0.5),   # asked: kept by the person
           (LabeledBox(1, Box(80, 80, 90, 90)), 0.6),   # asked: deleted
           (LabeledBox(1, Box(0, 60, 9, 69)), 0.2)]     # below the score shown: unseen
    r = oracle_box_level(pre, truth, t, min_score=0.3)
    assert r.saved == [pre[0][0], pre[1][0], truth[2], truth[3]]
    assert r.auto == [True, True, False, False]
    assert r.changes.as_dict() == {"kept": 1, "moved": 0, "relabeled": 0, "deleted": 1,
                                   "added": 1}
    assert r.noise == {"right": 3, "saved": 4, "truth": 4}  # the wrong class let in


def test_a_simulated_round_labels_box_level_and_records_the_noise(store):
    from al_core.simulation import box_level
    from al_core.types import SelectionItem

    model, a, _, _ = _val_project(store)
    pool = [_item(store, f"q{k}") for k in range(3)]
    for i in pool:
        store.add_oracle_boxes(i, [LabeledBox(a, Box(10, 10, 50, 50)),
                                   LabeledBox(a, Box(60, 10, 90, 40))])
    store.add_predictions(model, [row for i in pool for row in (
        (i, a, Box(10, 10, 50, 50), 0.9), (i, a, Box(60, 60, 90, 90), 0.95),  # sure
        (i, a, Box(60, 10, 90, 40), 0.5))])  # unsure: the oracle's box anyway
    store.add_selection(tag="t", round=1, strategy="uncertainty", config={}, seed=0,
                        model_id=model, items=[SelectionItem(i, r, 0.5, False)
                                               for r, i in enumerate(pool)])
    assert box_level.label_round(store, 1, "t", pool)
    for i in pool:
        anns = store.annotations([i])[i]
        auto = store.auto_accepted_ids([i])
        assert sorted((a.box.x1, a.box.y1, a.id in auto) for a in anns) == [
            (10, 10, True), (60, 10, False), (60, 60, True)]
    figures = box_level.round_figures(store, 1)
    assert figures["auto_accepted"] == 6
    assert figures["label_precision"] == pytest.approx(6 / 9, abs=1e-4)  # a wrong sure box
    assert figures["label_recall"] == 1.0
    assert figures["seconds"] is None  # no whole-review cost of round 0 recorded here


def test_a_trained_model_that_predicted_nothing_is_asked_again_not_cached(store):
    model, a, _, items = _val_project(store)
    other = store.add_model(name="t", arch="compact", status="trained")
    store.update_model(other, checkpoint_path="models/model-2.pt")
    fresh = thresholds_for(store, other)  # no embeddings at all: nothing predicted yet
    assert fresh.unpredicted == len(items)
    assert store.auto_accept_thresholds(other, fresh.val_set_hash) is None
    rows = [(r["item_id"], r["class_id"], Box(r["x1"], r["y1"], r["x2"], r["y2"]),
             r["score"], []) for r in store.predictions(model, items)]
    store.replace_predictions(other, items, rows, [(i, b"\0\0\0\0") for i in items])
    assert thresholds_for(store, other).threshold(a) == thresholds_for(store, model).threshold(a)


def test_a_nan_score_is_left_out_of_the_threshold():
    scores = np.r_[np.full(24, 0.9), np.nan]
    t = lowest_threshold(scores, np.ones(25, bool))
    assert t.threshold == 0.9 and t.support == 24
