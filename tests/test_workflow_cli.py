"""The command line of team mode's review workflow (al_core/cli/work.py): ``workflow``
(show, set), ``assign``, ``unassign``, ``gold add|remove|list`` and ``work``, acting as
``--as NAME`` / ``$ALS_USER``; an annotator's change refused in one line (exit 2), a bad
value named; ``train`` says how many labels wait for review, and refuses a train split
whose labels all wait, for that reason."""
from __future__ import annotations

import json

import pytest

from al_core.cli import main
from al_core.store import Store
from tests.test_waiting_labels import make_team, with_batch


@pytest.fixture
def project(demo_store, monkeypatch):
    """The tiny demo with 6 approved labels split, the selection ``batch`` of 10, lena
    (lead) and ann (annotator), and 3 of ann's labels waiting for review."""
    monkeypatch.delenv("ALS_USER", raising=False)
    with_batch(demo_store, approved=6)
    make_team(demo_store, waiting=3)
    demo_store.close()
    return demo_store.root


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's refusals
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv) -> str:
    """The one-line refusal (exit 2, no traceback) of a command."""
    code, out, err = run(capsys, *argv)
    assert code == 2 and "Traceback" not in err and not out, (code, out, err)
    assert err.strip().splitlines()[-1].startswith(("error:", "python -m al_core")), err
    return err


def ok(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 0, (code, err)
    return out


def queued_ids(root, n: int) -> list[int]:
    with Store(root) as s:
        return [i.item_id for i in s.selection("batch").items
                if s.work_state(i.item_id) == "queued"][:n]


def test_workflow_shows_and_a_lead_sets_the_settings(project, capsys, monkeypatch):
    P = ("--project", project)
    shown = ok(capsys, "workflow", *P)
    assert "review_share   1.0" in shown and "approved_only  yes" in shown
    assert json.loads(ok(capsys, "workflow", "--json", *P))["cap"] == 20
    out = ok(capsys, "workflow", "set", "--review-share", "0.25", "--cap", "5", "--skip-to",
             "me", "--gold-rate", "0.2", "--approved-only", "no", *P, "--as", "lena")
    assert out.splitlines() == ["review_share: 1.0 -> 0.25", "cap: 20 -> 5",
                                "skip_to: pool -> me", "gold_rate: 0.0 -> 0.2",
                                "approved_only: yes -> no"]
    monkeypatch.setenv("ALS_USER", "lena")  # --as by default
    assert ok(capsys, "workflow", "set", "--cap", "5", *P) == "cap: already 5\n"
    with Store(project) as s:
        assert (s.workflow_settings().review_share, s.workflow_settings().approved_only) == \
            (0.25, False)
        assert s.audit_entries(actor="lena", action="workflow.settings")


def test_workflow_refusals_name_the_user_or_the_value(project, capsys):
    P = ("--project", project)
    err = refused(capsys, "workflow", "set", "--cap", "3", *P, "--as", "ann")
    assert "ann is an annotator: only a lead may manage work" in err
    assert "the cap range [1, 10,000]" in refused(capsys, "workflow", "set", "--cap", "0", *P,
                                                   "--as", "lena")
    assert "--review-share: 1.5 is not a number from 0 to 1" in refused(
        capsys, "workflow", "set", "--review-share", "1.5", *P, "--as", "lena")
    assert "--gold-rate: nan is not a number from 0 to 1" in refused(  # nor is NaN
        capsys, "workflow", "set", "--gold-rate", "nan", *P, "--as", "lena")
    assert "invalid choice: 'maybe'" in refused(capsys, "workflow", "set", "--approved-only",
                                                "maybe", *P, "--as", "lena")
    assert "`workflow set --cap ...` changes them" in refused(capsys, "workflow", "--cap",
                                                              "3", *P, "--as", "lena")
    assert "without a setting" in refused(capsys, "workflow", "set", *P, "--as", "lena")
    with Store(project) as s:
        assert s.workflow_settings().cap == 20  # nothing changed


def test_assign_then_unassign_a_selection_s_images(project, capsys):
    P = ("--project", project)
    first, second, third = queued_ids(project, 3)
    out = ok(capsys, "assign", "batch", "--to", "ann", "--size", "2", "--items",
             f"{first},{second},{third}", *P, "--as", "lena")
    assert out.splitlines() == ["task #1: 2 images of batch to ann",
                                "task #2: 1 image of batch to ann",
                                "assigned 3 images in 2 tasks"]
    with Store(project) as s:
        assert [s.work_state(i) for i in (first, second, third)] == ["assigned"] * 3
        assert [t["size"] for t in s.tasks()] == [2, 1]
    out = ok(capsys, "unassign", "--items", f"{first},{second}", *P, "--as", "lena")
    assert out == "2 assigned images back in the pool\n"
    out = ok(capsys, "unassign", "--items", str(first), *P, "--as", "lena")
    assert "1 image of those given was not assigned" in out
    with Store(project) as s:
        assert [s.work_state(i) for i in (first, second, third)] == \
            ["queued", "queued", "assigned"]


def test_assign_refusals_name_the_user_the_image_or_the_value(project, capsys):
    P = ("--project", project)
    first = queued_ids(project, 1)[0]
    assert "ann is an annotator: only a lead may manage work" in refused(
        capsys, "assign", "batch", "--to", "ann", "--size", "2", *P, "--as", "ann")
    assert "'zed' is not an enabled user" in refused(
        capsys, "assign", "batch", "--to", "ann,zed", "--size", "2", *P, "--as", "lena")
    assert "no selection named 'nope' (selections: batch)" in refused(
        capsys, "assign", "nope", "--to", "ann", "--size", "2", *P, "--as", "lena")
    assert "--items: 'x' is not an integer" in refused(
        capsys, "assign", "batch", "--to", "ann", "--size", "2", "--items", f"{first},x", *P,
        "--as", "lena")
    assert "--size: 0 is outside the task size range" in refused(
        capsys, "assign", "batch", "--to", "ann", "--size", "0", *P, "--as", "lena")
    assert "ann is an annotator" in refused(capsys, "unassign", "--items", str(first), *P,
                                            "--as", "ann")
    assert "no item with id 999999" in refused(capsys, "unassign", "--items", "999999", *P,
                                               "--as", "lena")
    with Store(project) as s:
        assert s.tasks() == [] and s.work_state(first) == "queued"


def test_gold_images_added_listed_and_removed_by_a_lead(project, capsys):
    P = ("--project", project)
    with Store(project) as s:
        approved = [i.id for i in s.items(split="train", status="labeled", trainable=True)
                    if s.work(i.id) is None][:2]
        waiting = next(r["item_id"] for r in s.work_rows(["submitted"]))
    ids = ",".join(map(str, approved))
    assert ok(capsys, "gold", "add", ids, *P, "--as", "lena") == "marked 2 gold images\n"
    assert ok(capsys, "gold", "add", str(approved[0]), *P, "--as", "lena") == \
        "marked 0 gold images (1 was already)\n"
    assert json.loads(ok(capsys, "gold", "list", "--json", *P, "--as", "lena")) == \
        sorted(approved)
    # an annotator never learns which images are gold, nor changes them
    assert "only a reviewer or a lead" in refused(capsys, "gold", "list", *P, "--as", "ann")
    assert "only a lead may manage work" in refused(capsys, "gold", "remove", ids, *P,
                                                    "--as", "ann")
    assert f"image #{waiting}'s labels wait for review" in refused(
        capsys, "gold", "add", str(waiting), *P, "--as", "lena")
    assert ok(capsys, "gold", "remove", ids, *P, "--as", "lena") == \
        "unmarked 2 gold images\n"
    assert ok(capsys, "gold", "list", *P, "--as", "lena") == "0 gold images\n"


def test_work_shows_each_selection_s_states_and_the_labels_waiting(project, capsys):
    P = ("--project", project)
    first = queued_ids(project, 1)[0]
    ok(capsys, "assign", "batch", "--to", "ann", "--size", "5", "--items", str(first), *P,
       "--as", "lena")
    data = json.loads(ok(capsys, "work", "--json", *P, "--as", "ann"))  # a read: anyone's
    assert data == {"selections": [{"selection": "batch", "states": {
        "queued": 6, "assigned": 1, "in_progress": 0, "submitted": 3, "in_review": 0,
        "returned": 0, "approved": 0}}], "waiting_for_review": 3}
    lines = ok(capsys, "work", "--selection", "batch", *P).splitlines()
    assert lines[0].split() == ["selection", "queued", "assigned", "in_progress",
                                "submitted", "in_review", "returned", "approved"]
    assert lines[1].split() == ["batch", "6", "1", "0", "3", "0", "0", "0"]
    assert lines[2].startswith("task #1: 1 image of batch to ann")
    assert lines[3] == "3 labeled images wait for review and will not train until approved"
    assert "no selection named 'other'" in refused(capsys, "work", "--selection", "other", *P)


def test_train_says_how_many_labels_wait_and_trains_without_them(project, capsys,
                                                                  monkeypatch):
    from al_core.jobs import runner

    started = []

    def queue_only(store, kind, params, **_):  # no job process: the test reads the row
        started.append(params)
        return store.add_job(kind, params)

    monkeypatch.setattr(runner, "start_job", queue_only)
    code, out, err = run(capsys, "train", "--background", "--project", project, "--as", "lena")
    assert code == 0, err
    assert ("3 labeled images wait for review and will not train until approved, so this "
            "training leaves them out") in err
    with Store(project) as s:
        train = s.count_items(split="train", trainable=True)
        assert train < s.count_items(split="train")
    assert f"training on {train} images" in err
    assert "model #1 training in job 1" in out and started


def test_train_refuses_a_train_split_whose_labels_all_wait(demo_store, capsys, monkeypatch):
    monkeypatch.delenv("ALS_USER", raising=False)
    with_batch(demo_store, approved=0)
    make_team(demo_store, waiting=3)
    root = demo_store.root
    demo_store.close()
    err = refused(capsys, "train", "--project", root, "--as", "lena")
    assert "the train split's 3 labeled images all wait for review" in err
    assert "split the labeled images first" not in err
    with Store(root) as s:
        assert s.models() == [] and s.jobs() == []
