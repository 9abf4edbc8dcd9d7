"""The oracle simulation and the demo datasets: a whole active-learning run with the
ground truth as the annotator (:mod:`al_core.simulation.simulate`), its learning curves
(:mod:`~al_core.simulation.results`), and the demo projects (digits,
:mod:`~al_core.simulation.demo`; shapes, :mod:`~al_core.simulation.shapes`).

May import: every package except ``al_core.cli``.
The layering: docs/architecture.md, checked by tests/test_layering.py.
"""
