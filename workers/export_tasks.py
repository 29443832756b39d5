"""Celery tasks that build exports (see app/exports)."""
