"""Image embeddings from the pretrained MobileNetV2 trunk: 1280 unit floats per image,
stored under a key naming backbone, weights and size, computed once and reused; the
handcrafted features stand in (with a hint) without the weights file; a changed file is
refused; nothing is downloaded."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from al_core.query import embeddings
from al_core.query import features as handcrafted
from al_core.query.round import QuerySpec, run_query
from al_core.store import Store
from al_core.training import backbone_weights as bw
from al_core.training.backbone_weights import WeightsFileError
from al_core.types import Cancelled

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def pinned(mobilenet_file, mobilenet_cache) -> Path:
    """The test file pinned as the MobileNetV2 weights and installed in a private cache."""
    shutil.copy(mobilenet_file[0], mobilenet_cache)
    return mobilenet_cache


@pytest.fixture
def no_weights(mobilenet_cache) -> Path:
    """A private, empty torch cache."""
    return mobilenet_cache


@pytest.fixture
def forward_rows(monkeypatch) -> list[int]:
    """The number of images in each forward pass through the trunk."""
    calls: list[int] = []
    real = embeddings.embed_batch

    def counted(trunk, images):
        calls.append(len(images))
        return real(trunk, images)

    monkeypatch.setattr(embeddings, "embed_batch", counted)
    return calls


def _picture(seed: int, size: int = 32) -> Image.Image:
    """A photo-like picture: three discs on a plain ground, with sensor-like noise."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x, y = rng.integers(0, size - 8, 2)
        draw.ellipse([int(x), int(y), int(x) + 8, int(y) + 8],
                     fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    noisy = np.asarray(image, np.float32) + rng.normal(0, 10, (size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _add_images(store: Store, seeds, *, size: int = 32) -> list[int]:
    ids = []
    for seed in seeds:
        name = f"img{seed}.png"
        store.images_dir.mkdir(exist_ok=True)
        _picture(seed, size).save(store.images_dir / name)
        ids.append(store.add_item(file=name, width=size, height=size, sha256=name,
                                  source="test"))
    return ids


def test_vectors_are_1280_unit_floats_stored_under_backbone_weights_and_size(pinned, store):
    ids = _add_images(store, range(5))
    vectors, extractor = embeddings.image_vectors(store, ids)
    assert extractor == embeddings.EXTRACTOR == "mobilenet_v2-imagenet1k_v1-160"
    assert vectors.shape == (5, 1280) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    stored = store.feature_vectors(extractor, ids)
    assert sorted(stored) == ids
    np.testing.assert_array_equal(np.frombuffer(stored[ids[2]], np.float32), vectors[2])
    # the same image gives the same vector; a different one does not
    again, _ = embeddings.image_vectors(store, ids[2:3])
    np.testing.assert_array_equal(again[0], vectors[2])
    assert not np.allclose(vectors[0], vectors[1])


def test_only_missing_items_are_computed_in_batches_with_progress(pinned, store, forward_rows,
                                                                  monkeypatch):
    monkeypatch.setattr(embeddings, "BATCH", 4)
    first = _add_images(store, range(6))
    embeddings.image_vectors(store, first[:3])
    assert forward_rows == [3]
    more = _add_images(store, range(6, 11))
    seen = []
    embeddings.image_vectors(store, first + more,
                             report=lambda f, text: seen.append((round(f, 3), text)))
    assert forward_rows == [3, 4, 4]  # 8 missing (3 of first, 5 more) in batches of 4
    assert seen == [(0.45, f"image embeddings ({embeddings.EXTRACTOR}) 4/8"),
                    (0.85, f"image embeddings ({embeddings.EXTRACTOR}) 8/8")]
    embeddings.image_vectors(store, first + more)
    assert forward_rows == [3, 4, 4]


def test_a_cancel_between_batches_keeps_the_finished_ones(pinned, store, forward_rows,
                                                          monkeypatch):
    monkeypatch.setattr(embeddings, "BATCH", 2)
    ids = _add_images(store, range(5))

    def cancel(fraction, text):
        raise Cancelled()

    with pytest.raises(Cancelled):
        embeddings.image_vectors(store, ids, report=cancel)
    assert len(store.feature_vectors(embeddings.EXTRACTOR, ids)) == 2
    embeddings.image_vectors(store, ids)
    assert forward_rows == [2, 2, 1]  # the second call computed only the other three


def test_queries_compute_each_image_once_across_rounds_and_strategies(pinned, store,
                                                                      forward_rows):
    ids = _add_images(store, range(24))
    first = run_query(store, QuerySpec(strategy="typicality", add=4, random_control=0,
                                       seed=1, tag="one"))
    assert first.config["features"] == embeddings.EXTRACTOR
    assert sum(forward_rows) == 24  # the whole pool, once
    # the picks wait in a selection; a second strategy asks about the same pool
    second = run_query(store, QuerySpec(strategy="coreset", add=4, random_control=0,
                                        seed=2, tag="two", include_pending=True))
    assert second.config["features"] == embeddings.EXTRACTOR
    assert sum(forward_rows) == 24  # nothing computed again
    rows = store.feature_vectors(embeddings.EXTRACTOR, ids)
    assert len(rows) == 24


def test_without_the_weights_file_handcrafted_features_stand_in_with_a_hint(no_weights, store,
                                                                             caplog):
    ids = _add_images(store, range(12))
    with caplog.at_level(logging.WARNING, logger="al_core.query.embeddings"):
        vectors, extractor = embeddings.image_vectors(store, ids)
        sel = run_query(store, QuerySpec(strategy="typicality", add=3, random_control=0))
    assert extractor == handcrafted.EXTRACTOR and vectors.shape == (12, handcrafted.DIM)
    assert sel.config["features"] == handcrafted.EXTRACTOR
    hint = ("no pretrained MobileNetV2 weights in the torch cache "
            f"({no_weights.parent}): ./dev.sh installs them; using handcrafted image "
            f"features ({handcrafted.EXTRACTOR})")
    assert hint in caplog.text
    assert not store.feature_vectors(embeddings.EXTRACTOR, ids)
    assert embeddings.current_extractor() == handcrafted.EXTRACTOR


def test_a_changed_weights_file_is_refused_and_nothing_is_stored(pinned, store):
    ids = _add_images(store, range(3))
    data = pinned.read_bytes()
    at = len(data) // 2
    pinned.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1:])
    with pytest.raises(WeightsFileError, match="tampered or damaged"):
        embeddings.image_vectors(store, ids)
    assert not store.feature_vectors(embeddings.EXTRACTOR, ids)


def test_no_socket_is_opened(pinned, store, no_sockets):
    _add_images(store, range(8))
    sel = run_query(store, QuerySpec(strategy="coreset", add=3, random_control=0))
    assert sel.config["features"] == embeddings.EXTRACTOR and len(sel.items) == 3
