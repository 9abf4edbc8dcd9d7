"""Near-duplicates: a re-encoded or resized copy matches, a different image does not (on
drawn pictures and on the demo's own scenes); the blocked search finds exactly the pairs
a full similarity matrix would; a query batch never holds two near-duplicates; the
Project page reports them."""
from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from al_core.formats.images import load_image
from al_core.query import features as handcrafted
from al_core.query.duplicates import (DUPLICATE_COSINE, DUPLICATE_EXTRACTOR, drop_near_duplicates,
                                      near_duplicate_pairs, near_duplicates, unit_rows)
from al_core.query.round import QuerySpec, run_query
from al_core.store import Store
from tests.test_embeddings import _picture

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _jpeg(image: Image.Image, quality: int = 75) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _resized(image: Image.Image, factor: float = 2 / 3) -> Image.Image:
    w, h = image.size
    return image.resize((round(w * factor), round(h * factor)), Image.BILINEAR)


def _slight_copies(image: Image.Image) -> list[Image.Image]:
    """A picture slightly changed: re-encoded (JPEG 90), resized down by a fifth, up by half,
    both."""
    return [_jpeg(image, 90), _resized(image, 0.8), _resized(image, 1.5),
            _jpeg(_resized(image, 0.8), 90)]


def _copies(image: Image.Image) -> list[Image.Image]:
    """Harder: JPEG 75, resized down by a third, down and back up, JPEG 90."""
    return [_jpeg(image), _resized(image), _resized(_resized(image), 1.5), _jpeg(image, 90)]


def _cosine(a: Image.Image, b: Image.Image) -> float:
    x = unit_rows(handcrafted.batch_features([a, b]))
    return float(x[0] @ x[1])


def test_a_reencoded_or_resized_copy_matches_and_a_different_picture_does_not():
    pictures = [_picture(seed, 96) for seed in range(12)]
    for picture in pictures:
        assert min(_cosine(picture, c) for c in _slight_copies(picture)) >= DUPLICATE_COSINE
    for a, b in itertools.combinations(pictures, 2):
        assert _cosine(a, b) < DUPLICATE_COSINE


def test_the_threshold_on_the_demos_scenes(demo_store):
    """Every demo scene matches its copies; no two different scenes match."""
    scenes = [load_image(demo_store.image_path(i)) for i in demo_store.items()]
    x = unit_rows(handcrafted.batch_features(scenes))
    for scene, vector in zip(scenes, x):
        copies = unit_rows(handcrafted.batch_features(_copies(scene)))
        assert (copies @ vector).min() >= DUPLICATE_COSINE
    found = near_duplicate_pairs(x)
    assert len(found.first) == 0, list(zip(found.first, found.second, found.cosine))


@pytest.mark.parametrize("block", [1, 3, 7, 64])
def test_the_blocked_search_finds_exactly_the_full_matrixs_pairs(block):
    rng = np.random.default_rng(block)
    base = rng.normal(size=(12, 16)).astype(np.float32)
    x = np.concatenate([base, base[[0, 0, 5, 9]] + rng.normal(0, 0.02, (4, 16))])  # (16, 16)
    found = near_duplicate_pairs(x, 0.99, block=block)
    u = unit_rows(x)
    full = u @ u.T
    expected = {(i, j) for i, j in itertools.combinations(range(len(x)), 2)
                if full[i, j] >= 0.99}
    assert {(int(a), int(b)) for a, b in zip(found.first, found.second)} == expected
    assert {(0, 12), (0, 13), (12, 13), (5, 14), (9, 15)} <= expected
    assert np.all(np.diff(found.cosine) <= 0)  # most similar first


def test_a_batch_keeps_the_first_of_near_duplicates_in_rank_order():
    a, b, c = np.eye(3, dtype=np.float32)
    ranked = np.stack([a, a + 0.01, b, c * 2, b])
    assert drop_near_duplicates(ranked, 0.98).tolist() == [True, False, True, True, False]
    assert drop_near_duplicates(ranked, 0.98, kept=np.stack([c])).tolist() == [
        True, False, True, False, False]


def _project_with_copies(root: Path, originals: int = 6, copies: int = 3) -> tuple[Store, dict]:
    """A pool of ``originals`` pictures, each with ``copies`` re-encoded/resized copies;
    returns the store and item id -> its group."""
    store = Store(root, create=True)
    store.images_dir.mkdir(exist_ok=True)
    group = {}
    for g in range(originals):
        picture = _picture(100 + g, 96)
        for k, image in enumerate([picture, *_slight_copies(picture)][:copies + 1]):
            name = f"{g}-{k}.png"
            image.save(store.images_dir / name)
            item = store.add_item(file=name, width=image.width, height=image.height,
                                  sha256=name, source="test")
            group[item] = g
    return store, group


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("strategy", ["random", "coreset", "typicality"])
def test_a_query_batch_never_holds_two_near_duplicates(tmp_path, strategy):
    store, group = _project_with_copies(tmp_path / "p")
    spec = dict(strategy=strategy, add=6, random_control=0, seed=3)
    sel = run_query(store, QuerySpec(**spec, tag="distinct"))
    picked = [group[i.item_id] for i in sel.items]
    assert sorted(picked) == list(range(6))  # one of each picture
    assert len(sel.items) == 6
    if strategy == "random":  # without the rule, this seed's batch holds duplicates
        loose = run_query(store, QuerySpec(**spec, tag="loose", include_pending=True,
                                           options={"skip_duplicates": False}))
        assert len({group[i.item_id] for i in loose.items}) < 6
        assert sel.config["near_duplicates_skipped"]
    store.close()


def test_a_pool_with_too_few_distinct_images_fills_up_with_duplicates(tmp_path):
    store, group = _project_with_copies(tmp_path / "p", originals=2, copies=2)
    sel = run_query(store, QuerySpec(strategy="random", add=4, random_control=0))
    assert len(sel.items) == 4 and set(group[i.item_id] for i in sel.items[:2]) == {0, 1}
    store.close()


def test_the_report_reads_stored_features_and_computes_only_when_asked(tmp_path):
    store, group = _project_with_copies(tmp_path / "p", originals=3, copies=1)
    ids = sorted(group)
    assert near_duplicates(store, ids).items_checked == 0
    found = near_duplicates(store, ids, compute=True)
    assert found.items_checked == 6 and found.items_in_pairs == 6
    assert {(group[a], group[b]) for a, b, _ in found.pairs} == {(0, 0), (1, 1), (2, 2)}
    assert len(store.feature_vectors(DUPLICATE_EXTRACTOR, ids)) == 6
    store.close()


def test_the_project_page_reports_near_duplicates(demo_store, monkeypatch):
    first = demo_store.items()[0]
    copy = "copy-of-first.jpg"
    _jpeg(load_image(demo_store.image_path(first))).save(demo_store.images_dir / copy)
    demo_store.add_item(file=copy, width=first.width, height=first.height, sha256="copy",
                        source="test")
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images checked"] == "0 of 41" and metrics["Near-duplicate pairs"] == "0"
    at.button(key="check_duplicates").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images checked"] == "41 of 41"
    assert metrics["Near-duplicate pairs"] == "1" and metrics["Images in a pair"] == "2"
    assert sum("(pool, unlabeled)" in c.value for c in at.caption) == 2  # the pair's two
    assert [s.value.replace("\\", "") for s in at.success] == [
        "Checked 41 images: 1 near-duplicate pair."]  # shown as text, escaped


def test_the_project_page_says_when_no_pair_was_found(demo_store, monkeypatch):
    monkeypatch.setenv("ALS_PROJECT", str(demo_store.root))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not any("No near-duplicates" in s.value for s in at.success)  # nothing checked
    at.button(key="check_duplicates").click().run()
    assert any(s.value.replace("\\", "") == "No near-duplicates among the 40 images checked."
               for s in at.success)
