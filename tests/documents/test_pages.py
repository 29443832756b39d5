import re

from sqlalchemy import select

from app.models import Document, Event
from tests.conftest import login
from tests.edits.factories import TEXT, make_run

HX = {"HX-Request": "true"}


def test_new_document_by_pasting(client, db, writer, project):
    login(client, writer)
    page = client.get(f"/projects/{project.id}/documents/new")
    assert page.status_code == 200 and 'name="text"' in page.text
    response = client.post(f"/projects/{project.id}/documents", data={"title": "Essay", "text": "Hello <world>.\r\n"},
                           follow_redirects=False)
    assert response.status_code == 303
    document = db.scalar(select(Document).where(Document.title == "Essay"))
    assert response.headers["location"] == f"/documents/{document.id}"
    assert document.current_version.text == "Hello <world>.\n"
    shown = client.get(f"/documents/{document.id}")
    assert "Hello &lt;world&gt;." in shown.text and "<world>" not in shown.text


def test_new_document_by_upload_and_clear_errors(client, db, writer, project):
    login(client, writer)
    ok = client.post(f"/projects/{project.id}/documents", data={"title": ""},
                     files={"file": ("notes.md", b"# Notes\nSome text.", "text/markdown")}, headers=HX)
    assert ok.status_code == 200 and ok.headers["HX-Location"].startswith("/documents/")
    document = db.scalar(select(Document).where(Document.title == "# Notes"))
    assert document.current_version.text == "# Notes\nSome text."
    empty = client.post(f"/projects/{project.id}/documents", data={"title": "x", "text": "   "}, headers=HX)
    assert empty.status_code == 422 and "The document is empty" in empty.text
    long = client.post(f"/projects/{project.id}/documents", data={"title": "x"},
                       files={"file": ("long.txt", b"zebra " * 100_000, "text/plain")}, headers=HX)
    assert long.status_code == 422 and "zebra zebra" not in long.text and "<html" not in empty.text
    latin = client.post(f"/projects/{project.id}/documents", data={"title": "x"},
                        files={"file": ("old.txt", "caf\xe9".encode("latin-1"), "text/plain")})
    assert latin.status_code == 422 and "not UTF-8" in latin.text


def test_document_page_shows_pending_edits_inline_and_records_exposure(client, db, writer, doc):
    run = make_run(db, doc, [("Teh", "The", "fluency"), ("in order to", "to", "clarity")])
    login(client, writer)
    page = client.get(f"/documents/{doc.id}")
    assert page.status_code == 200
    first, second = run.edits
    assert f'id="mark-{first.id}"' in page.text and "intent-clarity" in page.text
    assert '<del class="edit">Teh</del><ins class="edit">The</ins>' in page.text
    assert f'id="edit-{second.id}"' in page.text and "2</span> pending" in page.text
    assert "Apply — 2 still to decide" in page.text
    assert f'href="/runs/{run.id}/trace"' in page.text  # inside the review block, which htmx refreshes
    text = re.search(r'<div class="doc-text" id="doc-text">(.*?)</div>', page.text, re.DOTALL).group(1)
    plain = re.sub(r'<span class="edit-pop".*?</span></span>', "", text)
    plain = re.sub(r"<ins class=\"edit\">.*?</ins>", "", plain)
    assert re.sub(r"<[^>]+>", "", plain) == TEXT  # the inline view is the version text, no stray spaces
    db.flush()
    shown = db.scalars(select(Event).where(Event.kind == "edits.shown")).all()
    assert len(shown) == 1 and shown[0].data["edit_ids"] == [first.id, second.id]


def test_a_decision_answers_with_a_small_fragment(client, db, writer, doc):
    run = make_run(db, doc, [("Teh", "The"), ("in order to", "to")])
    first, second = run.edits
    login(client, writer)
    answer = client.post(f"/edits/{first.id}/decide", data={"decision": "accept", "replacement": "The"}, headers=HX)
    assert answer.status_code == 200 and len(answer.text) < 5000
    assert answer.text.lstrip().startswith(f'<li id="edit-{first.id}"') and 'data-status="accepted"' in answer.text
    assert f'id="mark-{first.id}"' in answer.text and answer.text.count('hx-swap-oob="true"') == 3
    assert "1</span> pending" in answer.text and f'id="edit-{second.id}"' not in answer.text
    modify = client.post(f"/edits/{second.id}/decide", data={"decision": "modify", "replacement": "so as to"},
                         headers=HX)
    assert "Your replacement" in modify.text and "so as to" in modify.text and 'id="apply-button"' in modify.text
    assert "Apply 2 edits" in modify.text
    comment = client.post(f"/edits/{second.id}/comment", data={"comment": "<b>hm</b>"}, headers=HX)
    assert "&lt;b&gt;hm&lt;/b&gt;" in comment.text
    applied = client.post(f"/documents/{doc.id}/apply", data={"run_id": run.id}, headers=HX)
    assert applied.status_code == 200 and 'id="revise-button"' in applied.text
    assert doc.current_version.text == TEXT.replace("Teh", "The").replace("in order to", "so as to")
    stale = client.post(f"/edits/{first.id}/decide", data={"decision": "reject"}, headers=HX)
    assert stale.status_code == 409 and "already applied" in stale.text and stale.headers["HX-Retarget"] == "#flash"


def test_decide_all_and_plain_form_posts_redirect(client, db, writer, doc):
    run = make_run(db, doc, [("Teh", "The"), ("in order to", "to")])
    login(client, writer)
    response = client.post(f"/documents/{doc.id}/decide-all", data={"run_id": run.id, "decision": "reject"},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/documents/{doc.id}"
    assert [e.status for e in run.edits] == ["rejected", "rejected"]
    page = client.get(f"/documents/{doc.id}")
    assert "Apply 0 edits" in page.text


def test_modify_with_an_empty_replacement_deletes_the_text(client, db, writer, doc):
    run = make_run(db, doc, [("Teh", "The")])
    login(client, writer)
    response = client.post(f"/edits/{run.edits[0].id}/decide", data={"decision": "modify", "replacement": ""},
                           headers=HX)
    assert response.status_code == 200
    assert (run.edits[0].status, run.edits[0].decided_replacement) == ("modified", "")


def test_upload_errors_never_echo_the_file_and_text_plus_file_is_refused(client, db, writer, project):
    login(client, writer)
    both = client.post(f"/projects/{project.id}/documents", data={"title": "x", "text": "Pasted words."},
                       files={"file": ("notes.txt", b"Uploaded words.", "text/plain")}, headers=HX)
    assert both.status_code == 422 and "not both" in both.text and "Pasted words." in both.text
    empty = client.post(f"/projects/{project.id}/documents", data={"title": "x"},
                        files={"file": ("blank.txt", b"   \n", "text/plain")}, headers=HX)
    assert empty.status_code == 422 and "The document is empty" in empty.text
    long = client.post(f"/projects/{project.id}/documents", data={"title": "x"},
                       files={"file": ("long.txt", b"zebra " * 100_000, "text/plain")}, headers=HX)
    assert long.status_code == 422 and "zebra zebra" not in long.text


def test_another_writer_gets_404(client, db, doc, member):
    run = make_run(db, doc, [("Teh", "The")])
    login(client, member("writer"))
    assert client.get(f"/documents/{doc.id}").status_code == 404
    assert client.get(f"/documents/{doc.id}/versions").status_code == 404
    assert client.post(f"/edits/{run.edits[0].id}/decide", data={"decision": "accept"}).status_code == 404


def test_progress_polls_while_running_then_shows_the_edits(client, db, writer, doc):
    run = make_run(db, doc, [], status="running")
    login(client, writer)
    page = client.get(f"/documents/{doc.id}")
    assert 'hx-trigger="every 1s" hx-target="#run-progress"' in page.text
    # While it works, the poll answers the progress alone: no text of the document.
    run.chunk_count = 4
    polling = client.get(f"/documents/{doc.id}/progress", headers=HX)
    assert polling.text.lstrip().startswith('<section class="card" id="run-progress"')
    assert "running" in polling.text and "<html" not in polling.text and doc.current_version.text[:20] not in polling.text
    assert "HX-Retarget" not in polling.headers
    run.status = "failed"
    run.error = "The model answered nothing usable."
    failed = client.get(f"/documents/{doc.id}/progress", headers=HX)
    assert failed.headers["HX-Retarget"] == "#review" and failed.headers["HX-Reswap"] == "outerHTML"
    assert "every 1s" not in failed.text and "The model answered nothing usable." in failed.text
    assert 'id="revise-button"' in failed.text
    done = make_run(db, doc, [("Teh", "The")])
    finished = client.get(f"/documents/{doc.id}/progress", headers=HX)
    assert "every 1s" not in finished.text and f'id="edit-{done.edits[0].id}"' in finished.text
    assert client.get(f"/documents/{doc.id}/progress", follow_redirects=False).status_code == 303


def test_revise_starts_a_run_with_feedback(client, db, writer, doc, sent_tasks):
    login(client, writer)
    response = client.post(f"/documents/{doc.id}/revise", data={"feedback": "keep it short", "save_as": "project"},
                           headers=HX)
    assert response.status_code == 200 and 'hx-trigger="every 1s"' in response.text
    from app.documents import service
    run = service.latest_run(db, document_id=doc.id)
    assert run.feedback == "keep it short" and sent_tasks == [("runs.execute", (run.id,))]
    assert "keep it short" in client.get(f"/documents/{doc.id}").text  # listed among the guidelines


def test_stop_reason_is_said_plainly(client, db, writer, doc):
    doc.stop_reason = "max_depth"
    db.flush()
    login(client, writer)
    page = client.get(f"/documents/{doc.id}")
    assert "Stopped: maximum depth 3 reached." in page.text and 'id="revise-button"' not in page.text


def test_history_diff_and_restore(client, db, writer, doc):
    run = make_run(db, doc, [("Teh", "The")])
    login(client, writer)
    client.post(f"/documents/{doc.id}/decide-all", data={"run_id": run.id, "decision": "accept"})
    client.post(f"/documents/{doc.id}/apply", data={"run_id": run.id})
    first, second = doc.current_version.parent_id, doc.current_version_id
    history = client.get(f"/documents/{doc.id}/versions")
    assert history.status_code == 200 and f'id="version-{first}"' in history.text and f"run #{run.id}" in history.text
    diff = client.get(f"/documents/{doc.id}/diff", params={"a": first, "b": second})
    assert '<del class="edit">Teh</del><ins class="edit">The</ins>' in diff.text and "-Teh cat" in diff.text
    restored = client.post(f"/versions/{first}/restore", follow_redirects=False)
    assert restored.status_code == 303 and doc.current_version.text == TEXT and doc.current_version.number == 3
    assert client.get(f"/documents/{doc.id}/diff", params={"a": first, "b": 999_999}).status_code == 404


def test_a_decision_made_meanwhile_in_another_tab_is_not_overwritten(client, db, writer, doc):
    run = make_run(db, doc, [("Teh", "The")])
    edit = run.edits[0]
    login(client, writer)
    page = client.get(f"/documents/{doc.id}").text
    assert 'name="seen_status" value="pending"' in page
    # Tab B rejects; tab A, still showing "pending", then accepts.
    client.post(f"/edits/{edit.id}/decide", data={"decision": "reject", "seen_status": "pending"}, headers=HX)
    stale = client.post(f"/edits/{edit.id}/decide", data={"decision": "accept", "seen_status": "pending"},
                        headers=HX)
    assert stale.status_code == 409 and "decided meanwhile" in stale.text and "rejected now" in stale.text
    assert edit.status == "rejected"
    # The same result twice (a double click) is no conflict, and a fresh row decides normally.
    again = client.post(f"/edits/{edit.id}/decide", data={"decision": "reject", "seen_status": "pending"}, headers=HX)
    assert again.status_code == 200
    fresh = client.post(f"/edits/{edit.id}/decide", data={"decision": "accept", "seen_status": "rejected"},
                        headers=HX)
    assert fresh.status_code == 200 and edit.status == "accepted"
    assert 'name="seen_status" value="accepted"' in fresh.text
