"""The team dashboard's figures (al_core.review.team_stats) on a small team project built
through al_core's own calls, with known submissions, returns, fixes and gold answers:
each figure is the exact number the definitions give, with the count it comes from; the
spot check's unsampled submissions do not count towards the returned share; an
annotator may not read the figures."""
from __future__ import annotations

import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from al_core.permissions import PermissionDenied
from al_core.query.round import QuerySpec, run_query
from al_core.review import team_stats
from al_core.review.reviewing import Comment, decide
from al_core.review.save import submit_review
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.store import Store
from al_core.team import accounts
from al_core.training.split import split_project
from al_core.types import Box, LabeledBox

LEASE = 300


@pytest.fixture(scope="module")
def team_template(_tiny_demo_template, tmp_path_factory) -> Path:
    """The tiny demo with 6 labeled images split, a random selection ``batch`` of 10;
    users lea (lead), ana, bo and cy (annotators), dan (a disabled annotator), rita
    (reviewer)."""
    path = tmp_path_factory.mktemp("team-stats") / "demo"
    shutil.copytree(_tiny_demo_template, path)
    with Store(path) as s:
        label_from_oracle_at_random(s, 6, seed=1)
        split_project(s, seed=1)
        run_query(s, QuerySpec(strategy="random", add=10, random_control=0, tag="batch"))
        accounts.add_user(s, "lea", "lea-password", "lead")
        s.act_as("lea")
        for name, role in (("ana", "annotator"), ("bo", "annotator"), ("cy", "annotator"),
                           ("dan", "annotator"), ("rita", "reviewer")):
            accounts.add_user(s, name, f"{name}-password", role)
        accounts.set_disabled(s, "dan")
    return path


def box(x: float, cls: int) -> LabeledBox:
    return LabeledBox(cls, Box(x, 2.0, x + 10.0, 12.0))


def label(s: Store, who: str, boxes, seconds) -> int:
    """``who`` pulls their next image and submits ``boxes``."""
    s.act_as(who)
    sel = s.selection("batch")
    item_id = s.claim_next(sel.id, who, seconds=LEASE)
    assert item_id is not None
    submit_review(s, item_id, boxes, action="save", selection=sel, seconds=seconds)
    return item_id


@pytest.fixture
def team(team_template, tmp_path):
    """The project after this history (the known answers of the tests below):

    - ana submits A, B, C (5, 7, 30 s; every one reviewed): rita approves A, returns B,
      fixes C (her fix moves one box and adds one: 2 corrections); ana's fix of B (4 s)
      is approved;
    - bo submits two images unreviewed (a review share of 0: approved as submitted; one
      without a time), then one reviewed (9 s) that waits in the queue;
    - G, a train image the demo's oracle labeled, relabeled [k0 box at 2, k1 box at 30],
      is gold: ana answers it
      [k0 at 2, k0 at 30] (F1 1, class accuracy 0.5), bo [k0 at 2] (F1 2/3, class
      accuracy 1);
    - lea hands the batch's four queued images to cy, in tasks of two.
    """
    path = tmp_path / "demo"
    shutil.copytree(team_template, path)
    with Store(path, actor="lea") as s:
        s.work_rng = random.Random(0)
        k0, k1 = (c.id for c in s.classes()[:2])
        s.set_workflow_settings(gold_rate=0.0, review_share=1.0)
        a = label(s, "ana", [box(2, k0)], 5.0)
        b = label(s, "ana", [box(2, k0)], 7.0)
        c = label(s, "ana", [box(2, k0), box(30, k0)], 30.0)
        s.act_as("rita")
        decide(s, a, "approve")
        decide(s, b, "return", comments=[Comment("missed one")])
        decide(s, c, "fix", boxes=[box(2, k0), box(31, k0), box(60, k0)])
        assert label(s, "ana", [box(2, k0), box(40, k0)], 4.0) == b  # the fix
        s.act_as("rita")
        decide(s, b, "approve")
        s.act_as("lea")
        s.set_workflow_settings(review_share=0.0)
        label(s, "bo", [box(5, k0)], 11.0)
        label(s, "bo", [box(5, k0)], None)
        s.act_as("lea")
        s.set_workflow_settings(review_share=1.0)
        waiting = label(s, "bo", [box(5, k0)], 9.0)
        s.act_as("lea")
        gold = next(i.id for i in s.items(split="train", status="labeled")
                    if i.labeled_by == "oracle")  # not ana's or bo's: never served their own
        s.set_labels(gold, [box(2, k0), box(30, k1)], source="human", author="lea")
        s.set_gold([gold])
        s.set_workflow_settings(gold_rate=1.0)
        assert label(s, "ana", [box(2, k0), box(30, k0)], 6.0) == gold
        assert label(s, "bo", [box(2, k0)], 8.0) == gold
        s.act_as("lea")
        s.set_workflow_settings(gold_rate=0.0)
        sel = s.selection("batch")
        s.assign(sel.id, ["cy"], size=2)
        s.history = {"a": a, "b": b, "c": c, "waiting": waiting, "gold": gold}
        yield s


def by_name(rows):
    return {r.annotator: r for r in rows}


def test_each_annotators_figures_are_the_definitions_numbers(team):
    team.act_as("rita")  # a reviewer reads them
    figures = team_stats.annotator_figures(team)
    assert [f.annotator for f in figures] == ["ana", "bo", "cy"]  # dan is disabled
    ana, bo, cy = figures
    assert (ana.images, ana.submissions, ana.timed) == (3, 4, 4)
    assert ana.seconds_per_image == 6.0  # the median of 5, 7, 30 and 4
    assert (ana.returned_first, ana.reviewed_first) == (1, 3)
    assert ana.returned_share == pytest.approx(1 / 3)
    # corrections: 2 (the fix of C) over 3 images decided (A, B twice, C)
    assert (ana.corrections, ana.reviewed_images) == (2, 3)
    assert ana.corrections_per_image == pytest.approx(2 / 3)
    assert (ana.gold_answers, ana.gold_f1, ana.gold_class_accuracy) == (1, 1.0, 0.5)
    # her boxes on C (2, 30) against rita's fix (2, 31, 60): 2 matched, F1 4/5
    assert (ana.fixes, ana.fix_f1) == (1, pytest.approx(0.8))
    # against bo on the gold image: 1 of 2 + 1 boxes matched
    assert (ana.peer_pairs, ana.peer_f1) == (1, pytest.approx(2 / 3))
    assert ana.holds == 0

    assert (bo.images, bo.submissions, bo.timed, bo.seconds_per_image) == (3, 3, 2, 10.0)
    # the two unsampled ones and the undecided one: no error rate yet, from 0 reviews
    assert (bo.returned_share, bo.reviewed_first) == (None, 0)
    assert (bo.corrections_per_image, bo.reviewed_images) == (None, 0)
    assert (bo.gold_answers, bo.gold_f1, bo.gold_class_accuracy) == (
        1, pytest.approx(2 / 3), 1.0)
    assert (bo.peer_pairs, bo.peer_f1, bo.fixes, bo.fix_f1) == (1, pytest.approx(2 / 3),
                                                                0, None)

    assert (cy.images, cy.seconds_per_image, cy.gold_f1, cy.holds) == (0, None, None, 4)


def test_agreement_pairs_gold_answers_and_fixes(team):
    pairs = team_stats.agreement(team)
    assert [(p.kind, p.first, p.second, p.images) for p in pairs] == [
        ("gold", "ana", "bo", 1), ("fix", "ana", "rita", 1)]
    gold, fix = pairs
    assert (gold.f1, gold.class_accuracy, gold.classed) == (pytest.approx(2 / 3), 1.0, 1)
    assert (fix.f1, fix.class_accuracy) == (pytest.approx(0.8), 1.0)


def test_states_per_selection_and_the_review_queue(team):
    (batch,) = team_stats.selection_states(team)
    assert batch.tag == "batch" and batch.total == 10
    assert batch.counts == {"queued": 0, "assigned": 4, "in_progress": 0, "submitted": 1,
                            "in_review": 0, "returned": 0, "approved": 5}
    assert batch.counts == team.work_counts(batch.selection_id)
    later = datetime.now(timezone.utc) + timedelta(hours=5)
    queue = team_stats.review_queue_figures(team, now=later)
    assert (queue.size, queue.submitted, queue.in_review) == (1, 1, 0)
    assert 0 <= queue.oldest_s < 60
    assert len(queue.ages) == 1 and 5 * 3600 <= queue.ages[0] < 5 * 3600 + 60
    assert team_stats.age_histogram(queue.ages) == [
        ("under 1 hour", 0), ("1-4 hours", 0), ("4-24 hours", 1), ("1-3 days", 0),
        ("over 3 days", 0)]


def test_throughput_counts_submissions_and_decisions(team):
    days = team_stats.throughput(team)
    assert sum(d.submitted for d in days) == 7  # ana 4, bo 3; gold answers are not
    assert (sum(d.approved for d in days), sum(d.fixed for d in days),
            sum(d.returned for d in days)) == (2, 1, 1)
    assert all(d.start.tzinfo == timezone.utc and d.start.hour == 0 for d in days)
    with pytest.raises(ValueError, match="week"):
        team_stats.throughput(team, period="week")


class _Activity:
    """A stand-in store holding only activity times (the bucketing alone)."""

    def __init__(self, rows):
        self.rows = rows

    def authorize(self, action):
        assert action == "team_stats"

    def activity_rows(self):
        return self.rows


def test_throughput_buckets_by_day_or_hour_in_the_given_zone():
    rows = [("2026-12-07T22:30:00+00:00", "submitted"), ("2026-12-07T23:10:00+00:00",
                                                          "approve"),
            ("2026-12-08T00:05:00+00:00", "submitted"), ("2026-12-08T00:50:00+00:00", "fix"),
            ("2026-12-08T09:00:00+00:00", "return")]
    utc = team_stats.throughput(_Activity(rows), period="day")
    assert [(d.start.date().isoformat(), d.submitted, d.decided) for d in utc] == [
        ("2026-12-07", 1, 1), ("2026-12-08", 1, 2)]
    plus2 = timezone(timedelta(hours=2))  # 22:30 UTC is the next day there
    local = team_stats.throughput(_Activity(rows), period="day", tz=plus2)
    assert [(d.start.isoformat(), d.submitted, d.approved, d.fixed, d.returned)
            for d in local] == [("2026-12-08T00:00:00+02:00", 2, 1, 1, 1)]
    hours = team_stats.throughput(_Activity(rows), period="hour")
    assert [(d.start.hour, d.submitted, d.decided) for d in hours] == [
        (22, 1, 0), (23, 0, 1), (0, 1, 1), (9, 0, 1)]


def test_gold_images_and_workload(team):
    (gold,) = team_stats.gold_images(team)
    assert (gold.item_id, gold.served, gold.answered) == (team.history["gold"], 2, 2)
    assert gold.f1 == pytest.approx(5 / 6) and gold.class_accuracy == pytest.approx(0.75)
    load = {w.name: w for w in team_stats.workload(team)}
    assert "dan" not in load and set(load) == {"lea", "ana", "bo", "cy", "rita"}
    cy = load["cy"]
    assert (cy.assigned, cy.in_progress, cy.returned, cy.held) == (4, 0, 0, 4)
    assert (load["ana"].held, load["bo"].held) == (0, 0)


@pytest.mark.parametrize("figure", [
    team_stats.annotator_figures, team_stats.agreement, team_stats.selection_states,
    team_stats.review_queue_figures, team_stats.throughput, team_stats.gold_images,
    team_stats.workload])
def test_an_annotator_may_not_read_the_figures(team, figure):
    team.act_as("ana")
    with pytest.raises(PermissionDenied, match="read the team's figures"):
        figure(team)
