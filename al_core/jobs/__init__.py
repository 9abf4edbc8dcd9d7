"""Background jobs: long work (train, predict, query, compare, retrain) runs in its own
process and writes progress and a heartbeat to SQLite; the UI only starts and polls it.

Owns: starting, running, reporting, cancelling and reaping jobs and the job-kind
registry (:mod:`al_core.jobs.runner`), and whether a job's process is alive
(:mod:`al_core.jobs.liveness`). The kinds themselves live with their work (training,
query, decide) and register with ``@job_kind``; :mod:`al_core.cli.job_kinds` imports them all.

May import: ``al_core.store`` and the root modules.
The layering: docs/architecture.md, checked by tests/test_layering.py.
"""
