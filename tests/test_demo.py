import numpy as np
from PIL import Image

from al_core.simulation.demo import (DIGIT_NAMES, DemoConfig, _glyph_pools, class_weights,
                                     create_demo_project, label_from_oracle_at_random, render_scene,
                                     scene_classes)

CONFIG = DemoConfig(n_images=20, test_size=4, seed=11)


def _fingerprint(store):
    items = store.items()
    truth = store.oracle_boxes([i.id for i in items])
    return ([(i.file, i.sha256, i.split, i.status) for i in items],
            {i.file: [(b.class_id, b.box) for b in truth[i.id]] for i in items})


def test_demo_is_deterministic_for_a_seed(tmp_path):
    a = create_demo_project(tmp_path / "a", CONFIG)
    b = create_demo_project(tmp_path / "b", CONFIG)
    c = create_demo_project(tmp_path / "c", DemoConfig(n_images=20, test_size=4, seed=12))
    assert _fingerprint(a) == _fingerprint(b)
    assert _fingerprint(a)[0] != _fingerprint(c)[0]


def test_demo_layout_test_split_and_hidden_oracle(tmp_path):
    store = create_demo_project(tmp_path / "d", CONFIG)
    assert [c.name for c in store.classes()] == list(DIGIT_NAMES)
    test = store.items(split="test")
    assert len(test) == 4 and all(i.status == "labeled" for i in test)
    assert store.status().test_frozen
    pool = store.items(status="unlabeled")
    assert len(pool) == 16 and all(not a for a in store.annotations([i.id for i in pool]).values())
    truth = store.oracle_boxes([i.id for i in test])
    labels = store.annotations([i.id for i in test])
    assert all([(a.class_id, a.box) for a in labels[i.id]] ==
               [(b.class_id, b.box) for b in truth[i.id]] for i in test)
    chosen = label_from_oracle_at_random(store, 5, seed=0)
    assert store.count_items(status="labeled") == 9 and len(set(chosen)) == 5


def test_boxes_are_tight_around_ink_and_inside_the_image():
    pools = _glyph_pools(test=False)
    for index in range(15):
        image, boxes = render_scene(index, DemoConfig(seed=0, empty_share=0.0), pools)
        assert image.size == (160, 160) and 1 <= len(boxes) <= 6
        for b in boxes:
            assert 0 <= b.box.x1 < b.box.x2 <= 160 and 0 <= b.box.y1 < b.box.y2 <= 160
            assert 5 <= b.box.y2 - b.box.y1 <= 50


def test_class_mix_is_long_tailed():
    w = class_weights(1.0)
    assert np.isclose(w.sum(), 1) and np.all(np.diff(w) < 0) and w[0] / w[-1] == 10


def test_scene_themes_keep_class_frequencies_and_make_kinds_come_together():
    w = class_weights(1.0)
    for share in (0.0, 0.5):
        rng = np.random.default_rng(0)
        scenes = [scene_classes(rng, 4, w, share) for _ in range(20000)]
        freq = np.bincount(np.concatenate(scenes), minlength=10) / (4 * len(scenes))
        np.testing.assert_allclose(freq, w, atol=0.01)  # the long tail is unchanged
        distinct = np.mean([len(set(s)) for s in scenes])
        # independent digits: 4 draws show 3.1 classes; half of them the theme: 2.4
        assert (3.0 < distinct < 3.2) if share == 0 else (2.3 < distinct < 2.5), distinct
    assert scene_classes(np.random.default_rng(1), 6, w, 1.0) == [scene_classes(
        np.random.default_rng(1), 1, w, 1.0)[0]] * 6
    import pytest
    with pytest.raises(ValueError, match="theme_share"):
        DemoConfig(theme_share=1.5)


def test_empty_scenes_hold_no_digit_and_leave_the_other_scenes_unchanged():
    pools = _glyph_pools(test=False)
    full, some_empty = DemoConfig(seed=5, empty_share=0.0), DemoConfig(seed=5, empty_share=0.4)
    empty = 0
    for index in range(60):
        image, boxes = render_scene(index, some_empty, pools)
        same_image, same_boxes = render_scene(index, full, pools)
        if boxes:
            assert boxes == same_boxes and image.tobytes() == same_image.tobytes()
        else:  # background and clutter only, still a real picture
            empty += 1
            assert same_boxes and np.asarray(image).std() > 5
    assert 14 <= empty <= 34  # 40% of 60, give or take the draw
    import pytest
    with pytest.raises(ValueError, match="empty_share"):
        DemoConfig(empty_share=1.0)


def test_test_scenes_use_held_out_handwriting():
    train, test = _glyph_pools(test=False), _glyph_pools(test=True)
    for k in range(10):
        seen = {g.tobytes() for g in train[k]}
        assert not any(g.tobytes() in seen for g in test[k])


def test_demo_refuses_a_non_empty_project(tmp_path):
    create_demo_project(tmp_path / "e", CONFIG)
    import pytest
    with pytest.raises(ValueError, match="already holds 20 items"):
        create_demo_project(tmp_path / "e", CONFIG)
    img = Image.open(tmp_path / "e" / "images" / "demo" / "00000.png")
    assert img.size == (160, 160)


def test_an_interrupted_demo_leaves_no_project_and_the_next_run_succeeds(tmp_path, monkeypatch):
    import pytest

    import al_core.simulation.demo as demo

    real = demo.render_scene

    def crash_at_5(index, *args):
        if index == 5:
            raise KeyboardInterrupt
        return real(index, *args)

    monkeypatch.setattr(demo, "render_scene", crash_at_5)
    with pytest.raises(KeyboardInterrupt):
        create_demo_project(tmp_path / "d", CONFIG)
    assert not (tmp_path / "d").exists()
    monkeypatch.setattr(demo, "render_scene", real)
    store = create_demo_project(tmp_path / "d", CONFIG)
    assert store.count_items() == 20
    assert not (tmp_path / ".d.partial").exists()


def test_bad_demo_options_are_refused_by_name_before_any_file(tmp_path):
    import pytest
    from al_core.simulation.demo import create_demo_project as create
    for options, named in (({"seed": -1}, "seed: -1 is out of range"),
                           ({"seed": 2 ** 64}, "seed: "), ({"n_images": 0}, "n_images: 0"),
                           ({"n_images": 10 ** 9}, "n_images: "),
                           ({"test_size": 30, "n_images": 20}, "test_size: 30"),
                           ({"class_skew": float("nan")}, "class_skew: nan"),
                           ({"min_digit_px": 50, "max_digit_px": 40}, "min_digit_px 50")):
        with pytest.raises(ValueError, match=f"^{named}"):
            create(tmp_path / "p", DemoConfig(**options))
    assert list(tmp_path.iterdir()) == []  # no project, no .p.partial


def test_a_demo_that_fails_half_way_leaves_nothing_behind(tmp_path, monkeypatch):
    import pytest
    from al_core.simulation import demo

    def broken(index, config, pools):
        if index == 5:
            raise OSError(28, "No space left on device")
        return render_scene(index, config, pools)

    monkeypatch.setattr(demo, "render_scene", broken)
    with pytest.raises(OSError, match="No space left"):
        demo.create_demo_project(tmp_path / "p", DemoConfig(n_images=10, test_size=2))
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    demo.create_demo_project(tmp_path / "p", DemoConfig(n_images=10, test_size=2)).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # the retry just works
