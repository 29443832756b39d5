"""A bounded schemathesis run over /api/openapi.json: no operation answers 5xx, and every answer
(status, media type, body) is one the API document declares. With a token and with a browser
session, on SQLite and PostgreSQL (the `db` fixture's backends), inside the test's transaction."""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.db import get_session
from tests.conftest import api_headers, login
from tests.edits.factories import make_document, make_run

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Per operation and auth: a few thousand requests in all (EMEND_FUZZ_EXAMPLES=500 for a long run).
EXAMPLES = int(os.environ.get("EMEND_FUZZ_EXAMPLES", "12"))


@pytest.fixture
def api_world(db, project, site_admin, member):
    writer = member("writer")
    document = make_document(db, writer, project)
    make_run(db, document, [("Teh", "The"), ("the the", "the")])
    return site_admin


# No shrinking: a failure is reported as found (shrinking a server error can take minutes).
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def _per_request_transactions(app, db) -> None:
    """Each request in a savepoint of its own, rolled back on error, as each request has its own
    transaction in production: one refused request must not leave the next ones an aborted one."""
    def _session():
        nested = db.begin_nested()
        try:
            yield db
        except BaseException:
            nested.rollback()
            raise
        nested.commit()

    app.dependency_overrides[get_session] = _session


def _fuzz(app, headers: dict) -> None:
    """Every operation in turn (hypothesis inside one test: the fixtures are the test's own)."""
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    failures, operations = {}, 0
    only = os.environ.get("EMEND_FUZZ_ONLY", "")  # e.g. "POST /api/v1/imports", to look at one operation
    for result in schema.get_all_operations():
        operation = result.ok()
        if only not in operation.label:
            continue
        operations += 1

        @FUZZ
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collected so one run reports every operation
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:1500]}"
    assert operations > (0 if only else 20)
    assert failures == {}


@pytest.fixture
def token_headers(db, api_world) -> dict:
    return api_headers(db, api_world)


@pytest.fixture
def session_headers(client, api_world) -> dict:
    login(client, api_world)
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items()),
            "x-csrftoken": client.headers["x-csrftoken"]}


def test_api_with_a_token(app, db, token_headers):
    _per_request_transactions(app, db)
    _fuzz(app, token_headers)


def test_api_with_a_browser_session(app, db, session_headers):
    _per_request_transactions(app, db)
    _fuzz(app, session_headers)
