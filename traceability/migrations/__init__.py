"""Alembic migrations of the trace store, run by :func:`traceability.store.migrate`."""
