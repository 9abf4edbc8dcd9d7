"""Team mode's review workflow in the library (al_core.workflow, al_core.store.work,
al_core.review.reviewing, al_core.review.gold): every allowed move by the right role, the
forbidden ones refused (an annotator cannot approve, a reviewer cannot approve their own
labels, a returned image is not trained on, a gold answer never reaches an annotator),
the pull queue with its cap, tasks, skips, spot checks and gold scores."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from al_core.permissions import PermissionDenied
from al_core.query.round import QuerySpec, run_query
from al_core.review.gold import score_answer
from al_core.review.reviewing import (Comment, comments, decide, decisions, review_queue,
                                      review_view, start_review)
from al_core.review.save import HeldError, label_selection_from_oracle, submit_review
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.store import Store
from al_core.team import accounts
from al_core.training.split import split_project
from al_core.types import Box, LabeledBox
from al_core.workflow import (DIRECT, STATES, TRANSITIONS, CapReached, WorkflowError,
                              WorkflowSettings, check_move)

LEASE = 300


@pytest.fixture(scope="module")
def workflow_template(_tiny_demo_template, tmp_path_factory) -> Path:
    """The tiny demo with 6 labeled images split, a random selection ``batch`` of 10, and
    users lea (lead), ana and bo (annotators), rita and ron (reviewers)."""
    path = tmp_path_factory.mktemp("workflow") / "demo"
    shutil.copytree(_tiny_demo_template, path)
    with Store(path) as s:
        label_from_oracle_at_random(s, 6, seed=1)
        split_project(s, seed=1)
        run_query(s, QuerySpec(strategy="random", add=10, random_control=0, tag="batch"))
        accounts.add_user(s, "lea", "lea-password", "lead")
        s.act_as("lea")
        for name, role in (("ana", "annotator"), ("bo", "annotator"), ("rita", "reviewer"),
                           ("ron", "reviewer")):
            accounts.add_user(s, name, f"{name}-password", role)
    return path


@pytest.fixture
def team(workflow_template, tmp_path):
    path = tmp_path / "demo"
    shutil.copytree(workflow_template, path)
    with Store(path, actor="lea") as s:
        s.work_rng = random.Random(0)
        yield s


def box(x: float = 2.0, cls: int | None = None, store: Store | None = None) -> LabeledBox:
    class_id = cls if cls is not None else store.classes()[0].id
    return LabeledBox(class_id, Box(x, 2.0, x + 10.0, 12.0))


def label_next(s: Store, who: str, boxes=None) -> int:
    """``who`` pulls their next image and submits ``boxes`` (one box by default)."""
    s.act_as(who)
    sel = s.selection("batch")
    item_id = s.claim_next(sel.id, who, seconds=LEASE)
    assert item_id is not None
    submit_review(s, item_id, boxes if boxes is not None else [box(store=s)], action="save",
                  selection=sel, seconds=5.0)
    return item_id


def test_the_table_names_only_known_states_and_actions():
    from al_core.permissions import ACTIONS
    from al_core.workflow import EVENT_ACTIONS
    for (state, event), targets in TRANSITIONS.items():
        assert state in STATES and set(targets) <= set(STATES)
        assert EVENT_ACTIONS[event] in ACTIONS
    assert set(DIRECT.values()) <= set(STATES)
    with pytest.raises(WorkflowError, match="queued"):
        check_move(1, "queued", "approve", "approved")
    with pytest.raises(WorkflowError):
        check_move(1, "returned", "submit", "submitted")  # must be opened first
    assert check_move(1, "in_review", "return", "returned") == "returned"


def test_settings_are_checked_and_kept(team):
    assert team.workflow_settings() == WorkflowSettings()
    team.set_workflow_settings(review_share=0.25, cap=3)
    assert (team.workflow_settings().review_share, team.workflow_settings().cap) == (0.25, 3)
    for bad in ({"review_share": 1.5}, {"cap": 0}, {"skip_to": "bin"}, {"colour": 1},
                {"approved_only": "yes"}):
        with pytest.raises(ValueError):
            team.set_workflow_settings(**bad)
    team.act_as("rita")
    with pytest.raises(PermissionDenied):
        team.set_workflow_settings(cap=5)
    assert team.workflow_settings().cap == 3


def test_pull_gives_rank_order_one_image_each_and_stops_at_the_cap(team):
    team.set_workflow_settings(cap=2, gold_rate=0.0)
    sel = team.selection("batch")
    ranked = [i.item_id for i in sel.items]
    team.act_as("ana")
    first = team.claim_next(sel.id, "ana", seconds=LEASE)
    team.act_as("bo")
    second = team.claim_next(sel.id, "bo", seconds=LEASE)
    assert [first, second] == ranked[:2]
    assert team.work_state(first) == "in_progress" and team.work(first)["annotator"] == "ana"
    team.act_as("ana")
    assert team.claim_next(sel.id, "ana", seconds=LEASE) == first  # their own first
    third = team.claim_next(sel.id, "ana", seconds=LEASE, exclude=[first])
    assert third == ranked[2]
    assert team.held_count("ana") == 2
    assert team.claim_next(sel.id, "ana", seconds=LEASE, exclude=[first, third]) is None
    with pytest.raises(CapReached, match="cap"):
        team.claim(ranked[5], "ana", seconds=LEASE)
    assert team.claim(second, "ana", seconds=LEASE) == "bo"  # bo's, under bo's lease


def test_submit_review_return_fix_and_approve_by_the_same_reviewer(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = label_next(team, "ana", [box(2.0, store=team), box(30.0, store=team)])
    assert team.work_state(item_id) == "submitted"
    sub = team.submissions(item_id=item_id)[-1]
    assert (sub["kind"], sub["sampled"], sub["annotator"]) == ("first", 1, "ana")
    # nobody but a reviewer or lead judges it
    with pytest.raises(PermissionDenied):
        decide(team, item_id, "approve")
    with pytest.raises(PermissionDenied):
        review_queue(team)
    team.act_as("rita")
    assert [r["item_id"] for r in review_queue(team)] == [item_id]
    view = review_view(team, item_id)
    assert view.annotator == "ana" and len(view.boxes) == 2
    assert view.changes == ["added", "added"]  # a random selection has no pre-labels
    start_review(team, item_id)
    assert team.work_state(item_id) == "in_review"
    team.act_as("ron")
    with pytest.raises(HeldError):
        start_review(team, item_id)
    team.act_as("rita")
    with pytest.raises(WorkflowError, match="comment"):
        decide(team, item_id, "return")
    decide(team, item_id, "return", comments=[Comment("too loose", box_index=1),
                                              Comment("check the corner")])
    assert team.work_state(item_id) == "returned"
    assert team.work(item_id)["reviewer"] == "rita"
    # the returned image is not trained on, nor is it in anyone else's queue
    split = team.item(item_id).split
    assert item_id not in [i.id for i in team.items(split=split, trainable=True)]
    team.act_as("bo")
    assert item_id not in team.review_queue(team.selection("batch").id, "bo")
    assert comments(team, item_id) == []  # not bo's image
    team.act_as("ana")
    assert team.review_queue(team.selection("batch").id, "ana")[0] == item_id
    said = comments(team, item_id, open_only=True)
    assert [c["text"] for c in said] == ["too loose", "check the corner"]
    assert said[0]["box"] == [30.0, 2.0, 40.0, 12.0] and said[1]["box"] is None
    sel = team.selection("batch")
    # first, even though the page's history (exclude) has it from its first save
    assert team.claim_next(sel.id, "ana", seconds=LEASE, exclude=[item_id]) == item_id
    submit_review(team, item_id, [box(2.0, store=team), box(31.0, store=team)],
                  action="save", selection=sel, seconds=3.0)
    assert team.work_state(item_id) == "submitted"
    assert team.submissions(item_id=item_id)[-1]["kind"] == "fix"
    assert comments(team, item_id, open_only=True) == []  # resolved by the fix
    team.act_as("ron")  # the fix goes back to rita, not to another reviewer
    assert item_id not in [r["item_id"] for r in review_queue(team)]
    with pytest.raises(HeldError, match="rita"):
        start_review(team, item_id)
    team.act_as("rita")
    decide(team, item_id, "approve")
    assert team.work_state(item_id) == "approved"
    assert item_id in [i.id for i in team.items(split=split, trainable=True)]
    assert [d["decision"] for d in decisions(team, item_id)] == ["return", "approve"]


def test_a_reviewer_cannot_approve_their_own_labels(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = label_next(team, "rita")
    assert [r["item_id"] for r in review_queue(team)] == []
    with pytest.raises(PermissionDenied, match="own labels"):
        decide(team, item_id, "approve")
    team.act_as("lea")
    decide(team, item_id, "approve")
    assert team.work_state(item_id) == "approved"


def test_fix_and_approve_counts_corrections_against_the_annotator(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = label_next(team, "ana", [box(2.0, store=team), box(30.0, store=team)])
    team.act_as("rita")
    record = decide(team, item_id, "fix", boxes=[box(2.0, store=team), box(31.0, store=team),
                                                 box(60.0, store=team)])
    assert record["decision"] == "fix" and record["annotator"] == "ana"
    assert record["corrections"] == 2  # one moved, one added
    anns = team.annotations([item_id])[item_id]
    assert len(anns) == 3 and {a.author for a in anns} == {"rita"}
    assert team.work_state(item_id) == "approved"


def test_per_box_reject_removes_the_box_on_approval(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = label_next(team, "ana", [box(2.0, store=team), box(30.0, store=team)])
    team.act_as("rita")
    record = decide(team, item_id, "approve", verdicts=[True, False])
    assert record["decision"] == "fix" and record["verdicts"] == "[true, false]"
    assert [a.box.x1 for a in team.annotations([item_id])[item_id]] == [2.0]
    with pytest.raises(WorkflowError):  # already approved
        decide(team, item_id, "approve")


def test_a_rejected_box_returns_the_image_with_a_pinned_comment(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = label_next(team, "ana", [box(2.0, store=team), box(30.0, store=team)])
    team.act_as("rita")
    decide(team, item_id, "return", verdicts=[False, True])
    team.act_as("ana")
    said = comments(team, item_id)
    assert [(c["text"], c["box"]) for c in said] == [("Rejected", [2.0, 2.0, 12.0, 12.0])]


def test_spot_checks_are_drawn_per_submission_and_recorded(team):
    team.set_workflow_settings(review_share=0.0, gold_rate=0.0)
    item_id = label_next(team, "ana")
    assert team.work_state(item_id) == "approved"
    sub = team.submissions(item_id=item_id)[-1]
    assert (sub["sampled"], sub["share"]) == (0, 0.0) and 0 <= sub["draw"] < 1
    team.act_as("lea")
    team.set_workflow_settings(review_share=0.5, cap=50)
    states = [team.work_state(label_next(team, "bo")) for _ in range(8)]
    subs = team.submissions(annotator="bo")
    assert [s["sampled"] for s in subs] == [s["draw"] < 0.5 for s in subs]
    assert states == ["submitted" if s["sampled"] else "approved" for s in subs]


def test_assign_round_robin_and_by_hand(team):
    team.set_workflow_settings(gold_rate=0.0)
    sel = team.selection("batch")
    ranked = [i.item_id for i in sel.items]
    tasks = team.assign(sel.id, ["ana", "bo"], size=3)
    assert [(t["annotator"], t["items"]) for t in tasks] == [
        ("ana", ranked[0:3]), ("bo", ranked[3:6]), ("ana", ranked[6:9]), ("bo", ranked[9:10])]
    assert team.work(ranked[3])["state"] == "assigned"
    team.act_as("ana")
    assert team.claim(ranked[3], "ana", seconds=LEASE) == "bo"
    with pytest.raises(PermissionDenied):
        team.assign(sel.id, ["ana"], size=1)
    team.act_as("bo")
    assert team.claim_next(sel.id, "bo", seconds=LEASE) == ranked[3]
    team.release(ranked[3], "bo")
    assert team.work(ranked[3])["state"] == "assigned"  # still bo's
    team.act_as("lea")
    assert team.unassign(ranked[6:9]) == 3
    with pytest.raises(ValueError, match="not a queued image"):
        team.assign(sel.id, ["bo"], size=2, item_ids=[ranked[0]])
    by_hand = team.assign(sel.id, ["bo"], size=5, item_ids=ranked[6:8])
    assert by_hand[0]["items"] == ranked[6:8] and team.work(ranked[7])["annotator"] == "bo"
    with pytest.raises(ValueError, match="not an enabled user"):
        team.assign(sel.id, ["zed"], size=1, item_ids=[ranked[8]])


def test_skip_goes_to_the_pool_or_back_to_the_annotator(team):
    team.set_workflow_settings(gold_rate=0.0)
    sel = team.selection("batch")
    team.act_as("ana")
    first = team.claim_next(sel.id, "ana", seconds=LEASE)
    team.skip(first, "ana", selection_id=sel.id)
    assert team.work_state(first) == "queued"
    assert first not in team.review_queue(sel.id, "ana")
    team.act_as("bo")
    assert team.claim_next(sel.id, "bo", seconds=LEASE) == first
    team.act_as("lea")
    team.set_workflow_settings(skip_to="me")
    team.act_as("ana")
    other = team.claim_next(sel.id, "ana", seconds=LEASE)
    team.skip(other, "ana", selection_id=sel.id)
    assert (team.work_state(other), team.work(other)["annotator"]) == ("assigned", "ana")
    assert other in team.review_queue(sel.id, "ana")


def test_an_abandoned_hold_goes_back_to_the_pool(team, monkeypatch):
    team.set_workflow_settings(gold_rate=0.0)
    sel = team.selection("batch")
    team.act_as("ana")
    first = team.claim_next(sel.id, "ana", seconds=1)
    from al_core import clock
    later = clock.monotonic() + 10
    monkeypatch.setattr(clock, "monotonic", lambda: later)
    team.act_as("bo")
    assert team.claim_next(sel.id, "bo", seconds=LEASE) == first
    assert team.work(first)["annotator"] == "bo"


def test_gold_images_are_scored_never_saved_never_shown(team):
    labeled_train = team.items(split="train", status="labeled")[0]
    test_item = team.items(split="test", status="labeled")[0]
    with pytest.raises(ValueError, match="test split"):
        team.set_gold([test_item.id])
    unlabeled = team.items(status="unlabeled")[0]
    with pytest.raises(ValueError, match="no labels"):
        team.set_gold([unlabeled.id])
    assert team.set_gold([labeled_train.id]) == 1
    with pytest.raises(ValueError, match="gold"):
        team.set_splits({labeled_train.id: "test"})
    gold_boxes = team.annotations([labeled_train.id])[labeled_train.id]
    version = team.item(labeled_train.id).label_version
    team.set_workflow_settings(gold_rate=1.0)
    sel = team.selection("batch")
    team.act_as("ana")
    served = team.claim_next(sel.id, "ana", seconds=LEASE)
    assert served == labeled_train.id
    # the answer is in nothing the annotator reads
    assert team.annotations([served])[served] == []
    assert team.label_history(served) == []
    with pytest.raises(PermissionDenied):
        team.gold_answers()
    assert team.claim(served, "ana", seconds=LEASE) is None  # the page's renewals work
    answer = [LabeledBox(a.class_id, a.box) for a in gold_boxes[:1]]
    result = submit_review(team, served, answer, action="save", selection=sel, seconds=4.0)
    assert result.label_version == version
    team.act_as("lea")
    assert [(a.class_id, a.box) for a in team.annotations([served])[served]] == \
        [(a.class_id, a.box) for a in gold_boxes]
    assert team.item(served).label_version == version
    (row,) = team.gold_answers()
    assert row["annotator"] == "ana" and row["matched"] == 1 and row["seconds"] == 4.0
    assert row["f1"] == pytest.approx(2 / (len(gold_boxes) + 1))
    assert team.submissions(item_id=served) == []  # not a submission: it never trains
    team.act_as("ana")  # served once per annotator: the next pull is a pool image
    nxt = team.claim_next(sel.id, "ana", seconds=LEASE)
    assert nxt != served and nxt in [i.item_id for i in sel.items]
    # taken back as a submitted image would be: reopened, answered again, the last
    # answer scored
    assert team.claim(served, "ana", seconds=LEASE) is None
    submit_review(team, served, [], action="save", selection=sel, seconds=2.0)
    team.act_as("lea")
    (row,) = team.gold_answers()
    assert (row["answer_boxes"], row["f1"]) == (0, 0.0)
    team.act_as("bo")  # never served it: a gold image opened by id is refused
    with pytest.raises(WorkflowError):
        team.claim(served, "bo", seconds=LEASE)


def test_gold_is_served_only_with_the_batch_models_pre_labels(team):
    gold = team.items(split="train", status="labeled")[0].id
    team.set_gold([gold])
    team.set_workflow_settings(gold_rate=1.0)
    model = team.add_model(name="picker", arch="external", status="external")
    sel = team.selection("batch")
    team.db.execute("UPDATE selections SET model_id = ? WHERE id = ?", [model, sel.id])
    team.db.execute("INSERT INTO embeddings (model_id, item_id, vector) VALUES (?, ?, ?)",
                    [model, sel.items[0].item_id, b""])  # it predicted the batch, not gold
    team.act_as("ana")
    assert team.claim_next(sel.id, "ana", seconds=LEASE) != gold


def test_gold_score_matches_one_to_one_at_iou_half():
    a = LabeledBox(1, Box(0, 0, 10, 10))
    b = LabeledBox(2, Box(20, 20, 30, 30))
    assert score_answer([], []).f1 == 1.0
    s = score_answer([a, b], [a, LabeledBox(1, b.box)])
    assert (s.matched, s.same_class, s.f1, s.class_accuracy) == (2, 1, 1.0, 0.5)
    s = score_answer([a], [a, a])  # a duplicate counts against F1
    assert (s.matched, s.f1) == (1, pytest.approx(2 / 3))
    s = score_answer([a], [LabeledBox(1, Box(0, 0, 10, 19))])  # IoU 0.53
    assert s.matched == 1
    s = score_answer([a], [LabeledBox(1, Box(0, 0, 10, 21))])  # IoU 0.48
    assert (s.matched, s.f1, s.class_accuracy) == (0, 0.0, None)


def test_only_approved_labels_train_and_the_setting_turns_it_off(team):
    team.set_workflow_settings(gold_rate=0.0)
    before = team.count_items(status="labeled", trainable=True)
    item_id = label_next(team, "ana")
    assert team.labels_waiting() == 1
    team.act_as("lea")
    assert team.count_items(status="labeled", trainable=True) == before
    team.set_workflow_settings(approved_only=False)
    assert team.count_items(status="labeled", trainable=True) == before + 1
    team.set_workflow_settings(approved_only=True)
    team.act_as("rita")
    decide(team, item_id, "approve")
    assert team.labels_waiting() == 0
    assert team.count_items(status="labeled", trainable=True) == before + 1


def test_oracle_labels_in_team_mode_are_approved_as_written(team):
    labeled = label_selection_from_oracle(team, "batch")
    assert labeled == 10 and team.labels_waiting() == 0
    assert team.work_counts(team.selection("batch").id)["approved"] == 10


def test_an_approved_image_opened_and_left_stays_approved(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = label_next(team, "ana")
    team.act_as("rita")
    decide(team, item_id, "approve")
    team.act_as("bo")
    assert team.claim(item_id, "bo", seconds=LEASE) is None
    assert team.work_state(item_id) == "in_progress"
    team.release(item_id, "bo")
    assert team.work_state(item_id) == "approved"


def test_work_counts_cover_every_state(team):
    team.set_workflow_settings(gold_rate=0.0)
    sel = team.selection("batch")
    label_next(team, "ana")
    team.act_as("bo")
    team.claim_next(sel.id, "bo", seconds=LEASE)
    counts = team.work_counts(sel.id)
    assert counts["submitted"] == 1 and counts["in_progress"] == 1
    assert counts["queued"] == 8 and sum(counts.values()) == 10


def test_single_user_mode_has_no_workflow(demo_store):
    run_query(demo_store, QuerySpec(strategy="random", add=3, random_control=0, tag="b"))
    sel = demo_store.selection("b")
    item_id = demo_store.claim_next(sel.id, "me", seconds=LEASE)
    submit_review(demo_store, item_id, [box(store=demo_store)], author="me", action="save",
                  selection=sel)
    assert demo_store.work(item_id) is None and demo_store.work_rows() == []
    assert demo_store.work_state(item_id) == "approved"


# -- every move of the table, by the right role and refused to the wrong one ----------
def _to(s: Store, item_id: int, state: str) -> None:
    """Drive ``item_id`` of ``batch`` into ``state`` through the API (ana annotates,
    rita reviews), acting as the right person at each step."""
    sel = s.selection("batch")
    if state == "queued":
        return
    if state == "assigned":
        s.act_as("lea")
        s.assign(sel.id, ["ana"], size=1, item_ids=[item_id])
        return
    s.act_as("ana")
    assert s.claim(item_id, "ana", seconds=LEASE) is None
    if state == "in_progress":
        return
    submit_review(s, item_id, [box(store=s)], action="save", selection=sel)
    if state == "submitted":
        return
    s.act_as("rita")
    start_review(s, item_id)
    if state == "in_review":
        return
    if state == "returned":
        decide(s, item_id, "return", comments=[Comment("redo")])
    elif state == "approved":
        decide(s, item_id, "approve")


def _do(s: Store, item_id: int, event: str, who: str) -> None:
    s.act_as(who)
    sel = s.selection("batch")
    if event == "assign":
        s.assign(sel.id, ["ana"], size=1, item_ids=[item_id])
    elif event == "unassign":
        s.unassign([item_id])
    elif event == "open":
        other = s.claim(item_id, who, seconds=LEASE)
        if other is not None:
            raise HeldError(f"held by {other}")
    elif event in ("release", "skip"):
        (s.release(item_id, who) if event == "release"
         else s.skip(item_id, who, selection_id=sel.id))
    elif event == "submit":
        submit_review(s, item_id, [box(store=s)], action="save", selection=sel)
    elif event == "start_review":
        start_review(s, item_id)
    elif event == "release_review":
        from al_core.review.reviewing import release_review
        release_review(s, item_id)
    elif event in ("approve", "fix", "return"):
        decide(s, item_id, event, comments=[Comment("redo")] if event == "return" else (),
               boxes=[box(40.0, store=s)] if event == "fix" else None)
    elif event == "import":
        submit_review(s, item_id, [box(store=s)], author="import:x.json", action="import",
                      selection=sel)
    else:
        raise AssertionError(f"no way to try {event!r}: add one here")


# (state, event) -> (who may, who may not, the state it leads to for who may)
CASES = {
    ("queued", "assign"): ("lea", "rita", "assigned"),
    ("assigned", "unassign"): ("lea", "rita", "queued"),
    ("queued", "open"): ("ana", None, "in_progress"),
    ("assigned", "open"): ("ana", "bo", "in_progress"),
    ("returned", "open"): ("ana", "bo", "in_progress"),
    ("approved", "open"): ("bo", None, "in_progress"),
    ("submitted", "open"): ("ana", "bo", "in_progress"),
    ("in_progress", "release"): ("ana", "bo", "queued"),
    ("in_progress", "skip"): ("ana", "bo", "queued"),
    ("in_progress", "submit"): ("ana", "bo", "submitted"),
    ("submitted", "start_review"): ("rita", "bo", "in_review"),
    ("in_review", "release_review"): ("rita", "bo", "submitted"),
    ("in_review", "approve"): ("rita", "bo", "approved"),
    ("in_review", "fix"): ("rita", "bo", "approved"),
    ("in_review", "return"): ("rita", "bo", "returned"),
    ("queued", "import"): ("lea", "rita", "approved"),
}


def test_every_move_of_the_table_has_a_case():
    assert set(CASES) == set(TRANSITIONS) | {("queued", e) for e in DIRECT}


@pytest.mark.parametrize("move", list(CASES), ids=lambda m: f"{m[0]}-{m[1]}")
def test_each_move_by_the_right_person_and_refused_to_another(team, move):
    state, event = move
    may, may_not, target = CASES[move]
    team.set_workflow_settings(gold_rate=0.0)
    item_id = team.selection("batch").items[0].item_id
    _to(team, item_id, state)
    assert team.work_state(item_id) == state
    if may_not is not None:
        audit_before = len(team.audit_entries())
        try:
            _do(team, item_id, event, may_not)
        except (PermissionDenied, HeldError, WorkflowError):
            pass
        assert team.work_state(item_id) == state, f"{may_not} moved it by {event}"
        if event not in ("release", "skip"):  # a no-op of someone else's is not refused
            assert len(team.audit_entries()) == audit_before
    _do(team, item_id, event, may)
    assert team.work_state(item_id) == target


@pytest.mark.parametrize("state", STATES)
def test_an_annotator_never_approves_from_any_state(team, state):
    item_id = team.selection("batch").items[0].item_id
    team.set_workflow_settings(gold_rate=0.0)
    _to(team, item_id, state)
    team.act_as("ana")
    with pytest.raises((PermissionDenied, WorkflowError)):
        decide(team, item_id, "approve")
    assert team.work_state(item_id) == state


def test_a_fix_is_shown_against_the_boxes_as_returned(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = label_next(team, "ana", [box(2.0, store=team), box(30.0, store=team)])
    team.act_as("rita")
    assert review_view(team, item_id).base == "prelabels"
    decide(team, item_id, "return", comments=[Comment("move box 2", box_index=1)])
    team.act_as("ana")
    sel = team.selection("batch")
    assert team.claim_next(sel.id, "ana", seconds=LEASE) == item_id
    submit_review(team, item_id, [box(2.0, store=team), box(33.0, store=team)],
                  action="save", selection=sel)
    team.act_as("rita")
    view = review_view(team, item_id)
    assert view.base == "returned"
    assert [b.box.x1 for b in view.prelabels] == [2.0, 30.0]  # as rita sent it back
    assert view.changes == ["kept", "moved"] and view.deleted == []
