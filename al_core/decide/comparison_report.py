"""What the comparison dashboard shows for one stored comparison: per class, both
models' AP, the difference, won or not, the ground-truth count and both precision-recall
curves (read from the evaluations the comparison was made from, on the same test set);
and the sentence that says how sure the decision is: the mAP difference with its paired
bootstrap interval, and a warning when that interval includes 0."""
from __future__ import annotations

from dataclasses import dataclass

from al_core.store import Store


@dataclass(frozen=True)
class ClassRow:
    class_id: int
    name: str
    new_ap: float
    old_ap: float | None  # None: no old model
    won: bool
    num_gt: int
    new_curve: list[float] | None  # 101 precisions at recall 0, 0.01, ..., 1
    old_curve: list[float] | None

    @property
    def delta(self) -> float | None:
        return None if self.old_ap is None else self.new_ap - self.old_ap


@dataclass(frozen=True)
class ComparisonReport:
    comparison: dict  # the stored row (see Store.comparison)
    rows: list[ClassRow]
    current_test_set: bool  # made on the test set as it is now
    test_images: int  # in the current test set
    carried_out: dict | None  # the model_decisions record that carried it out, if any

    @property
    def iou_threshold(self) -> float:
        return comparison_iou(self.comparison)


def comparison_iou(c: dict) -> float:
    """The IoU threshold a stored comparison was made at (older rows: from its config)."""
    if c["iou_threshold"] is not None:
        return c["iou_threshold"]
    return c["config"].get("checks", {}).get("precision_recall", {}).get("iou_threshold", 0.5)


def comparison_report(store: Store, comparison_id: int) -> ComparisonReport:
    """The dashboard's data for a stored comparison. Raises KeyError for an unknown id."""
    c = store.comparison(comparison_id)
    names = {k.id: k.name for k in store.classes()}
    iou = comparison_iou(c)
    new_eval = store.evaluation(c["new_model_id"], c["test_set_hash"], iou)
    old_eval = store.evaluation(c["old_model_id"], c["test_set_hash"], iou) \
        if c["old_model_id"] is not None else None

    def curve(evaluation: dict | None, class_id: int) -> list[float] | None:
        return (evaluation or {}).get("pr_curves", {}).get(str(class_id))

    rows = [ClassRow(
        class_id=p["class_id"], name=names.get(p["class_id"], f"class {p['class_id']}"),
        new_ap=p["new_ap"], old_ap=p["old_ap"] if c["old_model_id"] is not None else None,
        won=bool(p["won"]),
        num_gt=int((new_eval or {}).get("per_class", {}).get(str(p["class_id"]), {})
                   .get("num_gt", 0)),
        new_curve=curve(new_eval, p["class_id"]), old_curve=curve(old_eval, p["class_id"]))
        for p in c["per_class"]]
    test_ids, digest = store.test_set_identity()
    done = [d for d in store.model_decisions(c["new_model_id"])
            if d["comparison_id"] == comparison_id]
    return ComparisonReport(c, rows, digest == c["test_set_hash"], len(test_ids),
                            done[0] if done else None)


NOISE_WARNING = "The interval includes 0: on this test set the difference may be noise."


def difference_sentence(new_id: int, old_id: int, delta: float,
                        interval: tuple[float, float] | None, *, iou: float) -> str:
    """How much better the new model is, and how sure: ``'Model #4 is better than #3 by
    +0.031 mAP50 (95% interval -0.004 to +0.066)'``. ``delta``: test mAP new - old at
    IoU ``iou``; ``interval``: its paired bootstrap 95% interval (None: the compare
    config ran no bootstrap, which the sentence says)."""
    metric = f"mAP{iou * 100:g}"
    sure = ("no bootstrap interval: the compare config runs none" if interval is None
            else f"95% interval {interval[0]:+.3f} to {interval[1]:+.3f}")
    if abs(delta) < 0.0005:  # +0.000 either way
        return f"Model #{new_id} scores the same {metric} as #{old_id} ({delta:+.3f}; {sure})"
    return (f"Model #{new_id} is {'better' if delta > 0 else 'worse'} than #{old_id} by "
            f"{delta:+.3f} {metric} ({sure})")


def interval_warning(interval: tuple[float, float] | None) -> str | None:
    """:data:`NOISE_WARNING` when the bootstrap interval of the mAP difference includes
    0 (``lo <= 0 <= hi``): the test set cannot tell the two models apart; else None."""
    if interval is None:
        return None
    lo, hi = interval
    return NOISE_WARNING if lo <= 0 <= hi else None


def report_sentence(comparison: dict) -> tuple[str | None, str | None]:
    """(:func:`difference_sentence`, :func:`interval_warning`) of a stored comparison;
    (None, None) for one with no old model or no mAPs stored (older rows)."""
    c = comparison
    if c["old_model_id"] is None or c["new_map"] is None or c["old_map"] is None:
        return None, None
    interval = None if c["delta_lo"] is None else (c["delta_lo"], c["delta_hi"])
    return (difference_sentence(c["new_model_id"], c["old_model_id"],
                                c["new_map"] - c["old_map"], interval,
                                iou=comparison_iou(c)),
            interval_warning(interval))
