"""Database-level guards that protect people's data whatever code runs against the database.

- events are append-only: UPDATE and DELETE are refused;
- versions are immutable: UPDATE and DELETE are refused;
- an edit's span lies inside its version and covers exactly its `original` text.

Migrations call `create_guards` / `drop_guards`. SQLite batch migrations rebuild tables and
lose their triggers: a later migration that batch-alters events, versions or edits must call
`drop_guards` before and `create_guards` after.
"""
from sqlalchemy.engine import Connection

_SPAN_OK = (
    'SELECT 1 FROM versions v WHERE v.id = NEW.version_id AND NEW."end" <= length(v.text) '
    'AND substr(v.text, NEW.start + 1, NEW."end" - NEW.start) = NEW.original'
)

_POSTGRES_CREATE = [
    """CREATE FUNCTION emend_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'rows of % cannot be changed or deleted', TG_TABLE_NAME; END $$""",
    ("CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
    "FOR EACH ROW EXECUTE FUNCTION emend_refuse_change()"),
    ("CREATE TRIGGER versions_immutable BEFORE UPDATE OR DELETE ON versions "
    "FOR EACH ROW EXECUTE FUNCTION emend_refuse_change()"),
    f"""CREATE FUNCTION emend_check_edit_span() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NOT EXISTS ({_SPAN_OK}) THEN
           RAISE EXCEPTION 'edit span [%, %) does not match its version text', NEW.start, NEW."end";
         END IF;
         RETURN NEW;
       END $$""",
    ('CREATE TRIGGER edits_span_in_version BEFORE INSERT OR UPDATE OF start, "end", original, version_id '
    "ON edits FOR EACH ROW EXECUTE FUNCTION emend_check_edit_span()"),
]
_POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS edits_span_in_version ON edits",
    "DROP FUNCTION IF EXISTS emend_check_edit_span()",
    "DROP TRIGGER IF EXISTS versions_immutable ON versions",
    "DROP TRIGGER IF EXISTS events_append_only ON events",
    "DROP FUNCTION IF EXISTS emend_refuse_change()",
]

_SQLITE_CREATE = [
    f"CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'rows of {table} cannot be changed or deleted'); END"
    for table in ("events", "versions") for verb in ("update", "delete")
] + [
    f"CREATE TRIGGER edits_span_{name} BEFORE {when} ON edits WHEN NOT EXISTS ({_SPAN_OK}) "
    "BEGIN SELECT RAISE(ABORT, 'edit span does not match its version text'); END"
    for name, when in (("insert", "INSERT"), ("update", 'UPDATE OF start, "end", original, version_id'))
]
_SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {name}" for name in (
        "events_no_update", "events_no_delete", "versions_no_update", "versions_no_delete",
        "edits_span_insert", "edits_span_update")
]


def create_guards(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        statements = _SQLITE_CREATE
    else:  # psycopg reads % as a placeholder
        statements = [s.replace("%", "%%") for s in _POSTGRES_CREATE]
    for statement in statements:
        connection.exec_driver_sql(statement)


def drop_guards(connection: Connection) -> None:
    statements = _SQLITE_DROP if connection.dialect.name == "sqlite" else _POSTGRES_DROP
    for statement in statements:
        connection.exec_driver_sql(statement)
