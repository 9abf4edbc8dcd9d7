"""Choosing what to label next: a strategy is a measure (one score per image,
:mod:`al_core.query.measures`) and a selector (pick k, :mod:`~al_core.query.selectors`);
image embeddings from the pretrained backbone (:mod:`~al_core.query.embeddings`) and
handcrafted image features, near-duplicates (:mod:`~al_core.query.duplicates`),
label-cost estimates, the name -> strategy registry the UI and the CLI share
(:mod:`~al_core.query.strategies`), what a strategy asks of a query
(:mod:`~al_core.query.context`), and the query round and its job
(:mod:`~al_core.query.round`).

May import: ``al_core.training``, ``al_core.evaluation``, ``al_core.formats``, ``al_core.jobs``,
``al_core.store`` and the root modules.
The layering: docs/architecture.md, checked by tests/test_layering.py.
"""
