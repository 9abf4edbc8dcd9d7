"""Labels waiting for review (team mode, only approved labels train): the Models, Compare
and Query pages say how many wait, and nothing in single-user mode or when every label
trains; a retrain started while some wait says so (al_core records the count in the
job's parameters); a train split whose labeled images all wait is refused for that
reason, not with "split the labeled images first". Headless with AppTest, signed in as
in tests/test_signin_app.py."""
from __future__ import annotations

import pytest

import ui.auth
from al_core.decide import retrain
from al_core.query.round import QuerySpec, run_query
from al_core.review.save import submit_review
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.store import Store
from al_core.team.accounts import add_user
from al_core.team.signin import sign_in
from al_core.training.split import split_project
from al_core.types import Box, LabeledBox
from tests.apptest import open_page, read

LEAD_PW = "lead-password-1"
ANN_PW = "annotator-pw-1"
WAITING_LINE = "3 labeled images wait for review and will not train until approved"


def with_batch(store: Store, *, approved: int) -> None:
    """Single-user still: ``approved`` images labeled from the oracle and split (labels
    from before team mode train), and a random selection ``batch`` of 10."""
    if approved:
        label_from_oracle_at_random(store, approved, seed=1)
        split_project(store, seed=1)
    run_query(store, QuerySpec(strategy="random", add=10, random_control=0, tag="batch"))


def make_team(store: Store, *, waiting: int) -> None:
    """Team mode: lena (lead) and ann (annotator); ann labels ``waiting`` images of
    ``batch`` and submits them (every submission is reviewed: they wait). The store acts
    as lena afterwards."""
    add_user(store, "lena", LEAD_PW, "lead")
    store.act_as("lena")
    add_user(store, "ann", ANN_PW, "annotator")
    store.set_workflow_settings(gold_rate=0.0)
    store.act_as("ann")
    selection = store.selection("batch")
    for _ in range(waiting):
        item_id = store.claim_next(selection.id, "ann", seconds=300)
        submit_review(store, item_id, [LabeledBox(store.classes()[0].id, Box(2, 2, 12, 12))],
                      action="save", selection=selection, seconds=5.0)
    store.act_as("lena")


def sign_in_lena(store: Store, monkeypatch) -> None:
    token = sign_in(store, "lena", LEAD_PW, address="127.0.0.1").token
    monkeypatch.setattr(ui.auth, "session_cookie", lambda: token)


def said(at) -> str:
    return "\n".join(read(e.value) for kind in ("markdown", "caption", "info", "success",
                                                "warning", "error")
                     for e in getattr(at, kind))


@pytest.fixture
def project(demo_store, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    monkeypatch.setenv("ALS_SIGNIN_ROUTES", "1")  # as when served through serve.py
    with_batch(demo_store, approved=6)
    return demo_store


@pytest.mark.parametrize("page", ["pages/models.py", "pages/compare.py", "pages/query.py"])
def test_the_page_says_how_many_labels_wait_only_while_they_cannot_train(project, monkeypatch,
                                                                          page):
    at = open_page(page)
    assert not at.exception, at.exception
    assert "wait for review" not in said(at)  # single-user mode: a label is a label
    make_team(project, waiting=3)
    assert project.labels_waiting() == 3
    sign_in_lena(project, monkeypatch)
    at.run()
    assert not at.exception, at.exception
    assert [c.value for c in at.caption if WAITING_LINE in read(c.value)], said(at)
    project.set_workflow_settings(approved_only=False)  # every saved label trains
    at.run()
    assert "wait for review" not in said(at)


def test_a_retrain_started_while_labels_wait_says_so(project, monkeypatch):
    make_team(project, waiting=3)
    sign_in_lena(project, monkeypatch)
    started = []

    def queue_only(store, kind, params, **_):  # no job process: the test reads the row
        started.append(params)
        return store.add_job(kind, params)

    monkeypatch.setattr(retrain, "start_job", queue_only)
    at = open_page("pages/models.py")
    next(b for b in at.button if b.label == "Retrain").click().run()
    assert not at.exception, at.exception
    success = [read(s.value) for s in at.success]
    assert any(s.startswith("Retraining: model #1") and
               f"{WAITING_LINE}, so this training leaves them out" in s
               for s in success), said(at)
    assert started[0]["labels_waiting"] == 3 and started[0]["decided_by"] == "lena"
    # the page's counts are what the training loads
    train = project.count_items(split="train", trainable=True)
    assert train < project.count_items(split="train")
    assert f"Trains on **{train:,}** images" in "\n".join(m.value for m in at.markdown)


def test_a_train_split_whose_labels_all_wait_is_refused_for_that_reason(demo_store):
    with_batch(demo_store, approved=0)  # the demo's test split is all that is labeled
    make_team(demo_store, waiting=3)  # ann's saved images join train or val at once
    assert demo_store.count_items(split="train", status="labeled")
    with pytest.raises(ValueError, match="wait for review") as refused:
        retrain.start_retrain(demo_store)
    assert "split the labeled images first" not in str(refused.value)
    assert demo_store.models() == [] and demo_store.jobs() == []
    demo_store.set_workflow_settings(approved_only=False)
    retrain.check_trainable_split(demo_store)  # they train now: nothing to refuse
