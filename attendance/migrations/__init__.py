"""Alembic migrations of the kiosk store, applied at start-up by :mod:`attendance.db`."""
