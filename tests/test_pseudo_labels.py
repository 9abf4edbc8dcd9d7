"""Pseudo-labels (al_core.training.pseudo_labels): which pool images a parent model labels for
training, and that they never reach the labels table, the test split or review."""
import numpy as np
import pytest

from al_core.query.round import QuerySpec, run_query
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.training.candidates import create_candidate
from al_core.training.config import TrainConfig
from al_core.training.pseudo_labels import pseudo_label_set
from al_core.training.split import split_project
from al_core.training.train_job import train_model
from al_core.types import Box

SMALL = {"epochs": 1, "width": 4, "batch_size": 8, "image_size": 64}


def _project_with_parent(store):
    """16 labeled (train/val), 8 frozen test, 4 waiting in a selection, the rest pool;
    a trained parent model made active."""
    label_from_oracle_at_random(store, 16, seed=0)
    split_project(store, seed=0)
    run_query(store, QuerySpec(strategy="random", add=4, random_control=0, tag="waiting"))
    parent = create_candidate(store, override=SMALL)
    train_model(store, parent)
    store.apply_decision(parent, "update_model")
    return parent


def _predict_everywhere(store, model_id, scores_of):
    """Replace the model's predictions on every item: ``scores_of(item_id)`` -> the
    scores of its boxes (class: the first class, box 2,2-12,12)."""
    ids = [i.id for i in store.items()]
    klass = store.classes()[0].id
    n = len(store.classes())
    rows = [(i, klass, Box(2, 2, 12, 12), s, [1.0] + [0.0] * (n - 1))
            for i in ids for s in scores_of(i)]
    store.replace_predictions(model_id, ids, rows,
                              [(i, np.zeros(4, np.float32).tobytes()) for i in ids])


def test_only_pool_images_the_parent_is_sure_about_are_taken(demo_store):
    parent = _project_with_parent(demo_store)
    pool = demo_store.query_pool()
    kinds = {}  # pool item -> which case it is
    for k, i in enumerate(pool):
        kinds[i] = ("sure", "band", "background", "sure+background")[k % 4]
    scores = {"sure": [0.9, 0.95], "band": [0.9, 0.5], "background": [0.06],
              "sure+background": [0.92, 0.15]}

    def scores_of(item_id):  # labeled, test and waiting items: sure boxes too
        return scores[kinds[item_id]] if item_id in kinds else [0.99]

    _predict_everywhere(demo_store, parent, scores_of)
    found = pseudo_label_set(demo_store, parent, score=0.8, cap=1000, seed=0)
    expected = sorted(i for i in pool if kinds[i] in ("sure", "sure+background"))
    assert found.item_ids == expected
    assert not set(found.item_ids) & {i.id for i in demo_store.items(status="labeled")}
    assert not set(found.item_ids) & {i.id for i in demo_store.items(split="test")}
    assert not set(found.item_ids) & demo_store.pending_item_ids()
    for item_id, boxes, classes in zip(found.item_ids, found.boxes, found.class_ids):
        assert len(boxes) == (2 if kinds[item_id] == "sure" else 1)  # only boxes >= 0.8
        assert boxes.shape[1] == 4 and len(classes) == len(boxes)
    capped = pseudo_label_set(demo_store, parent, score=0.8, cap=3, seed=1)
    assert len(capped.item_ids) == 3 and set(capped.item_ids) <= set(expected)
    assert capped.item_ids == pseudo_label_set(demo_store, parent, score=0.8, cap=3,
                                               seed=1).item_ids  # the seed decides
    with pytest.raises(ValueError, match="pseudo_label_score"):
        pseudo_label_set(demo_store, parent, score=0.05, cap=3, seed=0)


def test_training_with_pseudo_labels_never_writes_a_label(demo_store):
    parent = _project_with_parent(demo_store)
    pool = set(demo_store.query_pool())
    _predict_everywhere(demo_store, parent, lambda i: [0.9])  # sure everywhere
    labels_before = demo_store.db.execute("SELECT count(*) FROM annotations").fetchone()[0]
    status_before = {i.id: (i.status, i.split) for i in demo_store.items()}
    child = create_candidate(demo_store, override={**SMALL, "pseudo_label_score": 0.8})
    lines = []
    metrics = train_model(demo_store, child, log_line=lines.append)
    train = demo_store.count_items(split="train", status="labeled")
    # every pool image (fewer than the cap, the labeled train split), none of the
    # labeled, test or waiting images the parent was just as sure about
    assert len(pool) < train and metrics["pseudo_labeled_images"] == len(pool)
    assert metrics["train_images"] == train  # people's labels, counted apart
    assert any(f"({len(pool)} pseudo-labeled)" in line for line in lines)
    assert demo_store.db.execute("SELECT count(*) FROM annotations").fetchone()[0] \
        == labels_before
    assert {i.id: (i.status, i.split) for i in demo_store.items()} == status_before
    off = create_candidate(demo_store, override={**SMALL, "pseudo_label_score": 0})
    assert train_model(demo_store, off)["pseudo_labeled_images"] == 0
    default = create_candidate(demo_store, override=SMALL, base_model_id=parent)
    assert demo_store.model(default)["config"]["pseudo_label_score"] == 0.6  # on by default
    lines.clear()
    bad = create_candidate(demo_store, override={**SMALL, "pseudo_label_score": 0.8},
                           base_model_id=parent)
    demo_store.ensure_classes(["added since the parent"])  # it would be taught as background
    train_model(demo_store, bad, log_line=lines.append)
    assert any("pseudo-labels: none, the classes changed since its parent" in line
               for line in lines)


def test_without_a_parent_checkpoint_training_says_why_and_uses_labels_only(demo_store,
                                                                            monkeypatch):
    import al_core.training.train_job as train_job

    label_from_oracle_at_random(demo_store, 16, seed=0)
    split_project(demo_store, seed=0)
    sized = []  # the images the memory check was asked about
    real_check = train_job.check_fits
    monkeypatch.setattr(train_job, "check_fits",
                        lambda config, images, **kw: sized.append(images)
                        or real_check(config, images, **kw))
    lines = []
    model = create_candidate(demo_store, override={**SMALL, "pseudo_label_score": 0.8})
    assert train_model(demo_store, model, log_line=lines.append)["pseudo_labeled_images"] == 0
    assert any("pseudo-labels: none, it has no parent model" in line for line in lines)
    # no parent, no pseudo-labels: the memory check counts the labeled images only
    assert sized == [demo_store.count_items(split="train", status="labeled")
                     + demo_store.count_items(split="val", status="labeled")]
    demo_store.apply_decision(model, "update_model")
    child = create_candidate(demo_store, override={**SMALL, "pseudo_label_score": 0.8})
    train_model(demo_store, child)
    assert sized[1] == 2 * demo_store.count_items(split="train", status="labeled") \
        + demo_store.count_items(split="val", status="labeled")


@pytest.mark.parametrize("value", [0.05, 0.2, 1.0, -0.1, True])
def test_the_pseudo_label_score_is_refused_outside_its_range(value):
    with pytest.raises(ValueError, match="pseudo_label_score"):
        TrainConfig(pseudo_label_score=value)
    assert TrainConfig(pseudo_label_score=0.0).pseudo_label_score == 0.0


def test_pseudo_boxes_are_scaled_into_the_letterboxed_input(demo_store):
    import torch

    from al_core.training.loop import SplitData
    from al_core.training.train_job import _with_pseudo_labels

    parent = _project_with_parent(demo_store)
    _predict_everywhere(demo_store, parent, lambda i: [0.9])
    config = TrainConfig(**{**SMALL, "pseudo_label_score": 0.8})
    index = {c.id: k for k, c in enumerate(demo_store.classes())}
    empty = SplitData(torch.zeros((0, 3, 64, 64), dtype=torch.uint8), [], [], [])
    grown = _with_pseudo_labels(demo_store, parent, config,
                                SplitData(empty.images, [{}] * 4, [0] * 4, [1.0] * 4),
                                index, None, None, None)
    assert len(grown) == 4 + 4  # capped at the train split's size
    item = demo_store.items(ids=[grown.item_ids[4]])[0]
    scale = 64 / max(item.width, item.height)
    assert grown.scales[4] == pytest.approx(scale)
    assert grown.targets[4]["boxes"].shape == (1, 4)
    assert grown.targets[4]["boxes"][0].tolist() == pytest.approx(
        [2 * scale, 2 * scale, 12 * scale, 12 * scale])
