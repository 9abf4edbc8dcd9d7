"""The shapes demo: deterministic scenes, tight amodal boxes, the occlusion rule, its
documented statistics, held-out test material, and its plumbing (CLI, simulation)."""
from __future__ import annotations

import numpy as np
import pytest

from al_core.cli import main
from al_core.simulation import shapes
from al_core.simulation import simulate as sim
from al_core.simulation.demo import DemoConfig, demo_config
from al_core.simulation.shapes import (MAX_COVERED, SHAPE_NAMES, ShapesConfig, compose_scene,
                                       render_scene, scene_material)
from al_core.store import Store

CONFIG = ShapesConfig(seed=4)


@pytest.fixture(scope="module")
def material():
    return {False: scene_material(False), True: scene_material(True)}


@pytest.fixture(scope="module")
def scenes(material):
    return [compose_scene(i, CONFIG, material[False]) for i in range(200)]


def test_a_scene_depends_only_on_seed_and_index(material):
    a = render_scene(7, CONFIG, material[False])
    b = render_scene(7, ShapesConfig(seed=4, n_images=10, test_size=0), material[False])
    other = render_scene(7, ShapesConfig(seed=5), material[False])
    assert a[0].tobytes() == b[0].tobytes() and a[1] == b[1]
    assert a[0].tobytes() != other[0].tobytes()
    assert a[0].size == (192, 192) and a[0].mode == "RGB"


def test_boxes_are_inside_the_image_and_tight_around_the_whole_object(scenes):
    checked = 0
    for scene in scenes[:60]:
        drawn_before = np.zeros(scene.image.shape[:2], bool)
        for d in scene.drawn:
            b = d.box
            assert 0 <= b.x1 < b.x2 <= 192 and 0 <= b.y1 < b.y2 <= 192
            ys, xs = np.nonzero(d.mask)  # the box is the whole mask's, occluded or not
            assert (b.x1, b.y1, b.x2, b.y2) == (d.x0 + xs.min(), d.y0 + ys.min(),
                                               d.x0 + xs.max() + 1, d.y0 + ys.max() + 1)
            region = drawn_before[d.y0:d.y0 + d.mask.shape[0], d.x0:d.x0 + d.mask.shape[1]]
            alone = not region[d.mask].any()
            region |= d.mask
            if d.class_id is None or d.covered > 0 or not alone:
                continue
            # an object on the bare background, not drawn over: its pixels differ from the
            # background, up to each edge of its box
            checked += 1
            diff = np.abs(scene.image / 255.0 - scene.background).mean(-1)  # (S, S)
            inside = diff[d.y0:d.y0 + d.mask.shape[0], d.x0:d.x0 + d.mask.shape[1]]
            assert inside[d.mask].mean() > 0.1
            rows, cols = np.nonzero(d.mask)
            for edge in (rows == rows.min(), rows == rows.max(), cols == cols.min(),
                         cols == cols.max()):
                assert inside[rows[edge], cols[edge]].max() > 0.04
    assert checked > 100


def test_occlusion_rule_drops_objects_more_than_60_percent_covered(scenes):
    kept_occluded = dropped = 0
    for scene in scenes:
        size = scene.image.shape[0]
        full = []
        for d in scene.drawn:
            m = np.zeros((size, size), bool)
            m[d.y0:d.y0 + d.mask.shape[0], d.x0:d.x0 + d.mask.shape[1]] = d.mask
            full.append(m)
        truth = scene.ground_truth()
        expected = []
        for j, d in enumerate(scene.drawn):
            later = np.any(full[j + 1:], axis=0) if j + 1 < len(full) else np.zeros_like(full[j])
            covered = later[full[j]].mean()
            assert covered == pytest.approx(d.covered)
            if d.class_id is not None and covered <= MAX_COVERED:
                expected.append((d.class_id, d.box))
            kept_occluded += d.class_id is not None and 0 < covered <= MAX_COVERED
            dropped += d.class_id is not None and covered > MAX_COVERED
        assert [(b.class_id, b.box) for b in truth] == expected
    assert kept_occluded > 200 and dropped > 30  # both happen often


def test_objects_per_image_class_mix_and_sizes_are_as_documented(scenes):
    truth = [s.ground_truth() for s in scenes]
    counts = np.array([len(t) for t in truth])
    assert 5.0 <= counts.mean() <= 7.0 and counts.max() <= 14  # documented: mean ~5.5-6
    assert (counts == 0).any() and (counts >= 10).mean() > 0.08  # sparse and crowded scenes
    classes = np.array([b.class_id for t in truth for b in t])
    freq = np.bincount(classes, minlength=len(SHAPE_NAMES)) / len(classes)
    assert np.all((freq > 0.09) & (freq < 0.16)), freq  # uniform: 0.125 each
    sides = np.array([max(b.box.x2 - b.box.x1, b.box.y2 - b.box.y1) for t in truth for b in t])
    assert sides.min() <= 10 and sides.max() >= 90
    assert 0.15 < (sides < 16).mean() < 0.4 and 20 < np.median(sides) < 36  # many small ones
    clutter = [sum(d.class_id is None for d in s.drawn) for s in scenes]
    assert 3 < np.mean(clutter) < 5  # hard negatives: 0-8 a scene


def test_test_scenes_use_held_out_photo_columns_and_shape_variants(material):
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    for photo, train, test in zip(photos, material[False].photos, material[True].photos):
        cut = photo.shape[1] - shapes.HELD_OUT_COLUMNS
        assert np.array_equal(train, photo[:, :cut]) and np.array_equal(test, photo[:, cut:])
    for k in range(len(SHAPE_NAMES)):
        train = {v for v, _ in material[False].variants[k]}
        test = {v for v, _ in material[True].variants[k]}
        assert not train & test and test == set(range(0, shapes.N_VARIANTS, 5))
    used = {d.variant for i in range(20)
            for d in compose_scene(i, CONFIG, material[True]).drawn if d.class_id is not None}
    assert used and all(v % 5 == 0 for v in used)


def test_bad_options_are_refused_by_name_with_the_range():
    for options, named in (({"seed": -1}, "seed: -1 is out of range"),
                           ({"n_images": 0}, "n_images: 0"),
                           ({"test_size": 30, "n_images": 20}, "test_size: 30"),
                           ({"max_objects": 51}, "max_objects: 51"),
                           ({"mean_objects": float("nan")}, "mean_objects: nan"),
                           ({"empty_share": 1.0}, "empty_share: 1.0"),
                           ({"min_object_px": 3}, "min_object_px 3"),
                           ({"max_object_px": 97}, r"min_object_px 8 and max_object_px 97.*"
                                                   r"image_size / 2 \(96\)")):
        with pytest.raises(ValueError, match=f"^{named}"):
            ShapesConfig(**options)
    with pytest.raises(ValueError, match="demo kind: 'boxes' is not one of digits, shapes"):
        demo_config("boxes")


def test_a_shapes_project_from_the_cli_has_its_classes_and_a_frozen_test_split(tmp_path,
                                                                                capsys):
    p = tmp_path / "p"
    assert main(["demo", "--project", str(p), "--kind", "shapes", "--images", "24", "--test",
                 "6", "--labeled", "4", "--seed", "3"]) == 0
    with Store(p) as store:
        assert [c.name for c in store.classes()] == list(SHAPE_NAMES)
        test = store.items(split="test")
        assert len(test) == 6 and store.status().test_frozen
        assert store.count_items(status="labeled") == 10
        assert (test[0].width, test[0].height) == (192, 192)
        assert store.get_meta("demo_config") == repr(ShapesConfig(n_images=24, test_size=6,
                                                                  seed=3))
        truth = store.oracle_boxes([i.id for i in store.items()])
        assert sum(map(len, truth.values())) > 24
    assert main(["demo", "--project", str(p), "--kind", "digits", "--labeled", "1"]) == 2
    assert "another kind of demo than digits (ShapesConfig)" in capsys.readouterr().err
    assert main(["demo", "--project", str(p), "--labeled", "1"]) == 0  # no --kind: reused
    assert main(["demo", "--project", str(tmp_path / "q"), "--kind", "shapes",
                 "--empty-share", "1"]) == 2
    assert "empty_share: 1.0 is out of range" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()


def test_the_simulation_source_tells_the_two_kinds_apart(tmp_path, capsys, monkeypatch):
    digits, kinds = sim.Source(), sim.Source(demo_kind="shapes")
    assert digits.describe()["demo_config"] == repr(DemoConfig())  # old folders still resume
    assert set(digits.describe()) == set(kinds.describe())
    assert kinds.describe() != digits.describe()
    assert kinds.describe()["demo_config"] == repr(ShapesConfig())
    quick = sim.Source(demo_kind="shapes", quick=True, demo_seed=2).demo_config()
    assert quick == ShapesConfig(n_images=300, test_size=80, image_size=96, min_object_px=6,
                                 max_object_px=45, seed=2)
    with pytest.raises(ValueError, match="--demo-kind: 'boxes' is not one of digits, shapes"):
        sim.Source(demo_kind="boxes")
    import al_core.simulation.demo as demo
    made = []
    monkeypatch.setattr(demo, "create_demo_project",
                        lambda path, config: made.append(config) or Store(path, create=True))
    sim.make_base(tmp_path / "base", kinds, say=lambda _: None)
    assert made == [ShapesConfig()]
    assert main(["simulate", "--images", str(tmp_path), "--coco", str(tmp_path / "a.json"),
                 "--demo-kind", "shapes", "--out", str(tmp_path / "o")]) == 2
    assert "--demo-kind goes with --demo" in capsys.readouterr().err
