"""Structured corrections (rows checked by the stage's schema, one path for rows and raw JSON),
the stage's critiques and edits in the version's text, and compare as a diff (issue 12, 2–3)."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from app.annotations import context, corrections
from app.errors import Invalid
from app.models import Run, Stage
from tests.annotations.factories import TEXT, make_document, make_run
from tests.conftest import api_headers, login

HX = {"HX-Request": "true"}


def _stage(db, run, name):
    return db.scalar(select(Stage).where(Stage.run_id == run.id, Stage.name == name))


def _rows_form(stage_name, rows, **extra):
    form = {"mode": "rows", **extra}
    for i, row in enumerate(rows):
        for key, value in row.items():
            form[f"row-{i}-{key}"] = value
    return form


CRITIQUE = {"segment": "Nobody knew why.", "start": "", "category": "vague", "severity": "low",
            "text": "Why is unclear."}  # as the row editor posts it (a blank start)
GOOD = {k: v for k, v in CRITIQUE.items() if v}  # as JSON


# --- the one validation path ----------------------------------------------------------------

def test_row_fields_come_from_the_stage_schema():
    names = [f.name for f in corrections.row_schema("critique").fields]
    assert names == ["segment", "start", "category", "severity", "text"]
    severity = corrections.row_schema("critique").field("severity")
    assert severity.required and severity.enum == ("low", "medium", "high")
    edit = {f.name: f for f in corrections.row_schema("propose").fields}
    assert edit["confidence"].type == "number" and edit["intent"].enum[0] == "fluency"
    assert [f.name for f in corrections.row_schema("verify").fields] == ["index", "score", "reason"]


def test_rows_and_raw_json_meet_the_same_problems():
    bad_rows = [dict(CRITIQUE), {**CRITIQUE, "severity": "severe", "start": "twelve"}]
    value = corrections.value_from_rows("critique", bad_rows)
    assert value["critiques"][1]["start"] == "twelve"  # kept as typed, for the schema to report
    with pytest.raises(corrections.CorrectionInvalid) as from_rows:
        corrections.check("critique", value, text=TEXT)
    raw = json.dumps({"critiques": [{k: v for k, v in CRITIQUE.items() if v},
                                    {**CRITIQUE, "severity": "severe", "start": "twelve"}]})
    with pytest.raises(corrections.CorrectionInvalid) as from_json:
        corrections.check("critique", json.loads(raw), text=TEXT)
    for exc in (from_rows.value, from_json.value):
        assert sorted(exc.problems.rows) == [1] and not exc.problems.form
        fields = dict(exc.problems.rows[1])
        assert "low, medium, high" in fields["severity"] and "whole number" in fields["start"]
        assert "Row 2: Severity must be one of" in exc.message


def test_checks_against_the_text_missing_fields_and_the_stored_shape():
    with pytest.raises(corrections.CorrectionInvalid) as exc:
        corrections.check("critique", {"critiques": [{**GOOD, "segment": "not in the text at all"},
                                                     {"segment": "", "category": "x", "severity": "low"}]},
                          text=TEXT)
    assert "not in the version's text" in dict(exc.value.problems.rows[0])["segment"]
    assert dict(exc.value.problems.rows[1])["text"] == "is required."
    with pytest.raises(corrections.CorrectionInvalid) as exc:
        corrections.check("propose", {"edits": [
            {"original": "Teh cat", "replacement": "The cat", "intent": "fluency", "rationale": "r", "confidence": 0.9},
            {"original": "cat sat", "replacement": "cat sits", "intent": "style", "rationale": "r", "confidence": 2},
            {"original": "cat sat", "replacement": "cat sits", "intent": "style", "rationale": "r", "confidence": 1},
            {"original": "", "replacement": "x", "intent": "nope", "rationale": "r", "confidence": 1}]}, text=TEXT)
    rows = exc.value.problems.rows
    assert "between 0 and 1" in dict(rows[1])["confidence"]
    assert "overlaps the passage of row 1" in dict(rows[2])["original"]
    assert dict(rows[3])["original"] == "must not be empty." and "fluency" in dict(rows[3])["intent"]
    with pytest.raises(corrections.CorrectionInvalid) as exc:
        corrections.check("verify", {"scores": [{"index": 0, "score": 0.5, "reason": ""},
                                                {"index": 0, "score": 0.2, "reason": ""},
                                                {"index": 7, "score": 0.2, "reason": ""}]}, text=TEXT, candidates=3)
    assert "already scored in row 1" in dict(exc.value.problems.rows[1])["index"]
    assert "must be below 3" in dict(exc.value.problems.rows[2])["index"]
    # The stored output (start: null for a critique of the whole text, derived end) is accepted as is.
    stored = {"critiques": [{"segment": "", "start": None, "end": None, "category": "general",
                             "severity": "medium", "text": "Overall fine."}]}
    assert corrections.check("critique", stored, text=TEXT)["critiques"][0]["text"] == "Overall fine."


def test_verify_rows_from_the_stored_scores_list():
    rows = corrections.rows_from_output("verify", {"scores": [0.9, None]})
    assert rows == [{"index": "0", "score": "0.9", "reason": ""}, {"index": "1", "score": "", "reason": ""}]
    with pytest.raises(corrections.CorrectionInvalid) as exc:
        corrections.check("verify", corrections.value_from_rows("verify", rows), text=TEXT, candidates=2)
    assert dict(exc.value.problems.rows[1])["score"] == "is required."


def test_row_operations_keep_typed_values():
    state = corrections.EditorState(stage_name="critique", rows=[dict(CRITIQUE, text="one"), dict(CRITIQUE, text="two")],
                                    json_text="")
    corrections.apply_op(state, "add")
    assert len(state.rows) == 3 and state.focus == "row-2-segment"
    corrections.apply_op(state, "up-1")
    assert [r["text"] for r in state.rows] == ["two", "one", ""]
    corrections.apply_op(state, "remove-2")
    corrections.apply_op(state, "tab-json")
    assert state.mode == "json" and json.loads(state.json_text)["critiques"][0]["text"] == "two"
    state.json_text = '{"critiques": [{"segment": "", "category": "c", "severity": "high", "text": "three"}]}'
    corrections.apply_op(state, "tab-rows")
    assert state.mode == "rows" and state.rows[0]["text"] == "three"
    state.mode, state.json_text = "json", "{broken"
    corrections.apply_op(state, "tab-rows")
    assert state.mode == "json" and "not valid" in state.message and state.json_text == "{broken"
    # The tab already shown converts nothing (the other tab's fields are not in the form).
    corrections.apply_op(state, "tab-json")
    assert state.mode == "json" and state.json_text == "{broken"
    state.json_text = '{"edits": []}'
    corrections.apply_op(state, "tab-rows")
    assert state.mode == "json" and "no list “critiques”" in state.message
    with pytest.raises(Invalid):
        corrections.apply_op(state, "add")
    state = corrections.EditorState(stage_name="critique", rows=[dict(CRITIQUE)], json_text="")
    corrections.apply_op(state, "tab-rows")
    assert state.mode == "rows" and state.rows == [CRITIQUE] and state.message is None


# --- the page's editor ----------------------------------------------------------------------

def test_trace_offers_rows_and_a_json_tab(db, client, world):
    login(client, world.annotator)
    page = client.get(f"/runs/{world.run.id}/trace").text
    stage = _stage(db, world.run, "critique")
    # The trace holds only the editor's summary; opening it loads the editor.
    assert f'hx-get="/stages/{stage.id}/correction"' in page and 'name="row-0-segment"' not in page
    editor = client.get(f"/stages/{stage.id}/correction", headers=HX)
    assert editor.status_code == 200 and "<html" not in editor.text
    assert 'name="row-0-segment"' in editor.text and "Passive voice hides who acts." in editor.text
    assert "Advanced (JSON)" in editor.text and 'value="tab-json"' in editor.text and " open" in editor.text
    # A text area's first line break is dropped by the browser: each one opens with one of its own.
    assert '>\nPassive voice hides who acts.</textarea>' in editor.text
    assert corrections.row_schema("propose").field("context_before").long  # may hold line breaks
    # Without htmx: the trace, with that editor open.
    whole = client.get(f"/stages/{stage.id}/correction")
    assert whole.status_code == 200 and "<html" in whole.text and 'name="row-0-segment"' in whole.text
    client.cookies.clear()
    login(client, world.writer)
    assert client.get(f"/stages/{stage.id}/correction", headers=HX).status_code == 403
    client.cookies.clear()
    login(client, world.annotator)
    r = client.post(f"/stages/{stage.id}/correction", headers=HX, data={
        **_rows_form("critique", [CRITIQUE]), "op": "tab-json"})
    assert r.status_code == 200 and "<html" not in r.text
    assert 'name="parsed_output"' in r.text and "Why is unclear." in r.text


def test_bad_row_answers_the_editor_with_the_error_beside_the_row_and_every_value_kept(db, client, world, sent_tasks):
    login(client, world.annotator)
    stage = _stage(db, world.run, "critique")
    rows = [CRITIQUE, {**CRITIQUE, "segment": "Teh cat sat on the the mat.", "severity": "severe",
                       "text": "Misspelt “The”."}]
    r = client.post(f"/stages/{stage.id}/correction", headers=HX,
                    data=_rows_form("critique", rows, comment="spelling matters"))
    assert r.status_code == 422 and "<html" not in r.text
    assert f'id="correction-{stage.id}"' in r.text
    row2 = r.text[r.text.index(f'id="c{stage.id}-row-1"'):]
    assert 'value="severe"' in row2 and "Misspelt “The”." in row2 and 'aria-invalid="true"' in row2
    assert "Severity must be one of low, medium, high" in row2[:row2.index("</fieldset>")]
    assert 'value="spelling matters"' in r.text and 'data-focus="row-1-severity"' in r.text
    assert db.scalar(select(Run.id).where(Run.parent_run_id == world.run.id)) is None
    # Row actions answer the editor with the rows as typed.
    r = client.post(f"/stages/{stage.id}/correction", headers=HX, data={**_rows_form("critique", rows), "op": "up-1"})
    assert r.status_code == 200 and r.text.index('value="severe"') < r.text.index("Why is unclear.")
    # Fixed, it saves and goes to the child run's trace.
    rows[1]["severity"] = "high"
    r = client.post(f"/stages/{stage.id}/correction", headers=HX, data=_rows_form("critique", rows))
    assert r.status_code == 200, r.text
    child = db.scalar(select(Run).where(Run.parent_run_id == world.run.id))
    assert r.headers["HX-Redirect"] == f"/runs/{child.id}/trace"
    corrected = _stage(db, child, "critique").parsed_output["critiques"]
    assert [c["severity"] for c in corrected] == ["high", "low"]  # in document order


def test_invalid_json_answers_the_json_tab_with_the_text_kept(db, client, world):
    login(client, world.annotator)
    stage = _stage(db, world.run, "critique")
    r = client.post(f"/stages/{stage.id}/correction", headers=HX, data={"parsed_output": "{critiques: ["})
    assert r.status_code == 422 and "not valid JSON" in r.text and "{critiques: [" in r.text and "<html" not in r.text
    bad = json.dumps({"critiques": [{**CRITIQUE, "severity": "severe", "start": None}]})
    r = client.post(f"/stages/{stage.id}/correction", headers=HX, data={"mode": "json", "parsed_output": bad})
    assert r.status_code == 422 and "Row 1: Severity must be one of" in r.text
    # Without htmx the whole trace comes back, the editor open with the same text.
    r = client.post(f"/stages/{stage.id}/correction", data={"parsed_output": "{critiques: ["})
    assert r.status_code == 422 and "<html" in r.text and "1. critique" in r.text and "{critiques: [" in r.text


def test_api_takes_rows_or_json_through_the_same_checks(db, client, world, sent_tasks):
    headers = api_headers(db, world.annotator, scopes=["annotate"])
    stage = _stage(db, world.run, "critique")
    good = GOOD
    r = client.post(f"/api/v1/stages/{stage.id}/correction", headers=headers,
                    json={"rows": [{**good, "severity": "severe"}]})
    assert r.status_code == 422 and "Row 1: Severity must be one of" in r.json()["detail"]
    r = client.post(f"/api/v1/stages/{stage.id}/correction", headers=headers,
                    json={"parsed_output": {"critiques": [{**good, "severity": "severe"}]}})
    assert r.status_code == 422 and "Row 1: Severity must be one of" in r.json()["detail"]
    assert client.post(f"/api/v1/stages/{stage.id}/correction", headers=headers,
                       json={"rows": [good], "parsed_output": {"critiques": []}}).status_code == 422
    r = client.post(f"/api/v1/stages/{stage.id}/correction", headers=headers, json={"rows": [good]})
    assert r.status_code == 201, r.text
    assert json.loads(r.json()["annotation"]["correction"])["critiques"][0]["category"] == "vague"


# --- context -------------------------------------------------------------------------------

def test_highlight_windows_long_texts_and_handles_overlaps():
    text = ("lorem ipsum " * 10_000) + "THE PROBLEM here" + (" dolor sit" * 5_000)
    at = text.index("THE PROBLEM")
    marks = [context.Mark("critique", 1, 1, at, at + 11, "vague"),
             context.Mark("critique", 2, 2, at + 4, at + 16, "also"),
             context.Mark("critique", 3, 3, 0, 0, "whole text")]
    ctx = context.highlight(text, marks)
    assert not ctx.whole and ctx.before and ctx.after and ctx.marks == 2 and ctx.unplaced == 1
    shown = "".join(p.text for passage in ctx.passages for p in passage.pieces)
    assert len(shown) < 1_000 and "THE PROBLEM here" in shown
    overlap = next(p for p in ctx.passages[0].pieces if len(p.marks) == 2)
    assert overlap.text == "PROBLEM"
    short = context.highlight(TEXT, [context.Mark("edit", 1, 1, 0, 3, "fluency", "The")])
    assert short.whole and short.passages[0].pieces[0].text == "Teh" and short.passages[0].pieces[0].ends


def test_trace_and_queue_item_show_marks_in_the_text(db, client, world):
    login(client, world.annotator)
    page = client.get(f"/runs/{world.run.id}/trace").text
    assert re.search(r'<mark class="context-mark context-critique"[^>]*>The dog was seen by the cat\.</mark>', page)
    assert re.search(r'<mark class="context-mark context-edit"[^>]*>Teh</mark><ins class="edit context-replacement"', page)
    critique = _stage(db, world.run, "critique")
    assert f'id="context-{critique.id}"' in page
    from app.annotations import queues

    queue = queues.create_queue(db, project_id=world.document.project_id, user=world.admin, name="Context",
                                assignee_ids=[world.annotator.id])
    item = client.get(f"/queues/{queue.id}/next").text
    assert 'class="context-mark context-critique"' in item and 'class="context-mark context-edit"' in item


def test_a_200000_character_version_keeps_the_trace_small(db, client, world, project):
    paragraph = "This sentence is filler text that pads the document out to a great length. " * 13
    text = "\n\n".join([paragraph] * 200)
    text = text[:100_000] + "\n\nTeh cat sat on the the mat. It was a very good cat.\n\n" + text[100_000:]
    text = (text + "\n\nThe dog was seen by the cat. Nobody knew why.").ljust(200_000, ".")
    assert len(text) >= 200_000
    document = make_document(db, world.writer, project, text=text, title="Long")
    run = make_run(db, document, model="long/model")
    login(client, world.annotator)
    page = client.get(f"/runs/{run.id}/trace")
    assert page.status_code == 200
    assert len(page.content) < 300_000, len(page.content)
    assert 'class="context-mark context-edit"' in page.text and "context-gap" in page.text
    assert f"{len(text):,}-character version" in page.text
    assert "Nobody knew why." in page.text  # the passages around the marks are there
    # The queue item page shows the same trace, as small.
    from app.annotations import queues

    queue = queues.create_queue(db, project_id=project.id, user=world.admin, name="Long",
                                filters=queues.QueueFilters(model="long/model"), assignee_ids=[world.annotator.id])
    item = client.get(f"/queues/{queue.id}/next")
    assert item.status_code == 200 and "Long" in item.text
    assert len(item.content) < 300_000, len(item.content)
    assert 'class="context-mark context-critique"' in item.text


# --- compare as a diff ----------------------------------------------------------------------

def test_compare_shows_revision_b_as_a_diff_of_revision_a(db, client, world):
    other = make_run(db, world.document, model="other/model",
                     edits=(("Teh", "The", "fluency"), ("Nobody knew why.", "The reason was unknown.", "clarity")))
    login(client, world.annotator)
    page = client.get(f"/versions/{world.document.current_version_id}/compare?a={world.run.id}&b={other.id}").text
    diff = page[page.index('id="revision-diff"'):]
    diff = diff[:diff.index("</section>")]
    # A applied "the the" → "the" and "very good" → "excellent"; B did neither but rewrote the last sentence.
    assert re.search(r'<del class="edit diff-a"[^>]*>[^<]*excellent', diff)
    assert re.search(r'<ins class="edit diff-b"[^>]*>[^<]*very good', diff)
    assert re.search(r'<ins class="edit diff-b"[^>]*>[^<]*reason', diff)
    assert "<del" in diff and "changes" in diff


def test_revision_diff_cuts_long_unchanged_stretches():
    from app.annotations.comparisons import revision_diff

    body = "\n".join(f"Paragraph {i} stays the same in both revisions." for i in range(4_000))
    a = body + "\nThe end is near."
    b = body + "\nThe end is here."
    diff = revision_diff(a, b)
    assert diff.changes >= 1 and any(tag == "gap" for tag, _, _ in diff.ops)
    shown = sum(len(old) + len(new) for tag, old, new in diff.ops if tag != "gap")
    assert shown < 2_000
