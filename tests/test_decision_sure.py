"""The decision says how sure it is (issue 29, build item 7): the mAP difference with its
paired bootstrap interval and a warning when that interval includes 0 (library, CLI and
the Compare page); a project's first model made active with no comparison, recorded as
the first, and said on the Compare and Models pages; a retrain with nothing to train on
refused before anything is made, saying why (library, Models page, CLI)."""
import json

import pytest

from al_core.decide.compare import DEFAULT_COMPARE_CONFIG, parse_compare_config
from al_core.decide.comparison import compare_models
from al_core.decide.comparison_report import (NOISE_WARNING, difference_sentence,
                                              interval_warning, report_sentence)
from al_core.decide.promotion import first_model_record, make_first_active
from al_core.decide.retrain import retrain_refusal, start_retrain
from al_core.evaluation.history import model_history
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.store.decisions import FIRST_MODEL_WHY
from al_core.training.split import split_project
from tests.apptest import open_page, read
from tests.datasets import add_model_from_labels
from tests.test_cli import cli
from tests.test_waiting_labels import make_team, sign_in_lena, with_batch


def _trained(store, name, **kw):
    model = add_model_from_labels(store, name, status="trained", **kw)
    store.update_model(model, checkpoint_path=f"models/model-{model}.pt")
    return model


def said(at) -> str:
    return "\n".join(read(e.value) for kind in ("markdown", "caption", "info", "success",
                                                "warning", "error")
                     for e in getattr(at, kind))


# -- the sentence ---------------------------------------------------------------------

def test_the_sentence_names_the_difference_and_its_interval():
    assert difference_sentence(4, 3, 0.031, (-0.004, 0.066), iou=0.5) == \
        "Model #4 is better than #3 by +0.031 mAP50 (95% interval -0.004 to +0.066)"
    assert difference_sentence(5, 4, -0.0204, (-0.05, -0.001), iou=0.75) == \
        "Model #5 is worse than #4 by -0.020 mAP75 (95% interval -0.050 to -0.001)"
    assert difference_sentence(5, 4, 0.0004, (-0.01, 0.01), iou=0.5) == \
        "Model #5 scores the same mAP50 as #4 (+0.000; 95% interval -0.010 to +0.010)"
    assert difference_sentence(5, 4, 0.2, None, iou=0.5) == \
        ("Model #5 is better than #4 by +0.200 mAP50 (no bootstrap interval: the compare "
         "config runs none)")


@pytest.mark.parametrize("interval, warns", [
    ((-0.004, 0.066), True), ((0.0, 0.05), True), ((-0.03, 0.0), True), ((0.0, 0.0), True),
    ((0.001, 0.066), False), ((-0.066, -0.001), False), (None, False)])
def test_the_warning_comes_exactly_when_the_interval_includes_zero(interval, warns):
    assert interval_warning(interval) == (NOISE_WARNING if warns else None)
    assert NOISE_WARNING == ("The interval includes 0: on this test set the difference may "
                             "be noise.")


def test_a_stored_comparison_gives_its_sentence_from_its_own_figures(demo_store):
    old, new = _trained(demo_store, "old", keep=0.6, seed=1), _trained(demo_store, "new", seed=2)
    cid = demo_store.save_comparison(
        new_model_id=new, old_model_id=old, config={}, test_set_hash="x", per_class=[],
        decision="discard", reason="r", decided_by="app", iou_threshold=0.5, new_map=0.7,
        old_map=0.65, confidence=0.8, delta_interval=(-0.01, 0.11))
    assert report_sentence(demo_store.comparison(cid)) == (
        f"Model #{new} is better than #{old} by +0.050 mAP50 (95% interval -0.010 to +0.110)",
        NOISE_WARNING)
    older = demo_store.save_comparison(  # a row from before the figures were stored
        new_model_id=new, old_model_id=old, config={}, test_set_hash="x", per_class=[],
        decision="discard", reason="r", decided_by="app")
    assert report_sentence(demo_store.comparison(older)) == (None, None)


@pytest.fixture
def compared(demo_store, monkeypatch):
    old = _trained(demo_store, "old", keep=0.6, jitter=1.0, seed=1)
    demo_store.apply_decision(old, "update_model", decided_by="lead", why="set up")
    new = _trained(demo_store, "new", keep=1.0, jitter=0.5, seed=2)
    compare_models(demo_store, new, None, parse_compare_config(DEFAULT_COMPARE_CONFIG),
                   raw_config=DEFAULT_COMPARE_CONFIG)
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    return demo_store, old, new


def test_the_compare_page_says_the_difference_and_warns_only_when_it_may_be_noise(compared):
    store, old, new = compared
    c = store.comparisons(limit=1)[0]
    delta = c["new_map"] - c["old_map"]
    sentence = difference_sentence(new, old, delta, (c["delta_lo"], c["delta_hi"]), iou=0.5)
    page = open_page("pages/compare.py")
    assert not page.exception
    box = next(read(s.value) for s in page.success if "should replace" in read(s.value))
    assert f"{sentence}. Why: {c['reason']}" in box
    assert ("95% interval" in box) and (NOISE_WARNING in said(page)) == \
        (c["delta_lo"] <= 0 <= c["delta_hi"])
    for lo, hi, warns in ((0.01, 0.2, False), (-0.02, 0.2, True)):
        store.db.execute("UPDATE comparisons SET delta_lo = ?, delta_hi = ? WHERE id = ?",
                         [lo, hi, c["id"]])
        page.run()
        assert f"(95% interval {lo:+.3f} to {hi:+.3f})" in said(page)
        assert [w.value for w in page.warning if w.value == NOISE_WARNING] == \
            ([NOISE_WARNING] if warns else [])


# -- the first model --------------------------------------------------------------------

def test_the_first_model_is_made_active_once_and_recorded_as_the_first(demo_store):
    s = demo_store
    external = add_model_from_labels(s, "ext")
    with pytest.raises(ValueError, match="only a trained model can be made active"):
        s.activate_first_model(external, decided_by="lead")
    first, second = _trained(s, "first", seed=1), _trained(s, "second", seed=2)
    assert s.activate_first_model(first, decided_by="lead") is True
    assert s.active_model_id() == first and s.comparisons() == []
    record = s.model_decisions(first)[0]
    assert (record["action"], record["comparison_id"], record["previous_active_id"],
            record["decided_by"], record["why"]) == \
        ("update_model", None, None, "lead", FIRST_MODEL_WHY)
    entry = s.audit_entries(action="decision.first_model")[0]
    assert entry.object_id == str(first) and "first model" in entry.summary
    assert first_model_record(s)["id"] == record["id"]
    # a model is active now: nothing changes, a second model is compared with it
    assert s.activate_first_model(second, decided_by="lead") is False
    assert s.active_model_id() == first and len(s.model_decisions()) == 1
    with pytest.raises(ValueError, match=f"model #{first} is active: compare model "
                                         f"#{second} with it"):
        make_first_active(s, second, decided_by="lead")
    rows = {r.id: r for r in model_history(s)}
    assert rows[first].decision == "first model"
    assert rows[first].decision_detail == ("active as the project's first model (lead): "
                                           "there was no active model to compare it with")
    s.apply_decision(second, "update_model", decided_by="lead")  # promoted over it later
    assert first_model_record(s) is None


def test_the_compare_page_says_the_first_model_is_active_without_a_comparison(
        demo_store, monkeypatch):
    first = _trained(demo_store, "first", seed=1)
    demo_store.activate_first_model(first, decided_by="lead")
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    page = open_page("pages/compare.py")
    assert not page.exception
    assert any(f"Model #{first} first (active) is active as the project's first model" in
               read(i.value) and "there was nothing to compare it with" in read(i.value)
               for i in page.info), said(page)
    # one model: nothing to compare it with, and no "no previous model" to pick
    assert "is the only model: train another" in said(page)
    assert next(b for b in page.button if b.label == "Compare").disabled
    # the rule for the next retrain can still be set
    assert not next(b for b in page.button if b.label == "Save as project config").disabled


def test_with_no_model_active_the_compare_page_makes_a_trained_one_active_as_the_first(
        demo_store, monkeypatch):
    """A project whose first model was trained before first models became active."""
    first = _trained(demo_store, "first", seed=1)
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    page = open_page("pages/compare.py", annotator="ana")
    assert any("No model is active" in i.value for i in page.info)
    next(b for b in page.button if b.label == "Make it active").click().run()
    assert not page.exception
    assert demo_store.active_model_id() == first
    assert demo_store.model_decisions(first)[0]["why"] == FIRST_MODEL_WHY
    assert demo_store.model_decisions(first)[0]["decided_by"] == "ana"
    assert not [b for b in page.button if b.label == "Make it active"]


def test_the_models_page_says_the_first_model_needs_no_comparison(demo_store, monkeypatch):
    label_from_oracle_at_random(demo_store, 16, seed=0)
    split_project(demo_store, seed=0)
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    page = open_page("pages/models.py")
    assert "becomes the active model when its training ends: there is nothing to compare " \
        "it with" in said(page)
    assert not [c for c in page.checkbox if c.label.startswith("Carry the decision out")]
    first = _trained(demo_store, "first", seed=1)
    demo_store.activate_first_model(first, decided_by="lead")
    page.run()
    table = next(d.value for d in page.dataframe if "version" in d.value.columns)
    assert list(table["decision"]) == ["first model"]
    assert "active as the project's first model (lead)" in said(page)
    assert any("Promotes the new model only if" in c.value for c in page.caption)
    assert [c for c in page.checkbox if c.label.startswith("Carry the decision out")]


# -- nothing to train on -------------------------------------------------------------

def _retrain_button(page):
    return next(b for b in page.button if b.label == "Retrain")


def test_a_retrain_with_no_labeled_train_images_is_refused_before_the_button(
        demo_store, monkeypatch):
    reason = retrain_refusal(demo_store)  # the demo's labels are all in test
    assert reason == ("the train split has no labeled images: split the labeled images "
                      "first (Project page, Split tab; `split` on the command line)")
    with pytest.raises(ValueError) as refused:
        start_retrain(demo_store)  # what the Review page's "Retrain on the new labels" shows
    assert str(refused.value) == reason
    assert demo_store.models() == [] and demo_store.jobs() == []
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    page = open_page("pages/models.py")
    assert not page.exception
    assert any(read(w.value) == f"Retrain is not possible yet: {reason}." for w in page.warning)
    assert _retrain_button(page).disabled
    out = cli("train", "--project", demo_store.root, check=False)  # the CLI says the same
    assert out.returncode == 2 and out.stderr.strip() == f"error: {reason}"
    assert demo_store.models() == [] and demo_store.jobs() == []
    label_from_oracle_at_random(demo_store, 16, seed=0)
    split_project(demo_store, seed=0)
    page.run()
    assert retrain_refusal(demo_store) is None and not _retrain_button(page).disabled
    assert "Retrain is not possible yet" not in said(page)


def test_a_retrain_whose_labels_all_wait_for_review_is_refused_before_the_button(
        demo_store, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    monkeypatch.setenv("ALS_SIGNIN_ROUTES", "1")
    with_batch(demo_store, approved=0)
    make_team(demo_store, waiting=3)  # ann's saves wait for review; only approved train
    reason = retrain_refusal(demo_store)
    assert reason is not None and "wait for review, and only approved labels train" in reason
    with pytest.raises(ValueError, match="wait for review"):
        start_retrain(demo_store)
    sign_in_lena(demo_store, monkeypatch)
    page = open_page("pages/models.py")
    assert not page.exception
    assert any(read(w.value) == f"Retrain is not possible yet: {reason}." for w in page.warning)
    assert _retrain_button(page).disabled
    out = cli("train", "--project", demo_store.root, "--as", "lena", check=False)
    assert out.returncode == 2 and "wait for review, and only approved labels train" in out.stderr
    assert demo_store.models() == [] and demo_store.jobs() == []
    demo_store.set_workflow_settings(approved_only=False)  # every label trains now
    page.run()
    assert not _retrain_button(page).disabled and retrain_refusal(demo_store) is None


def test_compare_on_the_command_line_with_no_model_active(demo_store):
    first = _trained(demo_store, "first", seed=1)
    refused = cli("compare", "--project", demo_store.root, "--new", first, check=False)
    assert refused.returncode == 2
    assert f"no model is active, so model #{first} has nothing to compare with" in \
        refused.stderr
    assert demo_store.comparisons() == [] and demo_store.active_model_id() is None
    made = cli("compare", "--project", demo_store.root, "--new", first, "--apply")
    out = json.loads(made.stdout)
    assert (out["active_model"], out["first_model"], out["reason"]) == \
        (first, True, FIRST_MODEL_WHY)
    assert demo_store.comparisons() == [] and demo_store.active_model_id() == first


@pytest.mark.slow
@pytest.mark.parametrize("step", ["predict_missing_test", "evaluate_model"])
def test_a_first_retrain_cancelled_while_it_is_evaluated_makes_nothing_active(
        demo_store, monkeypatch, step):
    """The first model becomes active in the transaction that ends its job: a cancel
    before that leaves no model active and no decision."""
    from al_core.cli import job_kinds  # noqa: F401 - registers every job kind
    from al_core.decide import retrain
    from al_core.jobs import runner as jobs
    from al_core.training.candidates import create_candidate

    label_from_oracle_at_random(demo_store, 24, seed=0)
    split_project(demo_store, seed=0)
    model = create_candidate(demo_store, override={"epochs": 1, "image_size": 64, "width": 8,
                                                   "batch_size": 8})
    job = demo_store.add_job("retrain", {"model_id": model})
    original = getattr(retrain, step)

    def cancel_then(*args, **kwargs):
        jobs.cancel_job(demo_store, job)
        return original(*args, **kwargs)

    monkeypatch.setattr(retrain, step, cancel_then)
    assert jobs.run_job(demo_store, job) == "cancelled"
    assert demo_store.active_model_id() is None and demo_store.model_decisions() == []
    assert demo_store.model(model)["status"] == "cancelled"


def test_the_review_pages_retrain_says_why_it_is_refused_and_makes_nothing(demo_store,
                                                                           monkeypatch):
    """The Review page's "Retrain on the new labels" (ui/review_editor.py) shows
    start_retrain's refusal: it is raised before any model or job is made."""
    from tests.test_review_page import make_selection, open_review

    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    make_selection(demo_store, n=2)
    at = open_review(demo_store)
    for _ in range(2):
        at.button(key="rv-accept").click().run()
    demo_store.db.execute("UPDATE items SET split = NULL WHERE split IN ('train', 'val')")
    models = demo_store.models()
    reason = retrain_refusal(demo_store)
    assert reason.startswith("the train split has no labeled images")
    at.button(key="rv-retrain").click().run()
    assert not at.exception, at.exception
    assert [read(e.value) for e in at.error] == [f"Not started: {reason}"]
    assert demo_store.models() == models and demo_store.jobs() == []
