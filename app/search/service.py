"""Search over runs, edits and annotations, and actions on all results of a filter.

Text: PostgreSQL full-text search (`to_tsvector('english', ...) @@ websearch_to_tsquery(...)`,
served by the GIN expression indexes of migration 0006, so the expressions here must stay the
same as there); SQLite: every word must occur (case-insensitive LIKE). Results are newest first
and paged by keyset (`before`: the last id of the previous page), so a page never counts or skips
the rows before it. Bulk actions walk the same filter in keyset batches.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, exists, func, literal, literal_column, or_, select
from sqlalchemy.orm import Session

from app.accounts import access
from app.errors import Forbidden, Invalid
from app.models import INTENTS, Annotation, Critique, Document, Edit, Membership, Project, Run, User, Version
from app.models.search import TS_CONFIG, search_text, tsvector

KINDS = ("edits", "runs", "annotations")
SEARCH_ROLES = ("annotator", "admin")
PAGE_SIZE = 50
MAX_BULK = 10_000
STATUSES = {"edits": ("pending", "accepted", "rejected", "modified"),
            "runs": ("queued", "running", "succeeded", "failed", "cancelled"),
            "annotations": ()}


# The text a row is found by; migration 0006 indexes exactly these expressions on PostgreSQL.
def edit_text():
    return search_text(Edit.original, Edit.replacement, Edit.rationale)


def critique_text():
    return search_text(Critique.segment, Critique.text)


def run_text():
    return search_text(Run.feedback, Run.error)


def annotation_text():
    return search_text(Annotation.comment, Annotation.correction)


@dataclass
class SearchFilters:
    kind: str = "edits"
    q: str = ""
    project_id: int | None = None
    model: str = ""
    intent: str = ""
    status: str = ""
    label: int | None = None
    person_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    def as_query(self) -> dict:
        """The filters as URL parameters (empty ones left out)."""
        out = {}
        for k, v in asdict(self).items():
            if v not in (None, ""):
                out[k] = v.isoformat() if isinstance(v, date) else v
        return out

    def validate(self) -> SearchFilters:
        if self.kind not in KINDS:
            raise Invalid(f"Search runs, edits or annotations, not {self.kind!r}.")
        if self.intent and self.intent not in INTENTS:
            raise Invalid(f"Unknown intent {self.intent!r}; use one of {', '.join(INTENTS)}.")
        if self.status and self.status not in STATUSES[self.kind]:
            raise Invalid(f"{self.kind.capitalize()} have no status {self.status!r}.")
        if self.label is not None and self.label not in (-1, 0, 1):
            raise Invalid("A label is +1, 0 or −1.")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise Invalid("The date range ends before it starts.")
        if len(self.q) > 500:
            raise Invalid("Search text has at most 500 characters.")
        return self


@dataclass
class Hit:
    id: int
    kind: str
    project_id: int
    run_id: int | None
    document_id: int | None
    document_title: str
    model: str
    created_at: datetime | None
    text: str  # what the row said
    status: str = ""
    intent: str = ""
    label: int | None = None
    person: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Page:
    """One keyset page. Nothing counts the whole match set (that costs more than the page on a
    large table): `count` is exact only when the first page holds every result; otherwise the
    page says there is more, with the PostgreSQL planner's estimate of the total."""
    filters: SearchFilters
    hits: list[Hit]
    next_before: int | None  # keyset cursor of the next page, None on the last
    count: int | None = None  # exact: the first page holds all the results
    estimate: int | None = None  # PostgreSQL's row estimate when count is None

    @property
    def more(self) -> bool:
        return self.next_before is not None


def searchable_project_ids(session: Session, user: User) -> list[int] | None:
    """Projects whose runs the user may search (annotator or admin); None = every project."""
    if user.is_site_admin:
        return None
    return list(session.scalars(select(Membership.project_id).where(
        Membership.user_id == user.id, Membership.role.in_(SEARCH_ROLES))))


def searchable_projects(session: Session, user: User) -> list[Project]:
    ids = searchable_project_ids(session, user)
    query = select(Project).where(Project.archived_at.is_(None)).order_by(Project.name)
    if ids is not None:
        query = query.where(Project.id.in_(ids or [-1]))
    return list(session.scalars(query))


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def _text_match(session: Session, expr, q: str):
    if session.get_bind().dialect.name == "postgresql":
        config = literal_column(f"'{TS_CONFIG}'::regconfig")
        return tsvector(expr).op("@@")(func.websearch_to_tsquery(config, q))
    words = [w.strip('"') for w in q.lower().split() if w.strip('"')]
    return and_(*[func.lower(expr).like(f"%{_escape_like(w)}%", escape="\\") for w in words])


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _base(session: Session, user: User, f: SearchFilters):
    """(select of the kind's rows with the filters applied, id column, timestamp column)."""
    allowed = searchable_project_ids(session, user)
    if allowed is not None and not allowed:
        raise Forbidden("Search is for the annotators and admins of a project.")
    if f.project_id is not None:
        access.require_project(session, user, f.project_id, roles=SEARCH_ROLES)
    person = aliased_user()
    if f.kind == "edits":
        stmt = (select(Edit, Run.model, Run.project_id, Run.document_id, Document.title, person.name)
                .join(Run, Run.id == Edit.run_id).join(Document, Document.id == Run.document_id)
                .outerjoin(person, person.id == Edit.decided_by_id))
        idcol, when, project_col = Edit.id, Edit.created_at, Run.project_id
        if f.q:
            stmt = stmt.where(_text_match(session, edit_text(), f.q))
        if f.intent:
            stmt = stmt.where(Edit.intent == f.intent)
        if f.status:
            stmt = stmt.where(Edit.status == f.status)
        if f.person_id:
            stmt = stmt.where(Edit.decided_by_id == f.person_id)
        if f.label is not None:
            stmt = stmt.where(exists().where(Annotation.target_kind == "edit", Annotation.target_id == Edit.id,
                                             Annotation.label == f.label))
    elif f.kind == "runs":
        stmt = (select(Run, Run.model, Run.project_id, Run.document_id, Document.title, person.name)
                .join(Document, Document.id == Run.document_id).outerjoin(person, person.id == Run.created_by_id))
        idcol, when, project_col = Run.id, Run.created_at, Run.project_id
        if f.q:
            # What the run said: its critiques and edits, or the feedback it was given / its error.
            # IN (not EXISTS) under the OR: PostgreSQL runs each subquery once on its GIN index
            # and hashes the ids, instead of probing per run.
            stmt = stmt.where(or_(
                _text_match(session, run_text(), f.q),
                Run.id.in_(select(Critique.run_id).where(_text_match(session, critique_text(), f.q))),
                Run.id.in_(select(Edit.run_id).where(_text_match(session, edit_text(), f.q)))))
        if f.status:
            stmt = stmt.where(Run.status == f.status)
        if f.intent:
            stmt = stmt.where(exists().where(Edit.run_id == Run.id, Edit.intent == f.intent))
        if f.person_id:
            stmt = stmt.where(Run.created_by_id == f.person_id)
        if f.label is not None:
            stmt = stmt.where(exists().where(Annotation.target_kind == "run", Annotation.target_id == Run.id,
                                             Annotation.label == f.label))
    else:
        # An annotation's run: its target when that is a run, stage, critique or edit.
        stmt = (select(Annotation, literal(""), Annotation.project_id, literal(None), literal(""), person.name)
                .join(person, person.id == Annotation.user_id))
        idcol, when, project_col = Annotation.id, Annotation.updated_at, Annotation.project_id
        if f.q:
            stmt = stmt.where(_text_match(session, annotation_text(), f.q))
        if f.label is not None:
            stmt = stmt.where(Annotation.label == f.label)
        if f.person_id:
            stmt = stmt.where(Annotation.user_id == f.person_id)
        if f.model:
            stmt = stmt.where(or_(
                and_(Annotation.target_kind == "run", Annotation.target_id.in_(select(Run.id).where(Run.model == f.model))),
                and_(Annotation.target_kind == "edit", Annotation.target_id.in_(
                    select(Edit.id).join(Run, Run.id == Edit.run_id).where(Run.model == f.model)))))
    if f.kind != "annotations" and f.model:
        stmt = stmt.where(Run.model == f.model)
    if allowed is not None:
        stmt = stmt.where(project_col.in_(allowed))
    if f.project_id is not None:
        stmt = stmt.where(project_col == f.project_id)
    if f.date_from:
        stmt = stmt.where(when >= _day_start(f.date_from))
    if f.date_to:
        stmt = stmt.where(when < _day_start(f.date_to + timedelta(days=1)))
    return stmt, idcol


def aliased_user():
    from sqlalchemy.orm import aliased

    return aliased(User)


def _hit(kind: str, row) -> Hit:
    obj, model, project_id, document_id, title, person = row
    if kind == "edits":
        return Hit(id=obj.id, kind=kind, project_id=project_id, run_id=obj.run_id, document_id=document_id,
                   document_title=title, model=model, created_at=obj.created_at,
                   text=f"{obj.original} → {obj.decided_replacement if obj.status == 'modified' else obj.replacement}",
                   status=obj.status, intent=obj.intent, person=person or "",
                   extra={"rationale": obj.rationale, "decision_source": obj.decision_source})
    if kind == "runs":
        return Hit(id=obj.id, kind=kind, project_id=project_id, run_id=obj.id, document_id=document_id,
                   document_title=title, model=model, created_at=obj.created_at,
                   text=obj.feedback or obj.error or "", status=obj.status, person=person or "",
                   extra={"variant": obj.variant})
    return Hit(id=obj.id, kind=kind, project_id=project_id, run_id=None, document_id=None, document_title="",
               model="", created_at=obj.updated_at, text=obj.comment or obj.correction or "", label=obj.label,
               person=person or "", extra={"target_kind": obj.target_kind, "target_id": obj.target_id,
                                           "step": obj.step, "source": obj.source})


def search(session: Session, *, user: User, filters: SearchFilters, before: int | None = None,
           page_size: int = PAGE_SIZE) -> Page:
    """Newest first, `page_size` hits after the keyset cursor `before`. One query reads at most
    page_size + 1 rows in id order (PostgreSQL can stop there instead of collecting every match)."""
    f = filters.validate()
    stmt, idcol = _base(session, user, f)
    filtered = stmt
    if before is not None:
        stmt = stmt.where(idcol < before)
    rows = session.execute(stmt.order_by(idcol.desc()).limit(page_size + 1)).all()
    hits = [_hit(f.kind, r) for r in rows[:page_size]]
    _resolve_annotation_runs(session, hits)
    more = len(rows) > page_size
    page = Page(filters=f, hits=hits, next_before=hits[-1].id if more else None)
    if not more and before is None:
        page.count = len(hits)
    elif more:
        page.estimate = estimate_rows(session, filtered.with_only_columns(idcol))
    return page


def estimate_rows(session: Session, stmt) -> int | None:
    """PostgreSQL's planner estimate of the rows of a query (EXPLAIN, nothing executed): about a
    millisecond, where counting a large match set takes longer than the page. None on SQLite."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    compiled = stmt.compile(bind, compile_kwargs={"render_postcompile": True})
    plan = session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params).scalar()
    rows = int(plan[0]["Plan"]["Plan Rows"])
    return round_estimate(rows)


def round_estimate(n: int) -> int:
    """Two significant figures: an estimate should not look exact."""
    if n < 100:
        return n
    digits = len(str(n)) - 2
    return round(n, -digits)


def _resolve_annotation_runs(session: Session, hits: list[Hit]) -> None:
    """The run (and document) each annotation hit is about, for its link to the trace: a few
    IN queries for the whole page, not a lookup per hit."""
    from app.models import Stage

    hits = [h for h in hits if h.kind == "annotations"]
    if not hits:
        return
    models = {"stage": Stage, "critique": Critique, "edit": Edit}
    wanted: dict[str, set[int]] = {}
    for hit in hits:
        wanted.setdefault(hit.extra["target_kind"], set()).add(hit.extra["target_id"])
    run_of: dict[tuple[str, int], int] = {}
    for kind, model in models.items():
        if wanted.get(kind):
            run_of.update({(kind, i): r for i, r in session.execute(
                select(model.id, model.run_id).where(model.id.in_(wanted[kind])))})
    doc_of_version = dict(session.execute(select(Version.id, Version.document_id).where(
        Version.id.in_(wanted["segment"]))).all()) if wanted.get("segment") else {}
    for hit in hits:
        kind, tid = hit.extra["target_kind"], hit.extra["target_id"]
        hit.run_id = tid if kind == "run" else run_of.get((kind, tid))
        if kind == "segment":
            hit.document_id = doc_of_version.get(tid)
    run_ids = {h.run_id for h in hits if h.run_id}
    runs = {i: (d, m) for i, d, m in session.execute(
        select(Run.id, Run.document_id, Run.model).where(Run.id.in_(run_ids)))} if run_ids else {}
    for hit in hits:
        if hit.run_id in runs:
            hit.document_id, hit.model = runs[hit.run_id]
        elif hit.run_id:  # a target that is gone: no link
            hit.run_id = None
    doc_ids = {h.document_id for h in hits if h.document_id}
    titles = dict(session.execute(select(Document.id, Document.title).where(Document.id.in_(doc_ids))).all()) \
        if doc_ids else {}
    for hit in hits:
        if hit.document_id:
            hit.document_title = titles.get(hit.document_id, "")


def all_ids(session: Session, *, user: User, filters: SearchFilters, limit: int = MAX_BULK) -> Iterator[int]:
    """Every result id of the filter, newest first, in keyset batches; refuses past `limit`."""
    f = filters.validate()
    stmt, idcol = _base(session, user, f)
    ids_stmt = stmt.with_only_columns(idcol).order_by(idcol.desc())
    before, seen = None, 0
    while True:
        batch_stmt = ids_stmt if before is None else ids_stmt.where(idcol < before)
        batch = list(session.scalars(batch_stmt.limit(1000)))
        if not batch:
            return
        seen += len(batch)
        if seen > limit:
            raise Invalid(f"More than {limit:,} results: narrow the filter before acting on all of them.")
        yield from batch
        before = batch[-1]


# --- bulk actions -----------------------------------------------------------------------------

@dataclass
class BulkResult:
    done: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # why rows were skipped, with how many

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def summary(self, verb: str) -> str:
        text = f"{verb} {self.done:,}"
        if self.skipped:
            text += f"; {self.skipped:,} skipped (" + "; ".join(f"{n:,}: {r}" for r, n in self.reasons.items()) + ")"
        return text


def _result_runs(session: Session, *, user: User, filters: SearchFilters) -> list[int]:
    """The runs the results are about (the results themselves for runs), oldest first, once each."""
    ids = list(all_ids(session, user=user, filters=filters))
    if filters.kind == "runs":
        run_ids = ids
    elif filters.kind == "edits":
        run_ids = []
        for i in range(0, len(ids), 1000):
            run_ids += session.scalars(select(Edit.run_id).where(Edit.id.in_(ids[i:i + 1000])))
    else:
        page_hits = [Hit(id=a.id, kind="annotations", project_id=a.project_id, run_id=None, document_id=None,
                         document_title="", model="", created_at=None, text="",
                         extra={"target_kind": a.target_kind, "target_id": a.target_id, "step": a.step})
                     for a in session.scalars(select(Annotation).where(Annotation.id.in_(ids[:MAX_BULK])))]
        _resolve_annotation_runs(session, page_hits)
        run_ids = [h.run_id for h in page_hits if h.run_id]
    return sorted(set(run_ids))


def add_results_to_queue(session: Session, *, user: User, filters: SearchFilters, queue_id: int) -> BulkResult:
    """Put the runs of all results in a run queue (admins of the queue's project)."""
    from app.annotations import queues

    run_ids = _result_runs(session, user=user, filters=filters)
    if not run_ids:
        raise Invalid("The filter has no runs to put in a queue.")
    added, skipped = queues.add_runs(session, queue_id=queue_id, user=user, run_ids=run_ids)
    result = BulkResult(done=added)
    for reason, n in skipped.items():
        result.skipped += n
        result.reasons[reason] = n
    return result


def decide_results(session: Session, *, user: User, filters: SearchFilters, decision: str) -> BulkResult:
    """Accept or reject every undecided edit among the results, through the edits service (so each
    decision is checked and recorded as usual); a refused one is skipped with its reason."""
    from app.edits import service as edits
    from app.errors import EmendError

    if filters.kind != "edits":
        raise Invalid("Only edits can be decided: search edits.")
    if decision not in ("accept", "reject"):
        raise Invalid("Decide all takes accept or reject.")
    result = BulkResult()
    for edit_id in list(all_ids(session, user=user, filters=filters)):
        status, source = session.execute(select(Edit.status, Edit.decision_source).where(Edit.id == edit_id)).one()
        if status != "pending" and source != "ai":
            result.skip("already decided")
            continue
        try:
            with session.begin_nested():
                edits.decide_edit(session, edit_id=edit_id, user=user, decision=decision, seen_status=status)
        except EmendError as exc:
            result.skip(exc.message)
            continue
        result.done += 1
    return result


# Search filters an export can apply; the rest (text, intent, status, label) it cannot.
EXPORT_FORMAT_FOR = {"edits": "unpaired", "runs": "sft", "annotations": "stepwise"}


def export_results(session: Session, *, user: User, filters: SearchFilters, format: str | None = None):
    """Start an export (app/exports) with the filter's project, model, dates and person."""
    from app.exports import service as exports

    f = filters.validate()
    unsupported = [name for name, value in (("text", f.q), ("intent", f.intent), ("status", f.status),
                                            ("label", f.label)) if value not in (None, "")]
    if unsupported:
        raise Invalid(f"An export filters by project, model, dates and person; remove {', '.join(unsupported)} "
                      "from the search to export its results, or add them to a queue instead.")
    if f.project_id is None and not user.is_site_admin:
        raise Invalid("Choose a project to export its results.")
    options = {"since": f.date_from.isoformat() if f.date_from else None,
               "until": f.date_to.isoformat() if f.date_to else None, "model": f.model or None,
               "person_id": f.person_id, "jsonl": True, "pseudonymise": True}
    return exports.create_export(session, actor=user, format=format or EXPORT_FORMAT_FOR[f.kind],
                                 project_id=f.project_id, options=options)
