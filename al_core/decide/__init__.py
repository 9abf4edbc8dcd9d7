"""Whether a new model version replaces the active one: the compare rule
(:mod:`al_core.decide.compare`), comparing two versions on the test split and storing
the decision (:mod:`~al_core.decide.comparison`), carrying out, overriding and rolling
back decisions and making a project's first model active with no comparison
(:mod:`~al_core.decide.promotion`), the comparison report with its sentence of how much
better and how sure (:mod:`~al_core.decide.comparison_report`), and the compare and
retrain jobs (:mod:`~al_core.decide.compare_job`,
:mod:`~al_core.decide.retrain`).

May import: ``al_core.training``, ``al_core.evaluation``, ``al_core.formats``, ``al_core.jobs``,
``al_core.store`` and the root modules.
The layering: docs/architecture.md, checked by tests/test_layering.py.
"""
