"""Evaluations on the frozen test set, comparisons of two models, and the decisions that
change which model is active (a comparison carried out, an override, a rollback)."""
from __future__ import annotations

import json

from sqlite_utils import Database

from al_core.names import normalize_name
from al_core.store.rows import now

DECISIONS = ("update_model", "discard", "rollback")
# why a project's first model is active: recorded in its update_model decision, which has
# no comparison and no previous active model (see first_model_decision)
FIRST_MODEL_WHY = "the project's first model: there was no active model to compare it with"


def first_model_decision(record: dict) -> bool:
    """Whether a ``model_decisions`` record made its model active as the project's first
    (:meth:`DecisionsMixin.activate_first_model`): an update_model with no comparison
    and no model active before it."""
    return (record["action"] == "update_model" and record["comparison_id"] is None
            and record["previous_active_id"] is None and not record["override"])


class DecisionsMixin:
    db: Database

    # -- evaluations --------------------------------------------------------------
    def save_evaluation(self, *, model_id: int, test_set_hash: str, iou_threshold: float,
                        map: float, per_class: dict, pr_curves: dict) -> int:
        return self.db["evaluations"].insert({
            "model_id": model_id, "test_set_hash": test_set_hash,
            "iou_threshold": iou_threshold, "map": map, "per_class": json.dumps(per_class),
            "pr_curves": json.dumps(pr_curves), "created": now()}).last_pk

    def evaluation(self, model_id: int, test_set_hash: str | None,
                   iou_threshold: float) -> dict | None:
        """The newest evaluation of the model on that test set (None: on any), with
        ``per_class`` {class id (str): {"ap", "num_gt"}} and ``pr_curves`` {class id
        (str): 101 precisions at recall 0, 0.01, ..., 1} parsed; None when there is none."""
        rows = list(self.db.query(
            "SELECT * FROM evaluations WHERE model_id = ? AND coalesce(?, test_set_hash) = "
            "test_set_hash AND iou_threshold = ? ORDER BY id DESC LIMIT 1",
            [model_id, test_set_hash, iou_threshold]))
        if not rows:
            return None
        r = rows[0]
        return dict(r, per_class=json.loads(r["per_class"]), pr_curves=json.loads(r["pr_curves"]))

    def evaluated_models(self, test_set_hash: str) -> list[int]:
        """Models evaluated on the test set with this identity (see test_set_identity)."""
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT model_id FROM evaluations WHERE test_set_hash = ? ORDER BY 1",
            [test_set_hash])]

    # -- comparisons --------------------------------------------------------------
    def save_comparison(self, *, new_model_id: int, old_model_id: int | None, config: dict,
                        test_set_hash: str, per_class: list, decision: str, reason: str,
                        decided_by: str, iou_threshold: float | None = None,
                        new_map: float | None = None, old_map: float | None = None,
                        confidence: float | None = None,
                        delta_interval: tuple[float, float] | None = None) -> int:
        lo, hi = delta_interval if delta_interval else (None, None)
        decided_by = normalize_name(decided_by, kind="person")
        return self.db["comparisons"].insert({
            "new_model_id": new_model_id, "old_model_id": old_model_id,
            "config": json.dumps(config), "test_set_hash": test_set_hash,
            "per_class": json.dumps(per_class), "decision": decision, "reason": reason,
            "decided_by": decided_by, "created": now(), "iou_threshold": iou_threshold,
            "new_map": new_map, "old_map": old_map, "confidence": confidence,
            "delta_lo": lo, "delta_hi": hi}).last_pk

    def comparisons(self, *, limit: int = 20) -> list[dict]:
        """The newest comparisons first, with their config and per-class results parsed."""
        return [self._comparison_row(r) for r in self.db.query(
            f"SELECT * FROM comparisons ORDER BY id DESC LIMIT {int(limit)}")]

    def comparison(self, comparison_id: int) -> dict:
        rows = list(self.db.query("SELECT * FROM comparisons WHERE id = ?", [comparison_id]))
        if not rows:
            raise KeyError(f"no comparison with id {comparison_id}")
        return self._comparison_row(rows[0])

    @staticmethod
    def _comparison_row(r: dict) -> dict:
        return dict(r, config=json.loads(r["config"]), per_class=json.loads(r["per_class"]))

    # -- decisions ----------------------------------------------------------------
    def apply_decision(self, model_id: int, decision: str, *, decided_by: str = "system",
                       why: str = "", comparison_id: int | None = None,
                       override: bool = False) -> int:
        """Carry a decision out and record it; returns the record's id.
        update_model and rollback: the model becomes active (the previous active one
        stays, as trained); discard: the model is kept on record as discarded.
        Raises ValueError for an unknown decision."""
        if decision not in DECISIONS:
            raise ValueError(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
        decided_by = normalize_name(decided_by, kind="person")  # who, as the rule has it
        with self.write():
            stamp = now()
            previous = self.db.execute("SELECT id FROM models WHERE status = 'active'"
                                       ).fetchone()
            if decision == "discard":
                self.db.execute("UPDATE models SET status = 'discarded', updated = ? "
                                "WHERE id = ?", [stamp, model_id])
            else:
                self.db.execute("UPDATE models SET status = 'trained', updated = ? "
                                "WHERE status = 'active'", [stamp])
                self.db.execute("UPDATE models SET status = 'active', updated = ? WHERE id = ?",
                                [stamp, model_id])
            return self.db["model_decisions"].insert({
                "model_id": model_id, "action": decision, "comparison_id": comparison_id,
                "override": int(override), "previous_active_id": previous[0] if previous else None,
                "decided_by": decided_by, "why": why, "created": stamp}).last_pk

    def activate_first_model(self, model_id: int, *, decided_by: str) -> bool:
        """Make a trained model active at once when no model is active: it is the
        project's first, there is nothing to compare it with. Recorded as an update_model
        decision with no comparison (``why`` :data:`FIRST_MODEL_WHY`) and in the audit
        log. Returns False, changing nothing, when a model is active already. Raises
        ValueError for a model without checkpoint or an external one. Team mode: a
        lead's work (``decide``)."""
        with self.write():
            if self.active_model_id() is not None:
                return False
            self.authorize("decide")
            model = self.model(model_id)
            if model["status"] == "external" or not model["checkpoint_path"]:
                raise ValueError(f"model #{model_id} ({model['status']}) has no checkpoint: "
                                 "only a trained model can be made active")
            self.apply_decision(model_id, "update_model", decided_by=decided_by,
                                why=FIRST_MODEL_WHY)
            self.audit("decision.first_model", object_type="model", object_id=model_id,
                       summary=f"model #{model_id} made active as the project's first model "
                               "(there was no active model to compare it with)",
                       before={"active_model": None}, after={"active_model": model_id})
        return True

    def model_decisions(self, model_id: int | None = None) -> list[dict]:
        """Decision records, newest first (of one model, or all)."""
        where, args = ("WHERE model_id = ?", [model_id]) if model_id is not None else ("", [])
        return list(self.db.query(
            f"SELECT * FROM model_decisions {where} ORDER BY id DESC", args))
