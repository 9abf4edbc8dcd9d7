"""The Review page in team mode, for an annotator signed in (AppTest; the session cookie
is given as in tests/test_signin_app.py): their returned image opens first with the
reviewer's comments beside it and pinned on the picture, the cap is said as the cap, a
served gold image opens like any unlabeled image, and a save submits the image for
review."""
import pytest

from ui.review_editor import HEADER_PX  # the canvas height the editor leaves
from PIL import Image

import ui.auth
import ui.canvas
from al_core.review.reviewing import Comment, decide
from al_core.review.save import submit_review
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.team.accounts import add_user
from al_core.team.signin import sign_in
from al_core.training.split import split_project
from al_core.types import Box, LabeledBox
from tests.apptest import open_page, read
from tests.test_review_page import TAG, make_selection
from ui.draw import PIN_GAP_PX, draw_pins
from ui.review_work import pinned

LEASE = 300


@pytest.fixture
def team(demo_store, monkeypatch):
    """The tiny demo with 6 labeled train/val images, a selection of 4 pool images with
    pre-labels (tests/test_review_page.py's), users lea (lead), ana (annotator) and rita
    (reviewer); no gold images served unless a test asks."""
    label_from_oracle_at_random(demo_store, 6, seed=1)
    split_project(demo_store, seed=1)
    pool = make_selection(demo_store)
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    monkeypatch.setenv("ALS_SIGNIN_ROUTES", "1")  # as when served through serve.py
    add_user(demo_store, "lea", "lead-password-1", "lead")
    demo_store.act_as("lea")
    add_user(demo_store, "ana", "ana-password-1", "annotator")
    add_user(demo_store, "rita", "rita-password-1", "reviewer")
    demo_store.set_workflow_settings(gold_rate=0.0)
    demo_store.pool = pool
    return demo_store


def as_ana(store, monkeypatch, query=None):
    token = sign_in(store, "ana", "ana-password-1", address="127.0.0.1").token
    monkeypatch.setattr(ui.auth, "session_cookie", lambda: token)
    at = open_page("pages/review.py")
    if query:
        for k, v in query.items():
            at.query_params[k] = v
        at.run()
    assert not at.exception, at.exception
    return at


def texts(at) -> str:
    return "\n".join(read(e.value) for kind in ("markdown", "caption", "success", "info",
                                                 "warning", "error") for e in getattr(at, kind))


def progress(at) -> str:
    return "\n".join(read(p.proto.text) for p in at.get("progress"))


def message(at) -> str:
    return read(at.session_state["rv_msg"][1])


def returned_to_ana(store) -> int:
    """ana labels the selection's first image with two boxes; rita returns it with a
    comment pinned to the second box (Markdown in its text) and one on the image."""
    sel = store.selection(TAG)
    store.act_as("ana")
    item_id = store.claim_next(sel.id, "ana", seconds=LEASE)
    c0 = store.classes()[0].id
    submit_review(store, item_id, [LabeledBox(c0, Box(10, 10, 40, 40)),
                                   LabeledBox(c0, Box(60, 60, 100, 100))],
                  action="save", selection=sel, seconds=5.0)
    store.act_as("rita")
    decide(store, item_id, "return", comments=[
        Comment("too loose: see **here** [x](http://evil.example)", box_index=1),
        Comment("check the corner")])
    store.act_as("lea")
    return item_id


def test_a_returned_image_opens_first_with_its_comments_beside_it_and_on_it(
        team, monkeypatch):
    item_id = returned_to_ana(team)
    drawn = []
    real = ui.canvas.with_pins
    monkeypatch.setattr(ui.canvas, "with_pins",
                        lambda background, pins: drawn.append(pins) or real(background, pins))
    at = as_ana(team, monkeypatch)
    assert at.session_state["rv_item"] == item_id
    w = at.session_state["rv_work"][item_id]
    assert w.from_labels and len(w.boxes) == 2  # ana's own boxes, to fix
    shown = texts(at)
    assert "Returned by rita" in shown
    # the comment's text is shown as written, never read as Markdown (no link, no bold)
    assert "too loose: see **here** [x](http://evil.example)" in shown
    assert "check the corner" in shown
    assert not any("](http" in m.value for m in at.markdown)
    assert "returned to you by rita" in shown  # the caption
    assert "1 returned to you" in progress(at)
    assert at.button(key="rv-skip").disabled  # it comes back first whatever: fix and save
    # the pinned box is drawn on the picture, numbered 1, at ana's second box
    scale = w_scale(w)
    assert drawn and drawn[-1] == (("1", tuple(v * scale for v in (60, 60, 100, 100))),)


def w_scale(w) -> float:
    return min(960 / w.width, (800 - HEADER_PX) / w.height)  # AppTest's viewport, as tests/
    # test_review_page.py's canvas_key


def test_a_fix_saved_unchanged_is_still_sent_back_to_the_reviewer(team, monkeypatch):
    item_id = returned_to_ana(team)
    at = as_ana(team, monkeypatch)
    at.button(key="rv-accept").click().run()
    assert not at.exception, at.exception
    assert message(at).startswith(f"Sent your fix of #{item_id} back to rita")
    assert team.work_state(item_id) == "submitted"
    assert team.submissions(item_id=item_id)[-1]["kind"] == "fix"


def test_a_save_submits_the_image_for_review(team, monkeypatch):
    at = as_ana(team, monkeypatch)
    first = at.session_state["rv_item"]
    assert first == team.pool[0]
    at.button(key="rv-accept").click().run()
    assert not at.exception, at.exception
    assert message(at).startswith(f"Submitted #{first} for review: 1 box")
    assert "joined" not in message(at)
    assert team.work_state(first) == "submitted"
    assert at.session_state["rv_item"] == team.pool[1]
    assert "1 waiting for review" in progress(at)


def test_the_cap_is_said_with_the_images_held_and_one_opens_again(team, monkeypatch):
    team.set_workflow_settings(cap=1, skip_to="me")
    at = as_ana(team, monkeypatch)
    first = at.session_state["rv_item"]
    assert "1 of 1 held" in progress(at)
    at.button(key="rv-skip").click().run()  # it stays ana's (skip_to me): the cap is met
    assert not at.exception, at.exception
    assert at.session_state["rv_item"] is None
    shown = texts(at)
    assert "the project's cap of 1" in shown and "Nothing left" not in shown
    # a skip keeps the image ana's here (skip_to me): only a submission frees a place
    assert "until you submit some of yours" in shown and "or skip" not in shown
    at.button(key=f"rv-held-{first}").click().run()
    assert not at.exception, at.exception
    assert at.session_state["rv_item"] == first


def test_a_link_past_the_cap_says_so_beside_the_image(team, monkeypatch):
    team.set_workflow_settings(cap=1)
    at = as_ana(team, monkeypatch)
    first = at.session_state["rv_item"]
    other = team.pool[2]
    at.query_params["selection"] = TAG
    at.query_params["item"] = str(other)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["rv_item"] == first  # their own image stays open
    assert any(f"Image #{other} was not opened" in read(e.value) and "cap" in e.value
               for e in at.warning)


def test_a_gold_image_opens_like_an_unlabeled_one_and_its_labels_stay(team, monkeypatch):
    gold = team.items(split="train", status="labeled")[0]
    truth = [(a.class_id, a.box) for a in team.annotations([gold.id])[gold.id]]
    model_id = team.selection(TAG).model_id
    c1 = team.classes()[1].id
    team.add_predictions(model_id, [(gold.id, c1, Box(5, 5, 30, 30), 0.8)])
    team.set_gold([gold.id])
    team.set_workflow_settings(gold_rate=1.0)
    at = as_ana(team, monkeypatch)
    assert at.session_state["rv_item"] == gold.id
    w = at.session_state["rv_work"][gold.id]
    assert not w.from_labels
    assert [(b["class_id"], b["box"], b["score"]) for b in w.boxes] == \
        [(c1, [5, 5, 30, 30], 0.8)]  # the model's pre-label, as on any pool image
    caption = next(read(m.value) for m in at.markdown if f"**#{gold.id}**" in m.value)
    assert caption.endswith("· pool · unlabeled"), caption
    assert "1 open" in progress(at) and "1 of 20 held" in progress(at)
    at.button(key="rv-accept").click().run()
    assert not at.exception, at.exception
    assert message(at).startswith(f"Submitted #{gold.id} for review: 1 box")
    assert [(a.class_id, a.box) for a in team.annotations([gold.id])[gold.id]] == truth
    (answer,) = team.gold_answers()
    assert answer["annotator"] == "ana" and answer["answer_boxes"] == 1


def test_single_user_mode_keeps_its_words(demo_store, monkeypatch):
    """No users: no queue line, saves say Saved (tests/test_review_page.py has the rest)."""
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    make_selection(demo_store)
    at = open_page("pages/review.py", annotator="ana")
    assert "held" not in progress(at)
    at.button(key="rv-accept").click().run()
    assert message(at).startswith("Saved #")


def test_pins_are_numbered_by_box_and_drawn_outside_it():
    notes = [{"box": [10.0, 10.0, 30.0, 30.0], "text": "a"}, {"box": None, "text": "b"},
             {"box": [10.0, 10.0, 30.0, 30.0], "text": "c"},
             {"box": [40.0, 5.0, 60.0, 20.0], "text": "d"}]
    assert [(n, box, [c["text"] for c in group]) for n, box, group in pinned(notes)] == \
        [(1, [10.0, 10.0, 30.0, 30.0], ["a", "c"]), (2, [40.0, 5.0, 60.0, 20.0], ["d"])]
    image = Image.new("RGB", (100, 100), "white")
    out = draw_pins(image, [("1", (40, 40, 70, 80))])
    ring = out.getpixel((40 - PIN_GAP_PX, 60))  # the ring's left side, outside the box
    assert ring != (255, 255, 255)
    assert out.getpixel((40, 60)) == (255, 255, 255)  # the box's own edge stays clear
    assert out.getpixel((55, 60)) == (255, 255, 255)  # and its inside


def test_the_grid_leaves_a_returned_image_to_the_editor(team, monkeypatch):
    item_id = returned_to_ana(team)
    at = as_ana(team, monkeypatch)
    at.session_state["rv-mode"] = "Grid"
    at.run()
    assert not at.exception, at.exception
    page = at.session_state["rv_grid_page"]
    assert page and item_id not in page  # never accepted as pre-labels over ana's boxes
    at.button(key="rv-grid-accept").click().run()
    assert not at.exception, at.exception
    assert len(team.annotations([item_id])[item_id]) == 2  # ana's boxes, as returned
    assert {team.work_state(i) for i in page} == {"submitted"}
    assert any("Submitted 3 images as shown" in read(s.value) for s in at.success)


def test_an_annotator_is_not_offered_the_leads_upload(team, monkeypatch):
    at = as_ana(team, monkeypatch)
    assert not any("Upload a corrected COCO file" in e.label for e in at.expander)


def test_after_a_returned_images_fix_the_page_goes_on_not_back_to_a_submitted_one(
        team, monkeypatch):
    """ana submits A then B; rita returns A; ana submits B and A comes back first (it is
    early in the page's history). Saving A's fix must open new work, never B: opening B
    would take it out of the reviewer's queue ("submitted, taken back from review")."""
    at = as_ana(team, monkeypatch)
    a = at.session_state["rv_item"]
    at.button(key="rv-accept").click().run()  # A submitted, B opens
    b = at.session_state["rv_item"]
    team.act_as("rita")
    decide(team, a, "return", comments=[Comment("check the corner")])
    team.act_as("lea")
    at.button(key="rv-accept").click().run()  # B submitted, the returned A opens first
    assert not at.exception, at.exception
    assert at.session_state["rv_item"] == a
    at.button(key="rv-accept").click().run()  # A's fix goes back to rita
    assert not at.exception, at.exception
    assert message(at).startswith(f"Sent your fix of #{a} back to rita")
    assert at.session_state["rv_item"] not in (a, b)
    assert team.work_state(b) == "submitted"  # still in the reviewer's queue


def test_no_focus_ring_frames_the_review_page_after_a_key(team, monkeypatch):
    """Streamlit focuses the main area once a pressed key's button is redrawn and draws
    a ::before frame round it (seen round the whole Review page after the first number
    key, in Chromium): the page turns both off, as the Approve page does."""
    at = as_ana(team, monkeypatch)
    styles = " ".join(e.proto.body for e in at.get("html"))
    assert ".stMain:focus{outline:none}" in styles
    assert ".stMain:focus-visible::before{display:none}" in styles


def test_an_annotator_at_the_end_of_the_batch_is_not_sent_to_the_leads_pages(
        team, monkeypatch):
    """Nothing left for ana: no retrain offer and no link to the Models page (it told an
    annotator its changes would be refused); the images given to someone else are named
    among the reasons, and one returned to her meanwhile opens without a reload."""
    team.assign(team.selection(TAG).id, ["lea"], size=1, item_ids=[team.pool[3]])
    at = as_ana(team, monkeypatch)
    first = at.session_state["rv_item"]
    for _ in range(3):
        at.button(key="rv-accept").click().run()
        assert not at.exception, at.exception
    assert at.session_state["rv_item"] is None
    shown = texts(at)
    assert "Nothing left for you" in shown and "given to or open for someone else" in shown
    assert not at.get("page_link") and not [b for b in at.button if b.key == "rv-retrain"]
    team.act_as("rita")
    decide(team, first, "return", comments=[Comment("check the corner")])
    team.act_as("lea")
    at.button(key="rv-again").click().run()
    assert not at.exception, at.exception
    assert at.session_state["rv_item"] == first
    assert "Returned by rita" in texts(at)


def test_the_grid_keeps_the_queue_line_and_the_cap(team, monkeypatch):
    """In grid mode an annotator saw no queue and no cap (the editor's line was gone)."""
    at = as_ana(team, monkeypatch)
    at.session_state["rv-mode"] = "Grid"
    at.run()
    assert not at.exception, at.exception
    page = at.session_state["rv_grid_page"]
    assert f"{len(page)} open" in progress(at) and f"{len(page)} of 20 held" in progress(at)
