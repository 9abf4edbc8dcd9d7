"""AP equal to pycocotools (the reference, a test dependency only) on generated cases."""
import contextlib
import copy
import io

import numpy as np
import pytest

from al_core.evaluation.metrics import evaluate_coco

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def reference(gt: dict, results: list, iou: float) -> dict[int, float]:
    """Per-class AP from pycocotools with a single IoU threshold."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.iouThrs = np.array([iou])
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][0, :, :, 0, -1]  # (R, K) at area all, maxDets 100
    out = {}
    for k, cat in enumerate(ev.params.catIds):
        p = precision[:, k]
        if (p > -1).any():
            out[cat] = float(np.mean(p[p > -1]))
    return out


def make_case(seed: int, *, n_images=30, n_classes=5, crowd=False, many=False, ties=False,
              quantize=False):
    rng = np.random.default_rng(seed)
    cats = [{"id": c, "name": f"c{c}"} for c in range(1, n_classes + 1)]
    images = [{"id": i, "file_name": f"{i}.png", "width": 200, "height": 200}
              for i in rng.permutation(np.arange(1, n_images + 1) * 3).tolist()]
    anns, results = [], []
    present = cats[:-1]  # the last category never has ground truth
    for img in images:
        if rng.random() < 0.15:
            continue  # an image without ground truth
        for _ in range(rng.integers(1, 9)):
            x, y = rng.uniform(0, 150, 2)
            w, h = rng.uniform(5, 50, 2)
            if quantize:
                x, y, w, h = (float(round(v / 4) * 4 + 4) for v in (x, y, w, h))
            cat = int(rng.choice([c["id"] for c in present]))
            anns.append({"id": len(anns) + 1, "image_id": img["id"], "category_id": cat,
                         "bbox": [float(x), float(y), float(w), float(h)], "area": float(w * h),
                         "iscrowd": int(crowd and rng.random() < 0.1)})
    by_image = {}
    for a in anns:
        by_image.setdefault(a["image_id"], []).append(a)
    for img in images:
        if rng.random() < 0.1:
            continue  # an image without detections
        truth = by_image.get(img["id"], [])
        n_dets = rng.integers(120, 180) if many and rng.random() < 0.3 else rng.integers(0, 12)
        for _ in range(n_dets):
            if truth and rng.random() < 0.6:
                g = truth[rng.integers(len(truth))]
                box = (np.array(g["bbox"]) + rng.normal(0, 4, 4) * (not quantize)).tolist()
                box[2], box[3] = max(box[2], 1.0), max(box[3], 1.0)
                cat = g["category_id"] if rng.random() < 0.85 else int(rng.integers(1, n_classes + 1))
            else:
                box = [*rng.uniform(0, 150, 2).tolist(), *rng.uniform(5, 50, 2).tolist()]
                cat = int(rng.integers(1, n_classes + 1))
            score = float(rng.integers(0, 5) / 4) if ties else float(rng.random())
            results.append({"image_id": img["id"], "category_id": cat, "bbox": box,
                            "score": score})
    return {"images": images, "annotations": anns, "categories": cats}, results


CASES = {
    "plain": dict(),
    "score ties": dict(ties=True),
    "iou ties on a grid": dict(ties=True, quantize=True),
    "over 100 detections per image": dict(many=True),
    "crowd regions": dict(crowd=True),
    "everything": dict(crowd=True, many=True, ties=True),
}


@pytest.mark.parametrize("iou", [0.5, 0.75, 0.3])
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_equal_to_pycocotools(name, seed, iou):
    gt, results = make_case(seed, **CASES[name])
    ours, _ = evaluate_coco(gt, results, iou_threshold=iou)
    expected = reference(gt, results, iou)
    assert set(ours.per_class) == set(expected)  # the class without ground truth is left out
    for cat, ap in expected.items():
        assert ours.per_class[cat].ap == pytest.approx(ap, abs=1e-6), cat
    assert ours.map == pytest.approx(np.mean(list(expected.values())), abs=1e-6)


def test_empty_results_give_zero_ap_where_pycocotools_crashes():
    gt, _ = make_case(3)
    result, names = evaluate_coco(gt, [])
    assert result.map == 0.0 and all(r.ap == 0.0 for r in result.per_class.values())
    assert len(result.per_class) == 4 and set(names) == {1, 2, 3, 4, 5}


def test_perfect_detections_score_one_and_misses_lower_recall():
    gt, _ = make_case(4, crowd=False)
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
                "score": 0.9} for a in gt["annotations"]]
    assert evaluate_coco(gt, perfect)[0].map == pytest.approx(1.0)
    half = perfect[::2]
    result = evaluate_coco(gt, half)[0]
    assert 0.3 < result.map < 0.7


def test_detections_on_unknown_images_are_refused():
    gt, _ = make_case(5)
    with pytest.raises(ValueError, match="image_id 999999 is not an image"):
        evaluate_coco(gt, [{"image_id": 999999, "category_id": 1, "bbox": [0, 0, 1, 1],
                            "score": 1.0}])


def test_an_iou_tie_goes_to_the_last_ground_truth_as_in_pycocotools():
    gt = {"images": [{"id": 1, "width": 40, "height": 20}],
          "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10],
                           "area": 100, "iscrowd": 0},
                          {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10, 0, 10, 10],
                           "area": 100, "iscrowd": 0}]}
    results = [{"image_id": 1, "category_id": 1, "bbox": [5, 0, 10, 10], "score": 0.9},  # 1/3 each
               {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.8}]
    ours = evaluate_coco(gt, results, iou_threshold=0.3)[0]
    assert ours.map == pytest.approx(reference(gt, results, 0.3)[1], abs=1e-12)
    assert ours.map == pytest.approx(1.0)  # the first detection took box 2, leaving box 1


def visdrone_ids(gt: dict, results: list, *, categories: bool = False) -> tuple[dict, list]:
    """The same case with VisDrone-style string image ids (whose sorted order differs
    from the numbers'), and string category ids too with ``categories``."""
    image = {i["id"]: f"{i['id']:07d}_02999_d_{i['id'] % 7:07d}" for i in gt["images"]}
    cat = {c["id"]: f"c{c['id']}" if categories else c["id"] for c in gt["categories"]}
    gt = {"images": [{**i, "id": image[i["id"]]} for i in gt["images"]],
          "categories": [{**c, "id": cat[c["id"]]} for c in gt["categories"]],
          "annotations": [{**a, "image_id": image[a["image_id"]],
                           "category_id": cat[a["category_id"]]} for a in gt["annotations"]]}
    results = [{**r, "image_id": image[r["image_id"]], "category_id": cat[r["category_id"]]}
               for r in results]
    return gt, results


@pytest.mark.parametrize("categories", [False, True])
@pytest.mark.parametrize("name", ["score ties", "everything"])
def test_string_ids_equal_to_pycocotools(name, categories):
    gt, results = visdrone_ids(*make_case(2, **CASES[name]), categories=categories)
    ours, names = evaluate_coco(gt, results, iou_threshold=0.5)
    expected = reference(gt, results, 0.5)
    assert set(ours.per_class) == set(expected) == {c["id"] for c in gt["categories"][:-1]}
    for cat, ap in expected.items():
        assert ours.per_class[cat].ap == pytest.approx(ap, abs=1e-12), cat
    assert names == {c["id"]: c["name"] for c in gt["categories"]}


VISDRONE_GT = {
    "images": [{"id": "0000001_02999_d_0000005", "width": 100, "height": 80},
               {"id": "0000002_00005_d_0000014", "width": 100, "height": 80}],
    "categories": [{"id": 4, "name": "car"}, {"id": 1, "name": "pedestrian"}],
    "annotations": [{"id": 1, "image_id": "0000001_02999_d_0000005", "category_id": 4,
                     "bbox": [10, 20, 30, 15], "area": 450, "iscrowd": 0},
                    {"id": 2, "image_id": "0000002_00005_d_0000014", "category_id": 1,
                     "bbox": [50, 5, 8, 20], "area": 160, "iscrowd": 0}]}
VISDRONE_EXACT = [{"image_id": a["image_id"], "category_id": a["category_id"],
                   "bbox": a["bbox"], "score": 0.8} for a in VISDRONE_GT["annotations"]]


def test_an_exact_detection_with_visdrone_ids_scores_ap50_one():
    ours, names = evaluate_coco(VISDRONE_GT, VISDRONE_EXACT, iou_threshold=0.5)
    assert ours.per_class[4].ap == pytest.approx(1.0) and ours.map == pytest.approx(1.0)
    assert ours.per_class == {4: ours.per_class[4], 1: ours.per_class[1]}
    assert {c: r.ap for c, r in ours.per_class.items()} == reference(VISDRONE_GT, VISDRONE_EXACT,
                                                                     0.5)
    assert names == {4: "car", 1: "pedestrian"}


def test_string_one_is_an_id_and_the_number_one_is_not_it():
    gt = copy.deepcopy(VISDRONE_GT)
    gt["images"][0]["id"] = gt["annotations"][0]["image_id"] = "1"
    exact = [{**VISDRONE_EXACT[0], "image_id": "1"}]
    expected = reference(gt, exact, 0.5)[4]
    assert evaluate_coco(gt, exact)[0].per_class[4].ap == pytest.approx(expected)
    number = [{**exact[0], "image_id": 1}]
    with pytest.raises(AssertionError, match="do not correspond"):
        reference(gt, number, 0.5)  # pycocotools refuses it too
    with pytest.raises(ValueError, match=r"detection #0: image_id 1 is not an image of the "
                                         r"ground truth, whose id is '1' \(str, not int\)"):
        evaluate_coco(gt, number)


def test_a_float_id_is_the_equal_integer_as_in_pycocotools():
    gt, results = make_case(6)
    as_float = [{**r, "image_id": float(r["image_id"])} for r in results]
    ours = evaluate_coco(gt, as_float)[0]
    assert {c: r.ap for c, r in ours.per_class.items()} == pytest.approx(
        reference(gt, as_float, 0.5), abs=1e-12)
    assert ours.map == evaluate_coco(gt, results)[0].map


@pytest.mark.parametrize("what, ids", [("images", [8, "7"]), ("categories", [4, "x"])])
def test_strings_beside_numbers_in_the_ground_truth_are_refused(what, ids):
    gt = copy.deepcopy(VISDRONE_GT)
    for entry, new in zip(gt[what], ids):
        entry["id"] = new
    one = [{**VISDRONE_EXACT[0], "image_id": gt["images"][0]["id"]}]
    with pytest.raises(TypeError, match="not supported between"):
        reference(gt, one, 0.5)  # pycocotools cannot sort them
    with pytest.raises(ValueError, match="ids must all be strings or all be numbers"):
        evaluate_coco(gt, one)


def test_eval_coco_command_takes_visdrone_ids(tmp_path):
    import json

    from tests.datasets import write_json
    from tests.test_cli import cli

    gt, dt = write_json(tmp_path / "gt.json", VISDRONE_GT), tmp_path / "dt.json"
    write_json(dt, VISDRONE_EXACT)
    data = json.loads(cli("eval-coco", "--gt", gt, "--dt", dt, "--json").stdout)
    assert data["per_class"] == {"car": {"ap": pytest.approx(1.0), "num_gt": 1},
                                 "pedestrian": {"ap": pytest.approx(1.0), "num_gt": 1}}
    write_json(dt, [{**VISDRONE_EXACT[0], "image_id": 1}])
    refused = cli("eval-coco", "--gt", gt, "--dt", dt, check=False)
    assert refused.returncode == 2 and "image_id 1 is not an image of the ground truth" in \
        refused.stderr


def test_degenerate_ground_truth_is_named_and_scored_as_pycocotools_scores_it():
    """eval-coco scored ground truth with a zero or negative width or height silently
    (import refuses such a box). It is kept as pycocotools keeps it, and named."""
    from al_core.evaluation.metrics import degenerate_ground_truth

    def ann(n, image, bbox, **extra):
        return {"id": n, "image_id": image, "category_id": 1, "bbox": bbox,
                "area": bbox[2] * bbox[3], "iscrowd": 0, **extra}

    gt = {"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [ann(10, 1, [10, 10, 20, 20]), ann(11, 1, [50, 50, -10, 20]),
                          ann(12, 2, [50, 50, 0, 0]), ann(13, 2, [50, 50, -5, -5]),
                          ann(14, 2, [5, 5, 0, 5], iscrowd=1), ann(15, 9, [5, 5, 0, 5])]}
    results = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},
               {"image_id": 2, "category_id": 1, "bbox": [45, 45, 10, 10], "score": 0.8}]
    tail = "no detection can match it; {}, as in pycocotools (import refuses such a box)"
    assert degenerate_ground_truth(gt) == [
        "annotation 11 of image 1: bbox width -10, height 20: " + tail.format(
            "it is ignored, its area -200 is outside COCO's range"),
        "annotation 12 of image 2: bbox width 0, height 0: " + tail.format(
            "it counts as a missed object"),
        "annotation 13 of image 2: bbox width -5, height -5: " + tail.format(
            "it counts as a missed object"),
        "annotation 14 of image 2: bbox width 0, height 5: " + tail.format(
            "it is ignored, a crowd region")]  # 15's image is not in the file: not scored
    ours, _ = evaluate_coco(gt, results, iou_threshold=0.5)
    assert ours.per_class[1].num_gt == 3
    assert ours.per_class[1].ap == pytest.approx(reference(gt, results, 0.5)[1], abs=1e-6)
    assert degenerate_ground_truth({**gt, "annotations": gt["annotations"][:1]}) == []


def test_eval_coco_warns_on_stderr_and_keeps_stdout_json(tmp_path, capsys):
    import json

    from al_core.cli import main

    gt = {"images": [{"id": "a"}], "categories": [{"id": 1, "name": "c"}],
          "annotations": [{"id": n, "image_id": "a", "category_id": 1,
                           "bbox": [1, 1, 4, 4] if n == 0 else [1, 1, 0, 4]}
                          for n in range(25)]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps([{"image_id": "a", "category_id": 1,
                                                    "bbox": [1, 1, 4, 4], "score": 1}]))
    assert main(["eval-coco", "--gt", str(tmp_path / "gt.json"), "--dt",
                 str(tmp_path / "dt.json"), "--json"]) == 0
    out, err = capsys.readouterr()
    # recall 1/25 at precision 1: 5 of the 101 recall thresholds (0 to 0.04) are reached
    assert json.loads(out)["per_class"] == {"c": {"ap": pytest.approx(5 / 101), "num_gt": 25}}
    lines = err.splitlines()
    assert len(lines) == 21 and lines[0] == (
        "warning: ground truth annotation 1 of image 'a': bbox width 0, height 4: no "
        "detection can match it; it counts as a missed object, as in pycocotools (import "
        "refuses such a box)")
    assert lines[-1] == ("warning: and 4 more ground-truth boxes with zero or negative "
                         "width or height")


def test_a_degenerate_box_whose_area_is_null_or_text_is_named_not_a_traceback():
    """``"area": null`` beside a zero-width box raised TypeError in the warning pass
    after the file had been scored; the area is read as the evaluator reads it."""
    from al_core.evaluation.metrics import degenerate_ground_truth
    gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 0, 5],
                           "area": None},
                          {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 0, 5],
                           "area": "1e11"}]}
    tail = "no detection can match it; {}, as in pycocotools (import refuses such a box)"
    assert degenerate_ground_truth(gt) == [
        "annotation 1 of image 1: bbox width 0, height 5: " + tail.format(
            "it counts as a missed object"),
        "annotation 2 of image 1: bbox width 0, height 5: " + tail.format(
            "it is ignored, its area 1e+11 is outside COCO's range")]
    result, _ = evaluate_coco(gt, [], iou_threshold=0.5)
    assert result.per_class[1].num_gt == 1  # the null area counts, the huge one is ignored
