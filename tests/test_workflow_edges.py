"""Edge cases of team mode's review workflow found in review (issue 28): ways around the
spot check, abandoned holds, the reviewer a fix goes back to, gold images in a resplit
and in annotators' reads, labels written outside the workflow (imports, the demo's
oracle) and a retrain reading labels while people change them."""
from __future__ import annotations

import json
import random

import pytest

from al_core import clock
from al_core.formats.coco_import import import_folder
from al_core.permissions import PermissionDenied
from al_core.review.reviewing import (Comment, comments, decide, decisions, release_review,
                                      review_queue, start_review)
from al_core.review.save import HeldError, submit_review
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.store import Store
from al_core.training.data import load_split
from al_core.training.split import split_project
from tests.test_workflow import LEASE, box, label_next, team, workflow_template  # noqa: F401


class Draws(random.Random):
    """A work_rng whose ``random()`` answers the given draws in turn."""

    def __init__(self, draws):
        super().__init__(0)
        self.draws = list(draws)

    def random(self):
        return self.draws.pop(0)


def _later(monkeypatch, seconds: float = LEASE + 10) -> None:
    """Every lease taken so far runs out."""
    at = clock.monotonic() + seconds
    monkeypatch.setattr(clock, "monotonic", lambda: at)


# -- the spot check ----------------------------------------------------------------------
def test_taking_back_a_sampled_submission_does_not_draw_the_spot_check_again(team):
    team.set_workflow_settings(gold_rate=0.0, review_share=0.5)
    team.work_rng = Draws([0.1, 0.9])  # sampled, then (a second draw) not sampled
    item_id = label_next(team, "ana")
    assert team.work_state(item_id) == "submitted"
    assert team.claim(item_id, "ana", seconds=LEASE) is None  # taken back before review
    submit_review(team, item_id, [box(5.0, store=team)], action="save",
                  selection=team.selection("batch"))
    # still waiting for review: a re-roll would let an annotator dodge every spot check
    assert team.work_state(item_id) == "submitted"
    first, again = team.submissions(item_id=item_id)
    assert (again["sampled"], again["draw"], again["kind"]) == (1, first["draw"], "first")



# -- abandoned holds ---------------------------------------------------------------------
def test_an_approved_image_left_open_still_trains_and_goes_back_when_its_lease_ends(
        team, monkeypatch):
    team.set_workflow_settings(gold_rate=0.0, cap=1)
    item_id = label_next(team, "ana")
    team.act_as("rita")
    decide(team, item_id, "approve")
    split = team.item(item_id).split
    team.act_as("bo")
    assert team.claim(item_id, "bo", seconds=LEASE) is None  # opened (to look), tab closed
    # its labels are still the approved ones: they train, and wait for nobody
    assert item_id in [i.id for i in team.items(split=split, trainable=True)]
    assert team.labels_waiting() == 0
    _later(monkeypatch)
    assert team.held_count("bo") == 0  # not bo's once the lease ran out
    team.act_as("ana")
    assert team.claim(item_id, "ana", seconds=LEASE) is None  # back to approved, then ana
    assert team.work(item_id)["annotator"] == "ana"
    team.release(item_id, "ana")
    assert team.work_state(item_id) == "approved"



# -- the reviewer a fix goes back to -----------------------------------------------------
def _returned_and_fixed(team) -> int:
    item_id = label_next(team, "ana")
    team.act_as("rita")
    decide(team, item_id, "return", comments=[Comment("redo")])
    team.act_as("ana")
    submit_review(team, item_id, [box(7.0, store=team)], action="save",
                  selection=team.selection("batch"))
    assert team.work(item_id)["reviewer"] == "rita"
    return item_id


def test_a_lead_who_opens_a_fix_and_leaves_it_does_not_take_it_from_its_reviewer(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = _returned_and_fixed(team)
    team.act_as("lea")
    start_review(team, item_id)
    release_review(team, item_id)
    assert team.work(item_id)["reviewer"] == "rita"
    team.act_as("rita")
    assert item_id in [r["item_id"] for r in review_queue(team)]
    start_review(team, item_id)


def test_another_reviewer_cannot_take_a_fix_whose_reviewer_left_it_open(team, monkeypatch):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = _returned_and_fixed(team)
    team.act_as("rita")
    start_review(team, item_id)
    _later(monkeypatch)
    team.act_as("ron")
    assert item_id not in [r["item_id"] for r in review_queue(team)]
    with pytest.raises(HeldError, match="rita"):
        start_review(team, item_id)
    assert team.work_state(item_id) == "in_review"
    team.act_as("rita")
    decide(team, item_id, "approve")
    assert team.work_state(item_id) == "approved"


def test_a_later_edit_of_a_once_returned_image_is_any_reviewers(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = _returned_and_fixed(team)
    team.act_as("rita")
    decide(team, item_id, "approve")
    team.act_as("ana")  # changes the approved labels again: a new submission, not a fix
    assert team.claim(item_id, "ana", seconds=LEASE) is None
    submit_review(team, item_id, [box(9.0, store=team)], action="save",
                  selection=team.selection("batch"))
    team.act_as("ron")
    start_review(team, item_id)
    release_review(team, item_id)
    assert team.work(item_id)["reviewer"] is None
    team.act_as("rita")
    assert item_id in [r["item_id"] for r in review_queue(team)]



# -- gold images -------------------------------------------------------------------------
def test_a_resplit_deals_gold_images_to_train_and_val_only(team):
    gold = [i.id for i in team.items(status="labeled") if i.split != "test"]
    team.set_gold(gold)
    from al_core.training.split import parse_distribution
    split_project(team, distribution=parse_distribution("0/0/1"), resplit=True)
    assert {team.item(i).split for i in gold} <= {"train", "val"}
    assert team.count_items(split="test") > 0


def test_an_unmarked_gold_image_is_saved_as_labels_again(team):
    gold = team.items(split="train", status="labeled")[0].id
    team.set_gold([gold])
    team.set_workflow_settings(gold_rate=1.0)
    sel = team.selection("batch")
    team.act_as("ana")
    assert team.claim_next(sel.id, "ana", seconds=LEASE) == gold
    team.act_as("lea")
    team.set_gold([gold], False)
    team.act_as("ana")  # an approved image like any other now: her change is a submission
    assert team.claim(gold, "ana", seconds=LEASE) is None
    result = submit_review(team, gold, [box(3.0, store=team)], action="save", selection=sel)
    assert team.work_state(gold) == "submitted"
    assert [a.box.x1 for a in team.annotations([gold])[gold]] == [3.0]
    assert result.label_version == team.item(gold).label_version


def test_an_annotator_is_never_served_a_gold_image_they_labeled_first(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = label_next(team, "ana")
    team.act_as("rita")
    decide(team, item_id, "fix", boxes=[box(4.0, store=team)])  # now labeled_by rita
    team.act_as("lea")
    team.set_gold([item_id])
    assert item_id not in team.gold_candidates("ana")
    assert item_id in team.gold_candidates("bo")


def test_an_annotator_reads_no_trace_of_a_gold_answer(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = label_next(team, "ana", [box(2.0, store=team), box(30.0, store=team)])
    team.act_as("rita")
    decide(team, item_id, "return", comments=[Comment("the second box is a 7",
                                                      box_index=1)])
    team.act_as("ana")
    submit_review(team, item_id, [box(2.0, store=team)], action="save",
                  selection=team.selection("batch"))
    team.act_as("rita")
    decide(team, item_id, "fix", boxes=[box(2.0, store=team), box(33.0, store=team)])
    team.act_as("lea")
    team.set_gold([item_id])
    team.act_as("bo")
    with pytest.raises(PermissionDenied):  # a fix's boxes are the gold answer here
        team.fix_boxes()
    with pytest.raises(PermissionDenied):
        team.gold_rows()
    assert team.reviews(item_id=item_id) == []  # box counts of the answer
    assert decisions(team, item_id) == []
    team.act_as("ana")  # her own image once, gold now: its comments point at the answer
    assert comments(team, item_id) == []



# -- labels written outside the workflow -------------------------------------------------
def _released(team) -> int:
    """An unlabeled image of ``batch`` that ana opened and released: it has a row."""
    sel = team.selection("batch")
    team.act_as("ana")
    item_id = team.claim_next(sel.id, "ana", seconds=LEASE)
    team.release(item_id, "ana")
    assert team.work(item_id) is not None and team.work_state(item_id) == "queued"
    return item_id


def test_a_leads_coco_import_approves_the_images_it_labels(team, tmp_path):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = _released(team)
    item = team.item(item_id)
    name = team.classes()[0].name
    coco = {"images": [{"id": 1, "file_name": item.file, "width": item.width,
                        "height": item.height}],
            "categories": [{"id": 1, "name": name}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 6, 6]}]}
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(coco))
    team.act_as("lea")
    report = import_folder(team, team.images_dir, coco=path)
    assert report.items_updated == 1
    assert team.item(item_id).status == "labeled"
    assert team.work_state(item_id) == "approved"  # a lead's import: approved as written
    assert team.labels_waiting() == 0
    team.act_as("bo")  # and no longer served as pool work
    assert item_id not in team.review_queue(team.selection("batch").id, "bo")


def test_the_demos_oracle_approves_the_images_it_labels(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = _released(team)
    team.act_as("lea")
    unlabeled = team.count_items(status="unlabeled")
    label_from_oracle_at_random(team, unlabeled, seed=0)
    assert team.work_state(item_id) == "approved" and team.labels_waiting() == 0


def test_an_oracle_save_in_team_mode_writes_only_the_hidden_ground_truth(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = label_next(team, "ana")  # submitted, waiting for review
    team.act_as("bo")
    with pytest.raises(PermissionDenied, match="ground truth"):
        submit_review(team, item_id, [box(50.0, store=team)], author="oracle",
                      action="oracle")
    assert team.work_state(item_id) == "submitted"



# -- a retrain reading labels while people change them ---------------------------------
def test_a_training_reads_the_labels_it_selected_in_one_snapshot(team, monkeypatch):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = label_next(team, "ana")
    team.act_as("rita")
    decide(team, item_id, "approve")
    split = team.item(item_id).split
    approved = [(a.class_id, a.box) for a in team.annotations([item_id])[item_id]]
    team.act_as("lea")
    other = Store(team.root, actor="ana")
    real_items = Store.items

    def items_then_a_save(self, **kw):  # ana saves new labels right after the selection
        out = real_items(self, **kw)
        if kw.get("trainable") and other.work_state(item_id) == "approved":
            assert other.claim(item_id, "ana", seconds=LEASE) is None
            submit_review(other, item_id, [box(44.0, store=other)], action="save",
                          selection=other.selection("batch"))
        return out

    monkeypatch.setattr(Store, "items", items_then_a_save)
    index = {c.id: k for k, c in enumerate(team.classes())}
    data = load_split(team, split, image_size=32, class_index=index)
    other.close()
    k = data.item_ids.index(item_id)
    boxes = data.targets[k]["boxes"] / data.scales[k]
    assert [round(float(v), 3) for v in boxes[0]] == \
        [round(v, 3) for v in approved[0][1].as_list()]


# -- what a refusal says, and a lease from before team mode ------------------------------
def test_a_save_on_someone_elses_image_says_whose_it_is_and_why(team):
    team.set_workflow_settings(gold_rate=0.0)
    sel = team.selection("batch")
    item_id = label_next(team, "ana")
    team.act_as("bo")
    with pytest.raises(HeldError) as said:
        submit_review(team, item_id, [box(store=team)], action="save", selection=sel)
    assert "submitted by ana" in str(said.value) and "waits for review" in str(said.value)
    team.act_as("lea")
    other = next(i.item_id for i in sel.items if team.work(i.item_id) is None)
    team.assign(sel.id, ["ana"], size=1, item_ids=[other])
    team.act_as("bo")
    with pytest.raises(HeldError, match="assigned to ana"):
        submit_review(team, other, [box(store=team)], action="save", selection=sel)


def test_an_image_under_another_persons_lease_is_not_opened_for_me(team):
    team.set_workflow_settings(gold_rate=0.0)
    item_id = team.selection("batch").items[0].item_id
    team._claim(item_id, "ana", seconds=LEASE)  # a lease with no workflow row (as one
    team.act_as("bo")                           # taken before team mode was turned on)
    assert team.claim(item_id, "bo", seconds=LEASE) == "ana"
    assert team.work(item_id) is None or team.work_state(item_id) == "queued"


def test_gold_images_are_served_to_annotators_only(team):
    """A reviewer or a lead reads the gold list and every gold answer: a gold image
    served to them would be scored with the answer in plain sight."""
    gold = team.items(split="train", status="labeled")[0].id
    team.set_gold([gold])
    team.set_workflow_settings(gold_rate=1.0)
    sel = team.selection("batch")
    for who in ("rita", "lea"):
        team.act_as(who)
        served = team.claim_next(sel.id, who, seconds=LEASE)
        assert served != gold and not team.gold_served(gold, who)
        team.release(served, who)
    team.act_as("ana")
    assert team.claim_next(sel.id, "ana", seconds=LEASE) == gold


def test_box_level_thresholds_are_the_same_whoever_opens_the_review_page(team):
    """The Review page computes (and stores, for everyone) the auto-accept thresholds as
    whoever opened it: an annotator's reads hide a gold image's boxes, so a gold image in
    val made the model's right boxes on it count as wrong."""
    from al_core.review.auto_accept import class_thresholds
    val = [i for i in team.items(status="labeled") if i.split != "test"][:3]
    team.set_splits({i.id: "val" for i in val})
    model = team.add_model(name="stand-in", arch="external", status="external")
    truth = team.annotations([i.id for i in val])
    team.add_predictions(model, [(i, a.class_id, a.box, 0.9) for i in truth
                                 for a in truth[i]])
    team.set_gold([val[0].id])
    as_lead = class_thresholds(team, model, min_support=1)
    team.act_as("ana")
    assert class_thresholds(team, model, min_support=1) == as_lead


def test_the_label_history_keeps_a_gold_images_boxes_whoever_writes_over_them(team):
    gold = team.items(split="train", status="labeled")[0].id
    team.set_labels(gold, [box(3.0, store=team)], source="human", author="lea")
    team.set_gold([gold])
    team.act_as("ana")  # the demo's oracle, run by an annotator
    submit_review(team, gold, team.oracle_boxes([gold])[gold], author="oracle",
                  action="oracle")
    team.act_as("lea")
    assert [b[1] for b in team.label_history(gold)[-1]["before"]] == [3.0]
