"""The interaction log. `record` is the only writer; nothing here updates or deletes an event."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Event, User

# Subjects are any ORM row; its table name (singular) becomes subject_kind.
_KIND_BY_TABLE = {
    "users": "user", "projects": "project", "memberships": "membership", "api_tokens": "api_token",
    "documents": "document", "versions": "version", "runs": "run", "stages": "stage",
    "critiques": "critique", "edits": "edit", "feedback": "feedback", "guidelines": "guideline",
    "annotations": "annotation", "queues": "queue", "queue_items": "queue_item",
    "comparisons": "comparison", "exports": "export",
}


def event_values(
    session: Session,
    *,
    kind: str,
    actor: User | None = None,
    subject: Any = None,
    project_id: int | None = None,
    document_id: int | None = None,
    run_id: int | None = None,
    data: dict | None = None,
    source: str = "human",
    ip: str | None = None,
) -> dict:
    """The row of one event (see `record`), for writing many at once with `record_many`."""
    subject_kind = subject_id = None
    if subject is not None:
        if subject.id is None:
            session.flush()
        subject_kind = _KIND_BY_TABLE.get(subject.__tablename__, subject.__tablename__)
        subject_id = subject.id
        # Fill the context columns from the subject when the caller did not.
        project_id = project_id if project_id is not None else getattr(subject, "project_id", None)
        document_id = document_id if document_id is not None else getattr(subject, "document_id", None)
        run_id = run_id if run_id is not None else getattr(subject, "run_id", None)
        if subject_kind == "project":
            project_id = subject.id
        elif subject_kind == "document":
            document_id = subject.id
        elif subject_kind == "run":
            run_id = subject.id
    return {
        "kind": kind,
        "actor_id": actor.id if actor is not None else None,
        "source": source,
        "project_id": project_id,
        "document_id": document_id,
        "run_id": run_id,
        "subject_kind": subject_kind,
        "subject_id": subject_id,
        "ip": ip,
        "data": data or {},
        "created_at": utcnow(),
    }


def record(session: Session, *, kind: str, **fields: Any) -> int:
    """Append one event in the caller's transaction (so it commits or rolls back with the action);
    returns its id. `fields` are those of `event_values`."""
    # A Core INSERT, not an ORM object: the log is write-only for the app, and skipping the unit
    # of work keeps this off the hot path (a decision is one UPDATE and this INSERT).
    values = event_values(session, kind=kind, **fields)
    return session.execute(insert(Event).values(**values).returning(Event.id)).scalar_one()


def record_many(session: Session, rows: list[dict]) -> None:
    """Append many events (rows from `event_values`) in one executemany, e.g. for accept-all."""
    if rows:
        session.execute(insert(Event), rows)

