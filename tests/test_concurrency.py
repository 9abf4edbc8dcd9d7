"""Several processes writing one project at once: saves queue instead of failing, no
update is lost, and a long import never stops a running training."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from al_core.store import Store
from al_core.types import Box, LabeledBox

PROCESSES, SAVES = 6, 40
ROOT = Path(__file__).resolve().parent.parent


def _boxes(writer: int, save: int) -> list[LabeledBox]:
    """A label set that names who saved it and when: the history can be checked."""
    return [LabeledBox(1, Box(writer, save, writer + 10.0, save + 10.0)),
            LabeledBox(2, Box(0, 0, 5.0 + writer, 5.0 + save))]


def _save_many(root: str, writer: int, item_ids: list[int]) -> None:
    with Store(root) as store:
        for save in range(SAVES):
            item = item_ids[save % len(item_ids)]
            store.set_labels(item, _boxes(writer, save), source="human",
                             author=f"annotator-{writer}", reason=f"save {save}")


def _import(root: str, folder: str) -> None:
    from al_core.formats.coco_import import ImportFailed, import_folder

    with Store(root) as store:
        try:
            import_folder(store, folder)
        except ImportFailed as exc:  # the loser is told to import again: allowed
            if "another import added" not in str(exc):
                raise


def _run_together(calls: list[str], go: Path) -> list[str]:
    """Run each ``tests.test_concurrency`` call in its own Python process (plain
    subprocesses: multiprocessing's spawn would re-run whatever ``__main__`` an earlier
    test left, e.g. app.py), all released at once by ``go`` appearing; returns the
    stderr of those that failed."""
    wait = ("import time, pathlib\n"
            f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.01)\n")
    procs = [subprocess.Popen(
        [sys.executable, "-c",
         wait + f"from tests.test_concurrency import _import, _save_many\n{call}"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True) for call in calls]
    time.sleep(2.0)  # every process imported and waiting: they start together
    go.touch()
    failed = []
    for p in procs:
        _, err = p.communicate(timeout=180)
        if p.returncode:
            failed.append(err[-2000:])
    return failed


def _as_lists(boxes) -> list[list[float]]:
    return [[b.class_id, *b.box.as_list()] for b in boxes]


def _check_history(store: Store, item_id: int, saves: int) -> None:
    """Versions 1..n in order, each change's 'before' the previous one's 'after', and
    the labels stored now the last change's 'after': nothing lost, nothing forked."""
    history = store.label_history(item_id)
    assert len(history) == saves
    assert [h["label_version"] for h in history] == list(range(1, saves + 1))
    assert history[0]["before"] == []
    for prev, cur in zip(history, history[1:]):
        assert cur["before"] == prev["after"], (item_id, cur["label_version"])
    assert store.item(item_id).label_version == saves
    assert _as_lists(store.annotations([item_id])[item_id]) == history[-1]["after"]


@pytest.mark.slow
@pytest.mark.parametrize("shared", [True, False], ids=["4 shared items", "separate items"])
def test_six_processes_saving_40_times_each_queue_and_lose_nothing(demo_store, shared):
    pool = [i.id for i in demo_store.items(status="unlabeled")]
    assert {1, 2} <= {c.id for c in demo_store.classes()}  # the classes _boxes uses
    if shared:
        plan = {w: pool[:4] for w in range(PROCESSES)}
    else:
        plan = {w: [pool[w]] for w in range(PROCESSES)}
    root = demo_store.root
    demo_store.close()
    calls = [f"_save_many({str(root)!r}, {w}, {items!r})" for w, items in plan.items()]
    assert _run_together(calls, root.parent / "go") == []
    with Store(root) as store:
        items = sorted({i for ids in plan.values() for i in ids})
        per_item = PROCESSES * SAVES // len(items)
        for item in items:
            _check_history(store, item, per_item)
        # every save of every writer is in the history exactly once
        saved = [(h["author"], h["reason"]) for item in items
                 for h in store.label_history(item)]
        assert sorted(saved) == sorted((f"annotator-{w}", f"save {s}")
                                       for w in range(PROCESSES) for s in range(SAVES))


@pytest.mark.slow
def test_a_long_import_beside_a_training_lets_the_training_finish(demo_store, tmp_path):
    """A 20,000-image import once held the database for seconds in one transaction and a
    running training's progress write failed with 'database is locked'. The import here
    runs while the training job runs; both finish, the training succeeds."""
    from al_core.formats.coco_import import import_folder
    from al_core.jobs import runner as jobs
    from al_core.simulation.demo import label_from_oracle_at_random
    from al_core.training.candidates import create_candidate
    from al_core.training.split import split_project
    from tests.datasets import write_dataset

    label_from_oracle_at_random(demo_store, 24, seed=0)
    split_project(demo_store, seed=0)
    folder = tmp_path / "incoming"
    write_dataset(folder, n=1500, seed=1, nested=False)
    model = create_candidate(demo_store, override={"epochs": 30, "patience": 30, "batch_size": 4, "width": 4})
    job = jobs.start_job(demo_store, "train", {"model_id": model})
    deadline = time.monotonic() + 120
    while demo_store.job(job)["status"] != "running":
        assert time.monotonic() < deadline, demo_store.job(job)
        time.sleep(0.1)
    before = demo_store.count_items()
    report = import_folder(demo_store, folder)
    assert demo_store.job(job)["status"] == "running"  # the import ran beside it throughout
    row = jobs.wait_for(demo_store, job, poll_s=0.2)
    assert row["status"] == "succeeded", row["error"]
    assert demo_store.model(model)["status"] == "active"  # the first model: made active
    assert demo_store.count_items() == before + 1500, report
    assert os.path.exists(demo_store.root / demo_store.model(model)["checkpoint_path"])


@pytest.mark.slow
def test_two_imports_of_one_folder_at_once_leave_every_items_file_whole(store, tmp_path):
    """The loser of two concurrent imports once rolled back by deleting files the
    winner's items used (162 of 200 images lost). Real processes, started together."""
    from al_core.formats import image_files
    from tests.datasets import write_dataset

    folder = tmp_path / "incoming"
    write_dataset(folder, n=200, seed=2, nested=False)
    root = store.root
    store.close()
    calls = [f"_import({str(root)!r}, {str(folder)!r})"] * 2
    assert _run_together(calls, tmp_path / "go") == []
    with Store(root) as after:
        items = after.items()
        assert len(items) == 200 and len({i.sha256 for i in items}) == 200
        for item in items:
            assert image_files.file_sha256(after.image_path(item)) == item.sha256
        assert not list(after.images_dir.rglob("*.partial"))
