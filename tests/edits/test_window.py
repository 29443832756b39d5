"""The review page in windows, the compact edit list, its filters and accept / reject the filtered set."""
from __future__ import annotations

import itertools
import re

import pytest

from app.edits import service, window
from app.errors import Invalid
from app.models import Edit, Run
from tests.conftest import api_headers, csrf_token, events_of, login

HX = {"HX-Request": "true"}
INTENTS = ("fluency", "clarity", "style")


@pytest.fixture
def big_run(db, writer, project):
    """A document of 250 paragraphs with one edit in each (intent and confidence vary)."""
    from app.documents import service as documents

    paragraphs = [f"Paragraph {n} has a speling mistake and some filler words here." for n in range(250)]
    text = "\n\n".join(paragraphs)
    document = documents.create_document(db, project_id=project.id, title="Big", text=text, actor=writer)
    version = document.current_version
    run = Run(project_id=project.id, document_id=document.id, version_id=version.id, model="emend/offline-reviser",
              status="succeeded", created_by_id=writer.id)
    db.add(run)
    db.flush()
    cursor = 0
    for n in range(250):
        start = text.index("speling", cursor)
        cursor = start + 7
        db.add(Edit(run_id=run.id, version_id=version.id, start=start, end=cursor, original="speling",
                    replacement="spelling", intent=INTENTS[n % 3], rationale="typo", confidence=0.5 + (n % 5) / 10))
    db.flush()
    db.refresh(run)
    return document, run


def test_sections_cut_at_breaks_outside_edits():
    text = "\n\n".join("word " * 400 for _ in range(10))
    spans = [(i * 2005 + 3, i * 2005 + 9) for i in range(10)]
    bounds = window.sections(text, spans)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert all(not (s < cut < e) for _start, cut in bounds for s, e in spans)
    assert 2 <= len(bounds) <= 5
    # A text without breaks is cut at spaces, never inside an edit.
    flat = "word " * 10_000
    flat_bounds = window.sections(flat, [(12_000, 12_004)])
    assert len(flat_bounds) > 3 and all(flat[c - 1] == " " for _s, c in flat_bounds[:-1])


def test_compact_line_shows_the_change_with_context_and_visible_spaces(db, writer, project):
    from tests.edits.factories import make_document, make_run

    document = make_document(db, writer, project, text="We measured the flow , then we saw the the river bank.")
    run = make_run(db, document, [("flow ,", "flow,"), ("the the", "the")])
    text = document.current_version.text
    comma, doubled = (window.line_for(text, e) for e in run.edits)
    assert (comma.old_shown, comma.new_shown) == ("␣", "") and comma.after.startswith(",")
    assert comma.before.endswith("the flow")
    assert doubled.old_shown == "␣the" and doubled.new == "" and doubled.before.endswith("saw the")
    assert doubled.after.startswith(" river")
    # The decision path reads only the text around the edit: the same line.
    assert window.line_of(db, run.edits[1]).before == doubled.before


def test_review_page_is_a_window_and_the_rest_comes_in_fragments(client, db, writer, big_run):
    document, run = big_run
    login(client, writer)
    page = client.get(f"/documents/{document.id}")
    assert page.status_code == 200
    rows = re.findall(r'<li id="edit-(\d+)" class="edit-row', page.text)
    assert len(rows) == window.PAGE_EDITS
    page_size = window.PAGE_EDITS
    assert 'id="list-more"' in page.text and f"{250 - page_size} more" in page.text
    placeholders = re.findall(r'id="section-(\d+)"[^>]*data-loaded="false"', page.text)
    assert placeholders  # the text beyond the window is not on the page
    shown = events_of(db, "edits.shown")[-1].data["edit_ids"]
    assert len(shown) == page_size  # exposure is what the page showed
    more = client.get(f"/runs/{run.id}/review/edits", params={"offset": page_size}, headers=HX)
    assert more.status_code == 200
    more_rows = re.findall(r'<li id="edit-(\d+)" class="edit-row', more.text)
    assert len(more_rows) == page_size and not set(more_rows) & set(rows) and 'id="list-more"' in more.text
    tail = 250 - (250 // page_size - (250 % page_size == 0)) * page_size
    last = client.get(f"/runs/{run.id}/review/edits", params={"offset": 250 - tail}, headers=HX)
    assert len(re.findall(r'class="edit-row', last.text)) == tail and 'id="list-more"' not in last.text
    index = int(placeholders[-1])
    section = client.get(f"/runs/{run.id}/review/sections/{index}", headers=HX)
    assert section.status_code == 200 and f'id="section-{index}"' in section.text
    assert 'data-loaded="true"' in section.text and 'class="edit-mark' in section.text
    browser = client.get(f"/runs/{run.id}/review/sections/{index}", follow_redirects=False)
    assert browser.status_code == 303  # a browser gets the page


def test_filters_are_server_side_and_windowed(client, db, writer, big_run):
    _document, run = big_run
    login(client, writer)
    panel = client.get(f"/runs/{run.id}/review/list", params={"intent": "style", "min_confidence": "0.8"},
                       headers=HX)
    assert panel.status_code == 200
    expected = [e.id for e in run.edits if e.intent == "style" and e.confidence >= 0.8]
    ids = [int(i) for i in re.findall(r'<li id="edit-(\d+)" class="edit-row', panel.text)]
    assert ids == expected and f"{len(expected)} edits match" in panel.text
    bad = client.get(f"/runs/{run.id}/review/list", params={"intent": "nonsense"}, headers=HX)
    assert bad.status_code == 422 and "Unknown intent" in bad.text
    bad = client.get(f"/runs/{run.id}/review/list", params={"min_confidence": "2"}, headers=HX)
    assert bad.status_code == 422


def test_decide_filtered_is_one_action_with_events(db, writer, big_run):
    _document, run = big_run
    first_style = next(e for e in run.edits if e.intent == "style")
    service.decide_edit(db, edit_id=first_style.id, user=writer, decision="reject")
    style = window.EditFilter.parse(intents=["style"])
    changed = service.decide_filtered(db, run_id=run.id, user=writer, decision="accept", edit_filter=style)
    styles = [e for e in run.edits if e.intent == "style"]
    assert len(changed) == len(styles) - 1  # the writer's own rejection stands
    assert first_style.status == "rejected" and all(e.status == "accepted" for e in styles[1:])
    assert all(e.status == "pending" for e in run.edits if e.intent != "style")
    bulk = [e for e in events_of(db, "edit.decided") if e.data.get("bulk")]
    assert len(bulk) == len(changed) and bulk[0].data["filter"]["intents"] == ["style"]
    # With a status filter, those decided edits are decided again.
    again = service.decide_filtered(db, run_id=run.id, user=writer, decision="accept",
                                    edit_filter=window.EditFilter.parse(statuses=["rejected"]))
    assert [e.id for e in again] == [first_style.id] and first_style.status == "accepted"
    with pytest.raises(Invalid):
        window.EditFilter.parse(statuses=["maybe"])
    with pytest.raises(Invalid):
        service.decide_filtered(db, run_id=run.id, user=writer, decision="modify", edit_filter=style)


def test_decide_filtered_page_and_api(client, db, writer, big_run):
    _document, run = big_run
    login(client, writer)
    answer = client.post(f"/runs/{run.id}/decide-filtered",
                         data={"decision": "reject", "intent": "clarity", "csrf_token": csrf_token(client)},
                         headers={**HX, "x-csrftoken": csrf_token(client)})
    assert answer.status_code == 200 and 'id="review"' in answer.text
    db.expire_all()
    assert all(e.status == "rejected" for e in run.edits if e.intent == "clarity")
    # The review comes back under the same filter.
    assert 'value="clarity" selected' in answer.text
    headers = api_headers(db, writer)
    listed = client.get(f"/api/v1/runs/{run.id}/edits", params={"status": "pending", "limit": 10}, headers=headers)
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == len([e for e in run.edits if e.intent != "clarity"]) and len(body["edits"]) == 10
    assert body["next_offset"] == 10
    decided = client.post(f"/api/v1/runs/{run.id}/decide-filtered",
                          json={"decision": "accept", "intents": ["fluency"], "min_confidence": 0.7}, headers=headers)
    assert decided.status_code == 200
    expected = [e.id for e in run.edits if e.intent == "fluency" and e.confidence >= 0.7]
    assert [e["id"] for e in decided.json()["edits"]] == expected
    wrong = client.post(f"/api/v1/runs/{run.id}/decide-filtered", json={"decision": "accept", "intents": ["x"]},
                        headers=headers)
    assert wrong.status_code == 422


def test_decision_answer_keeps_the_rows_section(client, db, writer, big_run):
    _document, run = big_run
    login(client, writer)
    edit = run.edits[120]
    answer = client.post(f"/edits/{edit.id}/decide", data={"decision": "accept", "section": "7"},
                         headers={**HX, "x-csrftoken": csrf_token(client)})
    assert answer.status_code == 200
    assert f'id="edit-{edit.id}"' in answer.text and 'data-section="7"' in answer.text
    assert 'data-status="accepted"' in answer.text
