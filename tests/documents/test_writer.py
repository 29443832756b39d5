"""The writer's own edits, the ways on after a stop, finishing, critiques and the read view (issue 9)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.documents import service
from app.edits import service as edits
from app.errors import Conflict, Invalid
from app.flows import writer as flow
from app.models import Critique, Edit, Run, Stage
from app.runs import service as runs
from tests.conftest import events_of
from tests.edits.factories import TEXT, make_run

# TEXT = "Teh cat sat on the the mat. It was a very good cat in order to be happy."


def test_changes_are_word_level_and_minimal():
    assert flow.changes("It was alot of fun.", "It was a lot of fun.") == [(7, 11, "a lot")]
    # Never a piece of a word: the whole word is the edit.
    assert flow.changes("the cat sat", "the car sat") == [(4, 7, "car")]
    assert flow.changes("one two three", "one three") == [(4, 8, "")]
    assert flow.changes("same", "same") == []
    two = flow.changes("Teh cat sat on the the mat.", "The cat sat on the mat.")
    old = "Teh cat sat on the the mat."
    assert flow.changes(old, "The cat sat on the mat.")  # applying the changes gives the new text
    out = old
    for s, e, r in sorted(two, reverse=True):
        out = out[:s] + r + out[e:]
    assert out == "The cat sat on the mat."


def test_a_huge_rewrite_is_one_change_not_a_quadratic_diff(monkeypatch):
    monkeypatch.setattr(flow, "MAX_DIFF_CELLS", 10)
    assert flow.changes("a b c d e f", "g h i j k l") == [(0, 11, "g h i j k l")]


def test_paragraphs_are_the_text_between_blank_lines():
    text = "One.\n\nTwo\nlines.\n\n\nThree."
    assert [text[a:b] for a, b in flow.paragraphs(text)] == ["One.", "Two\nlines.", "Three."]


def _hand(db, doc, writer, old: str, new: str):
    version = doc.current_version
    start = version.text.index(old)
    return flow.edit_by_hand(db, document_id=doc.id, user=writer, base_version_id=version.id, start=start,
                             end=start + len(old), text=new)


def test_hand_edit_makes_a_version_with_human_edits_and_carries_untouched_pending_edits(db, doc, writer):
    run = make_run(db, doc, [("Teh", "The"), ("the the", "the"), ("very good", "fine"), ("in order to", "to")])
    base = doc.current_version
    accepted = db.scalar(select(Edit).where(Edit.run_id == run.id, Edit.original == "in order to"))
    edits.decide_edit(db, edit_id=accepted.id, user=writer, decision="accept")

    result = _hand(db, doc, writer, "It was a very good cat", "It was a really good cat")

    version = result.version
    assert doc.current_version_id == version.id and version.parent_id == base.id and version.depth == base.depth
    assert version.text == TEXT.replace("very good", "really good")
    [human] = result.edits
    assert (human.source, human.run_id, human.status, human.decision_source) == ("human", None, "accepted", "human")
    assert (human.original, human.replacement, human.version_id, human.revised_version_id) == (
        "very", "really", base.id, version.id)
    # "very good -> fine" overlapped the writer's change: superseded with a note.
    touched = db.scalar(select(Edit).where(Edit.run_id == run.id, Edit.original == "very good"))
    assert touched.status == "superseded" and touched.superseded_by_id == human.id
    assert "rewrote this passage by hand" in touched.note
    # The others moved to the new version (shifted), keeping their decisions, in a run on it.
    carrier = result.run
    assert carrier.version_id == version.id and carrier.status == "succeeded" and carrier.variant == ""
    moved = {e.original: e for e in db.scalars(select(Edit).where(Edit.run_id == carrier.id))}
    assert set(moved) == {"Teh", "the the", "in order to"}
    for edit in moved.values():
        assert version.text[edit.start:edit.end] == edit.original  # the guard trigger checks this too
        assert db.get(Edit, edit.carried_from_id).status == "superseded"
        assert "Carried over to version" in db.get(Edit, edit.carried_from_id).note
    assert moved["in order to"].status == "accepted" and moved["Teh"].status == "pending"
    assert moved["in order to"].start == TEXT.index("in order to") + 2  # "really" is 2 longer than "very"
    assert edits.count_statuses(run.edits)["superseded"] == 4 and edits.run_counts(db, run_id=run.id)["total"] == 0

    # The review goes on with the carried edits: decide them and apply on the new version.
    edits.decide_all(db, run_id=carrier.id, user=writer, decision="accept")
    applied = edits.apply_run(db, run_id=carrier.id, user=writer)
    assert applied.text == "The cat sat on the mat. It was a really good cat to be happy."
    event = events_of(db, "version.edited")[0]
    assert event.data["edit_ids"] == [human.id] and event.data["superseded_edit_ids"] == [touched.id]
    assert events_of(db, "edits.carried")[0].data["from_run_id"] == run.id


def test_hand_edit_refuses_a_stale_base_an_active_run_and_no_change(db, doc, writer):
    base = doc.current_version
    _hand(db, doc, writer, "Teh", "The")
    with pytest.raises(Conflict, match="changed since you opened it"):
        flow.edit_by_hand(db, document_id=doc.id, user=writer, base_version_id=base.id, start=0, end=3, text="Thy")
    current = doc.current_version
    with pytest.raises(Invalid, match="Nothing changed"):
        flow.edit_by_hand(db, document_id=doc.id, user=writer, base_version_id=current.id, start=0, end=3,
                          text="The")
    with pytest.raises(Invalid, match="not in the current version"):
        flow.edit_by_hand(db, document_id=doc.id, user=writer, base_version_id=current.id, start=0,
                          end=10_000, text="x")
    runs.start_run(db, document_id=doc.id, user=writer)
    with pytest.raises(Conflict, match="is working on this document"):
        flow.edit_by_hand(db, document_id=doc.id, user=writer, base_version_id=current.id, start=0, end=3,
                          text="A")


def test_a_stop_has_ways_on_override_hand_edit_finish_reopen(db, doc, writer):
    doc.stop_reason = "no_edits"
    with pytest.raises(Conflict, match="stopped"):
        service.revise_again(db, document_id=doc.id, user=writer)
    run = service.revise_again(db, document_id=doc.id, user=writer, override=True, feedback="shorter")
    assert run.status == "queued" and doc.stop_reason is None
    [override] = events_of(db, "loop.overridden")
    assert override.data["stop_reason"] == "no_edits" and override.run_id == run.id
    run.status = "succeeded"  # it proposed nothing: stopped again
    doc.stop_reason = "no_edits"
    db.flush()

    service.finish_document(db, document_id=doc.id, user=writer)
    assert doc.stop_reason == "finished" and doc.finished_at is not None
    with pytest.raises(Conflict, match="finished"):
        service.revise_again(db, document_id=doc.id, user=writer, override=True)
    with pytest.raises(Conflict, match="finished"):
        _hand(db, doc, writer, "Teh", "The")
    with pytest.raises(Conflict, match="stopped|finished"):
        runs.start_run(db, document_id=doc.id, user=writer)
    service.reopen_document(db, document_id=doc.id, user=writer)
    assert doc.stop_reason == "no_edits" and doc.finished_at is None  # back where the loop stood
    assert [e.kind for e in events_of(db, "document.finished") + events_of(db, "document.reopened")] == [
        "document.finished", "document.reopened"]
    # A hand edit after "no more edits" lets the loop go on: the text is new.
    _hand(db, doc, writer, "Teh", "The")
    assert doc.stop_reason is None


def _critiques(db, doc, writer) -> list[Critique]:
    run = make_run(db, doc, [])
    stage = Stage(run_id=run.id, position=0, name="critique", status="succeeded")
    db.add(stage)
    db.flush()
    text = doc.current_version.text
    rows = [Critique(run_id=run.id, stage_id=stage.id, version_id=run.version_id, position=i, start=text.index(seg),
                     end=text.index(seg) + len(seg), segment=seg, category=cat, severity=sev, text=msg)
            for i, (seg, cat, sev, msg) in enumerate([
                ("It was a very good cat in order to be happy.", "wordiness", "medium", "Say it shorter."),
                ("Teh cat sat on the the mat.", "vague", "low", "Which cat?")])]
    db.add_all(rows)
    db.flush()
    return rows


def test_critiques_for_the_writer_address_and_dismiss(db, doc, writer):
    wordy, vague = _critiques(db, doc, writer)
    shown = service.writer_critiques(db, document=doc, version=doc.current_version)
    assert [c.id for c in shown] == [vague.id, wordy.id]  # reading order
    feedback = service.address_critique(db, critique_id=wordy.id, user=writer)
    assert "Say it shorter." in feedback.text and "wordiness" in feedback.text
    assert service.unused_feedback(db, document_id=doc.id) == [feedback]
    service.dismiss_critique(db, critique_id=vague.id, user=writer)
    assert service.writer_critiques(db, document=doc, version=doc.current_version) == []
    assert events_of(db, "critique.dismissed")[0].subject_id == vague.id
    assert events_of(db, "critique.addressed")[0].data["feedback_id"] == feedback.id
    with pytest.raises(Conflict, match="already dismissed"):
        service.dismiss_critique(db, critique_id=vague.id, user=writer)
    # The next run receives the addressed critique as its feedback.
    db.scalar(select(Run).where(Run.id == wordy.run_id)).status = "succeeded"
    run = service.revise_again(db, document_id=doc.id, user=writer)
    assert "Say it shorter." in run.feedback


def test_read_view_shows_the_last_changes_on_demand(db, doc, writer):
    run = make_run(db, doc, [("Teh", "The"), ("the the", "the")])
    edits.decide_all(db, run_id=run.id, user=writer, decision="accept")
    edits.apply_run(db, run_id=run.id, user=writer)
    clean = service.read_view(db, document_id=doc.id, user=writer)
    assert clean.pieces == [(doc.current_version.text, None)]
    shown = service.read_view(db, document_id=doc.id, user=writer, changes=True)
    assert [p for p in shown.pieces if p[1] is not None] == [("The", "Teh"), ("the", "the the")]
    assert "".join(t for t, _ in shown.pieces) == doc.current_version.text
    assert service.download_name(doc, "md") == "Notes.md"


def test_do_not_repeat_filters_rejections_so_a_restored_version_gets_suggestions_again(db, doc, writer):
    text = "It was alot of fun."
    doc2 = service.create_document(db, project_id=doc.project_id, title="Fun", text=text, actor=writer)
    first = doc2.current_version
    run = make_run(db, doc2, [("alot", "alto")])
    edits.decide_edit(db, edit_id=run.edits[0].id, user=writer, decision="modify", replacement="a lot")
    edits.apply_run(db, run_id=run.id, user=writer)
    service.restore_version(db, version_id=first.id, user=writer)
    # The modification was no rejection: "alot" may be proposed again for the restored text.
    assert runs.do_not_repeat(db, document_id=doc2.id) == []
    run2 = make_run(db, doc2, [("alot", "a lot")])
    edits.decide_edit(db, edit_id=run2.edits[0].id, user=writer, decision="reject")
    db.flush()
    assert runs.do_not_repeat(db, document_id=doc2.id) == [{"original": "alot", "replacement": "a lot"}]
