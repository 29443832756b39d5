import pytest
from sqlalchemy import event as sa_event

from app.documents import service as documents
from app.edits import service
from app.errors import Conflict, Forbidden, Invalid, NotFound
from tests.conftest import events_of
from tests.edits.factories import TEXT, make_run


@pytest.fixture
def run(db, doc, writer):
    return make_run(db, doc, [("Teh", "The"), ("the the", "the"), ("very good", "fine", "style"),
                              ("in order to", "to", "clarity")], user=writer)


def test_accept_reject_modify_store_the_decision_and_an_event(db, run, writer):
    teh, doubled, very, wordy = run.edits
    service.decide_edit(db, edit_id=teh.id, user=writer, decision="accept")
    service.decide_edit(db, edit_id=doubled.id, user=writer, decision="reject", comment="keep it")
    service.decide_edit(db, edit_id=very.id, user=writer, decision="modify", replacement="lovely")
    assert (teh.status, doubled.status, very.status, wordy.status) == ("accepted", "rejected", "modified", "pending")
    assert very.decided_replacement == "lovely" and teh.decided_replacement is None
    assert teh.decided_by_id == writer.id and teh.decided_at is not None and teh.decision_source == "human"
    assert doubled.comment == "keep it"
    decided = events_of(db, "edit.decided")
    assert [e.subject_id for e in decided] == [teh.id, doubled.id, very.id]
    first = decided[0].data
    assert first["previous_status"] == "pending" and first["status"] == "accepted"
    assert first["shown"]["original"] == "Teh" and first["shown"]["replacement"] == "The"
    assert decided[2].data["decided_replacement"] == "lovely"
    assert all(e.run_id == run.id and e.document_id == run.document_id for e in decided)


def test_a_repeated_identical_decision_is_idempotent(db, run, writer):
    edit = run.edits[0]
    service.decide_edit(db, edit_id=edit.id, user=writer, decision="accept")
    first_at = edit.decided_at
    service.decide_edit(db, edit_id=edit.id, user=writer, decision="accept")
    assert len(events_of(db, "edit.decided")) == 1 and edit.decided_at == first_at
    # Changing one's mind is a new decision with the previous status recorded.
    service.decide_edit(db, edit_id=edit.id, user=writer, decision="reject")
    changed = events_of(db, "edit.decided")
    assert len(changed) == 2 and changed[1].data["previous_status"] == "accepted"


def test_modify_needs_a_replacement_and_typing_the_proposal_is_accepting(db, run, writer):
    edit = run.edits[0]
    with pytest.raises(Invalid) as err:
        service.decide_edit(db, edit_id=edit.id, user=writer, decision="modify")
    assert err.value.status_code == 422
    with pytest.raises(Invalid):
        service.decide_edit(db, edit_id=edit.id, user=writer, decision="maybe")
    service.decide_edit(db, edit_id=edit.id, user=writer, decision="modify", replacement="The")
    assert edit.status == "accepted" and edit.decided_replacement is None


def test_deciding_an_edit_of_a_superseded_version_is_a_conflict(db, run, writer, doc):
    first_version = doc.current_version
    documents.add_version(db, document=doc, text=TEXT.upper(), depth=1, actor=writer, parent=first_version)
    with pytest.raises(Conflict) as err:
        service.decide_edit(db, edit_id=run.edits[0].id, user=writer, decision="accept")
    assert err.value.status_code == 409 and "older version" in err.value.message
    with pytest.raises(Conflict):
        service.decide_all(db, run_id=run.id, user=writer, decision="accept")


def test_only_the_writer_or_an_admin_decides(db, run, member, site_admin):
    other_writer, annotator = member("writer"), member("annotator")
    with pytest.raises(NotFound):
        service.decide_edit(db, edit_id=run.edits[0].id, user=other_writer, decision="accept")
    with pytest.raises(Forbidden):
        service.decide_edit(db, edit_id=run.edits[0].id, user=annotator, decision="accept")
    admin = member("admin")
    service.decide_edit(db, edit_id=run.edits[0].id, user=admin, decision="accept")
    with pytest.raises(NotFound):
        service.decide_edit(db, edit_id=999_999, user=admin, decision="accept")


def test_apply_builds_the_next_version_from_accepted_and_modified_edits(db, run, writer, doc):
    teh, doubled, very, wordy = run.edits
    service.decide_edit(db, edit_id=teh.id, user=writer, decision="accept")
    service.decide_edit(db, edit_id=doubled.id, user=writer, decision="modify", replacement="that")
    service.decide_edit(db, edit_id=very.id, user=writer, decision="reject")
    with pytest.raises(Conflict, match="1 edit is still undecided"):
        service.apply_run(db, run_id=run.id, user=writer)
    service.decide_edit(db, edit_id=wordy.id, user=writer, decision="accept")
    base = doc.current_version
    version = service.apply_run(db, run_id=run.id, user=writer)
    assert version.text == "The cat sat on that mat. It was a very good cat to be happy."
    assert (version.depth, version.number, version.parent_id, version.source_run_id) == (1, 2, base.id, run.id)
    assert doc.current_version_id == version.id and run.applied_version_id == version.id
    assert doc.stop_reason is None
    applied = events_of(db, "version.applied")
    assert len(applied) == 1 and sorted(applied[0].data["applied_edit_ids"]) == sorted([teh.id, doubled.id, wordy.id])
    with pytest.raises(Conflict, match="already applied"):
        service.apply_run(db, run_id=run.id, user=writer)
    # The run's edits are now closed to decisions.
    with pytest.raises(Conflict):
        service.decide_edit(db, edit_id=very.id, user=writer, decision="accept")


def test_reaching_the_maximum_depth_stops_the_loop(db, project, writer, doc):
    project.max_depth = 2
    for depth in (1, 2):
        run = make_run(db, doc, [("cat", "dog")])
        service.decide_all(db, run_id=run.id, user=writer, decision="accept")
        version = service.apply_run(db, run_id=run.id, user=writer)
        assert version.depth == depth
    assert doc.stop_reason == "max_depth"
    assert documents.stop_message(doc) == "Stopped: maximum depth 2 reached."
    assert events_of(db, "version.applied")[-1].data["stop_reason"] == "max_depth"


def test_apply_refuses_a_run_without_edits_or_not_finished(db, doc, writer):
    empty = make_run(db, doc, [])
    with pytest.raises(Conflict, match="no edits"):
        service.apply_run(db, run_id=empty.id, user=writer)
    running = make_run(db, doc, [("cat", "dog")], status="running")
    with pytest.raises(Conflict, match="running"):
        service.apply_run(db, run_id=running.id, user=writer)


def test_decide_all_decides_only_pending_edits(db, run, writer):
    service.decide_edit(db, edit_id=run.edits[0].id, user=writer, decision="reject")
    changed = service.decide_all(db, run_id=run.id, user=writer, decision="accept")
    assert [e.id for e in changed] == [e.id for e in run.edits[1:]]
    assert [e.status for e in run.edits] == ["rejected", "accepted", "accepted", "accepted"]
    assert all(e.data.get("bulk") for e in events_of(db, "edit.decided")[1:])
    counts = service.run_counts(db, run_id=run.id)
    counts.pop("superseded", None)  # edits the writer's own change replaced (none here)
    assert counts == {"pending": 0, "accepted": 3, "rejected": 1, "modified": 0, "total": 4, "to_apply": 3}
    with pytest.raises(Invalid):
        service.decide_all(db, run_id=run.id, user=writer, decision="modify")


def test_auto_apply_makes_the_version_when_the_last_edit_is_decided(db, project, run, writer, doc):
    project.auto_apply = True
    for edit in run.edits[:-1]:
        service.decide_edit(db, edit_id=edit.id, user=writer, decision="reject")
    assert run.applied_version_id is None
    service.decide_edit(db, edit_id=run.edits[-1].id, user=writer, decision="accept")
    assert run.applied_version_id == doc.current_version_id
    assert doc.current_version.text == TEXT.replace("in order to", "to")


def test_comments_and_exposure_are_events(db, run, writer):
    edit = run.edits[1]
    service.comment_edit(db, edit_id=edit.id, user=writer, comment="  why?  ")
    service.comment_edit(db, edit_id=edit.id, user=writer, comment="why?")  # unchanged: no event
    assert edit.comment == "why?" and len(events_of(db, "edit.commented")) == 1
    order = [run.edits[2].id, run.edits[0].id]
    service.record_exposure(db, run=run, edit_ids_in_order=order, user=writer)
    shown = events_of(db, "edits.shown")
    assert len(shown) == 1 and shown[0].run_id == run.id
    assert shown[0].data["positions"] == [{"edit_id": order[0], "position": 0}, {"edit_id": order[1], "position": 1}]


def test_a_decision_takes_a_handful_of_queries(db, engine, run, writer):
    db.flush()
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        service.decide_edit(db, edit_id=run.edits[0].id, user=writer, decision="accept")
        db.flush()
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    # locked load with run, document and project; the role; the edit update; the event insert.
    assert len(statements) <= 5, statements


def test_the_locked_load_uses_for_update_on_postgresql(db, run, writer):
    from sqlalchemy.dialects import postgresql

    from app.edits.service import _load_for_update

    edit_id = run.edits[0].id
    captured = []
    original_execute = db.execute

    def spy(statement, *args, **kwargs):
        captured.append(str(statement.compile(dialect=postgresql.dialect())))
        return original_execute(statement, *args, **kwargs)

    db.execute = spy
    try:
        _load_for_update(db, edit_id, writer)
    finally:
        del db.execute
    assert len(captured) == 1 and "FOR UPDATE OF runs, edits" in captured[0]
