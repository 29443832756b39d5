"""JSON search: the same filters and keyset pages as the page (token scope `read`)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from app.accounts.deps import DbSession, scoped
from app.models import User
from app.search import service
from app.search.pages import parse_filters

router = APIRouter(prefix="/api/v1", tags=["search"])


@router.get("/search")
def search(session: DbSession, user: Annotated[User, scoped("read")], kind: str = "edits", q: str = "",
           project_id: str = "", model: str = "", intent: str = "", status: str = "", label: str = "",
           person_id: str = "", date_from: str = "", date_to: str = "", before: int | None = None) -> dict:
    """Runs, edits or annotations matching the filters, newest first, 50 a page; pass the answer's
    `next_before` as `before` for the next page. `more` says whether there is one; `count` is the
    exact number of results when the first page holds them all (else null, and `estimate` is
    PostgreSQL's estimate of the total: nothing counts a large match set)."""
    filters = parse_filters(kind, q, project_id, model, intent, status, label, person_id, date_from, date_to)
    page = service.search(session, user=user, filters=filters, before=before)
    return {"filters": filters.as_query(), "count": page.count, "more": page.more, "estimate": page.estimate,
            "next_before": page.next_before,
            "results": [{"id": h.id, "kind": h.kind, "project_id": h.project_id, "run_id": h.run_id,
                         "document_id": h.document_id, "document_title": h.document_title, "model": h.model,
                         "created_at": h.created_at.isoformat() if h.created_at else None, "text": h.text,
                         "status": h.status or None, "intent": h.intent or None, "label": h.label,
                         "person": h.person or None, **h.extra} for h in page.hits]}
