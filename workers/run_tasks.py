"""Celery tasks of the revision pipeline (see app/runs)."""
from workers.celery_app import celery_app


# acks_late: a worker killed mid-run leaves the task on the broker; the pipeline resumes after
# the last finished stage, so a second delivery is safe.
@celery_app.task(name="runs.execute", acks_late=True)
def execute(run_id: int) -> None:
    from app.runs import pipeline

    pipeline.execute(int(run_id))
