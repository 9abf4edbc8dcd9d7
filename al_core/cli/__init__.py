"""The command line, ``python -m al_core``: the parser and ``main``
(:mod:`al_core.cli.parser`) and one module per command group (data, models and jobs,
simulate, users, the review workflow), with shared console helpers
(:mod:`~al_core.cli.console`) and argument types (:mod:`~al_core.cli.arguments`).
:mod:`~al_core.cli.job_kinds` imports every job kind for ``run-job``.

May import: every package. Nothing in ``al_core`` imports it (``__main__`` aside).
The layering: docs/architecture.md, checked by tests/test_layering.py.
"""
from al_core.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
