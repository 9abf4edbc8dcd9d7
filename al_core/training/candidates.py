"""Create New Model: a candidate model version whose config clones a base model's (by
default the active one) with an override, checked to fit this machine's memory before
anything is queued. No torch here."""
from __future__ import annotations

from al_core.store import Store
from al_core.training.config import TrainConfig, merge_config
from al_core.training.data_fit import fit_first_config
from al_core.training.memory_fit import check_fits


def create_candidate(store: Store, *, base_model_id: int | None = None,
                     override: dict | None = None, name: str | None = None,
                     fit_to_data: bool = True) -> int:
    """A new model version whose config is the base model's (by default the active one)
    with ``override`` applied; parent = the base. With no base (a project's first model)
    the defaults are fitted to the labeled data first
    (:func:`al_core.training.data_fit.fit_first_config`; what it chose and why are kept
    in the model's metrics as ``data_fit``), unless ``fit_to_data`` is False.
    Raises ValueError for a bad override, a project without classes, or a config whose
    training would not fit in this machine's memory
    (:func:`al_core.training.memory_fit.check_fits`). Team mode: a lead's work
    (``train``)."""
    store.authorize("train")
    base_id = base_model_id if base_model_id is not None else store.active_model_id()
    if not store.classes():
        raise ValueError("the project has no classes yet; import or label some images first")
    labeled = store.count_items(status="labeled", trainable=True)  # the train + val it will load, at most
    fit = None
    if base_id is None and fit_to_data:
        merge_config(TrainConfig(), override)  # a bad override is named before any fit
        config, fit = fit_first_config(store, override, memory_images=labeled)
    else:
        config = merge_config(store.model(base_id)["config"] if base_id is not None
                              else TrainConfig(), override)
    check_fits(config, labeled)
    count = len(store.models()) + 1
    with store.write():
        model_id = store.add_model(name=name or f"{config.arch}-v{count}", arch=config.arch,
                                   status="candidate", config=config.to_dict(),
                                   parent_id=base_id)
        if fit is not None:
            store.update_model(model_id, metrics={"data_fit": fit.as_dict()})
        store.audit("model.create", object_type="model", object_id=model_id,
                    summary=f"new model version #{model_id} ({config.arch})"
                            + (f" from model #{base_id}" if base_id is not None else ""),
                    after={"base": base_id, "override": override or None})
    return model_id
