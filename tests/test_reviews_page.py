"""The Approve page (pages/reviews.py), headless with AppTest, signed in through the
app's own session check (``ui.auth.session_cookie`` given a real session's token): a
reviewer's queue holds others' submitted images and never their own; Approve, Fix and
approve, a rejected box and a Return with a comment pinned to a box each change the
database as al_core.review.reviewing says; refusals are one message beside the image;
a comment is shown as text; an annotator gets none of the page."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

import ui.auth
import ui.chrome
from al_core.review.reviewing import comments, decisions
from al_core.review.save import submit_review
from al_core.store import Store
from al_core.team import accounts
from al_core.team.signin import sign_in
from al_core.training.split import split_project
from al_core.types import Box, LabeledBox, SelectionItem
from al_core.simulation.demo import label_from_oracle_at_random
from tests.apptest import open_page, read
from ui import canvas
from ui.reviewer_editor import HEADER_PX
from ui.reviewer_queue import queue_rows

ROOT = Path(__file__).resolve().parent.parent
TAG = "batch"


@pytest.fixture
def team(demo_store, monkeypatch):
    """A demo project with a selection of 4 pool images whose model pre-labels each with
    one box of the first class at (10, 10, 40, 40) scoring 0.9; users lea (lead), ana and
    bo (annotators), rita and ron (reviewers); served as through serve.py."""
    s = demo_store
    label_from_oracle_at_random(s, 6, seed=1)
    split_project(s, seed=1)
    c0 = s.classes()[0].id
    pool = s.query_pool()[:4]
    model_id = s.add_model(name="m", arch="external", status="external")
    s.add_predictions(model_id, [(i, c0, Box(10, 10, 40, 40), 0.9) for i in pool])
    s.add_selection(tag=TAG, round=1, strategy="uncertainty", config={}, seed=0,
                    model_id=model_id, items=[SelectionItem(i, r, 1 - r / 10, False)
                                              for r, i in enumerate(pool)])
    accounts.add_user(s, "lea", "lea-password", "lead")
    s.act_as("lea")
    for name, role in (("ana", "annotator"), ("bo", "annotator"), ("rita", "reviewer"),
                       ("ron", "reviewer")):
        accounts.add_user(s, name, f"{name}-password", role)
    s.set_workflow_settings(gold_rate=0.0)
    s.work_rng = random.Random(0)
    monkeypatch.setenv("ALS_PROJECT", str(s.root))
    monkeypatch.setenv("ALS_SIGNIN_ROUTES", "1")
    # pages another change registers before its file lands stay out of the navigation
    monkeypatch.setattr(ui.chrome, "PAGES", [p for p in ui.chrome.PAGES
                                             if (ROOT / p[0]).exists()])
    return s


def submit(s: Store, who: str, boxes: list[tuple]) -> int:
    """``who`` pulls their next image and submits ``boxes`` ((class index, x1, y1, x2,
    y2) each) against the pre-label they were shown."""
    s.act_as(who)
    sel = s.selection(TAG)
    classes = s.classes()
    item_id = s.claim_next(sel.id, who, seconds=300)
    submit_review(s, item_id, [LabeledBox(classes[c].id, Box(*xy)) for c, *xy in boxes],
                  action="save", selection=sel, seconds=4.0,
                  prelabels=[LabeledBox(classes[0].id, Box(10, 10, 40, 40))])
    return item_id


def signed_in(monkeypatch, s: Store, name: str):
    token = sign_in(s, name, f"{name}-password", address="127.0.0.1").token
    monkeypatch.setattr(ui.auth, "session_cookie", lambda: token)
    at = open_page("pages/reviews.py")
    assert not at.exception, at.exception
    return at


def click(at, key):
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def queue_ids(at) -> list[int]:
    return at.dataframe[0].value["image #"].tolist() if at.dataframe else []


def said(at) -> str:
    return "\n".join(read(e.value) for kind in ("error", "warning", "caption", "info",
                                                 "markdown") for e in getattr(at, kind))


def serial(at) -> int:
    return at.session_state["ap_open"]["serial"]


def test_the_queue_lists_others_submissions_and_never_the_reviewers_own(team, monkeypatch):
    theirs = submit(team, "ana", [(0, 10, 10, 40, 40)])
    own = submit(team, "rita", [(0, 10, 10, 40, 40)])
    at = signed_in(monkeypatch, team, "rita")
    assert queue_ids(at) == [theirs]
    table = at.dataframe[0].value
    assert (table["annotator"][0], table["kind"][0], table["selection"][0]) == \
        ("ana", "first", TAG)
    assert "1 image waiting for you" in said(at)
    assert "Across all reviewers: 2 waiting" in said(at)
    click(at, "ap-next")
    assert at.session_state["ap_item"] == theirs
    assert team.work_state(theirs) == "in_review" and team.work(theirs)["reviewer"] == "rita"
    assert team.work_state(own) == "submitted"
    ron = signed_in(monkeypatch, team, "ron")
    assert queue_ids(ron) == [own]  # rita's image is open for her; her own labels are ron's


def test_approve_records_the_decision_and_opens_the_next_image(team, monkeypatch):
    first = submit(team, "ana", [(0, 10, 10, 40, 40)])
    second = submit(team, "bo", [(1, 60, 60, 90, 90)])
    at = click(signed_in(monkeypatch, team, "rita"), "ap-next")
    assert at.session_state["ap_item"] == first
    click(at, "ap-approve")
    assert team.work_state(first) == "approved"
    row = decisions(team, first)[-1]
    assert (row["decision"], row["reviewer"], row["annotator"], row["corrections"]) == \
        ("approve", "rita", "ana", 0)
    assert row["seconds"] is not None and 0 <= row["seconds"] < 60
    assert at.session_state["ap_item"] == second  # the next one is open
    assert team.work_state(second) == "in_review"
    assert "Approved #%d as ana labeled it." % first in said(at)
    click(at, "ap-leave")
    assert team.work_state(second) == "submitted" and at.session_state["ap_item"] is None
    assert queue_ids(at) == [second]


def test_fix_and_approve_saves_the_fixed_boxes_as_corrections(team, monkeypatch):
    item = submit(team, "ana", [(0, 10, 10, 40, 40), (1, 60, 60, 90, 90)])
    at = click(click(signed_in(monkeypatch, team, "rita"), "ap-next"), "ap-fix")
    w = at.session_state["ap_fix"]
    assert len(w.boxes) == 2
    v = canvas.fit_view(w.width, w.height, max_w=960, max_h=800 - HEADER_PX)
    names = canvas.chip_names(team.classes())
    c0, c1 = team.classes()[0].id, team.classes()[1].id
    objects = [{"type": "LabeledRect", "label": names[c], **canvas.to_canvas(xy, v),
                "originX": "left", "originY": "top", "scaleX": 1, "scaleY": 1}
               for c, xy in ((c0, [10, 10, 40, 40]), (c1, [70, 60, 100, 90]),
                             (c0, [100, 100, 130, 130]))]
    at.session_state[canvas.canvas_key(f"ap-{w.tag}", v)] = {
        "drawing": {"raw": {"objects": objects}, "data": None}, "backgroundFit": None}
    click(at, "ap-save-fix")
    row = decisions(team, item)[-1]
    assert (row["decision"], row["corrections"]) == ("fix", 2)  # one moved, one added
    assert row["changes"]["moved"] == 1 and row["changes"]["added"] == 1
    anns = team.annotations([item])[item]
    assert sorted(a.box.as_list() for a in anns) == [[10, 10, 40, 40], [70, 60, 100, 90],
                                                     [100, 100, 130, 130]]
    assert {a.author for a in anns} == {"rita"}
    assert team.work_state(item) == "approved"


def test_a_rejected_box_is_removed_on_approval(team, monkeypatch):
    item = submit(team, "ana", [(0, 10, 10, 40, 40), (1, 60, 60, 90, 90)])
    at = click(signed_in(monkeypatch, team, "rita"), "ap-next")
    click(at, f"ap-verdict-{serial(at)}-1")
    assert at.session_state["ap_open"]["verdicts"] == [True, False]
    assert "1 rejected box: Approve removes it" in said(at)
    click(at, "ap-approve")
    row = decisions(team, item)[-1]
    assert (row["decision"], row["verdicts"]) == ("fix", [True, False])
    assert [a.box.as_list() for a in team.annotations([item])[item]] == [[10, 10, 40, 40]]
    assert team.work_state(item) == "approved"


def test_return_needs_a_comment_and_pins_it_to_its_box(team, monkeypatch):
    item = submit(team, "ana", [(0, 10, 10, 40, 40), (1, 60, 60, 90, 90)])
    at = click(signed_in(monkeypatch, team, "rita"), "ap-next")
    assert "Return needs a comment or a rejected box." in said(at)
    click(at, "ap-return")  # nothing said: refused, beside the image, still open
    assert team.work_state(item) == "in_review" and at.session_state["ap_item"] == item
    assert "needs a comment" in " ".join(read(e.value) for e in at.error)
    at.text_input(key=f"ap-comment-{serial(at)}-1").input("too loose **here**")
    at.text_area(key=f"ap-comment-{serial(at)}-image").input("check the <b>corner</b>")
    click(at, "ap-return")
    assert team.work_state(item) == "returned" and team.work(item)["reviewer"] == "rita"
    assert decisions(team, item)[-1]["decision"] == "return"
    team.act_as("ana")
    got = [(c["text"], c["box"]) for c in comments(team, item)]
    assert got == [("too loose **here**", [60.0, 60.0, 90.0, 90.0]),
                   ("check the <b>corner</b>", None)]
    assert "Returned #%d to ana with 2 comments." % item in said(at)

    # ana's fix comes back to rita, who reads the comments as text, not as Markdown
    sel = team.selection(TAG)
    assert team.claim_next(sel.id, "ana", seconds=300) == item
    submit_review(team, item, [LabeledBox(team.classes()[0].id, Box(10, 10, 40, 40))],
                  action="save", selection=sel, seconds=3.0)
    at = click(signed_in(monkeypatch, team, "rita"), "ap-next")
    assert at.session_state["ap_item"] == item
    shown = [m.value for m in at.markdown if "too loose" in m.value]
    assert shown and shown[0].startswith("too loose \\*\\*here\\*\\*")
    assert any(m.value.startswith("check the \\<b\\>corner\\<\\/b\\>") for m in at.markdown)


def test_labels_changed_since_opening_are_one_message_and_reopen(team, monkeypatch):
    item = submit(team, "ana", [(0, 10, 10, 40, 40)])
    at = click(signed_in(monkeypatch, team, "rita"), "ap-next")
    before = serial(at)
    team.act_as("lea")
    team.set_labels(item, [LabeledBox(team.classes()[0].id, Box(12, 10, 40, 40))],
                    source="human", author="lea", round=1, reason="a lead's edit")
    click(at, "ap-approve")
    errors = [read(e.value) for e in at.error]
    assert len(errors) == 1 and "changed since you opened it" in errors[0]
    assert "It now shows the new labels." in errors[0]
    assert team.work_state(item) == "in_review" and decisions(team, item) == []
    assert serial(at) != before  # opened again on the new labels
    click(at, "ap-approve")
    assert team.work_state(item) == "approved"


def test_an_image_another_reviewer_took_is_one_message_and_back_to_the_queue(
        team, monkeypatch):
    item = submit(team, "ana", [(0, 10, 10, 40, 40)])
    at = click(signed_in(monkeypatch, team, "rita"), "ap-next")
    team._drop_lease(item, "rita")  # her lease ran out (a long pause) ...
    team.act_as("ron")
    from al_core.review.reviewing import start_review
    start_review(team, item)  # ... and ron opened it
    click(at, "ap-approve")
    assert [read(e.value) for e in at.error] == [f"Not decided: image #{item} is open for ron"]
    assert at.session_state["ap_item"] is None and queue_ids(at) == []
    assert team.work(item)["reviewer"] == "ron" and decisions(team, item) == []


def test_an_annotator_gets_none_of_the_page(team, monkeypatch):
    submit(team, "bo", [(0, 10, 10, 40, 40)])
    at = signed_in(monkeypatch, team, "ana")
    assert any("This page is for reviewers and leads" in read(i.value) for i in at.info)
    assert not at.dataframe and not at.button and not at.text_input
    assert "ap_item" not in at.session_state


def test_queue_rows_wait_from_the_submission_and_mark_the_reviewers_own():
    from datetime import datetime, timezone
    now = datetime(2026, 1, 2, 12, 0, tzinfo=timezone.utc)
    rows = [{"item_id": 7, "tag": "b", "annotator": "ana", "state": "in_review",
             "reviewer": "Rita", "since": "2026-01-02T11:00:00+00:00"},
            {"item_id": 3, "tag": None, "annotator": "bo", "state": "submitted",
             "reviewer": "rita", "since": "2026-01-02T11:59:00+00:00"}]
    # #3 was left undecided a minute ago: it has waited since its fix was submitted
    submitted = {7: {"kind": "first", "at": None},
                 3: {"kind": "fix", "at": "2026-01-01T09:30:00+00:00"}}
    out = queue_rows(rows, submitted, "rita", now=now)
    assert [(r["image #"], r["kind"], r["state"], r["waiting"]) for r in out] == [
        (7, "first", "open for you", "1.0 h"), (3, "fix", "fix for you", "1.1 days")]
