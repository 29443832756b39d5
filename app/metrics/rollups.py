"""Rollups of the metrics and dashboards, kept exact by database triggers (tables: app/models/metrics.py).

Triggers, not application hooks: edits, runs and events are written by the pipeline, the review
page, the shadow user, the writer's hand edits, imports and bulk actions, and the database sees
them all. The invariant after every statement: each rollup equals the grouping of the current
rows (`rebuild` computes exactly that from scratch; the tests compare the two).

- metric_edit_counts: edits grouped by their run's project / model / status / version depth,
  their intent, decider, status and shadow-guess flag. Changes of a run's keys re-key its edits.
- metric_decision_days: people's decisions per project, UTC day, model and status.
- metric_item_times: per queue item and annotator, first claim and last submission (events are
  append-only, so only inserts matter).

PostgreSQL: statement-level triggers with transition tables (one grouped INSERT per statement,
so a bulk import costs one statement, not a row each) append signed deltas; `fold` moves them into
the counts (beat task maintenance.fold_metric_rollups); readers sum counts and deltas in one
statement, so a fold in between changes nothing they see. An edit statement locks its runs FOR
SHARE first, so a concurrent change of a run's status cannot re-key the run's edits without
seeing the new ones. SQLite: row triggers update the counts directly (one writer at a time).

A migration that rebuilds edits, runs or events on SQLite (batch mode) loses these triggers as
it loses the guards: call drop_triggers before and create_triggers after.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

EDIT_KEYS = ("project_id", "model", "depth", "intent", "person_id", "feedback", "run_status", "status", "guess")
DAY_KEYS = ("project_id", "day", "model", "status")
CLAIMED, SUBMITTED = "queue.item_claimed", "queue.item_submitted"
# Columns of a run that its edits are counted under.
RUN_KEY_COLUMNS = ("project_id", "model", "feedback", "status", "version_id")
EDIT_KEY_COLUMNS = ("run_id", "intent", "decided_by_id", "status", "decision_source", "decided_at")


def _edit_keys(e: str, r: str, v: str) -> list[str]:
    return [f"{r}.project_id", f"{r}.model", f"{v}.depth", f"{e}.intent", f"coalesce({e}.decided_by_id, 0)",
            f"CASE WHEN {r}.feedback <> '' THEN 1 ELSE 0 END", f"{r}.status", f"{e}.status",
            f"CASE WHEN {e}.decision_source = 'ai' THEN 1 ELSE 0 END"]


def utc_day(dialect: str, column: str) -> str:
    """The UTC calendar day of a timestamp column (PostgreSQL's date() would use the session's zone)."""
    return f"(({column}) AT TIME ZONE 'UTC')::date" if dialect == "postgresql" else f"date({column})"


def _day_keys(dialect: str, e: str, r: str) -> list[str]:
    return [f"{r}.project_id", utc_day(dialect, f"{e}.decided_at"), f"{r}.model", f"{e}.status"]


def _human(e: str) -> str:
    return f"{e}.decision_source = 'human' AND {e}.decided_at IS NOT NULL"


def _grouped(keys: tuple[str, ...], parts: list[str]) -> str:
    """SELECT the keys and net count of signed parts (each `SELECT <keys>, <sign> AS n ...`)."""
    cols = ", ".join(keys)
    body = " UNION ALL ".join(parts)
    return f"SELECT {cols}, sum(n) AS n FROM ({body}) d GROUP BY {cols} HAVING sum(n) <> 0"


def _edit_part(dialect: str, rollup: str, edits: str, runs: str, sign: str, where: str = "") -> str:
    names = EDIT_KEYS if rollup == "edits" else DAY_KEYS
    exprs = _edit_keys("e", "r", "v") if rollup == "edits" else _day_keys(dialect, "e", "r")
    keys = [f"{x} AS {name}" for x, name in zip(exprs, names, strict=True)]
    cond = [where] if where else []
    if rollup == "days":
        cond.append(_human("e"))
    where_sql = f" WHERE {' AND '.join(cond)}" if cond else ""
    return (f"SELECT {', '.join(keys)}, {sign} AS n FROM {edits} e JOIN {runs} r ON r.id = e.run_id "
            f"JOIN versions v ON v.id = r.version_id{where_sql}")


# --- PostgreSQL ------------------------------------------------------------------------------

def _pg_edit_function(op: str) -> str:
    sources = {"INSERT": [("new_rows", "1")], "UPDATE": [("new_rows", "1"), ("old_rows", "-1")],
               "DELETE": [("old_rows", "-1")]}[op]
    lock = " UNION ".join(f"SELECT run_id FROM {rel}" for rel, _ in sources)
    statements = [f"PERFORM 1 FROM runs WHERE id IN ({lock}) ORDER BY id FOR SHARE"]
    for rollup, table, keys in (("edits", "metric_edit_deltas", EDIT_KEYS), ("days", "metric_decision_deltas", DAY_KEYS)):
        parts = [_edit_part("postgresql", rollup, rel, "runs", sign) for rel, sign in sources]
        statements.append(f"INSERT INTO {table} ({', '.join(keys)}, n) {_grouped(keys, parts)}")
    body = ";\n  ".join(statements)
    return (f"CREATE FUNCTION emend_rollup_edits_{op.lower()}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n  {body};\n  RETURN NULL;\nEND $$")


def _pg_runs_function() -> str:
    distinct = (f"({', '.join('n.' + c for c in RUN_KEY_COLUMNS)}) IS DISTINCT FROM "
                f"({', '.join('o.' + c for c in RUN_KEY_COLUMNS)})")
    changed = f"SELECT n.id FROM new_runs n JOIN old_runs o ON o.id = n.id WHERE {distinct}"
    statements = []
    for rollup, table, keys in (("edits", "metric_edit_deltas", EDIT_KEYS), ("days", "metric_decision_deltas", DAY_KEYS)):
        parts = [_edit_part("postgresql", rollup, "edits", rel, sign, "r.id IN (SELECT id FROM changed)")
                 for rel, sign in (("new_runs", "1"), ("old_runs", "-1"))]
        statements.append(f"WITH changed AS ({changed}) INSERT INTO {table} ({', '.join(keys)}, n) "
                          f"{_grouped(keys, parts)}")
    body = ";\n  ".join(statements)
    return ("CREATE FUNCTION emend_rollup_runs() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n  {body};\n  RETURN NULL;\nEND $$")


def _item_times_select(events: str, where_extra: str = "") -> str:
    return (f"SELECT ev.project_id, qi.queue_id, ev.subject_id, ev.actor_id, "
            f"min(CASE WHEN ev.kind = '{CLAIMED}' THEN ev.created_at END), "
            f"max(CASE WHEN ev.kind = '{SUBMITTED}' THEN ev.created_at END) "
            f"FROM {events} ev JOIN queue_items qi ON qi.id = ev.subject_id "
            f"WHERE ev.kind IN ('{CLAIMED}', '{SUBMITTED}') AND ev.subject_kind = 'queue_item' "
            f"AND ev.project_id IS NOT NULL AND ev.actor_id IS NOT NULL{where_extra} "
            f"GROUP BY ev.project_id, qi.queue_id, ev.subject_id, ev.actor_id")


ITEM_COLUMNS = "project_id, queue_id, item_id, user_id, claimed_at, submitted_at"


def _pg_events_function() -> str:
    return ("CREATE FUNCTION emend_rollup_events() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
            f"  INSERT INTO metric_item_times ({ITEM_COLUMNS}) {_item_times_select('new_rows')}\n"
            "  ON CONFLICT (project_id, item_id, user_id) DO UPDATE SET\n"
            "    claimed_at = LEAST(metric_item_times.claimed_at, EXCLUDED.claimed_at),\n"
            "    submitted_at = GREATEST(metric_item_times.submitted_at, EXCLUDED.submitted_at);\n"
            "  RETURN NULL;\nEND $$")


def _pg_create() -> list[str]:
    out = [_pg_edit_function(op) for op in ("INSERT", "UPDATE", "DELETE")]
    refs = {"INSERT": "NEW TABLE AS new_rows", "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
            "DELETE": "OLD TABLE AS old_rows"}
    out += [f"CREATE TRIGGER edits_rollup_{op.lower()} AFTER {op} ON edits REFERENCING {ref} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION emend_rollup_edits_{op.lower()}()" for op, ref in refs.items()]
    out += [_pg_runs_function(),
            ("CREATE TRIGGER runs_rollup_update AFTER UPDATE ON runs REFERENCING OLD TABLE AS old_runs "
             "NEW TABLE AS new_runs FOR EACH STATEMENT EXECUTE FUNCTION emend_rollup_runs()"),
            _pg_events_function(),
            ("CREATE TRIGGER events_rollup_insert AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows "
             "FOR EACH STATEMENT EXECUTE FUNCTION emend_rollup_events()")]
    return out


_PG_DROP = [
    "DROP TRIGGER IF EXISTS events_rollup_insert ON events",
    "DROP FUNCTION IF EXISTS emend_rollup_events()",
    "DROP TRIGGER IF EXISTS runs_rollup_update ON runs",
    "DROP FUNCTION IF EXISTS emend_rollup_runs()",
] + [s for op in ("insert", "update", "delete") for s in (
    f"DROP TRIGGER IF EXISTS edits_rollup_{op} ON edits", f"DROP FUNCTION IF EXISTS emend_rollup_edits_{op}()")]


# --- SQLite ----------------------------------------------------------------------------------

def _sqlite_upsert(table: str, keys: tuple[str, ...], select: str) -> str:
    return (f"INSERT INTO {table} ({', '.join(keys)}, n) {select} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET n = n + excluded.n;")


def _sqlite_edit_row(row: str, sign: str) -> list[str]:
    """Count one edit row (NEW or OLD) with the sign, under its run's current keys."""
    src = f"FROM runs r JOIN versions v ON v.id = r.version_id WHERE r.id = {row}.run_id"
    return [
        _sqlite_upsert("metric_edit_counts", EDIT_KEYS, f"SELECT {', '.join(_edit_keys(row, 'r', 'v'))}, {sign} {src}"),
        _sqlite_upsert("metric_decision_days", DAY_KEYS,
                       f"SELECT {', '.join(_day_keys('sqlite', row, 'r'))}, {sign} {src} AND {_human(row)}"),
    ]


def _sqlite_run_row(row: str, sign: str) -> list[str]:
    """Count every edit of the run under the run row's (NEW or OLD) keys, with the sign."""
    ek, dk = _edit_keys("e", row, "v"), _day_keys("sqlite", "e", row)
    src = f"FROM edits e JOIN versions v ON v.id = {row}.version_id WHERE e.run_id = {row}.id"
    return [
        _sqlite_upsert("metric_edit_counts", EDIT_KEYS,
                       f"SELECT {', '.join(ek)}, {sign} * count(*) {src} GROUP BY {', '.join(ek)}"),
        _sqlite_upsert("metric_decision_days", DAY_KEYS,
                       f"SELECT {', '.join(dk)}, {sign} * count(*) {src} AND {_human('e')} GROUP BY {', '.join(dk)}"),
    ]


def _changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


def _sqlite_create() -> list[str]:
    def trigger(name: str, when: str, statements: list[str]) -> str:
        return f"CREATE TRIGGER {name} {when} BEGIN {' '.join(statements)} END"

    item_upsert = (
        f"INSERT INTO metric_item_times ({ITEM_COLUMNS}) SELECT NEW.project_id, qi.queue_id, NEW.subject_id, "
        f"NEW.actor_id, CASE WHEN NEW.kind = '{CLAIMED}' THEN NEW.created_at END, "
        f"CASE WHEN NEW.kind = '{SUBMITTED}' THEN NEW.created_at END FROM queue_items qi WHERE qi.id = NEW.subject_id "
        "ON CONFLICT (project_id, item_id, user_id) DO UPDATE SET "
        "claimed_at = CASE WHEN excluded.claimed_at IS NULL THEN claimed_at "
        "WHEN claimed_at IS NULL OR excluded.claimed_at < claimed_at THEN excluded.claimed_at ELSE claimed_at END, "
        "submitted_at = CASE WHEN excluded.submitted_at IS NULL THEN submitted_at "
        "WHEN submitted_at IS NULL OR excluded.submitted_at > submitted_at THEN excluded.submitted_at "
        "ELSE submitted_at END;")
    return [
        trigger("edits_rollup_insert", "AFTER INSERT ON edits", _sqlite_edit_row("NEW", "1")),
        trigger("edits_rollup_update", f"AFTER UPDATE ON edits WHEN {_changed(EDIT_KEY_COLUMNS)}",
                _sqlite_edit_row("OLD", "-1") + _sqlite_edit_row("NEW", "1")),
        trigger("edits_rollup_delete", "AFTER DELETE ON edits", _sqlite_edit_row("OLD", "-1")),
        trigger("runs_rollup_update", f"AFTER UPDATE ON runs WHEN {_changed(RUN_KEY_COLUMNS)}",
                _sqlite_run_row("OLD", "-1") + _sqlite_run_row("NEW", "1")),
        trigger("events_rollup_insert",
                f"AFTER INSERT ON events WHEN NEW.kind IN ('{CLAIMED}', '{SUBMITTED}') AND "
                "NEW.subject_kind = 'queue_item' AND NEW.project_id IS NOT NULL AND NEW.actor_id IS NOT NULL",
                [item_upsert]),
    ]


_SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {name}" for name in (
    "edits_rollup_insert", "edits_rollup_update", "edits_rollup_delete", "runs_rollup_update", "events_rollup_insert")]

TRIGGERS = ("edits_rollup_insert", "edits_rollup_update", "edits_rollup_delete", "runs_rollup_update",
            "events_rollup_insert")


def create_triggers(connection: Connection) -> None:
    statements = _pg_create() if connection.dialect.name == "postgresql" else _sqlite_create()
    for statement in statements:
        connection.exec_driver_sql(statement.replace("%", "%%") if connection.dialect.name == "postgresql"
                                   else statement)


def drop_triggers(connection: Connection) -> None:
    for statement in _PG_DROP if connection.dialect.name == "postgresql" else _SQLITE_DROP:
        connection.exec_driver_sql(statement)


# --- from scratch, and folding ---------------------------------------------------------------

def scratch_queries(dialect: str) -> dict[str, str]:
    """Each rollup computed from the raw rows: what the triggers keep (and what rebuild writes)."""
    return {
        "metric_edit_counts": _grouped(EDIT_KEYS, [_edit_part(dialect, "edits", "edits", "runs", "1")]),
        "metric_decision_days": _grouped(DAY_KEYS, [_edit_part(dialect, "days", "edits", "runs", "1")]),
        "metric_item_times": _item_times_select("events"),
    }


_COLUMNS = {"metric_edit_counts": ", ".join(EDIT_KEYS) + ", n", "metric_decision_days": ", ".join(DAY_KEYS) + ", n",
            "metric_item_times": ITEM_COLUMNS}


def rebuild(connection: Connection) -> None:
    """Recompute every rollup from the raw rows (migration backfill; data loaded with triggers
    off). PostgreSQL: blocks writers of edits, runs and events for the duration."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.exec_driver_sql("LOCK TABLE edits, runs, events IN SHARE MODE")
    for table in ("metric_edit_deltas", "metric_decision_deltas", *_COLUMNS):
        connection.exec_driver_sql(f"DELETE FROM {table}")
    for table, query in scratch_queries(dialect).items():
        connection.execute(text(f"INSERT INTO {table} ({_COLUMNS[table]}) {query}"))


FOLD_LOCK = 0x656D656E64  # pg_advisory_xact_lock key: one fold at a time


def fold(connection: Connection) -> int:
    """PostgreSQL: move the deltas into the counts (and drop counts that reached zero). Returns
    the delta rows folded. Readers sum both in one statement, so they see no difference."""
    if connection.dialect.name != "postgresql":
        return 0
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FOLD_LOCK})
    folded = 0
    for counts, deltas, keys in (("metric_edit_counts", "metric_edit_deltas", EDIT_KEYS),
                                 ("metric_decision_days", "metric_decision_deltas", DAY_KEYS)):
        cols = ", ".join(keys)
        result = connection.execute(text(
            f"WITH d AS (DELETE FROM {deltas} RETURNING {cols}, n), "
            f"f AS (INSERT INTO {counts} ({cols}, n) SELECT {cols}, sum(n) FROM d GROUP BY {cols} "
            f"ON CONFLICT ({cols}) DO UPDATE SET n = {counts}.n + EXCLUDED.n RETURNING 1) "
            "SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM f)"))
        folded += result.one()[0]
        connection.execute(text(f"DELETE FROM {counts} WHERE n = 0"))
    return folded
