import pytest
from sqlalchemy import select

from app.annotations import comparisons, shadow
from app.errors import Conflict, Invalid, NotFound
from app.models import Comparison, Edit, Event, Guideline
from tests.annotations.factories import make_document, make_run


def _decide(db, run, statuses):
    for edit, status in zip(sorted(run.edits, key=lambda e: e.start), statuses):
        edit.status = status
        edit.decision_source = "human"
    db.flush()


def test_shadow_predicts_from_history_and_guidelines(db, world, project):
    project.shadow_user = True
    # Past decisions: the writer accepts fluency edits and rejects clarity edits.
    old = make_document(db, world.writer, project, title="Old")
    for _ in range(3):
        _decide(db, make_run(db, old), ["accepted", "accepted", "rejected"])
    run = make_run(db, world.document)
    assert shadow.prefill_predictions(db, run=run) == 3
    by_original = {e.original: e for e in db.scalars(select(Edit).where(Edit.run_id == run.id))}
    teh, doubled, wordy = by_original["Teh"], by_original["the the"], by_original["very good"]
    assert teh.predicted_status == "accepted" and teh.status == "accepted" and teh.decision_source == "ai"
    assert wordy.predicted_status == "rejected" and wordy.predicted_confidence > 0.5
    # 6 accepted of 6 fluency, prior 4 × overall (7/11): (6 + 4·7/11) / 10.
    assert doubled.predicted_confidence == pytest.approx((6 + 4 * 7 / 11) / 10, abs=1e-3)
    event = db.scalar(select(Event).where(Event.kind == "edit.predicted", Event.run_id == run.id))
    assert event.source == "ai" and len(event.data["predictions"]) == 3
    assert shadow.prefill_predictions(db, run=run) == 0  # already predicted

    # A guideline "ignore spelling" predicts a reject for spelling fixes, not for the doubled word.
    db.add(Guideline(project_id=project.id, document_id=world.document.id, text="Ignore spelling.",
                     created_by_id=world.writer.id))
    db.flush()
    run2 = make_run(db, world.document)
    shadow.prefill_predictions(db, run=run2)
    by_original = {e.original: e for e in db.scalars(select(Edit).where(Edit.run_id == run2.id))}
    assert by_original["Teh"].predicted_status == "rejected"
    assert by_original["the the"].predicted_status == "accepted"


def test_shadow_is_off_unless_the_project_asks(db, world):
    assert shadow.prefill_predictions(db, run=world.run) == 0


def test_a_person_overrides_the_prediction_and_the_log_keeps_both(db, world, project):
    from app.edits import service as edits

    project.shadow_user = True
    shadow.prefill_predictions(db, run=world.run)
    edit = db.scalar(select(Edit).where(Edit.run_id == world.run.id, Edit.original == "Teh"))
    assert (edit.status, edit.decision_source) == ("accepted", "ai")  # the prior alone leans to accept
    edits.decide_edit(db, edit_id=edit.id, user=world.writer, decision="reject")
    db.flush()
    assert (edit.status, edit.decision_source, edit.predicted_status) == ("rejected", "human", "accepted")
    kinds = db.scalars(select(Event.kind).where(Event.run_id == world.run.id).order_by(Event.id)).all()
    assert kinds.index("edit.predicted") < kinds.index("edit.decided")


def test_guideline_rules():
    rules = shadow.guideline_rules(["Don't touch the quotes. Always fix punctuation.\nKeep my tone"])
    assert {(r.topic, r.accept) for r in rules} == {("quotes", False), ("punctuation", True), ("style", False)}


def test_compare_two_runs_side_by_side_and_choose(db, world):
    other = make_run(db, world.document, model="other/model", edits=(("Teh", "The", "fluency"),))
    view = comparisons.compare_view(db, version_id=world.document.current_version_id, user=world.writer,
                                    run_a_id=world.run.id, run_b_id=other.id)
    assert view.a.text.startswith("The cat sat on the mat. It was a excellent cat.")
    assert view.b.text.startswith("The cat sat on the the mat.")
    choice = comparisons.make_comparison(db, version_id=world.document.current_version_id, run_a_id=world.run.id,
                                         run_b_id=other.id, user=world.annotator, choice="a", reason="fixes more")
    assert db.get(Comparison, choice.id).choice == "a"
    event = db.scalar(select(Event).where(Event.kind == "comparison.made"))
    assert event.data["choice"] == "a" and event.data["models"] == ["emend/offline-reviser", "other/model"]
    with pytest.raises(Invalid):
        comparisons.make_comparison(db, version_id=world.document.current_version_id, run_a_id=world.run.id,
                                    run_b_id=world.run.id, user=world.annotator, choice="a")
    with pytest.raises(Invalid):
        comparisons.make_comparison(db, version_id=world.document.current_version_id, run_a_id=world.run.id,
                                    run_b_id=other.id, user=world.annotator, choice="both")


def test_compare_refuses_unfinished_runs_and_outsiders(db, world, make_user):
    running = make_run(db, world.document, status="running")
    with pytest.raises(Conflict):
        comparisons.make_comparison(db, version_id=world.document.current_version_id, run_a_id=world.run.id,
                                    run_b_id=running.id, user=world.annotator, choice="tie")
    with pytest.raises(NotFound):
        comparisons.compare_view(db, version_id=world.document.current_version_id, user=make_user())


def test_start_candidate_run_with_another_model(db, world, sent_tasks):
    run = comparisons.start_candidate_run(db, version_id=world.document.current_version_id, user=world.writer,
                                          model="other/model", variant="concise")
    assert (run.model, run.variant, run.version_id) == ("other/model", "concise", world.document.current_version_id)
    with pytest.raises(Conflict):  # the same variant is already running
        comparisons.start_candidate_run(db, version_id=world.document.current_version_id, user=world.writer,
                                        model="other/model", variant="concise")
    with pytest.raises(Invalid):
        comparisons.start_candidate_run(db, version_id=world.document.current_version_id, user=world.writer)
