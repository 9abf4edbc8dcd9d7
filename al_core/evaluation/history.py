"""The model history as people read it: every version with its parent, status, what
changed in its config against the parent, the labels it was trained on, its test mAP50
and the decision that made it active, kept it out, or replaced it."""
from __future__ import annotations

from dataclasses import dataclass

from al_core.store import Store
from al_core.store.decisions import first_model_decision

MAP_IOU = 0.5


@dataclass(frozen=True)
class VersionRow:
    id: int
    name: str
    parent_id: int | None
    status: str
    active: bool
    config_change: str  # against the parent: "epochs 80 → 40"; "same config"; "" (no parent)
    labels: int | None  # train + val images it was trained on (None: not trained here)
    rounds: list[int]
    test_map50: float | None
    test_note: str  # "" | "not evaluated" | "on an earlier test set"
    decision: str  # the newest decision about it, in a few words
    decision_detail: str  # the same with who and why
    created: str  # ISO timestamp
    pseudo_labels: int = 0  # pool images it also trained on, pseudo-labeled by its parent


def config_change(config: dict, parent: dict | None) -> str:
    """The keys whose values differ from the parent's config, as ``key old → new``."""
    if parent is None:
        return ""
    changed = [f"{k} {parent.get(k)!r} → {config.get(k)!r}".replace("'", "")
               for k in sorted(set(config) | set(parent)) if config.get(k) != parent.get(k)]
    return "; ".join(changed) if changed else "same config"


def _decision(model_id: int, decisions: list[dict], comparisons: list[dict]
              ) -> tuple[str, str]:
    """(a few words for a table, the whole sentence with who and why) of the newest
    decision about the model; ("", "") when there is none. ``decisions`` and
    ``comparisons``: all of the project's, newest first."""
    own = [d for d in decisions if d["model_id"] == model_id]
    replaced = [d for d in decisions
                if d["previous_active_id"] == model_id and d["model_id"] != model_id
                and d["action"] != "discard"]
    events = [(d["id"], d, "own") for d in own] + [(d["id"], d, "replaced") for d in replaced]
    if not events:
        pending = [c for c in comparisons if c["new_model_id"] == model_id]
        if not pending:
            return "", ""
        return (f"waiting: {pending[0]['decision']} suggested",
                f"compared with {_ref(pending[0]['old_model_id'])}: {pending[0]['decision']} "
                f"suggested, not carried out yet ({pending[0]['reason']})")
    _, d, kind = max(events, key=lambda e: e[0])
    who = d["decided_by"]
    if kind == "replaced":
        return (f"replaced by #{d['model_id']}",
                f"replaced by #{d['model_id']} ({d['action'].replace('_', ' ')}, {who})")
    if first_model_decision(d):  # active with no comparison: never "promoted"
        return ("first model", f"active as the project's first model ({who}): there was "
                               "no active model to compare it with")
    if d["action"] == "rollback":
        return "rolled back to", f"made active again by a rollback ({who}: {d['why']})"
    against = f" over #{d['previous_active_id']}" if d["previous_active_id"] else ""
    verb = "promoted" if d["action"] == "update_model" else "discarded"
    if d["override"]:
        return (f"{verb} by override", f"{verb}{against} by an override ({who}: {d['why']})")
    return f"{verb}{against}", f"{verb}{against} ({who}): {d['why']}"


def _ref(model_id: int | None) -> str:
    return f"#{model_id}" if model_id is not None else "no previous model"


def model_history(store: Store) -> list[VersionRow]:
    """Every model version, newest first."""
    models = store.models()
    by_id = {m["id"]: m for m in models}
    _, digest = store.test_set_identity()
    decisions, comparisons = store.model_decisions(), store.comparisons(limit=100_000)
    rows = []
    for m in reversed(models):
        parent = by_id.get(m["parent_id"])
        metrics = m["metrics"]
        labels = metrics.get("labeled_images", metrics.get("train_images"))
        evaluation = store.evaluation(m["id"], digest, MAP_IOU)
        note = ""
        if evaluation is None:
            older = store.evaluation(m["id"], None, MAP_IOU)
            test_map, note = (older["map"], "on an earlier test set") if older else \
                (None, "not evaluated" if m["checkpoint_path"] or m["status"] == "external"
                 else "")
        else:
            test_map = evaluation["map"]
        decision = _decision(m["id"], decisions, comparisons)
        change = config_change(m["config"], parent["config"] if parent else None)
        rows.append(VersionRow(
            id=m["id"], name=m["name"], parent_id=m["parent_id"], status=m["status"],
            active=m["status"] == "active", config_change=change, labels=labels,
            rounds=list(metrics.get("rounds", [])), test_map50=test_map, test_note=note,
            decision=decision[0], decision_detail=decision[1], created=m["created"],
            pseudo_labels=int(metrics.get("pseudo_labeled_images") or 0)))
    return rows
