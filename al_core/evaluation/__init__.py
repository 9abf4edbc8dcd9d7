"""Scoring detections against labels: COCO-style PR curves and AP, COCO files
evaluated as pycocotools would (:mod:`al_core.evaluation.metrics`), a model version's
stored evaluation on the frozen test split (:mod:`~al_core.evaluation.model_eval`),
model history and the project's progress over rounds.

No decisions here (those are :mod:`al_core.decide`), and no torch: training imports the
metrics for its validation mAP.

May import: ``al_core.store`` and the root modules.
The layering: docs/architecture.md, checked by tests/test_layering.py.
"""
