"""Enqueue Celery tasks only once the transaction that created their rows has committed."""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

_KEY = "emend_pending_tasks"


def enqueue_after_commit(session: Session, task_name: str, *args, **options) -> None:
    """Send `task_name(*args)` after commit; dropped if the transaction rolls back."""
    session.info.setdefault(_KEY, []).append((task_name, args, options))


def _send_with_celery(name: str, args: tuple, options: dict) -> None:
    from workers.celery_app import celery_app  # imported lazily: only needed once something is sent

    celery_app.send_task(name, args=list(args), **options)


_dispatch = _send_with_celery


def set_dispatcher(dispatch) -> None:
    """Replace how tasks are sent (tests record them instead of using a broker)."""
    global _dispatch
    _dispatch = dispatch or _send_with_celery


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    for name, args, options in session.info.pop(_KEY, None) or ():
        _dispatch(name, args, options)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_KEY, None)
