"""The learning curve, the gain per round and its flattening hint, the control slice's
mAP, the correction effort (known answers on tiny synthetic stores), and the Progress
page headless with AppTest."""
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from al_core.evaluation.progress import (CONTROL, EVERYONE, PICKS, ReviewRecord, control_rounds,
                                         correction_effort, effort_verdict, flattening_hint,
                                         learning_curve, review_records, round_steps)
from al_core.review.save import label_selection_from_oracle, submit_review
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.training.split import split_project
from al_core.types import Box, LabeledBox, SelectionItem

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def trained(store, labeled, rounds, test_map=None, *, test_hash=None, status="trained",
            metrics=None):
    """A trained model with its training labels recorded and, optionally, a test mAP50
    on the current test set (or on ``test_hash``)."""
    model = store.add_model(name=f"m{labeled}", arch="compact", status=status)
    store.update_model(model, checkpoint_path=f"models/model-{model}.pt", metrics=metrics or {
        "labeled_images": labeled, "rounds": rounds, "train_images": labeled - 10,
        "val_images": 10})
    if test_map is not None:
        store.save_evaluation(model_id=model, test_set_hash=test_hash
                              or store.test_set_identity()[1], iou_threshold=0.5,
                              map=test_map, per_class={}, pr_curves={})
    return model


def test_the_learning_curve_has_one_point_per_model_and_says_why_one_is_missing(store):
    first = trained(store, 100, [0], 0.5, status="active")
    old_set = trained(store, 150, [0, 1], 0.9, test_hash="an-earlier-test-set")
    unevaluated = trained(store, 150, [0, 1])
    legacy = trained(store, 0, [], 0.55, metrics={"train_images": 120})
    points = {p.model_id: p for p in learning_curve(store)}
    assert points[first].active and points[first].test_map50 == 0.5
    assert points[old_set].test_map50 is None and points[old_set].note == "on an earlier test set"
    assert points[unevaluated].test_map50 is None and points[unevaluated].note == "not evaluated"
    assert points[legacy].labeled_images == 120 and points[legacy].label_round is None
    assert [p.labeled_images for p in learning_curve(store)] == [100, 120, 150, 150]


def test_each_round_gains_per_100_labels_against_the_best_model_of_the_round_before(store):
    trained(store, 100, [0], 0.50)
    trained(store, 150, [0, 1], 0.55)  # a weaker retrain of round 1: not the round's model
    best1 = trained(store, 150, [0, 1], 0.60)
    trained(store, 200, [0, 1, 2], 0.605)
    trained(store, 250, [0, 1, 2, 3], 0.607)
    steps = round_steps(learning_curve(store))
    assert [s.round for s in steps] == [0, 1, 2, 3]
    assert steps[0].labels_added is None and steps[0].gain_points is None
    assert steps[1].model_id == best1 and steps[1].labels_added == 50
    assert steps[1].gain_points == pytest.approx(10.0)
    assert steps[1].points_per_100_labels == pytest.approx(20.0)
    assert steps[2].points_per_100_labels == pytest.approx(1.0)
    assert steps[3].points_per_100_labels == pytest.approx(0.4)
    hint = flattening_hint(steps)  # last 2 rounds: 100 labels bought 0.7 points
    assert hint.startswith("The curve is flattening: 100 more labels in the last 2 rounds "
                           "bought 0.7 points of test mAP50")
    assert flattening_hint(steps, rounds=3) is None  # 150 labels bought 10.7 points
    assert flattening_hint(steps, rounds=1, min_points_per_100=0.3) is None
    assert flattening_hint(steps[:2]) is None  # one step is not a trend
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        flattening_hint(steps, rounds=0)


def test_a_round_that_lost_map_says_so(store):
    trained(store, 100, [0], 0.60)
    trained(store, 150, [0, 1], 0.61)
    trained(store, 200, [0, 1, 2], 0.58)
    assert "lost 2.0 points" in flattening_hint(round_steps(learning_curve(store)))


def _items(store, n):
    return [store.add_item(file=f"{i}.png", width=100, height=100, sha256=f"h{i}",
                           source="test") for i in range(n)]


def test_control_map_is_the_picking_models_map_on_the_labeled_control_images(store):
    """Two labeled control images with one box each; the model found one exactly and
    missed the other: recall 0.5 at precision 1, so AP = 51/101 (recall 0 to 0.5 of
    COCO's 101 points). The picks (wrongly predicted) and an unlabeled control image
    do not count."""
    a, b = store.ensure_classes(["a", "b"]).values()
    pick, hit, miss, waiting = _items(store, 4)
    model = trained(store, 50, [0], 0.7, status="active")
    store.add_predictions(model, [(hit, a, Box(10, 10, 40, 40), 0.9),
                                  (pick, b, Box(60, 60, 90, 90), 0.8)])
    store.add_selection(tag="al-iteration-1", round=1, strategy="uncertainty", config={},
                        seed=0, model_id=model,
                        items=[SelectionItem(pick, 1, 0.9, False),
                               SelectionItem(hit, 2, None, True),
                               SelectionItem(miss, 3, None, True),
                               SelectionItem(waiting, 4, None, True)])
    for item in (pick, hit, miss):
        store.set_labels(item, [LabeledBox(a, Box(10, 10, 40, 40))], source="human")
    store.add_selection(tag="cold", round=2, strategy="typicality", config={}, seed=0,
                        model_id=None, items=[SelectionItem(waiting, 1, 0.5, True)])
    first, cold = control_rounds(store)
    assert (first.round, first.model_id, first.control_images) == (1, model, 2)
    assert first.control_map50 == pytest.approx(51 / 101) and first.note == ""
    assert first.test_map50 == 0.7
    assert cold.control_map50 is None and "cold start" in cold.note


def test_control_map_is_missing_with_a_reason_until_control_images_are_labeled(store):
    (a,) = store.ensure_classes(["a"]).values()
    (item,) = _items(store, 1)
    model = trained(store, 50, [0])
    store.add_selection(tag="s", round=1, strategy="random", config={}, seed=0,
                        model_id=model, items=[SelectionItem(item, 1, None, True)])
    (row,) = control_rounds(store)
    assert row.control_map50 is None and row.note == "no control image labeled yet"
    assert row.test_map50 is None  # not evaluated: shown as such, never as 0
    store.set_labels(item, [], source="human")
    assert control_rounds(store)[0].note == "the control images hold no boxes"


def record(round, author, control, seconds, added=0, deleted=0, moved=0, relabeled=0):
    return ReviewRecord(round, author, control, seconds, added, deleted, moved, relabeled)


def test_correction_effort_per_round_and_annotator_picks_against_control():
    records = [record(1, "ana", False, 10.0, added=2, moved=1),
               record(1, "ana", False, 20.0, deleted=1, moved=1, relabeled=1),
               record(1, "bob", True, None),
               record(1, "bob", True, 6.0, added=1),
               record(2, "ana", True, 4.0)]
    pooled = correction_effort(records)
    assert [(r.round, r.author, r.slice, r.images) for r in pooled] == [
        (1, EVERYONE, PICKS, 2), (1, EVERYONE, CONTROL, 2), (2, EVERYONE, CONTROL, 1)]
    picks, control = pooled[0], pooled[1]
    assert picks.seconds_per_image == 15.0 and control.seconds_per_image == 6.0  # timed only
    assert (picks.added, picks.deleted, picks.moved, picks.relabeled) == (1.0, 0.5, 1.0, 0.5)
    assert picks.corrections == 3.0 and control.corrections == 0.5
    by_author = correction_effort(records, by_author=True)
    assert [(r.round, r.author, r.slice) for r in by_author] == [
        (1, "ana", PICKS), (1, "bob", CONTROL), (2, "ana", CONTROL)]
    verdict = effort_verdict(pooled)
    assert "round 1" in verdict and "3.0 corrections per image" in verdict
    assert "finds what the model gets wrong" in verdict
    assert effort_verdict(pooled[2:]) is None  # no round with both slices
    even = correction_effort([record(1, "a", False, None, added=1),
                              record(1, "a", True, None, added=1)])
    assert effort_verdict(even).endswith("about the same as random images.")


def test_review_records_mark_the_control_images_and_the_round(store):
    (a,) = store.ensure_classes(["a"]).values()
    pick, control, outside = _items(store, 3)
    store.add_selection(tag="s", round=3, strategy="uncertainty", config={}, seed=0,
                        model_id=None, items=[SelectionItem(pick, 1, 0.9, False),
                                              SelectionItem(control, 2, None, True)])
    selection = store.selection("s")
    shown = [LabeledBox(a, Box(10, 10, 40, 40))]
    submit_review(store, pick, [LabeledBox(a, Box(12, 10, 40, 40))], author="ana",
                  action="save", prelabels=shown, selection=selection, seconds=7.5)
    submit_review(store, control, shown, author="bob", action="accept", prelabels=shown,
                  selection=selection, seconds=2.0)
    submit_review(store, outside, [], author="ana", action="save")  # no selection: left out
    records = review_records(store)
    assert records == [record(3, "ana", False, 7.5, moved=1), record(3, "bob", True, 2.0)]


# -- the page ------------------------------------------------------------------------
@pytest.fixture
def small_project(demo_store, monkeypatch):
    """Two trained models on the learning curve (the second active), one round whose
    picking model predicted the pool perfectly, labeled by the demo's oracle."""
    label_from_oracle_at_random(demo_store, 16, seed=0)
    split_project(demo_store, seed=0)
    first = trained(demo_store, 12, [0], 0.41)
    pool = demo_store.query_pool()[:6]
    truth = demo_store.oracle_boxes(pool)
    demo_store.add_predictions(first, [(i, b.class_id, b.box, 0.9)
                                       for i in pool for b in truth[i]])
    demo_store.add_selection(tag="al-iteration-1", round=1, strategy="uncertainty",
                             config={}, seed=0, model_id=first,
                             items=[SelectionItem(i, r + 1, None, r >= 4)
                                    for r, i in enumerate(pool)])
    selection = demo_store.selection("al-iteration-1")
    shown = [b for i in pool[:1] for b in truth[i]]
    submit_review(demo_store, pool[0], shown[1:], author="ana", action="save",
                  prelabels=shown, selection=selection, seconds=12.0)  # deleted one box
    label_selection_from_oracle(demo_store, "al-iteration-1")
    second = trained(demo_store, 18, [0, 1], 0.47, status="active")
    trained(demo_store, 18, [0, 1])  # not evaluated yet
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    return demo_store, first, second


def _page():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    return at.switch_page("pages/progress.py").run()


def test_the_page_draws_the_curve_the_control_and_the_effort_with_csv(small_project):
    store, first, second = small_project
    page = _page()
    assert not page.exception, page.exception
    specs = [json.loads(c.proto.spec) for c in page.get("vega_lite_chart")]
    assert len(specs) == 4  # learning curve, control vs test, corrections, seconds
    assert "labeled images (train + val)" in json.dumps(specs[0])
    assert all("tooltip" in json.dumps(spec) for spec in specs)  # values on hover
    tables = {tuple(d.value.columns): d.value for d in page.dataframe}
    curve = next(t for cols, t in tables.items() if "state" in cols)
    assert list(curve["test mAP50"][:2]) == [0.41, 0.47] and list(curve["state"]) == [
        "trained", "active", "trained"]
    assert curve["note"].iloc[2] == "not evaluated"
    assert any("Not on the curve: #3 (not evaluated)" in c.value for c in page.caption)
    gains = next(t for cols, t in tables.items() if "points per 100 labels" in cols)
    assert gains["points per 100 labels"].iloc[1] == pytest.approx(100 * 6 / 6)
    control = next(t for cols, t in tables.items() if "control mAP50" in cols)
    assert control["control mAP50"].iloc[0] == pytest.approx(1.0)  # perfect predictions
    assert control["test mAP50"].iloc[0] == 0.41
    effort = next(t for cols, t in tables.items() if "annotator" in cols)
    assert list(zip(effort["annotator"], effort["images from"], effort["images"])) == [
        ("ana", "strategy's picks", 1), ("oracle", "strategy's picks", 3),
        ("oracle", "random control", 2)]
    assert effort["seconds per image"].iloc[0] == 12.0
    assert len(page.get("download_button")) == 6
    text = " ".join(str(e.value) for e in [*page.markdown, *page.caption, *page.info])
    assert "None" not in text
    # one timed review: the published seconds per action are in use, no fit to chart
    model = next(t for cols, t in tables.items() if "in use s" in cols)
    assert list(model["in use s"]) == [3.0, 1.6, 12.75, 3.6, 2.6, 25.5]
    assert model["fitted s"].isna().all()
    assert any("Published constants in use: the project holds 1 timed review of the 30 a "
               "fit needs. 29 more" in i.value for i in page.info)


def test_the_page_shows_the_seconds_fitted_from_enough_reviews_with_their_spread(
        small_project):
    store, _, _ = small_project
    rng = np.random.default_rng(0)
    for i in range(40):  # 40 more timed reviews: 4 s an image, 2 s a box kept, 10 s drawn
        item = store.add_item(file=f"extra-{i}.png", width=64, height=64, sha256=f"x{i}",
                              source="test")
        kept, added = int(rng.integers(0, 4)), int(rng.integers(0, 3))
        store.save_review(item, [], author="bob", action="save", source="human",
                          selection_id=None, round=None, seconds=4 + 2 * kept + 10 * added,
                          prelabels=kept, changes={"kept": kept, "moved": 0, "relabeled": 0,
                                                   "deleted": 0, "added": added},
                          reason="test")
    page = _page()
    assert not page.exception, page.exception
    specs = [json.dumps(json.loads(c.proto.spec)) for c in page.get("vega_lite_chart")]
    assert len(specs) == 5 and "95% interval" in specs[-1]
    model = next(d.value for d in page.dataframe if "in use s" in d.value.columns)
    fitted = dict(zip(model["action"], model["fitted s"]))
    # ana's one review (12 s, a box deleted) is among them: the fit is close, not exact
    assert fitted["box drawn (added)"] == pytest.approx(10, abs=0.5)
    assert np.isnan(fitted["box relabeled"])  # never seen: the published constant stays
    assert model["in use s"].iloc[3] == 3.6
    assert any(s.value.startswith("Fitted from 41 timed reviews") for s in page.success)


def test_an_empty_project_gets_a_friendly_message(store, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(store.root))
    page = _page()
    assert not page.exception
    assert any("Nothing to show yet" in i.value for i in page.info)
    assert not page.get("vega_lite_chart") and not page.dataframe
