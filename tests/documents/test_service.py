import pytest
from sqlalchemy import select

from app.documents import service
from app.edits import service as edits
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.models import Feedback, Guideline
from tests.conftest import events_of
from tests.edits.factories import TEXT, make_document, make_run


def test_upload_text_accepts_utf8_txt_and_md_only(monkeypatch):
    assert service.upload_text("notes.md", "\ufeffCafé notes".encode()) == "Café notes"
    with pytest.raises(Invalid, match="not UTF-8"):
        service.upload_text("notes.txt", "Caf\xe9".encode("latin-1"))
    with pytest.raises(Invalid, match=r"\.txt or \.md"):
        service.upload_text("notes.docx", b"hello")
    from app.config import get_settings
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 10)
    with pytest.raises(Invalid, match="larger than 10 bytes"):
        service.upload_text("big.txt", b"x" * 11)


def test_restore_makes_a_new_version_with_the_old_text_and_clears_the_stop(db, doc, writer):
    first = doc.current_version
    run = make_run(db, doc, [("Teh", "The")])
    edits.decide_all(db, run_id=run.id, user=writer, decision="accept")
    second = edits.apply_run(db, run_id=run.id, user=writer)
    doc.stop_reason = "no_edits"
    restored = service.restore_version(db, version_id=first.id, user=writer)
    assert restored.text == TEXT and restored.number == 3 and restored.depth == first.depth
    assert restored.restored_from_id == first.id and restored.parent_id == second.id
    assert doc.current_version_id == restored.id and doc.stop_reason is None
    event = events_of(db, "version.restored")[0]
    assert event.data["restored_from_id"] == first.id and event.data["previous_stop_reason"] == "no_edits"
    with pytest.raises(Conflict, match="already the current"):
        service.restore_version(db, version_id=restored.id, user=writer)


def test_restore_waits_for_an_active_run_and_needs_write_access(db, doc, writer, member):
    first = doc.current_version
    service.add_version(db, document=doc, text="Other text.", depth=1, actor=writer, parent=first)
    with pytest.raises(Forbidden):
        service.restore_version(db, version_id=first.id, user=member("annotator"))
    with pytest.raises(NotFound):
        service.restore_version(db, version_id=first.id, user=member("writer"))
    make_run(db, doc, [], status="running")
    with pytest.raises(Conflict, match="run is working"):
        service.restore_version(db, version_id=first.id, user=writer)


def test_diff_versions_gives_word_opcodes_and_a_unified_diff():
    diff = service.diff_versions("The cat sat on the the mat.\nSecond line.\n",
                                 "The dog sat on the mat.\nSecond line.\n", a_label="v1", b_label="v2")
    changed = [(tag, a, b) for tag, a, b in diff.ops if tag != "equal"]
    assert ("replace", "cat", "dog") in changed
    assert any(tag == "delete" and a.strip() == "the" for tag, a, b in changed)
    assert "".join(a for tag, a, b in diff.ops if tag != "insert") == "The cat sat on the the mat.\nSecond line.\n"
    assert "".join(b for tag, a, b in diff.ops if tag != "delete") == "The dog sat on the mat.\nSecond line.\n"
    assert diff.unified[:2] == ["--- v1", "+++ v2"]
    assert "-The cat sat on the the mat." in diff.unified and "+The dog sat on the mat." in diff.unified
    assert (diff.insertions, diff.deletions) == (1, 2)
    assert service.diff_versions("same", "same").unified == []


def test_feedback_and_guidelines_by_scope(db, doc, writer, project):
    run = make_run(db, doc, [("Teh", "The")])
    fb = service.add_feedback(db, document_id=doc.id, run_id=run.id, text=" keep it informal ", user=writer)
    assert fb.text == "keep it informal" and fb.used_by_run_id is None
    assert db.scalar(select(Guideline).where(Guideline.feedback_id == fb.id)) is None
    service.add_feedback(db, document_id=doc.id, run_id=None, text="no semicolons", user=writer, save_as="document")
    service.add_feedback(db, document_id=doc.id, run_id=None, text="British spelling", user=writer, save_as="project")
    other = make_document(db, writer, project, title="Other")
    assert [g.text for g in service.guidelines_for(db, document=doc)] == ["no semicolons", "British spelling"]
    assert [g.text for g in service.guidelines_for(db, document=other)] == ["British spelling"]
    assert len(events_of(db, "feedback.given")) == 3
    saved = events_of(db, "guideline.saved")
    assert [e.data["scope"] for e in saved] == ["document", "project"]
    with pytest.raises(Invalid):
        service.add_feedback(db, document_id=doc.id, run_id=None, text="   ", user=writer)
    with pytest.raises(Invalid):
        service.add_feedback(db, document_id=doc.id, run_id=None, text="x", user=writer, save_as="world")
    with pytest.raises(NotFound):
        service.add_feedback(db, document_id=other.id, run_id=run.id, text="x", user=writer)


def test_revise_again_sends_the_feedback_to_the_next_run(db, doc, writer, sent_tasks):
    service.add_feedback(db, document_id=doc.id, run_id=None, text="ignore spelling", user=writer)
    run = service.revise_again(db, document_id=doc.id, user=writer, feedback="don't change quotes",
                               save_as="document")
    assert run.status == "queued" and run.version_id == doc.current_version_id
    assert run.feedback == "ignore spelling\ndon't change quotes"
    assert service.unused_feedback(db, document_id=doc.id) == []
    guideline = db.scalar(select(Guideline).where(Guideline.document_id == doc.id))
    assert guideline.text == "don't change quotes"
    assert db.get(Feedback, guideline.feedback_id).used_by_run_id == run.id
    with pytest.raises(Conflict):  # one run at a time
        service.revise_again(db, document_id=doc.id, user=writer)
    with pytest.raises(Invalid):
        service.revise_again(db, document_id=doc.id, user=writer, save_as="project")


def test_auto_repeat_starts_the_next_run_after_apply_until_the_loop_stops(db, doc, writer, project):
    project.max_depth = 2
    service.set_auto_repeat(db, document_id=doc.id, user=writer, enabled=True)
    service.set_auto_repeat(db, document_id=doc.id, user=writer, enabled=True)
    assert doc.auto_repeat and len(events_of(db, "document.auto_repeat_set")) == 1
    run = make_run(db, doc, [("Teh", "The")])
    edits.decide_all(db, run_id=run.id, user=writer, decision="accept")
    edits.apply_run(db, run_id=run.id, user=writer)
    follow = service.latest_run(db, document_id=doc.id)
    assert follow.id != run.id and follow.status == "queued" and follow.version_id == doc.current_version_id
    follow.status = "succeeded"
    db.flush()
    second = make_run(db, doc, [("cat", "dog")])
    edits.decide_all(db, run_id=second.id, user=writer, decision="accept")
    edits.apply_run(db, run_id=second.id, user=writer)
    assert doc.stop_reason == "max_depth"
    assert service.latest_run(db, document_id=doc.id).id == second.id  # stopped: no new run


def test_review_shows_pending_edits_inline(db, doc, writer, member):
    review = service.review(db, document_id=doc.id, user=writer)
    assert review.state == "none" and review.pieces == [(TEXT, None)] and review.can_revise
    run = make_run(db, doc, [("Teh", "The"), ("in order to", "to")])
    review = service.review(db, document_id=doc.id, user=writer)
    assert review.state == "review" and not review.can_revise
    texts = [text if edit is None else edit.original for text, edit in review.pieces]
    assert "".join(texts) == TEXT
    assert [edit.id for text, edit in review.pieces if edit] == [e.id for e in run.edits]
    assert review.counts["pending"] == 2
    annotator_view = service.review(db, document_id=doc.id, user=member("annotator"))
    assert not annotator_view.can_write
    with pytest.raises(NotFound):
        service.review(db, document_id=doc.id, user=member("writer"))
    run.status = "failed"
    run.error = "model timed out"
    assert service.review(db, document_id=doc.id, user=writer).state == "failed"


def test_stop_messages_are_plain(db, doc):
    doc.stop_reason = "no_edits"
    assert service.stop_message(doc) == "Stopped: the model proposed no more edits."
    doc.stop_reason = "max_depth"
    assert service.stop_message(doc) == "Stopped: maximum depth 3 reached."
