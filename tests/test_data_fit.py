"""Training defaults fitted to the data (al_core.training.data_fit): the first model's
input size, batch size, length and time budget come from its labeled boxes, with the
reasons; later models clone the active config; the user's keys win."""
from __future__ import annotations

import numpy as np
import pytest

from al_core.training import data_fit
from al_core.training.candidates import create_candidate
from al_core.training.config import TrainConfig
from al_core.training.data_fit import (BUDGET_S, MAX_SIZE, BoxStats, fit_config,
                                       learned_nothing)
from al_core.types import Box, LabeledBox


def stats(short: float, image_long: float, n_train: int, n_boxes: int = 200) -> BoxStats:
    return BoxStats(np.full(n_boxes, float(short)), np.full(n_boxes, float(image_long)),
                    np.full(n_train, float(image_long)), n_train)


def test_the_demo_keeps_the_defaults():
    # the digits demo: 160-px images, a quarter of the boxes under 13 px, 444 train images
    fit = fit_config(stats(13, 160, 444))
    assert fit.override == {}
    assert fit.warning is None
    assert "the defaults fit" in fit.reasons[0]


def test_small_objects_on_large_images_get_a_larger_input_and_more_steps():
    # 10-px objects on 1,000-px images: 1.6 px at 160
    fit = fit_config(stats(10, 1000, 48))
    assert fit.override == {"image_size": MAX_SIZE, "batch_size": 8, "epochs": 59,
                            "patience": 12, "time_budget_s": BUDGET_S}
    assert [r.split(" ", 1)[0] for r in fit.reasons] == ["image_size", "batch_size", "epochs",
                                                       "patience", "time_budget_s"]
    assert "1.6 px at the default 160" in fit.reasons[0]
    assert fit.warning is None  # 6.4 px at 640: visible


def test_the_input_size_reaches_the_smaller_boxes_in_steps_of_32():
    # a quarter of the boxes at 12 px on 800-px images: 8 px needs 533 -> 544
    short = np.array([12.0] * 30 + [40.0] * 70)
    s = BoxStats(short, np.full(100, 800.0), np.full(500, 800.0), 500)
    assert fit_config(s).override["image_size"] == 544
    # 6 px on 600-px images would need 800, but never past the images' own 600 (-> 608)
    s = BoxStats(short / 2, np.full(100, 600.0), np.full(500, 600.0), 500)
    assert fit_config(s).override["image_size"] == 608


def test_it_warns_in_one_line_when_boxes_stay_below_what_the_detector_sees():
    fit = fit_config(stats(3, 2000, 500))  # 0.96 px even at 640
    assert fit.override["image_size"] == MAX_SIZE
    assert fit.warning.startswith("200 of the 200 boxes in train and val (100%) are under "
                                  "4 px at the 640-px input")
    assert "\n" not in fit.warning and "image_size to about" not in fit.warning  # > 2048
    # 2.5 px at 640 on 1,000-px images: about 4 / (4 / 1000) = 1,000 px would do
    fit = fit_config(stats(4, 1000, 500))
    assert fit.warning.endswith("set image_size to about 1024 in the override (slower)")


def test_memory_lowers_the_input_size():
    fit = fit_config(stats(10, 1000, 48), fits=lambda size, batch: size <= 320)
    assert fit.override["image_size"] == 320


def test_no_boxes_keeps_the_defaults():
    fit = fit_config(BoxStats(np.zeros(0), np.zeros(0), np.zeros(0), 0))
    assert fit.override == {} and "no labeled boxes" in fit.reasons[0]


def test_learned_nothing_names_the_likely_cause():
    line = learned_nothing({"warning": "90 of 100 labeled boxes are under 4 px"})
    assert line.startswith("val mAP50 is 0.000 at every epoch")
    assert "Likely cause: 90 of 100 labeled boxes are under 4 px" in line
    assert "Likely cause" not in learned_nothing(None)


# -- on a project ------------------------------------------------------------------

@pytest.fixture
def small_object_store(store):
    """12 labeled 1200 x 900 images (10 train, 2 val) with 8 x 12 px boxes."""
    (cls,) = store.ensure_classes(["car"]).values()
    splits = {}
    for k in range(12):
        item = store.add_item(file=f"i{k}.png", width=1200, height=900, sha256=f"{k:064x}",
                              source="import")
        store.set_labels(item, [LabeledBox(cls, Box(10.0 * j, 20.0, 10.0 * j + 8, 32.0))
                                for j in range(1, 6)], source="human")
        splits[item] = "val" if k >= 10 else "train"
    store.set_splits(splits)
    return store


def test_the_first_model_is_fitted_and_says_why(small_object_store):
    model_id = create_candidate(small_object_store)
    row = small_object_store.model(model_id)
    assert row["config"]["image_size"] == MAX_SIZE  # 8 px on 1,200: 1.1 px at 160
    assert row["config"]["batch_size"] == 4 and row["config"]["time_budget_s"] == BUDGET_S
    fit = row["metrics"]["data_fit"]
    assert fit["chose"]["image_size"] == MAX_SIZE
    assert any(r.startswith("image_size 640") for r in fit["reasons"])
    lines = data_fit.describe_fit(fit)
    assert lines[0].startswith("fitted to the data: image_size 640")


def test_the_users_keys_win_and_drop_out_of_the_reasons(small_object_store):
    model_id = create_candidate(small_object_store, override={"image_size": 256})
    row = small_object_store.model(model_id)
    assert row["config"]["image_size"] == 256
    assert row["config"]["batch_size"] == 4  # still fitted
    assert not any(r.startswith("image_size") for r in row["metrics"]["data_fit"]["reasons"])


def test_later_models_clone_the_active_config(small_object_store):
    first = create_candidate(small_object_store)
    small_object_store.apply_decision(first, "update_model")
    second = create_candidate(small_object_store, override={"epochs": 7})
    row = small_object_store.model(second)
    assert row["config"]["image_size"] == MAX_SIZE and row["config"]["epochs"] == 7
    assert "data_fit" not in row["metrics"]


def test_the_simulation_can_keep_its_own_budget(small_object_store):
    model_id = create_candidate(small_object_store, fit_to_data=False)
    assert small_object_store.model(model_id)["config"] == TrainConfig().to_dict()


def test_a_model_that_found_nothing_on_val_says_so(small_object_store, monkeypatch, tmp_path):
    from al_core.training import train_job
    from al_core.training.loop import TrainResult

    monkeypatch.setattr(train_job, "load_split", lambda store, split, **kw: _split(split))
    monkeypatch.setattr(train_job, "train_loop", lambda *a, **kw: TrainResult(
        {}, 1, 0.0, 3, [], "epochs"))
    monkeypatch.setattr(train_job, "build_detector", lambda *a, **kw: object())
    monkeypatch.setattr(train_job, "atomic_save", lambda obj, path: "0" * 64)
    lines: list[str] = []
    model_id = create_candidate(small_object_store, override={"pseudo_label_score": 0})
    metrics = train_job.train_model(small_object_store, model_id, log_line=lines.append)
    assert metrics["warning"].startswith("val mAP50 is 0.000 at every epoch")
    assert small_object_store.model(model_id)["metrics"]["warning"] == metrics["warning"]
    assert metrics["data_fit"]["chose"]["image_size"] == MAX_SIZE
    assert lines[0].startswith("fitted to the data: image_size 640")
    assert lines[-1] == f"warning: {metrics['warning']}"


def _split(split: str):
    import torch

    from al_core.training.loop import SplitData

    n = 2 if split == "train" else 1
    return SplitData(torch.zeros((n, 3, 8, 8), dtype=torch.uint8),
                     [{"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0)}] * n,
                     list(range(n)), [1.0] * n)


def test_the_other_keys_are_fitted_around_the_users():
    # the user's batch of 32 on 48 images makes 2 steps an epoch: the epochs follow it
    fit = fit_config(stats(10, 1000, 48), base=TrainConfig(batch_size=32),
                     fixed=frozenset({"batch_size"}))
    assert "batch_size" not in fit.override and fit.override["epochs"] == 175
    assert "epochs 175: 175 x 2 optimizer steps reach" in " ".join(fit.reasons)
    # the user's input size on data that needs nothing else: no budget added for it
    fit = fit_config(stats(10, 1000, 444), base=TrainConfig(image_size=320),
                     fixed=frozenset({"image_size"}))
    assert fit.override == {}


def test_a_users_batch_size_sets_the_first_models_epochs(small_object_store):
    model_id = create_candidate(small_object_store, override={"batch_size": 32})
    config = small_object_store.model(model_id)["config"]
    assert config["batch_size"] == 32 and config["epochs"] == 350  # 10 images: 1 step


def test_a_null_time_budget_keeps_the_other_fitted_keys_and_no_budget(small_object_store):
    model_id = create_candidate(small_object_store, override={"time_budget_s": None})
    config = small_object_store.model(model_id)["config"]
    assert config["time_budget_s"] is None  # reproducible: no clock in the schedule
    assert config["image_size"] == MAX_SIZE and config["batch_size"] == 4
