"""Saving reviews (al_core.review.save and the store's review part): atomic saves with their
accounting, stale saves, leases, skips, the split rule for new labels, the CLI and
import paths that share it, and writers that queue instead of failing."""
import json
import multiprocessing
import time

import pytest

from al_core.review.save import (HeldError, StaleLabelsError, label_selection_from_oracle,
                                 submit_review)
from al_core.store import Store
from al_core.training.split import split_for_new_label
from al_core.types import Box, LabeledBox, SelectionItem
from tests.test_cli import cli


def lb(c, *xyxy):
    return LabeledBox(c, Box(*map(float, xyxy)))


@pytest.fixture
def batch(demo_store):
    store = demo_store
    pool = store.query_pool()[:6]
    store.add_selection(tag="b1", round=2, strategy="random", config={}, seed=0,
                        model_id=None, items=[SelectionItem(i, r, None, r == 0)
                                              for r, i in enumerate(pool)])
    return store, store.selection("b1"), pool


def test_a_review_is_saved_with_its_accounting_in_one_transaction(batch):
    store, sel, pool = batch
    c = [k.id for k in store.classes()]
    shown = [lb(c[0], 10, 10, 40, 40), lb(c[1], 50, 50, 80, 80)]
    result = submit_review(store, pool[0], [lb(c[0], 10, 10, 40, 40), lb(c[2], 50, 50, 80, 80),
                                            lb(c[0], -5, 100, 30, 170)],  # clipped to 160
                           author="ana", action="save", prelabels=shown, expected_version=0,
                           selection=sel, seconds=12.5)
    assert (result.changes.kept, result.changes.relabeled, result.changes.added) == (1, 1, 1)
    assert result.label_version == 1 and result.split in ("train", "val")
    labels = store.annotations([pool[0]])[pool[0]]
    assert labels[2].box == Box(0, 100, 30, 160) and {a.author for a in labels} == {"ana"}
    assert {a.round for a in labels} == {2} and store.item(pool[0]).labeled_round == 2
    (r,) = store.reviews(item_id=pool[0])
    assert (r["author"], r["round"], r["selection_id"], r["seconds"], r["prelabels"],
            r["boxes"]) == ("ana", 2, sel.id, 12.5, 2, 3)
    history = store.label_history(pool[0])
    assert history[-1]["author"] == "ana" and len(history[-1]["after"]) == 3


def test_a_failed_review_changes_nothing(batch):
    store, sel, pool = batch
    with pytest.raises(ValueError, match="class id 999 is not a class"):
        submit_review(store, pool[0], [lb(999, 1, 1, 9, 9)], author="ana", action="save")
    with pytest.raises(ValueError, match="annotator's name"):
        submit_review(store, pool[0], [], author=" ", action="save")
    assert store.item(pool[0]).status == "unlabeled" and store.reviews() == []


def test_a_stale_save_is_refused_and_names_who_changed_it(batch):
    store, sel, pool = batch
    c = store.classes()[0].id
    submit_review(store, pool[1], [lb(c, 1, 1, 9, 9)], author="bob", action="save",
                  expected_version=0)
    with pytest.raises(StaleLabelsError, match="changed by bob"):
        submit_review(store, pool[1], [], author="ana", action="save", expected_version=0)
    assert len(store.annotations([pool[1]])[pool[1]]) == 1


def test_leases_keep_two_annotators_apart_and_expire(batch):
    store, sel, pool = batch
    a = store.claim_next(sel.id, "ana", seconds=60)
    b = store.claim_next(sel.id, "bob", seconds=60)
    assert a == pool[0] and b == pool[1]
    assert store.claim(a, "bob", seconds=60) == "ana"
    with pytest.raises(HeldError, match="held by ana"):
        submit_review(store, a, [], author="bob", action="save")
    assert store.claim_next(sel.id, "ana", seconds=60) == a  # her own lease comes first
    store.claim(pool[2], "cy", seconds=0.05)
    time.sleep(0.1)
    assert store.holder(pool[2]) is None and store.claim(pool[2], "ana", seconds=60) is None
    submit_review(store, a, [], author="ana", action="accept")
    assert store.holder(a) is None  # a save releases the lease


def test_skips_leave_only_that_annotators_queue(batch):
    store, sel, pool = batch
    store.skip(pool[0], "ana", selection_id=sel.id)
    assert store.review_queue(sel.id, "ana")[0] == pool[1]
    assert store.review_queue(sel.id, "bob")[0] == pool[0]
    p = store.review_progress(sel.id, "ana")
    assert (p["total"], p["labeled"], p["skipped"], p["left"]) == (6, 0, 1, 5)


def test_new_labels_join_train_and_val_in_the_projects_ratio(demo_store):
    store = demo_store
    store.set_meta("last_split", repr({"distribution": {"train": 0.75, "val": 0.25,
                                                        "test": 0.0}, "seed": 0}))
    got = []
    for item in store.query_pool()[:8]:
        got.append(split_for_new_label(store, item))
        store.set_splits({item: got[-1]})
    assert got.count("train") == 6 and got.count("val") == 2
    assert split_for_new_label(store, store.items(split="test")[0].id) is None


def test_label_from_oracle_on_the_cli(batch):
    store, sel, pool = batch
    out = cli("label", "--project", store.root, "--selection", "b1", "--from-oracle").stdout
    assert "labeled 6 images of b1" in out
    truth = store.oracle_boxes(pool)
    for i in pool:
        assert [(a.class_id, a.box) for a in store.annotations([i])[i]] == \
            [(b.class_id, b.box) for b in truth[i]]
    assert {r["author"] for r in store.reviews()} == {"oracle"}
    assert sum(r["added"] for r in store.reviews()) == sum(len(t) for t in truth.values())
    bad = cli("label", "--project", store.root, "--selection", "nope", "--from-oracle",
              check=False)
    assert bad.returncode == 2 and "no selection named 'nope'" in bad.stderr


def test_label_from_oracle_needs_a_ground_truth(store):
    with pytest.raises(ValueError, match="no hidden ground truth"):
        label_selection_from_oracle(store, "x")


def test_import_selection_counts_corrections_against_the_exported_prelabels(batch, tmp_path):
    from al_core.review.external import import_selection

    store, _, _ = batch
    pool = store.query_pool()[:2]
    c = [k.id for k in store.classes()]
    model = store.add_model(name="m", arch="external", status="external")
    store.add_predictions(model, [(pool[0], c[0], Box(10, 10, 40, 40), 0.9),
                                  (pool[0], c[1], Box(60, 60, 90, 90), 0.8)])
    store.add_selection(tag="b2", round=3, strategy="uncertainty", config={}, seed=0,
                        model_id=model, items=[SelectionItem(pool[0], 0, 0.5, False)])
    coco = {"images": [{"id": 1, "file_name": store.item(pool[0]).file}],
            "categories": [{"id": k.id, "name": k.name} for k in store.classes()],
            "annotations": [{"id": 1, "image_id": 1, "category_id": c[0],
                             "bbox": [10, 10, 30, 30]}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    report = import_selection(store, "b2", tmp_path / "c.json", author="lead")
    assert report.items_labeled == 1 and report.problems == []
    (r,) = store.reviews(item_id=pool[0])
    assert (r["action"], r["kept"], r["deleted"], r["round"]) == ("import", 1, 1, 3)
    # importing again over a review made in the app says so
    report = import_selection(store, "b2", tmp_path / "c.json", author="lead")
    assert any("already reviewed by lead" in p for p in report.problems)


def _save_many(root, item_id, name, n, barrier):
    barrier.wait()
    with Store(root) as store:
        c = store.classes()[0].id
        for k in range(n):
            submit_review(store, item_id, [lb(c, 1, 1, 10 + k % 5, 10)], author=name,
                          action="save")
    return n


@pytest.mark.slow
def test_concurrent_saves_wait_for_each_other(demo_store):
    """Two processes saving to one project at once: every save lands (the write
    transactions start with BEGIN IMMEDIATE, so the busy timeout applies)."""
    item = demo_store.query_pool()[0]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        barrier = manager.Barrier(2)
        results = [pool.apply_async(_save_many, (demo_store.root, item, name, 40, barrier))
                   for name in ("ana", "bob")]
        assert [r.get(timeout=120) for r in results] == [40, 40]
    assert len(demo_store.reviews(item_id=item)) == 80
    assert demo_store.item(item).label_version == 80


def test_the_library_holds_and_saves_under_one_normalised_name(demo_store):
    """submit_review compared the raw author with the lease's holder: a caller passing
    ' ana ' got 'held by ana' against her own lease, and her lease was never released."""
    from al_core.review.save import submit_review
    item = demo_store.items(status="unlabeled")[0].id
    assert demo_store.claim(item, " ana ", seconds=60) is None
    assert demo_store.holder(item) == "ana"
    assert demo_store.claim(item, "bob", seconds=60) == "ana"
    submit_review(demo_store, item, [], author="ana  ", action="save")
    assert demo_store.holder(item) is None  # the save released the lease it took
    assert demo_store.reviews(item_id=item)[-1]["author"] == "ana"
    with pytest.raises(ValueError, match="holds a control character"):
        demo_store.claim(item, "ana\nbob", seconds=60)
