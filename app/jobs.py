"""Enqueue Celery tasks only once the transaction that created their rows has committed."""
from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.errors import Unavailable

log = logging.getLogger(__name__)

_KEY = "emend_pending_tasks"
_REFUSED_KEY = "emend_refused_task"


def enqueue_after_commit(session: Session, task_name: str, *args, on_refused=None, **options) -> None:
    """Send `task_name(*args)` after commit; dropped if the transaction rolls back.

    If the broker refuses the message, `on_refused(exc)` runs (in a transaction of its own: the
    rows are committed by then) and session_scope raises Unavailable, so the caller is told."""
    session.info.setdefault(_KEY, []).append((task_name, args, options, on_refused))


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
    refused = None
    for name, args, options, on_refused in session.info.pop(_KEY, None) or ():
        try:
            _dispatch(name, args, options)
        except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; each means "not queued"
            log.warning("could not send %s%s: %s", name, args, exc)
            refused = refused or exc
            if on_refused is not None:
                on_refused(exc)
    if refused is not None:  # raised by raise_if_refused: a commit hook cannot raise cleanly
        session.info[_REFUSED_KEY] = refused


def raise_if_refused(session: Session) -> None:
    """After a commit: tell the caller that work it queued was refused by the broker."""
    refused = session.info.pop(_REFUSED_KEY, None)
    if refused is not None:
        raise Unavailable(f"The task broker did not take the work ({type(refused).__name__}: "
                          f"{' '.join(str(refused).split())[:200]}). Nothing will run until it is back.")


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_KEY, None)
