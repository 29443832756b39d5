"""The writer's pages: edit mode, the ways on after a stop, the read view and downloads, critiques,
and a top bar without links the role cannot use (issue 9)."""
from __future__ import annotations

from sqlalchemy import select

from app.models import Edit
from tests.conftest import api_headers, login
from tests.edits.factories import TEXT, make_run

HX = {"HX-Request": "true"}


def test_edit_a_paragraph_by_hand_with_pending_edits(client, db, writer, doc):
    run = make_run(db, doc, [("Teh", "The"), ("very good", "fine")])
    login(client, writer)
    page = client.get(f"/documents/{doc.id}")
    assert f'href="/documents/{doc.id}/write"' in page.text
    write = client.get(f"/documents/{doc.id}/write")
    assert write.status_code == 200 and "2 suggestions pending" in write.text
    form = client.get(f"/documents/{doc.id}/write/paragraph?index=0", headers=HX)
    assert form.status_code == 200 and 'name="text"' in form.text and "<html" not in form.text
    base = doc.current_version
    saved = client.post(f"/documents/{doc.id}/write", headers=HX, data={
        "base_version_id": base.id, "start": 0, "end": len(TEXT), "text": TEXT.replace("very good", "splendid")})
    assert saved.status_code == 200, saved.text
    assert "Saved as version 2" in saved.text and "1 pending suggestion carried over" in saved.text
    assert "1 suggestion superseded" in saved.text
    db.expire_all()
    assert doc.current_version.text == TEXT.replace("very good", "splendid")
    touched = db.scalar(select(Edit).where(Edit.run_id == run.id, Edit.original == "very good"))
    assert touched.status == "superseded"
    # The review shows the carried edit on the new version, decidable.
    review = client.get(f"/documents/{doc.id}")
    assert "Version 2" in review.text and 'data-status="pending"' in review.text
    # A stale form (the base is no longer current) is refused with a clear message, nothing saved.
    stale = client.post(f"/documents/{doc.id}/write", headers=HX, data={
        "base_version_id": base.id, "start": 0, "end": 3, "text": "Tha"})
    assert stale.status_code == 409 and "changed since you opened it" in stale.text


def test_after_a_stop_revise_anyway_finish_and_reopen(client, db, writer, doc):
    doc.stop_reason = "no_edits"
    db.flush()
    login(client, writer)
    page = client.get(f"/documents/{doc.id}")
    assert 'id="revise-anyway"' in page.text and 'id="finish-button"' in page.text
    revised = client.post(f"/documents/{doc.id}/revise", data={"override": "true"}, headers=HX)
    assert revised.status_code == 200 and "Waiting for a worker" in revised.text
    db.expire_all()
    assert doc.stop_reason is None
    client.post(f"/runs/{_latest_run(db, doc)}/cancel", headers=HX)  # a run must end before finishing
    finished = client.post(f"/documents/{doc.id}/finish", headers=HX)
    assert finished.status_code == 200 and 'id="reopen-button"' in finished.text
    assert 'id="revise-button"' not in finished.text
    reopened = client.post(f"/documents/{doc.id}/reopen", headers=HX)
    assert reopened.status_code == 200 and 'id="finish-button"' in reopened.text


def _latest_run(db, doc):
    from app.documents.service import latest_run

    return latest_run(db, document_id=doc.id).id


def test_read_view_and_downloads(client, db, writer, doc):
    login(client, writer)
    read = client.get(f"/documents/{doc.id}/read")
    assert read.status_code == 200 and "Teh cat sat" in read.text and 'id="copy-text"' in read.text
    assert f'href="/documents/{doc.id}/download.md"' in read.text
    txt = client.get(f"/documents/{doc.id}/download.txt")
    assert txt.status_code == 200 and txt.text == TEXT and txt.headers["content-type"].startswith("text/plain")
    assert txt.headers["content-disposition"] == 'attachment; filename="Notes.txt"'
    md = client.get(f"/documents/{doc.id}/download.md")
    assert md.headers["content-type"].startswith("text/markdown") and md.text == TEXT
    assert client.get(f"/documents/{doc.id}/download.pdf").status_code == 404


def test_critiques_beside_the_text_address_and_dismiss(client, db, writer, doc):
    from tests.documents.test_writer import _critiques

    wordy, vague = _critiques(db, doc, writer)
    login(client, writer)
    page = client.get(f"/documents/{doc.id}")
    assert f'id="critique-{wordy.id}"' in page.text and "wordiness" in page.text and "medium" in page.text
    answer = client.post(f"/critiques/{wordy.id}/address", headers=HX)
    assert answer.status_code == 200 and f'id="critique-{wordy.id}"' not in answer.text
    assert "Feedback for the next run" in answer.text and "Say it shorter." in answer.text
    gone = client.post(f"/critiques/{vague.id}/dismiss", headers=HX)
    assert gone.status_code == 200 and f'id="critique-{vague.id}"' not in gone.text


def test_top_bar_shows_only_links_the_role_can_use(client, db, writer, member, site_admin):
    login(client, writer)
    page = client.get("/projects")
    assert 'href="/exports"' not in page.text and 'href="/queues"' not in page.text
    assert client.get("/exports").status_code == 403  # the rule the bar follows
    annotator = member("annotator")
    client.post("/logout")
    login(client, annotator)
    page = client.get("/projects")
    assert 'href="/queues"' in page.text and 'href="/exports"' not in page.text
    client.post("/logout")
    login(client, site_admin)
    page = client.get("/projects")
    assert 'href="/queues"' in page.text and 'href="/exports"' in page.text


def test_api_hand_edit_finish_and_override(client, db, writer, doc):
    headers = api_headers(db, writer, ["read", "write"])
    base = doc.current_version
    made = client.post(f"/api/v1/documents/{doc.id}/hand-edits", headers=headers,
                       json={"base_version_id": base.id, "text": TEXT.replace("Teh", "The")})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["number"] == 2 and len(body["edit_ids"]) == 1 and body["carried_run_id"] is None
    again = client.post(f"/api/v1/documents/{doc.id}/hand-edits", headers=headers,
                        json={"base_version_id": base.id, "text": "x"})
    assert again.status_code == 409
    finished = client.post(f"/api/v1/documents/{doc.id}/finish", headers=headers)
    assert finished.json()["stop_reason"] == "finished" and finished.json()["finished_at"]
    refused = client.post(f"/api/v1/documents/{doc.id}/revise", headers=headers, json={"override": True})
    assert refused.status_code == 409 and "reopen" in refused.json()["detail"]
    client.post(f"/api/v1/documents/{doc.id}/reopen", headers=headers)
    started = client.post(f"/api/v1/documents/{doc.id}/revise", headers=headers, json={})
    assert started.status_code == 201 and started.json()["run_id"]


def test_a_long_list_of_critiques_comes_a_page_at_a_time(client, db, writer, doc):
    import re

    from app.documents.pages import CRITIQUES_PAGE
    from app.models import Critique, Stage

    run = make_run(db, doc, [])
    stage = Stage(run_id=run.id, position=0, name="critique", status="succeeded")
    db.add(stage)
    db.flush()
    total = 2 * CRITIQUES_PAGE + 3
    db.add_all([Critique(run_id=run.id, stage_id=stage.id, version_id=run.version_id, position=i, start=0, end=3,
                         segment="Teh", category="spelling", severity="low", text=f"Critique number {i}.")
                for i in range(total)])
    db.flush()
    login(client, writer)
    page = client.get(f"/documents/{doc.id}")
    assert f"Critiques <small class=\"muted\">({total})</small>" in page.text
    seen = re.findall(r"Critique number (\d+)\.", page.text)
    assert len(seen) == CRITIQUES_PAGE
    offset = CRITIQUES_PAGE
    while True:
        more = re.search(r'hx-get="(/documents/\d+/critiques/more\?offset=\d+)"', page.text)
        if not more:
            break
        page = client.get(more.group(1), headers=HX)
        assert page.status_code == 200 and "<html" not in page.text
        found = re.findall(r"Critique number (\d+)\.", page.text)
        assert len(found) == min(CRITIQUES_PAGE, total - offset)
        seen += found
        offset += len(found)
    assert sorted(map(int, seen)) == list(range(total))
