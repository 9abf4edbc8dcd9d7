import json
import subprocess
import sys
from pathlib import Path

import pytest

from al_core.store import Store
from tests.datasets import add_bad_inputs, write_dataset, write_json

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "al_core", *map(str, args)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {result.stderr}")
    return result


@pytest.mark.parametrize("command", ["demo", "import", "export", "split", "status", "eval-coco",
                                     "evaluate", "compare", "query"])
def test_every_subcommand_has_help(command):
    out = cli(command, "--help").stdout
    assert ("--project" in out or "--gt" in out) and "usage:" in out


def test_demo_labeled_then_status(tmp_path):
    p = tmp_path / "p"
    out = cli("demo", "--project", p, "--images", 60, "--test", 10, "--labeled", 20).stdout
    assert "labeled 20 more" in out
    status = cli("status", "--project", p).stdout
    assert "items: 60   labeled: 30" in status
    assert "(frozen)" in status
    data = json.loads(cli("status", "--project", p, "--json").stdout)
    assert data["labeled"] == 30 and data["by_split_status"]["test"] == {"labeled": 10}
    assert sum(data["by_split_status"][s].get("labeled", 0) for s in ("train", "val")) == 20
    again = cli("demo", "--project", p, "--labeled", 5).stdout  # an existing demo is reused
    assert "not regenerating" in again
    assert json.loads(cli("status", "--project", p, "--json").stdout)["labeled"] == 35


def test_demo_empty_share_makes_scenes_without_digits(tmp_path):
    from al_core.store import Store

    cli("demo", "--project", tmp_path / "p", "--images", 40, "--test", 0, "--empty-share", 0.5)
    with Store(tmp_path / "p") as store:
        truth = store.oracle_boxes([i.id for i in store.items()])
        empty = sum(not boxes for boxes in truth.values())
        assert 10 <= empty <= 30 and store.get_meta("demo_config").count("empty_share=0.5")
    bad = cli("demo", "--project", tmp_path / "q", "--empty-share", 1, check=False)
    assert bad.returncode != 0 and ("empty_share: 1.0 is out of range (it must be a number "
                                    "in [0, 1))") in bad.stderr
    assert not (tmp_path / "q").exists()


def test_import_export_round_trip_with_bad_inputs_reported(tmp_path):
    folder, outside = tmp_path / "imgs", tmp_path / "outside"
    outside.mkdir()
    coco = write_dataset(folder, 8)
    add_bad_inputs(folder, coco, outside)  # images 1 and 3 are left unlabeled (issue 15)
    faulty = {coco["images"][1]["id"], coco["images"][3]["id"]}
    expected_files = {i["file_name"] for i in coco["images"][:8] if i["id"] not in faulty}
    good = {i["id"] for i in coco["images"][:8]} - faulty
    expected_boxes = sum(isinstance(a["image_id"], int) and a["image_id"] in good
                         for a in coco["annotations"])
    ann = write_json(tmp_path / "ann.json", coco)
    out = cli("import", "--project", tmp_path / "q", "--images", folder, "--coco", ann).stdout
    assert "8 of 16 images imported" in out and "rejected" in out and "truncated" in out
    assert "2 images left unlabeled" in out and "import it again" in out
    cli("export", "--project", tmp_path / "q", "--format", "coco", "--out", tmp_path / "out.json")
    exported = json.loads((tmp_path / "out.json").read_text())
    assert {i["file_name"] for i in exported["images"]} == expected_files
    assert len(exported["annotations"]) == expected_boxes
    assert {c["name"] for c in exported["categories"]} == {"cat", "dog", "bird"}


def test_split_and_errors(tmp_path):
    p = tmp_path / "p"
    cli("demo", "--project", p, "--images", 40, "--test", 0, "--labeled", 20)
    out = cli("split", "--project", p, "--distribution", "equal", "--resplit").stdout
    assert "totals:" in out
    missing = cli("status", "--project", tmp_path / "nope", check=False)
    assert missing.returncode == 2 and "no project at" in missing.stderr
    bad = cli("split", "--project", p, "--distribution", "1/2", check=False)
    assert bad.returncode == 2 and "train/val/test" in bad.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    refused = cli("import", "--project", p, "--images", tmp_path, "--coco", broken, check=False)
    assert refused.returncode == 2 and "not valid JSON" in refused.stderr
    fresh = tmp_path / "never-made"
    refused = cli("import", "--project", fresh, "--images", tmp_path, "--coco", broken,
                  check=False)
    assert refused.returncode == 2 and not fresh.exists()  # a refused import creates nothing
    into_dir = cli("export", "--project", p, "--format", "coco", "--out", tmp_path, check=False)
    assert into_dir.returncode == 2 and "is a folder" in into_dir.stderr
    assert not list(tmp_path.parent.glob("*.tmp"))


def test_eval_coco_json_matches_the_library(tmp_path):
    from al_core.evaluation.metrics import evaluate_coco
    from tests.test_evaluation import make_case

    gt, results = make_case(7, many=True, ties=True)
    write_json(tmp_path / "gt.json", gt)
    write_json(tmp_path / "dt.json", results)
    out = cli("eval-coco", "--gt", tmp_path / "gt.json", "--dt", tmp_path / "dt.json",
              "--iou", 0.6, "--json").stdout
    data = json.loads(out)  # exactly one JSON object
    expected, names = evaluate_coco(gt, results, iou_threshold=0.6)
    assert data["iou_threshold"] == 0.6 and data["map"] == pytest.approx(expected.map)
    assert data["per_class"] == {names[c]: {"ap": pytest.approx(r.ap), "num_gt": r.num_gt}
                                 for c, r in expected.per_class.items()}
    assert "c5" not in data["per_class"]  # no ground truth
    table = cli("eval-coco", "--gt", tmp_path / "gt.json", "--dt", tmp_path / "dt.json").stdout
    assert "mAP@0.5 over 4 classes" in table
    (tmp_path / "empty.json").write_text("[]")
    empty = json.loads(cli("eval-coco", "--gt", tmp_path / "gt.json", "--dt",
                           tmp_path / "empty.json", "--json").stdout)
    assert empty["map"] == 0.0


def test_evaluate_and_compare_commands(tmp_path, demo_store):
    from tests.datasets import add_model_from_labels as _add_model
    from tests.test_compare import DATALOOP

    good = _add_model(demo_store, "good", keep=0.95, seed=1)
    worse = _add_model(demo_store, "worse", keep=0.4, seed=2)
    p = demo_store.root
    data = json.loads(cli("evaluate", "--project", p, "--model", good, "--json").stdout)
    assert set(data) == {"iou_threshold", "map", "per_class"} and 0.8 < data["map"] <= 1.0
    write_json(tmp_path / "compare.json", DATALOOP)
    first = cli("compare", "--project", p, "--new", good, "--config",
                tmp_path / "compare.json", check=False)  # no model active: nothing to beat
    assert first.returncode == 2 and first.stdout == ""
    assert f"no model is active, so model #{good} has nothing to compare with" in first.stderr
    second = json.loads(cli("compare", "--project", p, "--new", worse, "--old", good,
                            "--config", tmp_path / "compare.json").stdout)
    assert second["decision"] == "discard"
    write_json(tmp_path / "bad.json", {"wins": "0.6x"})
    bad = cli("compare", "--project", p, "--new", good, "--config", tmp_path / "bad.json",
              check=False)
    assert bad.returncode == 2 and "wins: '0.6x'" in bad.stderr
    # no --config: the project's config, here the safe default, said in one line
    third = cli("compare", "--project", p, "--new", worse, "--old", good)
    inline = cli("compare", "--project", p, "--new", worse, "--old", good, "--config",
                 '{"wins": 0}')  # inline JSON, as train --config takes it
    assert json.loads(inline.stdout)["decision"] == "update_model"
    assert "Promotes the new model only if it wins at least one class" in third.stderr
    assert json.loads(third.stdout)["decision"] == "discard"
    assert demo_store.comparisons(limit=1)[0]["decided_by"].startswith("cli (")


def test_query_cold_start_status_export_and_import_of_the_batch(tmp_path, demo_store):
    p = demo_store.root
    out = cli("query", "--project", p, "--add", 10, "--random-control", 0.2, "--seed", 3).stdout
    assert "by typicality (no active model: uncertainty needs one)" in out
    assert "selection al-iteration-1, round 1: 10 items" in out and "2 random control" in out
    status = cli("status", "--project", p).stdout
    assert "al-iteration-1" in status and "10 items (2 random control), 0 labeled" in status
    data = json.loads(cli("status", "--project", p, "--json").stdout)
    assert data["selections"][0]["control"] == 2 and data["rounds"] == 1
    cli("export", "--project", p, "--format", "coco", "--selection", "al-iteration-1",
        "--out", tmp_path / "batch.json")
    batch = json.loads((tmp_path / "batch.json").read_text())
    assert len(batch["images"]) == 10 and batch["annotations"] == []  # no model: no pre-labels
    truth = demo_store.oracle_boxes([im["id"] for im in batch["images"]])
    batch["annotations"] = [{"id": n, "image_id": i, "category_id": b.class_id,
                             "bbox": b.box.as_xywh()}
                            for n, (i, b) in enumerate(((i, b) for i, bs in truth.items()
                                                        for b in bs), 1)]
    write_json(tmp_path / "fixed.json", batch)
    out = cli("import", "--project", p, "--selection", "al-iteration-1", "--coco",
              tmp_path / "fixed.json").stdout
    assert "10 labeled" in out
    assert "10 items (2 random control), 10 labeled" in cli("status", "--project", p).stdout
    too_many = cli("query", "--project", p, "--add", 1000, check=False)
    assert too_many.returncode == 2 and "the pool has only 22" in too_many.stderr
    neither = cli("query", "--project", p, check=False)
    assert neither.returncode == 2 and "--add" in neither.stderr
    wrong = cli("export", "--project", p, "--format", "yolo", "--selection", "al-iteration-1",
                "--out", tmp_path / "y", check=False)
    assert wrong.returncode == 2 and "COCO" in wrong.stderr


def test_query_with_an_active_model_carries_its_predictions(demo_store):
    from tests.test_query import untrained_active_model

    model = untrained_active_model(demo_store)
    out = cli("query", "--project", demo_store.root, "--strategy", "uncertainty", "--target", 5,
              "--tag", "first").stdout
    assert "selection first, round 1: 5 items by uncertainty" in out
    assert f"pre-labels from model #{model}" in out
    picked = [i.item_id for i in demo_store.selection("first").items]
    assert demo_store.items_without_embedding(model, picked) == []


TINY_TRAIN = '{"epochs": 1, "batch_size": 8, "width": 4}'


@pytest.mark.slow
def test_train_then_evaluate_and_compare_need_no_predict_step(tmp_path):
    """The issue's `demo --labeled 300 && train && evaluate --model 1 --json`, small."""
    from tests.test_compare import DATALOOP

    p = tmp_path / "p"
    cli("demo", "--project", p, "--images", 60, "--test", 10, "--labeled", 30)
    out = cli("train", "--project", p, "--config", TINY_TRAIN).stdout
    assert "job 1 succeeded" in out and "model #1 trained: val mAP50" in out
    # no model was active: the first becomes active when its training ends, uncompared
    assert "no model is active, so it becomes the active model when its training ends" in out
    assert "the active model now, as the project's first" in out
    with Store(p) as store:  # a first model: no parent to make pseudo-labels
        train = store.count_items(split="train", status="labeled")
    assert f", on {train} labeled train images;" in out
    first = cli("evaluate", "--project", p, "--model", 1, "--json")
    data = json.loads(first.stdout)  # stdout stays exactly one JSON object
    assert set(data) == {"iou_threshold", "map", "per_class"}
    assert "stored model #1's predictions on the 10 test images" in first.stderr
    again = cli("evaluate", "--project", p, "--model", 1)
    assert "stored" not in again.stdout + again.stderr and "mAP@0.5" in again.stdout

    cli("train", "--project", p, "--config", TINY_TRAIN)
    write_json(tmp_path / "compare.json", DATALOOP)
    compared = cli("compare", "--project", p, "--new", 2, "--old", 1, "--config",
                   tmp_path / "compare.json")
    assert json.loads(compared.stdout)["active_model"] == 1
    assert "stored model #2's predictions on the 10 test images" in compared.stderr
    assert "#1's predictions" not in compared.stderr  # it had them already
    assert "not applied" in compared.stderr
    assert ("\nModel #2 scores the same mAP50 as #1 (" in compared.stderr
            or "\nModel #2 is " in compared.stderr)  # the difference, and how sure
    assert "no bootstrap interval: the compare config runs none)" in compared.stderr
    with Store(p) as store:  # as a project trained before first models became active
        store.db.execute("UPDATE models SET status = 'trained' WHERE id = 1")
    refused = cli("compare", "--project", p, "--new", 2, check=False)
    assert refused.returncode == 2 and "no model is active, so model #2 has nothing to " \
        "compare with" in refused.stderr
    applied = cli("compare", "--project", p, "--new", 2, "--config", tmp_path / "compare.json",
                  "--apply")  # no active model: made active as the first, uncompared
    assert json.loads(applied.stdout)["active_model"] == 2
    assert json.loads(applied.stdout)["first_model"] is True
    assert "model #2 is now the active model, as the project's first" in applied.stderr
    predicted = cli("predict", "--project", p, "--model", 2, "--split", "test").stdout
    assert "stored model #2's predictions on 10 images:" in predicted


def test_cancel_says_what_it_did(demo_store):
    from al_core.training.candidates import create_candidate

    model = create_candidate(demo_store)
    job = demo_store.add_job("train", {"model_id": model})
    out = cli("cancel", "--project", demo_store.root, job).stdout
    assert f"job {job} was queued: cancelled; it will not start" in out
    assert demo_store.job(job)["status"] == "cancelled"
    assert demo_store.model(model)["status"] == "cancelled"  # no torch loaded for that
    again = cli("cancel", "--project", demo_store.root, job, check=False)
    assert again.returncode == 2 and "already ended" in again.stderr


def test_simulate_fits_the_test_split_to_a_small_dataset(tmp_path, monkeypatch, capsys):
    from al_core.cli import main
    from al_core.cli.simulate import fit_test_size
    import al_core.simulation.simulate as sim

    assert fit_test_size(2000, 400, None) == 300  # the default, where it fits
    assert fit_test_size(100, 60, None) == 20  # a fifth of a small dataset
    assert fit_test_size(100, 90, None) == 10  # what the pool can spare
    assert fit_test_size(100, 60, 40) == 40
    with pytest.raises(ValueError, match="--test-size 40 or less would fit"):
        fit_test_size(100, 60, 41)
    with pytest.raises(ValueError, match="lower --initial, --add or --rounds"):
        fit_test_size(60, 60, None)

    write_json(tmp_path / "ann.json", write_dataset(tmp_path / "imgs", n=30, seed=4))
    made = []

    class Started(Exception):
        pass

    def fake_simulate(out, source, config, say):
        made.append(source)
        raise Started

    monkeypatch.setattr(sim, "simulate", fake_simulate)
    args = ["simulate", "--images", str(tmp_path / "imgs"), "--coco", str(tmp_path / "ann.json"),
            "--initial", "6", "--add", "4", "--rounds", "1", "--quick", "--out"]
    with pytest.raises(Started):
        main([*args, str(tmp_path / "a")])
    assert made[0].test_size == 6  # 30 images, 10 queried: a fifth of them
    assert "test split: 6 of the 30 labeled images" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "b"), "--test-size", "25"]) == 2
    assert "--test-size 20 or less would fit" in capsys.readouterr().err
    assert main([*args[:-1], "--rounds", "10", "--out", str(tmp_path / "c")]) == 2
    assert "lower --initial, --add or --rounds" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()
    (tmp_path / "a").mkdir()  # a simulation made with --test-size 9 is resumed with it
    write_json(tmp_path / "a" / "settings.json", {"source": {"demo": False, "test_size": 9}})
    with pytest.raises(Started):
        main([*args, str(tmp_path / "a")])
    assert made[-1].test_size == 9


def test_a_long_inline_json_config_is_parsed_not_tried_as_a_path():
    """Over 255 characters, an inline --config failed as "File name too long"."""
    from al_core.cli.console import json_arg

    text = json.dumps({"checks": {"precision_recall": {"iou_threshold": 0.5}},
                       "wins": "any", "max_class_drop": 0.05, "note_padding": "p" * 300})
    assert len(text) > 255
    assert json_arg(text, "compare config")["wins"] == "any"


@pytest.mark.parametrize("args, message", [
    (["evaluate", "--model", "99999999999999999999"], "--model: 99999999999999999999 is "
                                                       "outside the id range"),
    (["query", "--add", "5", "--seed", "-1"], "--seed: -1 is outside the seed range"),
    (["query", "--add", "5", "--seed", str(2 ** 64)], "outside the seed range"),
    (["query", "--add", "-5"], "--add: -5 is outside the count range"),
    (["query", "--add", "5", "--tag", "a\nrow 1 | forged"], "holds a control character"),
    (["query", "--add", "5", "--tag", "\x1b[31mred"], "holds a control character"),
])
def test_out_of_range_arguments_are_refused_up_front(demo_store, args, message):
    """Ids past SQLite's integer range, seeds past 2^63 or negative, and tags with
    newlines or terminal escape codes failed deep inside, or forged a status row."""
    bad = cli(args[0], "--project", demo_store.root, *args[1:], check=False)
    assert bad.returncode == 2 and message in bad.stderr, bad.stderr
    assert demo_store.selections() == []
