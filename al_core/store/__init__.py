"""The project store: the project folder's SQLite database, the only place with SQL.

Owns: opening a project (:class:`Store`, :mod:`al_core.store.core`), the schema as ordered
migrations (:mod:`al_core.store.schema`), and one module of queries per table group
(items, review, selections, models, decisions, jobs). Everything else passes dataclasses
(:mod:`al_core.types`).

May import: the root modules (``al_core.types``, ``al_core.names``, ``al_core.clock``).
Layering: docs/architecture.md, checked by tests/test_layering.py.
"""
from al_core.store.core import DB_NAME, ProjectError, Store
from al_core.store.rows import PALETTE, now

__all__ = ["DB_NAME", "PALETTE", "ProjectError", "Store", "now"]
