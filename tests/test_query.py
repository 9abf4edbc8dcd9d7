"""Query rounds on real stores: the pool rules, the control slice, cold start, the model
paths, determinism, and a selection's export to and import from an external tool."""
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from al_core.formats.export import coco_selection
from al_core.query.embeddings import current_extractor
from al_core.query.round import QuerySpec, plan_query, run_query
from al_core.review.external import import_selection
from al_core.simulation.demo import label_from_oracle_at_random
from al_core.store import Store
from al_core.training.split import split_project
from al_core.types import Box, LabeledBox

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NO_CHECKPOINT_STRATEGIES = ["random", "uncertainty", "coreset", "typicality", "hybrid",
                            "ranked_batch", "dcus", "cost_aware"]


def untrained_active_model(store: Store) -> int:
    """A real (randomly initialised) compact detector checkpoint, made active."""
    from al_core.training.checkpoints import atomic_save as _atomic_save, build_detector
    from al_core.training.config import TrainConfig

    config = TrainConfig(width=4)
    class_ids = [c.id for c in store.classes()]
    model_id = store.add_model(name="untrained", arch="compact", status="trained",
                               config=config.to_dict())
    path = store.models_dir / f"model-{model_id}.pt"
    digest = _atomic_save({"arch": "compact", "config": config.to_dict(), "class_ids": class_ids,
                           "state_dict": build_detector(config, len(class_ids)).state_dict()},
                          path)
    store.update_model(model_id, checkpoint_path=str(path.relative_to(store.root)),
                       checkpoint_sha256=digest)
    store.apply_decision(model_id, "update_model")
    return model_id


def external_active_model(store: Store, boxes: dict[int, list[tuple]]) -> int:
    """An imported model (no checkpoint) with stored boxes: item -> [(class, score, probs)]."""
    model_id = store.add_model(name="external", arch="external", status="external")
    rows = [(item, c, Box(2, 2, 12, 12), s, p) for item, dets in boxes.items() for c, s, p in dets]
    store.replace_predictions(model_id, list(boxes), rows, [])
    store.apply_decision(model_id, "update_model")
    return model_id


def _small_project(root: Path) -> Store:
    """30 tiny images: 6 labeled train, 4 labeled test, 2 unlabeled test, 3 waiting in an
    earlier selection, 15 in the pool; an external model has boxes on some pool items."""
    store = Store(root, create=True)
    classes = list(store.ensure_classes(["a", "b", "c"]).values())
    rng = np.random.default_rng(0)
    ids = []
    for i in range(30):
        (store.images_dir / f"{i}.png").parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(
            store.images_dir / f"{i}.png")
        ids.append(store.add_item(file=f"{i}.png", width=24, height=24, sha256=str(i),
                                  source="test"))
    for k, item in enumerate(ids[:10]):
        store.set_labels(item, [LabeledBox(classes[k % 3], Box(1, 1, 9, 9))], source="human")
    store.set_splits({**{i: "train" for i in ids[:6]}, **{i: "test" for i in ids[6:12]}})
    run_query(store, QuerySpec(strategy="random", add=3, random_control=0, tag="earlier"))
    boxes = {}
    for item in ids[12::2]:
        probs = rng.dirichlet(np.ones(3), 2)
        boxes[item] = [(classes[int(p.argmax())], float(s), p.round(4).tolist())
                       for p, s in zip(probs, rng.uniform(0.05, 1, 2))]
    external_active_model(store, boxes)
    return store


@pytest.fixture(scope="module")
def small_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("small") / "p"
    _small_project(root).close()
    return root


def _query_copy(template: Path, spec: QuerySpec):
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(template, Path(tmp) / "p")
        with Store(Path(tmp) / "p") as store:
            allowed, pending = set(store.query_pool()), set(store.pending_item_ids())
            return run_query(store, spec), allowed, pending


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategy=st.sampled_from(NO_CHECKPOINT_STRATEGIES), add=st.integers(1, 15),
       control=st.sampled_from([0.0, 0.1, 0.5]), seed=st.integers(0, 5))
def test_any_strategy_picks_k_distinct_pool_items_deterministically(small_template, strategy, add,
                                                                    control, seed):
    spec = QuerySpec(strategy=strategy, add=add, random_control=control, seed=seed, tag="q")
    first, allowed, pending = _query_copy(small_template, spec)
    ids = [i.item_id for i in first.items]
    assert len(ids) == add and len(set(ids)) == add
    assert set(ids) <= allowed and not set(ids) & pending  # never labeled, test or pending
    assert len(first.control_ids) == round(add * control)
    assert [i.rank for i in first.items] == list(range(1, add + 1))
    again, _, _ = _query_copy(small_template, spec)
    assert again.items == first.items  # deterministic for a seed


def test_uncertainty_queries_images_without_detections_first_up_to_a_share(small_template,
                                                                          tmp_path):
    shutil.copytree(small_template, tmp_path / "p")
    with Store(tmp_path / "p") as store:
        pool = store.query_pool()
        blind = [i for i in pool if not store.predictions(store.active_model_id(), [i])]
        assert len(blind) >= 2
        add = len(blind) + 2
        sel = run_query(store, QuerySpec(strategy="uncertainty", add=add, random_control=0,
                                         options={"missed_share": 1.0}, tag="all"))
        top = [i.item_id for i in sel.items[:len(blind)]]
        assert sorted(top) == sorted(blind)
        assert sorted(sel.config["missed_objects"]) == sorted(blind)
        missed = {i.score for i in sel.items[:len(blind)]}
        assert len(missed) == 1 and missed.pop() > max(i.score for i in sel.items[len(blind):])
        # a share of the batch: floor(0.25 * add) of them, then only images with detections
        for tag, options, quota in (("quarter", {"missed_share": 0.25}, add // 4),
                                    ("default", {}, add // 10)):  # the default: a tenth
            sel = run_query(store, QuerySpec(strategy="uncertainty", add=add, random_control=0,
                                             options=options, tag=tag, include_pending=True))
            assert len(sel.config["missed_objects"]) == quota
            assert {i.item_id for i in sel.items[:quota]} == set(sel.config["missed_objects"])
            assert not {i.item_id for i in sel.items[quota:]} & set(blind)


def test_cli_marks_the_picked_images_without_detections(small_template, tmp_path, capsys):
    from al_core.cli import main

    shutil.copytree(small_template, tmp_path / "p")
    with Store(tmp_path / "p") as store:
        blind = {i for i in store.query_pool() if not store.predictions(store.active_model_id(), [i])}
    assert main(["query", "--project", str(tmp_path / "p"), "--strategy", "uncertainty",
                 "--add", str(len(blind) + 2), "--random-control", "0",
                 "--config", '{"missed_share": 1}']) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()
            if line.strip().split()[1:2] == ["item"]]
    marked = {int(r[2]) for r in rows if r[-2:] == ["no", "detection"]}
    assert marked == blind and len(rows) == len(blind) + 2


def test_class_weight_ranks_an_uncertain_box_of_a_rare_class_first(small_template, tmp_path):
    shutil.copytree(small_template, tmp_path / "p")
    with Store(tmp_path / "p") as store:
        a, b, c = (k.id for k in store.classes())
        for item in store.training_labeled_ids():  # labels: many a, one c
            store.set_labels(item, [LabeledBox(a, Box(1, 1, 9, 9))] * 3, source="human")
        store.set_labels(store.training_labeled_ids()[0], [LabeledBox(c, Box(1, 1, 9, 9))],
                         source="human")
        common, rare = store.query_pool()[:2]
        # equally uncertain boxes (the same probabilities, columns swapped): a vs c
        external_active_model(store, {common: [(a, 0.9, [0.6, 0.4, 0.0])],
                                      rare: [(c, 0.9, [0.4, 0.0, 0.6])]})
        store.add_tag("two", [common, rare])

        def first(**options) -> int:
            sel = run_query(store, QuerySpec(strategy="uncertainty", add=1, random_control=0,
                                             pool_tag="two", options=options,
                                             tag=f"q{len(store.selections())}"))
            return sel.items[0].item_id
        assert first(class_weight=0) == common  # a tie, broken by position
        assert first() == rare  # class_weight 2 by default


def test_pool_rules_target_tags_and_errors(small_template, tmp_path):
    shutil.copytree(small_template, tmp_path / "p")
    with Store(tmp_path / "p") as store:
        assert len(store.query_pool()) == 15 and len(store.query_pool(include_pending=True)) == 18
        # target: 6 labeled outside test + 3 pending + 4 new = 13
        sel = run_query(store, QuerySpec(strategy="random", target=13, random_control=0.25))
        assert sel.tag == "al-iteration-2" and len(sel.items) == 4 and len(sel.control_ids) == 1
        assert {i.id for i in store.items(tag=sel.tag)} == {i.item_id for i in sel.items}
        with pytest.raises(ValueError, match="already has 6 items and 7 more wait"):
            plan_query(store, QuerySpec(target=13))
        with pytest.raises(ValueError, match="pool has only 11"):
            plan_query(store, QuerySpec(add=12))
        with pytest.raises(ValueError, match="already exists"):
            plan_query(store, QuerySpec(add=1, tag="earlier"))
        with pytest.raises(ValueError, match="no items carry the tag 'nope'"):
            plan_query(store, QuerySpec(add=1, pool_tag="nope"))
        with pytest.raises(ValueError, match="exactly one of"):
            QuerySpec(add=1, target=3)
        with pytest.raises(ValueError, match="unknown query option"):
            QuerySpec(add=1, options={"measure_": "margin"})
        some = store.query_pool()[:3]
        store.add_tag("night", some)
        tagged = run_query(store, QuerySpec(strategy="coreset", add=3, random_control=0,
                                            pool_tag="night"))
        assert {i.item_id for i in tagged.items} == set(some)


def test_cold_start_on_the_demo_uses_image_embeddings_and_records_why(demo_store):
    label_from_oracle_at_random(demo_store, 8, seed=0)
    split_project(demo_store, seed=0)
    pool = set(demo_store.query_pool())
    sel = run_query(demo_store, QuerySpec(strategy="hybrid", add=10, random_control=0.2, seed=4))
    assert sel.strategy == "typicality" and sel.model_id is None
    extractor = current_extractor()  # the backbone's, or handcrafted without its weights
    assert "no active model" in sel.config["fallback"] and sel.config["features"] == extractor
    assert {i.item_id for i in sel.items} <= pool and len(sel.control_ids) == 2
    cached = demo_store.db.execute("SELECT count(*) FROM features WHERE extractor = ?",
                                   [extractor]).fetchone()[0]
    assert cached == len(pool) - 2 + 8  # candidates (the pool less the control) and labeled
    status = demo_store.status()
    assert [(s.tag, s.size, s.control, s.strategy) for s in status.selections] == [
        ("al-iteration-1", 10, 2, "typicality")]


def test_model_strategies_store_pre_labels_for_the_batch(demo_store):
    label_from_oracle_at_random(demo_store, 8, seed=0)
    split_project(demo_store, seed=0)
    model = untrained_active_model(demo_store)
    for strategy in ("hybrid", "consistency", "dcus", "cost_aware"):
        sel = run_query(demo_store, QuerySpec(strategy=strategy, add=5, include_pending=True,
                                              tag=strategy))
        assert sel.strategy == strategy and sel.model_id == model
        picked = [i.item_id for i in sel.items]
        assert demo_store.items_without_embedding(model, picked) == []  # predicted: pre-labels
        scores = [i.score for i in sel.items if not i.is_control]
        if strategy in ("hybrid", "consistency"):
            assert all(0.0 <= s <= 1.0 for s in scores)
        else:  # sums (and ratios) of uncertainties; None: an image with no detection
            assert all(s is None or 0.0 <= s < np.inf for s in scores)


def test_selection_export_and_corrected_import_label_exactly_its_items(demo_store, tmp_path):
    pool = demo_store.query_pool()
    truth = demo_store.oracle_boxes(pool)
    external_active_model(demo_store, {i: [(b.class_id, 0.9, None) for b in truth[i]]
                                          + [(truth[i][0].class_id, 0.1, None)] for i in pool[:20]})
    sel = run_query(demo_store, QuerySpec(strategy="uncertainty", add=6, random_control=0.34))
    ids = [i.item_id for i in sel.items]
    data = coco_selection(demo_store, sel.tag)
    assert [im["id"] for im in data["images"]] == ids
    prelabeled = {a["image_id"] for a in data["annotations"]}
    assert all(a["score"] == 0.9 for a in data["annotations"])  # the 0.1 boxes left out
    assert prelabeled == {i for i in ids if i in pool[:20] and truth[i]}

    files = {im["id"]: im["file_name"] for im in data["images"]}
    corrected = {"categories": data["categories"], "images": [], "annotations": []}
    for n, item in enumerate(ids[1:]):  # the first item is left out of the file
        name = files[item] if n else Path(files[item]).name  # a tool that drops folders
        corrected["images"].append({"id": 1000 + n, "file_name": name, "width": 160, "height": 160})
        for b in truth[item]:
            corrected["annotations"].append({"id": len(corrected["annotations"]) + 1,
                                             "image_id": 1000 + n, "category_id": b.class_id,
                                             "bbox": b.box.as_xywh()})
    outsider = next(i for i in pool if i not in ids)
    corrected["images"].append({"id": 999, "file_name": demo_store.item(outsider).file})
    (tmp_path / "fixed.json").write_text(json.dumps(corrected))
    report = import_selection(demo_store, sel.tag, tmp_path / "fixed.json")
    assert report.items_labeled == 5
    assert any(f"item #{ids[0]}" in p and "not in the file" in p for p in report.problems)
    assert any("999" in p and f"not in selection {sel.tag}" in p for p in report.problems)
    labels = demo_store.annotations(ids)
    for item in ids[1:]:
        assert [(a.class_id, a.box) for a in labels[item]] == [(b.class_id, b.box) for b in truth[item]]
        assert demo_store.item(item).labeled_round == sel.round
    assert demo_store.item(ids[0]).status == demo_store.item(outsider).status == "unlabeled"
    assert demo_store.status().selections[0].labeled == 5


def test_a_second_query_job_is_refused_while_one_has_not_finished(demo_store):
    """Two queries started seconds apart both took the name al-iteration-1, scored the
    whole pool side by side, and the second failed only then."""
    from al_core.jobs import runner as jobs
    first = demo_store.add_job("query", {"strategy": "random", "add": 2})  # still starting
    with pytest.raises(ValueError, match=f"job {first} \\(query\\) has not finished yet"):
        jobs.start_job(demo_store, "query", {"strategy": "random", "add": 2})
    assert [j["id"] for j in demo_store.jobs()] == [first]  # nothing queued
