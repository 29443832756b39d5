import json

import pytest
from sqlalchemy import select

from app.annotations import segments, service
from app.errors import Forbidden, Invalid, NotFound
from app.models import Annotation, Event, Run, Stage


def _stage(db, run, name):
    return db.scalar(select(Stage).where(Stage.run_id == run.id, Stage.name == name))


def test_label_is_upserted_and_every_change_is_an_event(db, world):
    stage = _stage(db, world.run, "critique")
    first = service.save_annotation(db, user=world.annotator, target_kind="stage", target_id=stage.id, label=1)
    again = service.save_annotation(db, user=world.annotator, target_kind="stage", target_id=stage.id, label=-1,
                                    comment="misses the doubled word", correction="{}")
    same = service.save_annotation(db, user=world.annotator, target_kind="stage", target_id=stage.id, label=-1,
                                   comment="misses the doubled word", correction="{}")
    assert first.id == again.id == same.id
    rows = db.scalars(select(Annotation).where(Annotation.target_kind == "stage", Annotation.target_id == stage.id)).all()
    assert len(rows) == 1 and rows[0].label == -1 and rows[0].comment == "misses the doubled word"
    history = service.annotation_history(db, annotation=first)
    assert [(e.data["before"], e.data["after"]["label"]) for e in history] == [(None, 1), (
        {"label": 1, "comment": "", "correction": None, "source": "human", "queue_item_id": None}, -1)]
    assert history[0].run_id == world.run.id and history[0].document_id == world.document.id


def test_labels_on_critiques_edits_and_runs(db, world):
    trace = service.run_trace(db, run_id=world.run.id, user=world.annotator)
    critique = trace.critiques_by_stage[trace.stages[0].id][0]
    edit = trace.edits_by_stage[trace.stages[1].id][0]
    service.save_annotation(db, user=world.annotator, target_kind="critique", target_id=critique.id, label=1)
    service.save_annotation(db, user=world.annotator, target_kind="edit", target_id=edit.id, label=0)
    service.save_annotation(db, user=world.annotator, target_kind="run", target_id=world.run.id, label=-1)
    trace = service.run_trace(db, run_id=world.run.id, user=world.annotator)
    assert trace.mine[("critique", critique.id, 0)].label == 1
    assert trace.mine[("edit", edit.id, 0)].label == 0
    assert trace.mine[("run", world.run.id, 0)].label == -1
    with pytest.raises(Invalid):
        service.save_annotation(db, user=world.annotator, target_kind="edit", target_id=edit.id, label=2)
    with pytest.raises(NotFound):
        service.save_annotation(db, user=world.annotator, target_kind="edit", target_id=10**6, label=1)


def test_access_to_trace_and_labels(db, world, make_user, member, site_admin):
    outsider = make_user()
    other_writer = member("writer")
    for user in (outsider, other_writer):
        with pytest.raises(NotFound):
            service.run_trace(db, run_id=world.run.id, user=user)
        with pytest.raises(NotFound):
            service.save_annotation(db, user=user, target_kind="run", target_id=world.run.id, label=1)
    # The document's writer sees the trace but does not label it.
    trace = service.run_trace(db, run_id=world.run.id, user=world.writer)
    assert not trace.can_annotate
    with pytest.raises(Forbidden):
        service.save_annotation(db, user=world.writer, target_kind="run", target_id=world.run.id, label=1)
    # An annotator of another project sees nothing of this one.
    from app.accounts import service as accounts

    elsewhere = accounts.create_project(db, name="Elsewhere", actor=site_admin)
    stranger = make_user()
    accounts.set_member(db, project=elsewhere, user=stranger, role="annotator", actor=site_admin)
    with pytest.raises(NotFound):
        service.run_trace(db, run_id=world.run.id, user=stranger)
    with pytest.raises(NotFound):
        service.version_steps(db, version_id=world.document.current_version_id, user=stranger)


def test_segments_split_by_unit():
    text = "Dr. Smith went home. He was tired!\nA new line\n\nSecond paragraph. Ends here."
    sentences = [s.text for s in segments.split(text, "sentence")]
    # pysbd keeps "Dr." inside its sentence.
    assert sentences == ["Dr. Smith went home.", "He was tired!", "A new line", "Second paragraph.", "Ends here."]
    assert [s.text for s in segments.split(text, "line")] == [
        "Dr. Smith went home. He was tired!", "A new line", "Second paragraph. Ends here."]
    paragraphs = segments.split(text, "paragraph")
    assert [p.text for p in paragraphs] == ["Dr. Smith went home. He was tired!\nA new line",
                                            "Second paragraph. Ends here."]
    assert all(text[s.start:s.end] == s.text for s in segments.split(text, "sentence"))


def test_segment_labels_and_stop_at_first_error(db, world, project):
    version_id = world.document.current_version_id
    view = service.version_steps(db, version_id=version_id, user=world.annotator)
    assert [s.segment.text for s in view.steps] == [
        "Teh cat sat on the the mat.", "It was a very good cat.", "The dog was seen by the cat.", "Nobody knew why."]
    service.save_annotation(db, user=world.annotator, target_kind="segment", target_id=version_id, step=0, label=1,
                            stop_at_first_error=True)
    saved = service.save_annotation(db, user=world.annotator, target_kind="segment", target_id=version_id, step=1,
                                    label=-1, stop_at_first_error=True)
    assert saved.segment_unit == "sentence" and saved.segment_text == "It was a very good cat."
    with pytest.raises(Invalid, match="not asked"):
        service.save_annotation(db, user=world.annotator, target_kind="segment", target_id=version_id, step=2,
                                label=1, stop_at_first_error=True)
    view = service.version_steps(db, version_id=version_id, user=world.annotator, stop_at_first_error=True)
    assert [s.asked for s in view.steps] == [True, True, False, False] and view.first_error == 1
    # Without the option every step is asked.
    view = service.version_steps(db, version_id=version_id, user=world.annotator)
    assert all(s.asked for s in view.steps)
    with pytest.raises(NotFound):
        service.save_annotation(db, user=world.annotator, target_kind="segment", target_id=version_id, step=99, label=1)
    # Paragraph projects split the same version differently.
    project.segment_unit = "paragraph"
    view = service.version_steps(db, version_id=version_id, user=world.annotator)
    assert len(view.steps) == 2


def test_trace_shows_stages_in_order_with_lineage(db, world):
    trace = service.run_trace(db, run_id=world.run.id, user=world.admin)
    assert [s.name for s in trace.stages] == ["critique", "propose", "verify"]
    assert trace.parent is None and trace.children == []


def test_correct_critique_stage_and_rerun(db, world, sent_tasks):
    stage = _stage(db, world.run, "critique")
    fixed = {"critiques": [{"segment": "Teh cat sat on the the mat.", "category": "spelling", "severity": "high",
                            "text": "Misspelt 'The' and a doubled 'the'."}]}
    result = service.correct_stage(db, stage_id=stage.id, user=world.annotator, parsed_output=json.dumps(fixed),
                                   comment="the real problem is spelling")
    child = result.run
    assert child.parent_run_id == world.run.id and child.rerun_from_position == 0
    assert child.correction_annotation_id == result.annotation.id
    assert result.annotation.label == -1 and "Misspelt" in result.annotation.correction
    child_stage = db.scalar(select(Stage).where(Stage.run_id == child.id, Stage.position == 0))
    assert child_stage.corrected and child_stage.parsed_output["critiques"][0]["category"] == "spelling"
    db.commit()
    assert ("runs.execute", (child.id,)) in sent_tasks
    parent_trace = service.run_trace(db, run_id=world.run.id, user=world.annotator)
    assert [c.id for c in parent_trace.children] == [child.id]
    child_trace = service.run_trace(db, run_id=child.id, user=world.annotator)
    assert child_trace.parent.id == world.run.id and child_trace.correction.id == result.annotation.id
    kinds = db.scalars(select(Event.kind).where(Event.run_id.in_((world.run.id, child.id)))).all()
    assert "stage.corrected" in kinds and "run.rerun" in kinds and "annotation.saved" in kinds


def test_two_corrections_of_one_stage_each_keep_their_own_output_and_reason(db, world, sent_tasks):
    stage = _stage(db, world.run, "critique")
    service.save_annotation(db, user=world.annotator, target_kind="stage", target_id=stage.id, label=0,
                            comment="my first impression")
    none = service.correct_stage(db, stage_id=stage.id, user=world.annotator,
                                 parsed_output=json.dumps({"critiques": []}), comment="nothing is wrong")
    one = {"critiques": [{"segment": "Teh cat sat on the the mat.", "category": "spelling", "severity": "high",
                          "text": "Misspelt 'The'."}]}
    some = service.correct_stage(db, stage_id=stage.id, user=world.annotator, parsed_output=json.dumps(one))
    first = service.run_trace(db, run_id=none.run.id, user=world.annotator)
    second = service.run_trace(db, run_id=some.run.id, user=world.annotator)
    assert json.loads(first.correction_output) == {"critiques": []} and first.correction_comment == "nothing is wrong"
    assert json.loads(second.correction_output)["critiques"][0]["text"] == "Misspelt 'The'."
    assert second.correction_comment == ""
    # The stage's annotation keeps the label and the comment unless a new reason is given.
    annotation = db.get(Annotation, some.annotation.id)
    assert (annotation.label, annotation.comment) == (0, "nothing is wrong")


def test_correction_is_validated(db, world):
    stage = _stage(db, world.run, "critique")
    with pytest.raises(Invalid, match="not valid JSON"):
        service.correct_stage(db, stage_id=stage.id, user=world.annotator, parsed_output="{critiques: [")
    with pytest.raises(Invalid):
        service.correct_stage(db, stage_id=stage.id, user=world.annotator,
                              parsed_output=json.dumps({"critiques": [{"segment": "x"}]}))
    propose = _stage(db, world.run, "propose")
    with pytest.raises(Invalid):
        service.correct_stage(db, stage_id=propose.id, user=world.annotator, parsed_output=json.dumps(
            {"edits": [{"original": "not in the text", "replacement": "y"}]}))
    with pytest.raises(Forbidden):
        service.correct_stage(db, stage_id=stage.id, user=world.writer, parsed_output=json.dumps({"critiques": []}))
    assert db.scalar(select(Run.id).where(Run.parent_run_id == world.run.id)) is None
