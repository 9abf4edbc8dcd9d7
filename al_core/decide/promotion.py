"""Which model is active: the project's compare config, carrying out a stored
comparison's decision, overriding it (who and why are recorded), rolling back to an
earlier version. Every change is one transaction and one ``model_decisions`` record."""
from __future__ import annotations

import json

from al_core.decide.compare import DEFAULT_COMPARE_CONFIG, parse_compare_config
from al_core.store import Store
from al_core.store.decisions import first_model_decision

COMPARE_CONFIG_KEY = "compare_config"
OPPOSITE = {"update_model": "discard", "discard": "update_model"}


def project_compare_config(store: Store) -> dict:
    """The project's compare config (raw JSON, as Dataloop writes it): the saved one, or
    :data:`al_core.decide.compare.DEFAULT_COMPARE_CONFIG` when none was saved."""
    raw = store.get_meta(COMPARE_CONFIG_KEY)
    return json.loads(raw) if raw else json.loads(json.dumps(DEFAULT_COMPARE_CONFIG))


def save_compare_config(store: Store, raw: dict) -> None:
    """Validate and keep the project's compare config. Raises ValueError naming the key.
    Team mode: a lead's work (``decide``)."""
    store.authorize("decide")
    parse_compare_config(raw)
    with store.write():
        before = store.get_meta(COMPARE_CONFIG_KEY)
        store.set_meta(COMPARE_CONFIG_KEY, json.dumps(raw))
        store.audit("decision.compare_config", object_type="project",
                    summary="saved the project's compare config",
                    before=before, after=json.dumps(raw, sort_keys=True))


def _promotable(store: Store, model_id: int) -> None:
    model = store.model(model_id)
    if model["status"] == "external":
        raise ValueError(f"model #{model_id} is an external model (imported predictions); "
                         "it can be compared but not made active")
    if not model["checkpoint_path"]:
        raise ValueError(f"model #{model_id} has no checkpoint (status {model['status']}); "
                         "only a trained model can be made active")


def carry_out(store: Store, comparison_id: int, *, decided_by: str, override: bool = False,
              why: str = "") -> str:
    """Carry out a stored comparison's decision, or with ``override`` the opposite one
    (``why`` required). Returns the decision carried out. Raises ValueError when the
    comparison is stale: the active model is no longer the one it was compared with
    (for update_model), or the new model is already active or discarded. Team mode: a
    lead's work (``decide``), ``decided_by`` the acting user (PermissionDenied for
    another name)."""
    store.authorize("decide")
    decided_by = store.own_name(decided_by, what="decided_by")
    c = store.comparison(comparison_id)
    decision = OPPOSITE[c["decision"]] if override else c["decision"]
    if override and not why.strip():
        raise ValueError("an override needs a reason: say why the comparison's decision "
                         "is not followed")
    new_id = c["new_model_id"]
    with store.write():
        status = store.model(new_id)["status"]
        if status == "active":
            raise ValueError(f"model #{new_id} is already the active model")
        if decision == "update_model":
            _promotable(store, new_id)
            active = store.active_model_id()
            if active != c["old_model_id"] and active is not None:
                raise ValueError(
                    f"this comparison was made against "
                    f"{'#' + str(c['old_model_id']) if c['old_model_id'] else 'no model'}, "
                    f"but #{active} is active now: compare #{new_id} with #{active} first")
        elif status == "discarded":
            raise ValueError(f"model #{new_id} is already discarded")
        before = store.active_model_id()
        store.apply_decision(new_id, decision, decided_by=decided_by,
                             why=why.strip() if override else c["reason"],
                             comparison_id=comparison_id, override=override)
        store.audit("decision.override" if override else "decision.carry_out",
                    object_type="model", object_id=new_id,
                    summary=f"{decision} for model #{new_id} (comparison #{comparison_id})"
                            + (f", overriding {c['decision']}: {why.strip()}" if override
                               else ""),
                    before={"active_model": before},
                    after={"active_model": store.active_model_id(), "decision": decision})
    return decision


def make_first_active(store: Store, model_id: int, *, decided_by: str) -> None:
    """Make a trained model active as the project's first, with no comparison: no model
    is active, so there is nothing to compare it with (a project whose first model was
    trained before first models became active on their own). Recorded as
    :meth:`~al_core.store.Store.activate_first_model` records it. Raises ValueError when
    a model is active (compare with it instead), for an external model or one without
    checkpoint. Team mode: a lead's work (``decide``), ``decided_by`` the acting user."""
    store.authorize("decide")
    decided_by = store.own_name(decided_by, what="decided_by")
    _promotable(store, model_id)
    if not store.activate_first_model(model_id, decided_by=decided_by):
        active = store.active_model_id()
        raise ValueError(f"model #{active} is active: compare model #{model_id} with it"
                         if active != model_id else
                         f"model #{model_id} is already the active model")


def first_model_record(store: Store) -> dict | None:
    """The ``model_decisions`` record that made the active model active as the project's
    first (:func:`al_core.store.decisions.first_model_decision`), if that is why it is
    active; None otherwise (compared and promoted, rolled back, or no model active)."""
    active = store.active_model_id()
    if active is None:
        return None
    newest = store.model_decisions(active)
    own = [d for d in newest if d["action"] != "discard"]
    return own[0] if own and first_model_decision(own[0]) else None


def roll_back(store: Store, model_id: int, *, decided_by: str, why: str) -> None:
    """Make an earlier version active again (recorded as a rollback, with who and why).
    Raises ValueError for the active model, a model without checkpoint or an external
    one, or an empty reason. Team mode: a lead's work (``decide``), ``decided_by`` the
    acting user (PermissionDenied for another name)."""
    store.authorize("decide")
    decided_by = store.own_name(decided_by, what="decided_by")
    if not why.strip():
        raise ValueError("a rollback needs a reason")
    with store.write():
        before = store.active_model_id()
        if before == model_id:
            raise ValueError(f"model #{model_id} is already the active model")
        _promotable(store, model_id)
        store.apply_decision(model_id, "rollback", decided_by=decided_by, why=why.strip())
        store.audit("decision.rollback", object_type="model", object_id=model_id,
                    summary=f"rolled back to model #{model_id}: {why.strip()}",
                    before={"active_model": before}, after={"active_model": model_id})
