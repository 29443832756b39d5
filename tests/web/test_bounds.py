"""Bad input gets a clear 4xx, never a 500: ids past the column range, negative limits, NUL and
lone surrogates in text, bodies of a type the API does not take (found by fuzzing)."""
from __future__ import annotations

import json

import pytest

from app.bounds import MAX_ID
from tests.conftest import api_headers, login


@pytest.fixture
def headers(db, writer):
    return api_headers(db, writer)


@pytest.mark.parametrize("path", [f"/api/v1/runs/{MAX_ID + 1}", "/api/v1/documents/9223372036854775808",
                                  f"/api/v1/runs/-{MAX_ID + 5}",
                                  f"/api/v1/edits/{10**30}"])
def test_huge_ids_in_api_paths_are_not_found(client, headers, path):
    r = client.get(path, headers=headers)
    assert r.status_code == 404 and r.json() == {"detail": "There is nothing here."}


def test_huge_ids_in_page_paths_are_not_found(client, writer):
    login(client, writer)
    r = client.get(f"/runs/{MAX_ID + 1}")
    assert r.status_code == 404 and "There is nothing here" in r.text


@pytest.mark.parametrize("query", ["limit=-1", "limit=0", "limit=9223372036854775808", "page=9223372036854775808"])
def test_out_of_range_query_numbers_are_refused(client, headers, query):
    r = client.get(f"/api/v1/exports?{query}", headers=headers)
    assert r.status_code == 422 and "query parameter" in r.json()["detail"]


def test_out_of_range_page_on_a_page(client, writer, project):
    login(client, writer)
    r = client.get(f"/projects/{project.id}?page=9223372036854775808", headers={"HX-Request": "true"})
    assert r.status_code == 422 and "out of range" in r.text


@pytest.mark.parametrize("field,value,message", [
    ("text", "Hello\x00world", "NUL character"),
    ("title", "T\x00", "NUL character"),
    ("text", "Hello \ud800 world", "lone surrogate"),
])
def test_bad_characters_in_json_text_are_refused(client, headers, project, field, value, message):
    body = {"project_id": project.id, "title": "T", "text": "Some text to revise."} | {field: value}
    r = client.post("/api/v1/documents", content=json.dumps(body).encode(),  # \u escapes, as a fuzzer sends
                    headers={**headers, "content-type": "application/json"})
    assert r.status_code == 422 and message in r.json()["detail"] and repr(field) in r.json()["detail"]


def test_feedback_with_a_lone_surrogate(client, headers, doc):
    # json= would escape it the same way; the raw body shows what a fuzzer sends.
    r = client.post(f"/api/v1/documents/{doc.id}/feedback", content=b'{"text": "x \\ud800 y"}',
                    headers={**headers, "content-type": "application/json"})
    assert r.status_code == 422 and "lone surrogate" in r.json()["detail"]


def test_text_plain_body_is_415_json(client, headers):
    r = client.post("/api/v1/documents", content=b"\xff\xfe not json", headers={**headers, "content-type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]


def test_undecodable_json_is_a_400_not_a_500(client, headers):
    r = client.post("/api/v1/documents", content=b"\xff\xfe{", headers={**headers, "content-type": "application/json"})
    assert r.status_code == 400 and "parsing the body" in r.json()["detail"]


@pytest.mark.parametrize("body", [{"target_type": "edit", "target_id": -1, "label": 1},
                                  {"target_type": "edit", "target_id": MAX_ID + 1, "label": 1}])
def test_out_of_range_ids_in_bodies_are_422(client, db, headers, body):
    r = client.post("/api/v1/annotations", json=body, headers=headers)
    assert r.status_code == 422


def test_nul_in_a_form_field_and_an_uploaded_file(client, writer, project):
    login(client, writer)
    r = client.post(f"/projects/{project.id}/documents", data={"title": "A\x00", "text": "Some words."},
                    headers={"HX-Request": "true"})
    assert r.status_code == 422 and "NUL" in r.text
    r = client.post(f"/projects/{project.id}/documents", data={"title": "A"},
                    files={"file": ("notes.txt", b"Some \x00 words.", "text/plain")}, headers={"HX-Request": "true"})
    assert r.status_code == 422 and "NUL" in r.text
