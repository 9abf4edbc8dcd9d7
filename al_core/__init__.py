"""Active Learning Studio's library: local-first active learning for object detection.
No Streamlit here; the app (``app.py``, ``pages/``, ``ui/``) and the CLI
(``python -m al_core``) are built on it.

The entry points a Python user calls, one per step of the loop, importable from here::

    from al_core import Store, import_folder, QuerySpec, run_query, submit_review

    store = Store("my-project")                            # open a project
    import_folder(store, "images/", coco="labels.json")    # import images (and labels)
    run_query(store, QuerySpec(strategy="uncertainty", add=50, tag="round-1"))  # query
    submit_review(store, item_id, boxes, author="ana")     # review one image
    model_id = create_candidate(store, override={"epochs": 10})  # train: a new version,
    train_model(store, model_id)                           #   trained here, or
    model_id, job_id = start_retrain(store)                #   trained and compared in a job
                                                           #   (a first model is made active)
    result, test_set = evaluate_model(store, model_id)     # evaluate on the test split
    compare_models(store, model_id, None, parse_compare_config(raw), raw_config=raw)
                                                           # compare with the active model
                                                           # (al_core.decide.compare)

Everything else is reachable in its package (docs/architecture.md lists them):
``store``, ``formats``, ``training``, ``query``, ``review``, ``evaluation``, ``decide``,
``jobs``, ``simulation``, ``cli``; ``types``, ``names`` and ``clock`` are the base layer.

Importing ``al_core`` is light: the entry points load on first use (torch only with
the training ones), through the module ``__getattr__`` below.
"""
from __future__ import annotations

import importlib

# entry point -> the module that defines it
_ENTRY_POINTS = {
    "Store": "al_core.store",
    "import_folder": "al_core.formats.coco_import",
    "QuerySpec": "al_core.query.round",
    "run_query": "al_core.query.round",
    "submit_review": "al_core.review.save",
    "create_candidate": "al_core.training.candidates",
    "train_model": "al_core.training.train_job",
    "start_retrain": "al_core.decide.retrain",
    "evaluate_model": "al_core.evaluation.model_eval",
    "compare_models": "al_core.decide.comparison",
}

__all__ = sorted(_ENTRY_POINTS)


def __getattr__(name: str):
    if name in _ENTRY_POINTS:
        value = getattr(importlib.import_module(_ENTRY_POINTS[name]), name)
        globals()[name] = value  # once loaded, a plain attribute
        return value
    raise AttributeError(f"module 'al_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ENTRY_POINTS))
