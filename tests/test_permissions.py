"""Team mode's permission checks, in the library: every action of
:data:`al_core.permissions.ACTIONS` tried by every role, by nobody and by a disabled
user, calling al_core directly. An allowed one succeeds and is in the audit log under
the acting user; a refused one raises PermissionDenied and leaves the database exactly
as it was (its whole SQL dump) and no image file behind. Then the hostile cases: another
person's name, a role changed while a Store is open, a job whose requester was demoted."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from al_core.cli import main
from al_core.decide.compare import DEFAULT_COMPARE_CONFIG, parse_compare_config
from al_core.decide.comparison import compare_models
from al_core.decide.promotion import carry_out, roll_back, save_compare_config
from al_core.decide.retrain import start_retrain
from al_core.evaluation.model_eval import evaluate_model
from al_core.formats.coco_import import import_folder
from al_core.formats.export import coco_instances, export_coco
from al_core.jobs import runner
from al_core.permissions import ACTIONS, PERMISSIONS, ROLES, PermissionDenied
from al_core.query.round import QuerySpec, run_query
from al_core.review.external import import_selection
from al_core.review.reviewing import decide
from al_core.review.save import (label_selection_from_oracle, set_project_min_score,
                                 submit_review)
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.store import Store
from al_core.team import accounts
from al_core.training.candidates import create_candidate
from al_core.training.split import split_project
from al_core.types import Box, LabeledBox

NAMES = {"annotator": "ana", "reviewer": "rita", "lead": "lea", "nobody": None,
         "disabled": "dan"}
WHO = [*ROLES, "nobody", "disabled"]


def dump(path: Path) -> list[str]:
    """Every table's rows (and the schema) as SQL text."""
    conn = sqlite3.connect(path / "project.db")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def files(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")
                  if p.is_file() and "project.db" not in p.name)


@pytest.fixture(scope="module")
def team_template(_tiny_demo_template, tmp_path_factory) -> Path:
    """The tiny demo in team mode: lea and max (leads), rita (reviewer), ana
    (annotator), dan (annotator, disabled); a selection ``batch``, two external models
    with predictions on the test split (#1, #2), a model with a checkpoint on record
    (#3, no file: nothing loads it) compared against none, and a queued job."""
    root = tmp_path_factory.mktemp("team")
    path = root / "demo"
    shutil.copytree(_tiny_demo_template, path)
    incoming = root / "incoming"
    incoming.mkdir()
    rng = np.random.default_rng(0)
    for n in range(2):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(
            incoming / f"new-{n}.png")
    with Store(path) as s:  # single-user mode while it is set up
        label_from_oracle_at_random(s, 6, seed=1)
        split_project(s, seed=1)
        run_query(s, QuerySpec(strategy="random", add=4, random_control=0, tag="batch"))
        test_ids, _ = s.test_set_identity()
        truth = s.oracle_boxes(test_ids)
        for k in range(2):
            model = s.add_model(name=f"external-{k}", arch="external", status="external")
            s.add_predictions(model, [(i, b.class_id, b.box, 0.9 - 0.3 * k)
                                      for i in test_ids for b in truth[i][:2 + k]])
        trained = s.add_model(name="trained", arch="compact", status="trained")
        s.update_model(trained, checkpoint_path="models/model-3.pt")
        s.save_comparison(new_model_id=trained, old_model_id=None, config={},
                          test_set_hash="x", per_class=[], decision="update_model",
                          reason="the first model", decided_by="lea")
        s.add_job("train", {"model_id": trained})
        accounts.add_user(s, "lea", "lea-password", "lead")
        s.act_as("lea")
        for name, role in (("max", "lead"), ("rita", "reviewer"), ("ana", "annotator"),
                           ("dan", "annotator")):
            accounts.add_user(s, name, f"{name}-password", role)
        accounts.set_disabled(s, "dan")
        s.act_as("ana")  # one image submitted for review (team mode's workflow)
        box = LabeledBox(s.classes()[0].id, Box(2.0, 2.0, 20.0, 20.0))
        submit_review(s, _unlabeled_in_batch(s), [box], action="save",
                      selection=s.selection("batch"))
    return path


@pytest.fixture
def project(team_template, tmp_path) -> Path:
    path = tmp_path / "demo"
    shutil.copytree(team_template, path)
    return path


@pytest.fixture
def incoming(team_template) -> Path:
    return team_template.parent / "incoming"


def _unlabeled_in_batch(store: Store) -> int:
    ids = [i.item_id for i in store.selection("batch").items]
    return store.items(ids=ids, status="unlabeled")[0].id


def _label(store: Store, _) -> None:
    box = LabeledBox(store.classes()[0].id, Box(2.0, 2.0, 20.0, 20.0))
    submit_review(store, _unlabeled_in_batch(store), [box], author=store.actor_name,
                  action="save", selection=store.selection("batch"))


def _read_audit(store: Store, _) -> None:
    argv = ["audit", "--project", str(store.root)]
    if main(argv + (["--as", store.actor_name] if store.actor_name else [])) != 0:
        raise PermissionDenied("the audit command was refused")


def _compare(store: Store, _) -> None:
    compare_models(store, 2, 1, parse_compare_config(DEFAULT_COMPARE_CONFIG),
                   raw_config=DEFAULT_COMPARE_CONFIG)


OPERATIONS = {
    "label": _label,
    "export": lambda store, _: coco_instances(store),
    "evaluate": lambda store, _: evaluate_model(store, 1),
    "import": lambda store, incoming: import_folder(store, incoming),
    "split": lambda store, _: split_project(store, seed=2, resplit=True),
    "query": lambda store, _: run_query(store, QuerySpec(strategy="random", add=2,
                                                         random_control=0, tag="next")),
    "train": lambda store, _: create_candidate(store, fit_to_data=False),
    "compare": _compare,
    "decide": lambda store, _: save_compare_config(store, {**DEFAULT_COMPARE_CONFIG,
                                                           "min_map_gain": 0.01}),
    "cancel_job": lambda store, _: runner.cancel_job(store, 1),
    "manage_users": lambda store, _: accounts.set_role(store, "ana", "reviewer"),
    "read_audit": _read_audit,
    "review": lambda store, _: decide(store, store.work_rows(("submitted",))[0]["item_id"],
                                      "approve"),
    "team_stats": lambda store, _: store.gold_answers(),
    "manage_work": lambda store, _: store.set_workflow_settings(cap=5),
}
READS = ("read_audit", "team_stats")  # reading is not a change: no audit row


def test_every_action_has_an_operation_here():
    assert set(OPERATIONS) == set(ACTIONS)
    assert set(runner.KIND_ACTIONS) == set(runner.JOB_KINDS)
    assert set(runner.KIND_ACTIONS.values()) <= set(ACTIONS)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_action_is_allowed_or_refused_by_the_role(project, incoming, action, who,
                                                        monkeypatch, capsys):
    monkeypatch.delenv("ALS_USER", raising=False)
    name = NAMES[who]
    before, before_files = dump(project), files(project)
    may = who in ROLES and who in PERMISSIONS[action]
    with Store(project, actor=name) as store:
        last = store.audit_entries(limit=1)[0].id
        if may:
            OPERATIONS[action](store, incoming)
            if action not in READS:  # reading is not a change
                new = [e for e in store.audit_entries() if e.id > last]
                assert new and {e.actor for e in new} == {name}, new
        else:
            with pytest.raises(PermissionDenied):
                OPERATIONS[action](store, incoming)
    if not may:
        assert dump(project) == before, f"{who} was refused {action} but the database changed"
        assert files(project) == before_files
        err = capsys.readouterr().err
        assert "Traceback" not in err


# -- hostile cases ---------------------------------------------------------------------

def test_a_disabled_user_cannot_even_hold_an_image(project):
    with Store(project, actor="dan") as store:
        item = _unlabeled_in_batch(store)
        with pytest.raises(PermissionDenied, match="dan.*disabled"):
            store.claim(item, "dan", seconds=60)
        assert store.holder(item) is None


def test_a_role_changed_mid_session_counts_at_the_next_call(project):
    with Store(project, actor="rita") as rita, Store(project, actor="lea") as lea:
        coco_instances(rita)  # a reviewer may export
        accounts.set_role(lea, "rita", "annotator")
        before = dump(project)
        with pytest.raises(PermissionDenied, match="rita is an annotator"):
            coco_instances(rita)
        assert dump(project) == before
        accounts.set_disabled(lea, "rita")
        with pytest.raises(PermissionDenied, match="disabled"):
            _label(rita, None)


def test_an_unknown_name_given_to_as_is_refused(project, capsys):
    before = dump(project)
    assert main(["split", "--project", str(project), "--as", "mallory"]) == 2
    err = capsys.readouterr().err
    assert "'mallory' is not a user of this project" in err and "Traceback" not in err
    with Store(project, actor="mallory") as store, pytest.raises(PermissionDenied):
        _label(store, None)
    assert dump(project) == before


def test_a_changing_command_without_as_is_refused_in_team_mode(project, capsys,
                                                               monkeypatch):
    monkeypatch.delenv("ALS_USER", raising=False)
    before = dump(project)
    assert main(["split", "--project", str(project)]) == 2
    err = capsys.readouterr().err
    assert "--as NAME" in err and "Traceback" not in err
    assert dump(project) == before
    monkeypatch.setenv("ALS_USER", "lea")  # the default of --as
    assert main(["split", "--project", str(project)]) == 0
    with Store(project) as store:
        assert store.audit_entries(limit=1)[0].actor == "lea"


def test_an_annotator_cannot_save_under_another_name(project):
    with Store(project, actor="ana") as store:
        item = _unlabeled_in_batch(store)
        box = LabeledBox(store.classes()[0].id, Box(2.0, 2.0, 20.0, 20.0))
        before = dump(project)
        for author in ("lea", " rita "):
            with pytest.raises(PermissionDenied, match="ana is acting"):
                submit_review(store, item, [box], author=author, action="save")
        with pytest.raises(PermissionDenied):  # the oracle's name is the demo's, not hers
            submit_review(store, item, [box], author="lea", action="oracle")
        with pytest.raises(PermissionDenied, match="import"):  # nor an import's
            submit_review(store, item, [box], author="import:x.json", action="import")
        assert dump(project) == before
        # her own name, spelled loosely, or none at all: saved as ana
        submit_review(store, item, [box], author=" ana ", action="save")
        assert store.reviews(item_id=item)[-1]["author"] == "ana"
        other = _unlabeled_in_batch(store)
        submit_review(store, other, [box], action="accept")
        assert store.reviews(item_id=other)[-1]["author"] == "ana"


def test_leases_skips_and_settings_are_only_ones_own(project):
    with Store(project, actor="ana") as store:
        item = _unlabeled_in_batch(store)
        sel = store.selection("batch")
        before = dump(project)
        with pytest.raises(PermissionDenied, match="ana is acting"):
            store.claim(item, "lea", seconds=60)
        with pytest.raises(PermissionDenied):
            store.claim_next(sel.id, "lea", seconds=60)
        with pytest.raises(PermissionDenied):
            store.claim_many([item], "lea", seconds=60)
        with pytest.raises(PermissionDenied):
            store.skip(item, "lea", selection_id=sel.id)
        with pytest.raises(PermissionDenied):
            store.release(item, "lea")
        with pytest.raises(PermissionDenied):
            store.set_user_setting("lea", "min_score", "0.9")
        assert dump(project) == before
        assert store.claim(item, "ana", seconds=60) is None
        store.set_user_setting("ana", "min_score", "0.4")
        store.skip(item, "ana", selection_id=sel.id)
        assert store.audit_entries(limit=1)[0].action == "review.skip"
    with Store(project) as nobody, pytest.raises(PermissionDenied, match="needs a project user"):
        nobody.claim(item, "ana", seconds=60)


def test_project_settings_and_decisions_need_a_lead(project):
    with Store(project, actor="rita") as store:
        before = dump(project)
        with pytest.raises(PermissionDenied, match="rita is a reviewer"):
            set_project_min_score(store, 0.5)
        with pytest.raises(PermissionDenied):
            carry_out(store, 1, decided_by="rita")
        with pytest.raises(PermissionDenied):
            roll_back(store, 3, decided_by="rita", why="better")
        assert dump(project) == before
        export_coco(store, project.parent / "batch.json", selection="batch")  # hers to do
    with Store(project, actor="ana") as store:
        with pytest.raises(PermissionDenied):  # no export for an annotator, to a file
            export_coco(store, project.parent / "out.json")
        assert not (project.parent / "out.json").exists()
        # the demo's oracle labels are hers to ask for ("label"): authored "oracle", and
        # she is in the audit log
        assert label_selection_from_oracle(store, "batch") == 3  # one was submitted
        assert {r["author"] for r in store.reviews(selection_id=1)} == {"oracle", "ana"}
        entry = store.audit_entries(limit=1)[0]
        assert (entry.action, entry.actor) == ("label.oracle", "ana")
    with Store(project, actor="lea") as store:
        before = dump(project)
        with pytest.raises(PermissionDenied, match="lea is acting"):  # in her name only
            carry_out(store, 1, decided_by="max")
        assert dump(project) == before
        assert carry_out(store, 1, decided_by=None) == "update_model"
        assert store.model_decisions(3)[0]["decided_by"] == "lea"
        entry = store.audit_entries(limit=1)[0]
        assert (entry.action, entry.actor) == ("decision.carry_out", "lea")
        assert json.loads(entry.after)["active_model"] == 3
        set_project_min_score(store, 0.5)
        assert store.get_meta("review_min_score") == "0.5"


def test_a_corrected_selection_is_a_leads_import_in_her_own_name(project, tmp_path):
    coco = tmp_path / "batch.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    with Store(project, actor="rita") as store:
        before = dump(project)
        with pytest.raises(PermissionDenied, match="rita is a reviewer"):
            import_selection(store, "batch", coco)
        assert dump(project) == before
    with Store(project, actor="lea") as store:
        before = dump(project)
        with pytest.raises(PermissionDenied, match="lea is acting"):
            import_selection(store, "batch", coco, author="rita")
        assert dump(project) == before


# -- jobs act as their requester -------------------------------------------------------

class _NoProcess:
    """subprocess.Popen standing in for the job's process: nothing is started."""

    def __init__(self, *args, **kwargs) -> None:
        self.pid = os.getpid()

    def wait(self) -> int:
        return 0


def test_a_job_is_refused_at_start_and_records_its_requester(project, monkeypatch):
    monkeypatch.setattr(subprocess, "Popen", _NoProcess)
    with Store(project) as store:  # no train split: the refusal comes before that error
        store.set_splits({i.id: None for i in store.items(split="train")})
    with Store(project, actor="rita") as store:
        before = dump(project)
        with pytest.raises(PermissionDenied, match="rita is a reviewer"):
            runner.start_job(store, "predict", {"model_id": 3, "item_ids": [1]})
        with pytest.raises(PermissionDenied):
            start_retrain(store)
        assert dump(project) == before
    with Store(project, actor="lea") as store:
        with pytest.raises(PermissionDenied, match="decided_by"):
            runner.start_job(store, "compare", {"new_model_id": 2, "config": {},
                                                "decided_by": "max"})
        job = runner.start_job(store, "compare", {"new_model_id": 2, "config": {},
                                                  "decided_by": None})
        row = store.job(job)
        assert row["requested_by"] == "lea" and row["params"]["decided_by"] == "lea"
        assert store.audit_entries(limit=1)[0].action == "job.start"


def test_a_job_runs_as_its_requester_as_they_are_now(project, monkeypatch):
    monkeypatch.setattr(subprocess, "Popen", _NoProcess)
    seen = []
    monkeypatch.setitem(runner.KINDS, "predict",  # checks nothing itself
                        lambda store, job_id, params, reporter: seen.append(
                            store.actor_name))
    with Store(project, actor="max") as store:
        first = runner.start_job(store, "predict", {"model_id": 3, "item_ids": []})
        second = runner.start_job(store, "predict", {"model_id": 3, "item_ids": []})
    with Store(project) as job_store:  # as run-job opens it: nobody, until it reads the row
        assert runner.run_job(job_store, first, poll_s=0.01) == "succeeded"
    assert seen == ["max"]
    with Store(project, actor="lea") as lea:
        accounts.set_role(lea, "max", "reviewer")  # demoted while the second waits
    with Store(project) as job_store:
        assert runner.run_job(job_store, second, poll_s=0.01) == "failed"
        error = job_store.job(second)["error"]
    assert seen == ["max"] and error.startswith("refused: max is a reviewer")
