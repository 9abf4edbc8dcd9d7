"""The oracle simulation: output shapes, resuming, label-savings arithmetic, and a
simulation started from imported images + COCO labels."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from al_core.cli import main
from al_core.simulation import simulate as sim
from al_core.store import Store
from tests.datasets import write_dataset


def _models(out: Path, strategy: str, seed: int = 0) -> int:
    with Store(out / "runs" / strategy / f"seed-{seed}") as store:
        return len(store.models())


@pytest.mark.slow
def test_quick_simulation_writes_curves_plot_and_resumes(tmp_path, capsys):
    out = tmp_path / "sim"
    args = ["simulate", "--demo", "--quick", "--out", str(out), "--strategy", "random",
            "--strategy", "uncertainty", "--initial", "20", "--add", "15", "--rounds", "2"]
    assert main(args) == 0
    curves = json.loads((out / "curves.json").read_text())
    assert set(curves) == {"strategies"}
    assert set(curves["strategies"]) == {"random", "uncertainty"}
    for strategy in curves["strategies"].values():
        assert set(strategy["seeds"]) == {"0"}
        points = strategy["seeds"]["0"]
        assert [p["labeled"] for p in points] == [20, 35, 50]  # monotone, by --add
        assert all(set(p) == {"labeled", "map50", "boxes", "corrections", "seconds"}
                   and 0 <= p["map50"] <= 1 for p in points)
        # round 0 has no model to pre-label: every box is drawn, one correction each,
        # at the published seconds (3 s an image viewed, 25.5 s a box drawn)
        assert points[0]["corrections"] == points[0]["boxes"] > 0
        assert points[0]["seconds"] == pytest.approx(3.0 * 20 + 25.5 * points[0]["boxes"])
        assert all(a[unit] < b[unit] for a, b in zip(points, points[1:])
                   for unit in ("boxes", "corrections", "seconds"))  # summed over the rounds
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert 0 < summary["strategies"]["random"]["fraction_of_random_labels"] <= 1.0
    assert set(summary["strategies"]["uncertainty"]) >= {"labels_to_random_final",
                                                         "worst_gap_to_random"}
    assert "| uncertainty |" in capsys.readouterr().out
    assert set(summary["strategies"]["uncertainty"]["to_random_final"]) == {
        "images", "boxes", "corrections", "seconds"}

    # round 0 (the initial set and its model) is shared: the same point for every strategy
    firsts = [s["seeds"]["0"][0] for s in curves["strategies"].values()]
    assert firsts[0] == firsts[1]
    with Store(out / "runs/random/seed-0") as a, Store(out / "runs/uncertainty/seed-0") as b:
        first = lambda s: sorted(i.item_id for i in s.selection("sim-round-0").items)  # noqa: E731
        assert first(a) == first(b)
        # the later rounds queried by their own strategy
        assert b.selection("sim-round-1").strategy == "uncertainty"
        assert len(b.training_labeled_ids()) == 50
        # each run's images are hard links to the base project's, not copies
        item = a.items()[0]
        assert a.image_path(item).stat().st_ino == b.image_path(item).stat().st_ino == \
            (out / "base" / "images" / item.file).stat().st_ino

    # finished: rerunning trains nothing. Stopped after the last round's model was made
    # active but before its point was written: the point is measured again from that
    # model, which is not trained a second time (that would double its budget)
    before = _models(out, "uncertainty")
    assert main(args) == 0
    assert _models(out, "uncertainty") == before
    lost = curves["strategies"]["uncertainty"]["seeds"]["0"].pop()
    (out / "curves.json").write_text(json.dumps(curves))
    assert main(args) == 0
    resumed = json.loads((out / "curves.json").read_text())
    assert resumed["strategies"]["uncertainty"]["seeds"]["0"][-1] == lost
    assert _models(out, "uncertainty") == before
    assert _models(out, "random") == 3
    # every project of the simulation measures on the same frozen test set
    identities = {Store(p).test_set_identity()[1] for p in
                  [out / "base", out / "seeds/seed-0", out / "runs/random/seed-0",
                   out / "runs/uncertainty/seed-0"]}
    assert len(identities) == 1

    # rounds can be appended: only the new round trains, the earlier points stay
    assert main(args[:-1] + ["3"]) == 0
    appended = json.loads((out / "curves.json").read_text())["strategies"]
    for name in ("random", "uncertainty"):
        assert [p["labeled"] for p in appended[name]["seeds"]["0"]] == [20, 35, 50, 65]
        assert appended[name]["seeds"]["0"][:3] == resumed["strategies"][name]["seeds"]["0"]
    assert _models(out, "uncertainty") == before + 1
    # a run folder deleted by hand: its points are redone from round 1, not continued
    # from a fresh copy of round 0 (which would skip the labels of the rounds between)
    import shutil
    shutil.rmtree(out / "runs" / "random" / "seed-0")
    capsys.readouterr()
    assert main(args[:-1] + ["3"]) == 0
    assert "random seed 0: its run folder is missing; redoing its rounds 1-3" in \
        capsys.readouterr().err
    redone = json.loads((out / "curves.json").read_text())["strategies"]["random"]["seeds"]["0"]
    assert [p["labeled"] for p in redone] == [20, 35, 50, 65] and _models(out, "random") == 4
    # other settings in the same folder are refused rather than mixed into the curves
    capsys.readouterr()
    assert main(args[:-4] + ["--add", "10", "--rounds", "2"]) == 2
    assert "other settings (add: 15 there, 10 now)" in capsys.readouterr().err


def test_settings_are_checked_before_any_curve_and_the_pool_must_suffice(tmp_path, capsys):
    out = tmp_path / "sim"
    out.mkdir()
    (out / "settings.json").write_text(json.dumps({"initial": 50}))  # an older simulate's
    assert main(["simulate", "--demo", "--quick", "--out", str(out)]) == 2
    assert "made by an older version of simulate" in capsys.readouterr().err
    (out / "settings.json").write_text(json.dumps({"format": sim.SETTINGS_FORMAT,
                                                   "initial": 50}))  # stopped in round 0
    assert main(["simulate", "--demo", "--quick", "--out", str(out)]) == 2
    assert "initial: 50 there, 20 now" in capsys.readouterr().err
    assert main(["simulate", "--demo", "--quick", "--out", str(tmp_path / "big"),
                 "--initial", "200", "--add", "50", "--rounds", "2"]) == 2
    err = capsys.readouterr().err
    assert "= 300 labels, but the pool holds only 220" in err


def test_labels_to_reach_interpolates_between_rounds():
    labeled = np.array([100, 200, 300])
    assert sim.labels_to_reach(labeled, np.array([0.2, 0.4, 0.6]), 0.5) == pytest.approx(250)
    assert sim.labels_to_reach(labeled, np.array([0.6, 0.7, 0.8]), 0.5) == 100
    assert sim.labels_to_reach(labeled, np.array([0.1, 0.2, 0.3]), 0.5) is None


def test_summary_label_savings_and_worst_gap():
    def strategy(*curves):
        return {"seeds": {str(s): [{"labeled": n, "map50": m} for n, m in zip((10, 20, 30), c)]
                          for s, c in enumerate(curves)}}
    curves = {"strategies": {"random": strategy((0.1, 0.3, 0.5), (0.1, 0.3, 0.5)),
                             "hybrid": strategy((0.1, 0.5, 0.7), (0.08, 0.5, 0.7))}}
    summary = sim.summarize(curves)["strategies"]
    assert summary["random"]["random_final_map50"] == pytest.approx(0.5)
    assert summary["random"]["fraction_of_random_labels"] == pytest.approx(1.0)
    assert summary["hybrid"]["labels_to_random_final"] == pytest.approx(20)
    assert summary["hybrid"]["fraction_of_random_labels"] == pytest.approx(20 / 30, abs=1e-3)
    assert summary["hybrid"]["worst_gap_to_random"] == pytest.approx(-0.01)
    assert summary["hybrid"]["mean_map50"] == pytest.approx([0.09, 0.5, 0.7])
    table = sim.format_table(sim.summarize(curves))
    assert "| hybrid | 0.090 / 0.500 / 0.700 | 20 | 67% | - | - | - | -1.0 points |" in table


def test_summary_in_boxes_and_corrections_uses_the_mean_cost_over_seeds():
    def strategy(*runs):
        return {"seeds": {str(s): [{"labeled": n, "map50": m, "boxes": b, "corrections": c}
                                   for n, m, b, c in run] for s, run in enumerate(runs)}}
    random = strategy([(10, 0.1, 30, 30), (20, 0.3, 60, 55), (30, 0.5, 90, 80)],
                      [(10, 0.1, 30, 30), (20, 0.3, 60, 65), (30, 0.5, 90, 80)])
    crowded = strategy([(10, 0.1, 30, 30), (20, 0.5, 100, 40), (30, 0.7, 170, 60)],
                       [(10, 0.1, 30, 30), (20, 0.5, 80, 60), (30, 0.7, 150, 80)])
    summary = sim.summarize({"strategies": {"random": random, "crowded": crowded}})
    row = summary["strategies"]["crowded"]
    assert row["mean_boxes"] == [30, 90, 160] and row["mean_corrections"] == [30, 50, 70]
    assert row["to_random_final"]["images"] == {"needed": 20, "random": 30, "fraction": 0.667}
    assert row["to_random_final"]["boxes"] == {"needed": 90, "random": 90, "fraction": 1.0}
    assert row["to_random_final"]["corrections"] == {"needed": 50, "random": 80,
                                                     "fraction": 0.625}
    table = sim.format_table(summary)
    assert "| crowded | 0.100 / 0.500 / 0.700 | 20 | 67% | 100% | 62% | - | +0.0 points |" \
        in table  # made before seconds were estimated: none
    old = {"random": random, "crowded": {"seeds": {"0": [
        {"labeled": n, "map50": m} for n, m in ((10, 0.1), (20, 0.5), (30, 0.7))]}}}
    row = sim.summarize({"strategies": old})["strategies"]["crowded"]  # made before costs
    assert set(row["to_random_final"]) == {"images"}


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="--initial"):
        sim.SimConfig(strategies=("random",), initial=0, add=5, rounds=1, seeds=1)
    with pytest.raises(ValueError, match="--min-train-images: 0"):
        sim.SimConfig(strategies=("random",), initial=5, add=5, rounds=1, seeds=1,
                      min_train_images=0)
    with pytest.raises(ValueError, match="unknown config key"):
        sim.SimConfig(strategies=("random",), initial=5, add=5, rounds=1, seeds=1,
                      train={"epochz": 3})
    with pytest.raises(ValueError, match="aggregate: 'median'"):
        sim.SimConfig(strategies=("random",), initial=5, add=5, rounds=1, seeds=1,
                      query={"aggregate": "median"})
    with pytest.raises(ValueError, match="--demo-seed: -1"):
        sim.Source(demo_seed=-1)
    with pytest.raises(ValueError, match="twice"):
        sim.SimConfig(strategies=("random", "random"), initial=5, add=5, rounds=1, seeds=1)


def test_cli_needs_one_data_source(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "o"), "--quick"]) == 2
    assert "--demo" in capsys.readouterr().err


def test_cli_refuses_zero_counts_and_a_test_size_for_the_demo(tmp_path, capsys):
    out = str(tmp_path / "o")
    assert main(["simulate", "--demo", "--quick", "--out", out, "--initial", "0"]) == 2
    assert "--initial: 0" in capsys.readouterr().err  # not silently the default
    assert main(["simulate", "--demo", "--quick", "--out", out, "--test-size", "5"]) == 2
    assert "--test-size goes with --coco" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_demo_seed_draws_other_scenes_and_is_part_of_the_settings(tmp_path, capsys,
                                                                   monkeypatch):
    import al_core.simulation.demo as demo

    made = []
    monkeypatch.setattr(demo, "create_demo_project",
                        lambda path, config: made.append(config) or Store(path, create=True))
    sim.make_base(tmp_path / "base", sim.Source(quick=True, demo_seed=7), say=lambda _: None)
    assert made[0].seed == 7 and made[0].test_size == 80
    first = [demo.render_scene(0, demo.DemoConfig(seed=s), demo._glyph_pools(False))[1]
             for s in (0, 7)]
    assert first[0] != first[1]  # another draw: other scenes
    config = sim.SimConfig(strategies=("random",), initial=5, add=5, rounds=1, seeds=1)
    settings = [sim._settings(config, sim.Source(demo_seed=s)) for s in (0, 7)]
    assert settings[0] != settings[1]  # a folder cannot mix two draws
    # nor two versions of the demo generator
    assert settings[0]["source"]["demo_config"] == repr(demo.DemoConfig())
    assert main(["simulate", "--images", str(tmp_path), "--coco", str(tmp_path / "a.json"),
                 "--demo-seed", "1", "--out", str(tmp_path / "o")]) == 2
    assert "--demo-seed goes with --demo" in capsys.readouterr().err


@pytest.mark.slow
def test_simulation_from_images_and_coco_keeps_labels_hidden(tmp_path):
    data = write_dataset(tmp_path / "imgs", n=30, seed=4)
    (tmp_path / "ann.json").write_text(json.dumps(data))
    out = tmp_path / "sim"
    assert main(["simulate", "--images", str(tmp_path / "imgs"), "--coco",
                 str(tmp_path / "ann.json"), "--test-size", "8", "--strategy", "random",
                 "--initial", "6", "--add", "4", "--rounds", "1", "--quick",
                 "--config", '{"aggregate": "max"}', "--out", str(out)]) == 0
    with Store(out / "base") as base:
        # every imported box became oracle truth; only the frozen test split is labeled
        assert base.count_items(status="labeled") == 8 == base.count_items(split="test")
        boxes = sum(len(v) for v in base.oracle_boxes([i.id for i in base.items()]).values())
        assert boxes == len(data["annotations"])
    curves = json.loads((out / "curves.json").read_text())
    assert [p["labeled"] for p in curves["strategies"]["random"]["seeds"]["0"]] == [6, 10]
    # --config reaches the queries after round 0 (round 0 is the shared cold start)
    with Store(out / "runs/random/seed-0") as run:
        assert run.selection("sim-round-1").config["requested"]["options"] == {"aggregate": "max"}
        assert run.selection("sim-round-0").config["requested"]["options"] == {}
    # settings.json records the options as resolved: a changed default is not resumed into
    settings = json.loads((out / "settings.json").read_text())
    assert settings["query"]["aggregate"] == "max" and settings["query"]["class_weight"] == 2


def test_a_coco_file_with_images_it_cannot_label_whole_still_simulates(tmp_path):
    """An image the import leaves unlabeled (a crowd region here) has no ground truth:
    it is left out of the base project, not a reason to refuse the whole file."""
    data = write_dataset(tmp_path / "imgs", n=30, seed=4, nested=False)
    crowded = data["annotations"][0]
    crowded["iscrowd"] = 1
    (tmp_path / "ann.json").write_text(json.dumps(data))
    source = sim.Source(demo=False, images=tmp_path / "imgs", coco=tmp_path / "ann.json",
                        test_size=5)
    said = []
    sim.make_base(tmp_path / "base", source, say=said.append)
    with Store(tmp_path / "base") as base:
        files = {i.file for i in base.items()}
        assert len(files) == 29 and not base.count_items(status="unlabeled", split="test")
        left_out = next(i["file_name"] for i in data["images"]
                        if i["id"] == crowded["image_id"])
        assert left_out not in files and not (base.images_dir / left_out).exists()
    assert any("1 image the file does not label whole is left out" in s for s in said)


def test_move_labels_to_oracle_refuses_partly_labeled(store):
    store.ensure_classes(["a"])
    store.add_item(file="x.png", width=4, height=4, sha256="0", source="t")
    with pytest.raises(ValueError, match="no labels"):
        store.move_labels_to_oracle()
