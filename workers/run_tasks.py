"""Celery tasks of the revision pipeline (see app/runs)."""
