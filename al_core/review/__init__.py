"""Labels coming back: saving a review as one transaction
(:mod:`al_core.review.save`), counting what an annotator changed against the pre-labels
(:mod:`~al_core.review.changes`), the corrections a simulated annotator would make
(:mod:`~al_core.review.corrections`), and a selection reviewed in an external tool and
imported back (:mod:`~al_core.review.external`).

May import: ``al_core.query``, ``al_core.training``, ``al_core.evaluation``, ``al_core.formats``,
``al_core.jobs``, ``al_core.store`` and the root modules.
The layering: docs/architecture.md, checked by tests/test_layering.py.
"""
