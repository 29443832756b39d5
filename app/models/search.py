"""Full-text search indexes (PostgreSQL only, GIN on to_tsvector): declared here so the models
match migration 0006; app/search/service.py matches on the same expressions (search_text)."""
import sqlalchemy.dialects.postgresql  # noqa: F401  (registers the typed to_tsvector before func uses it)
from sqlalchemy import Index, Text, func, literal_column

from app.models.annotations import Annotation
from app.models.runs import Critique, Edit, Run

TS_CONFIG = "english"


def search_text(*columns):
    """coalesce(a, '') || ' ' || coalesce(b, '') ..., the constants as SQL literals so the
    expression is the same text as the index's."""
    empty, space = literal_column("''", Text), literal_column("' '", Text)
    expr = func.coalesce(columns[0], empty, type_=Text)
    for column in columns[1:]:
        expr = expr.op("||")(space).op("||")(func.coalesce(column, empty, type_=Text))
    return expr


def tsvector(expr):
    return func.to_tsvector(literal_column(f"'{TS_CONFIG}'::regconfig"), expr)


def _index(name: str, *columns) -> Index:
    # _table: the expression's first element is the regconfig literal, from which SQLAlchemy
    # cannot tell the table.
    return Index(name, tsvector(search_text(*columns)), postgresql_using="gin",
                 _table=columns[0].class_.__table__).ddl_if(dialect="postgresql")


FTS_INDEXES = (
    _index("ix_edits_fts", Edit.original, Edit.replacement, Edit.rationale),
    _index("ix_critiques_fts", Critique.segment, Critique.text),
    _index("ix_runs_fts", Run.feedback, Run.error),
    _index("ix_annotations_fts", Annotation.comment, Annotation.correction),
)


# Filters without text (and rare combinations with it) read edits in id order off these, so a
# page stops after its 50 rows whatever the selectivity; migration 0009 also gives the planner
# the joint statistics of intent and status (CREATE STATISTICS), which are far from independent.
SEARCH_FILTER_INDEXES = (
    Index("ix_edits_status_id", Edit.status, Edit.id),
    Index("ix_edits_intent_status_id", Edit.intent, Edit.status, Edit.id),
    Index("ix_edits_decided_by_id_id", Edit.decided_by_id, Edit.id),
)
