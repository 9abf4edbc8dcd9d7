"""Create New Model: a candidate model version whose config clones a base model's (by
default the active one) with an override, checked to fit this machine's memory before
anything is queued. No torch here."""
from __future__ import annotations

from al_core.store import Store
from al_core.training.config import TrainConfig, merge_config
from al_core.training.memory_fit import check_fits


def create_candidate(store: Store, *, base_model_id: int | None = None,
                     override: dict | None = None, name: str | None = None) -> int:
    """A new model version whose config is the base model's (by default the active one;
    the defaults when there is none) with ``override`` applied; parent = the base.
    Raises ValueError for a bad override, a project without classes, or a config whose
    training would not fit in this machine's memory
    (:func:`al_core.training.memory_fit.check_fits`)."""
    base_id = base_model_id if base_model_id is not None else store.active_model_id()
    base = store.model(base_id)["config"] if base_id is not None else TrainConfig()
    config = merge_config(base, override)
    if not store.classes():
        raise ValueError("the project has no classes yet; import or label some images first")
    check_fits(config, store.count_items(status="labeled"))  # the train + val it will load
    count = len(store.models()) + 1
    return store.add_model(name=name or f"{config.arch}-v{count}", arch=config.arch,
                           status="candidate", config=config.to_dict(), parent_id=base_id)
