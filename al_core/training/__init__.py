"""Training detectors: architectures behind one interface
(:mod:`al_core.training.detector`; compact and torchvision, with pretrained backbone
files verified in :mod:`~al_core.training.backbone_weights`), the training config and
its ranges (:mod:`~al_core.training.config`), Create New Model
(:mod:`~al_core.training.candidates`), the memory check, the train/val/test split, the
training loop (:mod:`~al_core.training.loop`), pseudo-labels, checkpoints, the train job
(:mod:`~al_core.training.train_job`) and prediction (:mod:`~al_core.training.prediction`).

Torch is imported only by the modules that need it: config, candidates, memory_fit,
split and pseudo_labels stay light, so the UI can use them cheaply.

May import: ``al_core.evaluation``, ``al_core.formats``, ``al_core.jobs``,
``al_core.store`` and the root modules.
The layering: docs/architecture.md, checked by tests/test_layering.py.
"""
