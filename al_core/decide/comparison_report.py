"""What the comparison dashboard shows for one stored comparison: per class, both
models' AP, the difference, won or not, the ground-truth count and both precision-recall
curves (read from the evaluations the comparison was made from, on the same test set)."""
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
