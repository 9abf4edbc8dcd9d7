"""The project store (see :mod:`al_core.store.core`)."""
from al_core.store.core import DB_NAME, ProjectError, Store
from al_core.store.rows import PALETTE, now

__all__ = ["DB_NAME", "PALETTE", "ProjectError", "Store", "now"]
