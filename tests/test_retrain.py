"""Retrain (train, predict the test split, evaluate, compare in one job), the project's
compare config, carrying out / overriding a comparison, rolling back."""
import pytest

from al_core.cli import job_kinds  # noqa: F401 - registers every job kind
from al_core.decide.compare import DEFAULT_COMPARE_CONFIG
from al_core.decide.promotion import (carry_out, project_compare_config, roll_back,
                                      save_compare_config)
from al_core.decide.retrain import training_curve
from al_core.jobs import runner as jobs
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.training.candidates import create_candidate
from al_core.training.split import split_project

TINY = {"epochs": 2, "image_size": 64, "width": 8, "batch_size": 8}


@pytest.fixture
def trainable(demo_store):
    label_from_oracle_at_random(demo_store, 24, seed=0)
    split_project(demo_store, seed=0)
    return demo_store


def _retrain(store, override=TINY, **params):
    model_id = create_candidate(store, override=override)
    job_id = store.add_job("retrain", {"model_id": model_id, **params})
    return model_id, job_id, jobs.run_job(store, job_id)


def test_the_default_compare_config_is_kept_per_project(demo_store):
    assert project_compare_config(demo_store) == DEFAULT_COMPARE_CONFIG
    with pytest.raises(ValueError, match="max_class_drop"):
        save_compare_config(demo_store, {"max_class_drop": 3})
    assert project_compare_config(demo_store) == DEFAULT_COMPARE_CONFIG  # nothing saved
    save_compare_config(demo_store, {"wins": "all"})
    assert project_compare_config(demo_store) == {"wins": "all"}


@pytest.mark.slow
def test_retrain_trains_evaluates_and_stores_the_decision_without_applying(trainable):
    first, job, status = _retrain(trainable)
    assert status == "succeeded", trainable.job(job)["error"]
    row = trainable.job(job)
    assert row["progress"] == 1.0 and "first model" in row["message"]
    curve = training_curve(row["log"])
    assert [r["epoch"] for r in curve] == [1, 2] and all("loss" in r for r in curve)
    # the first model: nothing to compare it with, so no comparison; active at once
    # (without apply), evaluated on the test split for the history
    assert trainable.comparisons() == [] and trainable.active_model_id() == first
    record = trainable.model_decisions(first)[0]
    assert (record["action"], record["comparison_id"], record["previous_active_id"],
            record["decided_by"]) == ("update_model", None, None, "app")
    assert trainable.evaluation(first, trainable.test_set_identity()[1], 0.5) is not None
    assert trainable.model(first)["metrics"]["labeled_images"] == \
        trainable.count_items(split="train") + trainable.count_items(split="val")

    second, job, status = _retrain(trainable, apply=True, decided_by="ana")
    assert status == "succeeded", trainable.job(job)["error"]
    c2 = trainable.comparisons(limit=1)[0]
    assert (c2["new_model_id"], c2["old_model_id"]) == (second, first)
    assert c2["confidence"] is not None and c2["delta_lo"] <= c2["delta_hi"]  # bootstrap ran
    record = trainable.model_decisions(second)[0]
    assert (record["action"], record["decided_by"], record["comparison_id"]) == \
        (c2["decision"], "ana", c2["id"])
    # the test split was predicted by both models inside the job, and the validation
    # split too: the Review page's pre-label threshold is chosen from it with no job
    test_ids, _ = trainable.test_set_identity()
    assert not trainable.items_without_embedding(second, test_ids)
    val_ids, _ = trainable.split_identity("val")
    assert val_ids and not trainable.items_without_embedding(first, val_ids)
    assert not trainable.items_without_embedding(second, val_ids)
    from al_core.review.prelabel_threshold import prelabel_threshold
    assert "not predicted" not in prelabel_threshold(trainable, second).why


def test_override_and_rollback_record_who_and_why(demo_store):
    s = demo_store
    old = s.add_model(name="old", arch="compact", status="trained")
    new = s.add_model(name="new", arch="compact", status="trained")
    for m in (old, new):
        s.update_model(m, checkpoint_path=f"models/model-{m}.pt")
    s.apply_decision(old, "update_model", decided_by="lead", why="first")
    digest = s.test_set_identity()[1]
    cid = s.save_comparison(new_model_id=new, old_model_id=old, config={}, test_set_hash=digest,
                            per_class=[], decision="discard", reason="lost", decided_by="app")
    with pytest.raises(ValueError, match="needs a reason"):
        carry_out(s, cid, decided_by="lead", override=True, why="  ")
    assert carry_out(s, cid, decided_by="lead", override=True,
                     why="class 3 matters more") == "update_model"
    assert s.active_model_id() == new and s.model(old)["status"] == "trained"
    rec = s.model_decisions(new)[0]
    assert (rec["override"], rec["decided_by"], rec["why"], rec["previous_active_id"]) == \
        (1, "lead", "class 3 matters more", old)

    with pytest.raises(ValueError, match="needs a reason"):
        roll_back(s, old, decided_by="lead", why="")
    roll_back(s, old, decided_by="lead", why="new one misses small digits")
    assert s.active_model_id() == old
    assert s.model_decisions(old)[0]["action"] == "rollback"
    with pytest.raises(ValueError, match="already the active"):
        roll_back(s, old, decided_by="lead", why="again")
    ext = s.add_model(name="ext", arch="external", status="external")
    with pytest.raises(ValueError, match="external"):
        roll_back(s, ext, decided_by="lead", why="try")


def test_a_stale_comparison_is_not_carried_out(demo_store):
    s = demo_store
    a, b, c = (s.add_model(name=n, arch="compact", status="trained") for n in "abc")
    for m in (a, b, c):
        s.update_model(m, checkpoint_path=f"models/model-{m}.pt")
    s.apply_decision(a, "update_model")
    cid = s.save_comparison(new_model_id=b, old_model_id=a, config={}, test_set_hash="x",
                            per_class=[], decision="update_model", reason="won",
                            decided_by="app")
    s.apply_decision(c, "update_model")  # someone promoted another model meanwhile
    with pytest.raises(ValueError, match="#3 is active now"):
        carry_out(s, cid, decided_by="lead")
    assert s.active_model_id() == c


def test_training_curve_skips_other_and_cut_lines():
    log = ('train 10 images\n{"epoch": 1, "loss": 2.0, "val_map50": 0.1}\n'
           '{"epoch": 2, "loss": 1.5, "val_map50": 0.3}\n{"epoch": 3, "lo')
    assert [r["epoch"] for r in training_curve(log)] == [1, 2]



def test_a_retrain_that_could_not_finish_is_refused_before_any_model_is_made(demo_store):
    """With no labeled train images, or no test split to compare on, the job failed after
    starting (or after a whole training), leaving a failed or unevaluated model behind.
    A first model needs no test split: it is not compared."""
    from al_core.decide.retrain import retrain_refusal, start_retrain
    with pytest.raises(ValueError, match="the train split has no labeled images"):
        start_retrain(demo_store, override=TINY)
    label_from_oracle_at_random(demo_store, 24, seed=0)
    split_project(demo_store, seed=0)
    demo_store.db.execute("UPDATE items SET split = 'train' WHERE split = 'test'")
    assert retrain_refusal(demo_store) is None  # no model active: nothing to compare
    active = demo_store.add_model(name="a", arch="compact", status="trained")
    demo_store.update_model(active, checkpoint_path="models/model-1.pt")
    demo_store.apply_decision(active, "update_model")
    with pytest.raises(ValueError, match="no labeled test images, so a new model cannot be "
                                         "compared with the active one"):
        start_retrain(demo_store, override=TINY)
    assert [m["id"] for m in demo_store.models()] == [active] and demo_store.jobs() == []
