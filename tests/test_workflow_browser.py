"""Team mode's review workflow end to end in headless Chromium, three people in three
browser contexts against one served app (serve.py, as ``./dev.sh app``): an annotator
labels and submits, a reviewer returns one image with a comment on a box, the annotator
sees the comment and submits the fix, the reviewer approves, a spot check's draw and a
gold image's score are recorded, and the lead retrains on approved labels only and
applies the decision. Each step is checked in the database. Screenshots of the reviewer's
queue, the returned image with its comment and the dashboard go to /tmp/workflow-shots/
(1280x800)."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from al_core.store import Store
from al_core.team.accounts import add_user
from al_core.types import SelectionItem
from tests.test_browser import chromium_browser, serve_app, settled
from tests.test_loop_browser import looping  # noqa: F401 - the fixture this one builds on

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path("/tmp/workflow-shots")
PASSWORDS = {"lea": "lead-password-1", "ana": "annotator-pw-1", "rita": "reviewer-pw-1"}


@pytest.fixture
def team_loop(looping):
    """The loop test's project (24 labeled images split, a first model active, a compare
    rule that promotes any model) with a selection ``batch`` of 6 pool images whose
    pre-labels are their ground truth, one labeled train image to be gold, and lea
    (lead), ana (annotator), rita (reviewer)."""
    s = looping
    truth = s.oracle_boxes(s.query_pool())
    pool = [i for i in s.query_pool() if truth[i]][:6]
    ext = s.add_model(name="stand-in", arch="external", status="external")
    s.add_predictions(ext, [(i, b.class_id, b.box, 0.9) for i in pool for b in truth[i]])
    s.add_selection(tag="batch", round=1, strategy="uncertainty", config={}, seed=0,
                    model_id=ext,
                    items=[SelectionItem(i, r, 1 - r / 10, False) for r, i in enumerate(pool)])
    gold = s.items(split="train", status="labeled")[0].id
    s.add_predictions(ext, [(gold, a.class_id, a.box, 0.9)  # its pre-labels: its answer
                            for a in s.annotations([gold])[gold]])
    add_user(s, "lea", PASSWORDS["lea"], "lead")
    s.act_as("lea")
    add_user(s, "ana", PASSWORDS["ana"], "annotator")
    add_user(s, "rita", PASSWORDS["rita"], "reviewer")
    s.set_workflow_settings(review_share=1.0, gold_rate=0.0)
    return s.root, pool, gold


@pytest.fixture
def served_team(team_loop):
    yield from serve_app(team_loop[0])


@pytest.fixture
def browser():
    yield from chromium_browser()


def until(check, what: str, timeout: float = 60.0):
    """Poll ``check()`` (reading the database) until it is truthy; its value."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > end:
            assert value, f"timed out waiting for {what}"
            return value
        time.sleep(0.3)


def sign_in(browser, base: str, name: str, path: str):
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/auth/signin?next={path}")
    page.fill("#name", name)
    page.fill("#password", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base + path)))
    page.locator('[data-testid="stSidebar"]').get_by_text("Signed in as").wait_for(
        timeout=30_000)
    page.errors = errors
    return page


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    settled(page, timeout=30_000)
    page.screenshot(path=SHOTS / f"{name}-1280x800.png")


def state(root: Path, item_id: int) -> str:
    with Store(root) as s:
        return s.work_state(item_id)


def accept(page) -> None:
    button = page.get_by_role("button", name=re.compile(r"^Accept & next( Shortcut A)?$"))
    button.wait_for(timeout=60_000)
    settled(page, timeout=30_000)
    button.click()


def test_three_people_label_review_and_retrain_in_the_browser(team_loop, served_team,
                                                              browser):
    root, pool, gold = team_loop
    base = served_team
    ana = sign_in(browser, base, "ana", "/review")
    rita = sign_in(browser, base, "rita", "/reviews")
    lea = sign_in(browser, base, "lea", "/models")

    # the annotator accepts the first two images: both wait for review, each with its
    # spot check's draw recorded
    accept(ana)
    until(lambda: state(root, pool[0]) == "submitted", "the first image submitted")
    accept(ana)
    until(lambda: state(root, pool[1]) == "submitted", "the second image submitted")
    with Store(root) as s:
        subs = s.submissions(annotator="ana")
        assert [(x["item_id"], x["kind"], x["sampled"]) for x in subs] == \
            [(pool[0], "first", 1), (pool[1], "first", 1)]
        assert all(0 <= x["draw"] < 1 and x["share"] == 1.0 for x in subs)

    # the reviewer opens the oldest and returns it with a comment on its first box
    rita.reload()
    rita.get_by_role("button", name="Review next").click()
    comment = rita.get_by_role("textbox", name="Comment on box 1")
    comment.wait_for(timeout=60_000)
    comment.fill("box too loose on the left")
    comment.press("Enter")
    settled(rita, timeout=30_000)
    rita.get_by_role("button", name=re.compile(r"^Return( Shortcut X)?$")).click()
    until(lambda: state(root, pool[0]) == "returned", "the image returned")
    with Store(root, actor="lea") as s:
        (c,) = s.comment_rows(pool[0])
        assert c["text"] == "box too loose on the left" and c["box"] is not None
        assert (c["author"], s.work(pool[0])["reviewer"]) == ("rita", "rita")
    shot(rita, "reviewer-queue")

    # the annotator's page hands the returned image back first, with the comment on it
    ana.goto(f"{base}/review")
    ana.get_by_text("box too loose on the left").first.wait_for(timeout=60_000)
    shot(ana, "annotator-returned-with-comment")
    accept(ana)
    until(lambda: state(root, pool[0]) == "submitted", "the fix submitted")
    with Store(root, actor="lea") as s:
        assert s.submissions(item_id=pool[0])[-1]["kind"] == "fix"
        assert s.work(pool[0])["reviewer"] == "rita"  # back to the same reviewer
        assert s.comment_rows(pool[0], open_only=True) == []

    # the reviewer approves both waiting images
    for _ in range(2):
        rita.goto(f"{base}/reviews")
        rita.get_by_role("button", name=re.compile("Review next|Continue")).click()
        approve = rita.get_by_role("button", name=re.compile(r"^Approve( Shortcut A)?$"))
        approve.wait_for(timeout=60_000)
        settled(rita, timeout=30_000)
        approve.click()
        settled(rita, timeout=30_000)
    until(lambda: state(root, pool[0]) == state(root, pool[1]) == "approved",
          "both images approved")

    # a spot check that passes the next submission by, then a gold image served
    with Store(root, actor="lea") as s:
        s.set_workflow_settings(review_share=0.0, gold_rate=1.0)
        s.set_gold([gold])
        gold_version = s.item(gold).label_version
        gold_boxes = [(a.class_id, a.box) for a in s.annotations([gold])[gold]]
    third = until(lambda: ana.evaluate(
        "() => new URL(location.href).searchParams.get('item')"), "the third image open")
    accept(ana)  # the image open now: approved as submitted, unsampled
    until(lambda: state(root, int(third)) == "approved", "the third image approved")
    with Store(root) as s:
        sub = s.submissions(item_id=int(third))[-1]
        assert (sub["sampled"], sub["share"]) == (0, 0.0) and sub["draw"] is not None
    until(lambda: ana.evaluate("() => new URL(location.href).searchParams.get('item')")
          == str(gold), "the gold image opened")
    with Store(root, actor="lea") as s:
        s.set_workflow_settings(review_share=1.0, gold_rate=0.0)
    accept(ana)  # the gold image: scored, its labels untouched
    with Store(root, actor="lea") as s:
        (answer,) = until(lambda: s.gold_answers(), "the gold answer")
        assert answer["annotator"] == "ana" and answer["f1"] == 1.0  # pre-labels = truth
        assert s.item(gold).label_version == gold_version
        assert [(a.class_id, a.box) for a in s.annotations([gold])[gold]] == gold_boxes
    fourth = int(until(lambda: (v := ana.evaluate(
        "() => new URL(location.href).searchParams.get('item')")) not in (None, str(gold))
        and v, "the next image after the gold one"))
    accept(ana)  # left waiting for review: it must not train
    until(lambda: state(root, fourth) == "submitted", "the fourth image submitted")

    # the lead retrains: only approved labels train; then applies the decision
    with Store(root, actor="lea") as s:
        waiting = s.labels_waiting()
        trainable = s.count_items(status="labeled", trainable=True, split="train") + \
            s.count_items(status="labeled", trainable=True, split="val")
        assert waiting == 1
    lea.reload()
    lea.get_by_text("Retrain", exact=True).first.click()
    override = lea.get_by_role("textbox", name="Override (JSON)")
    override.fill('{"epochs": 3}')
    override.press("Control+Enter")
    lea.get_by_role("button", name="Retrain").click()
    with Store(root) as s:  # the job ends (a tiny model trains in seconds)
        job = until(lambda: next((j for j in s.jobs(limit=1) if j["status"] in
                                  ("succeeded", "failed", "cancelled")), None),
                    "the retrain job to end", timeout=300)
        assert (job["kind"], job["status"]) == ("retrain", "succeeded"), job["error"]
        new_model = max(m["id"] for m in s.models())
        metrics = s.model(new_model)["metrics"]
        assert metrics["waiting_for_review"] == 1
        assert metrics["labeled_images"] == trainable  # approved labels only
    lea.get_by_text("No job is running.").wait_for(timeout=60_000)
    lea.goto(f"{base}/compare")
    lea.get_by_role("button", name="Apply: update_model").click()
    lea.get_by_text(re.compile(r"Carried out by")).wait_for(timeout=60_000)
    with Store(root) as s:
        assert s.active_model_id() == new_model

    lea.goto(f"{base}/dashboard")
    lea.get_by_text("ana").first.wait_for(timeout=60_000)
    shot(lea, "lead-dashboard")
    for page in (ana, rita, lea):
        assert page.locator('[data-testid="stException"]').count() == 0
        assert not page.errors, page.errors
