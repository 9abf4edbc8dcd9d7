"""Detectors behind one interface (see :mod:`al_core.models.base`)."""
