"""The pipeline executed in-process against a committed database, with the offline reviser."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.errors import Conflict
from app.models import Critique, Edit, Event, Run, Stage
from app.runs import pipeline, service


def start(live, seeded, *, feedback: str = "", user=None) -> int:
    with live.session() as s:
        run = service.start_run(s, document_id=seeded.document_id, user=user or seeded.writer, feedback=feedback)
        s.commit()
        return run.id


def load(live, run_id: int) -> Run:
    with live.session() as s:
        return s.scalar(select(Run).where(Run.id == run_id)
                        .options(selectinload(Run.stages), selectinload(Run.edits)))


def decide_all(live, run_id: int, *, reject: set[str] = frozenset()) -> None:
    """Decide every edit directly (the edits service belongs to another feature)."""
    with live.session() as s:
        for edit in s.scalars(select(Edit).where(Edit.run_id == run_id)):
            edit.status = "rejected" if edit.original in reject else "accepted"
            edit.decision_source = "human"
        s.commit()


def events_of(live, run_id: int, kind: str) -> list[Event]:
    with live.session() as s:
        return list(s.scalars(select(Event).where(Event.run_id == run_id, Event.kind == kind)))


def test_offline_run_makes_stages_critiques_and_edits(live, sent_tasks):
    seeded = live.seed()
    run_id = start(live, seeded)
    assert ("runs.execute", (run_id,)) in sent_tasks

    pipeline.execute(run_id)

    run = load(live, run_id)
    assert run.status == "succeeded", run.error
    assert [(s.position, s.name, s.status) for s in run.stages] == [
        (0, "critique", "succeeded"), (1, "propose", "succeeded"), (2, "verify", "succeeded")]
    for stage in run.stages:
        assert stage.model == "emend/offline-reviser"
        assert stage.messages and stage.raw_output and stage.parsed_output is not None
        assert stage.attempts == 1 and stage.tokens_in > 0 and stage.started_at <= stage.finished_at
    assert run.tokens_in == sum(s.tokens_in for s in run.stages)
    assert run.tokens_out == sum(s.tokens_out for s in run.stages)
    pairs = {(e.original, e.replacement) for e in run.edits}
    assert ("the the", "the") in pairs and ("beleive", "believe") in pairs and ("a early", "an early") in pairs
    assert all(e.status == "pending" and e.verify_score is not None for e in run.edits)
    with live.session() as s:
        critiques = s.scalar(select(func.count(Critique.id)).where(Critique.run_id == run_id))
    assert critiques == len(run.stages[0].parsed_output["critiques"]) > 0
    [finished] = events_of(live, run_id, "run.finished")
    assert finished.data["edits"] == len(run.edits)
    assert live.document(seeded.document_id).stop_reason is None


def test_execute_again_is_a_no_op(live):
    seeded = live.seed()
    run_id = start(live, seeded)
    pipeline.execute(run_id)
    first = load(live, run_id)
    pipeline.execute(run_id)  # a re-delivered task after success
    again = load(live, run_id)
    assert [s.id for s in again.stages] == [s.id for s in first.stages]
    assert sorted(e.id for e in again.edits) == sorted(e.id for e in first.edits)
    assert len(events_of(live, run_id, "run.finished")) == 1


class Crash(BaseException):
    """Stands for the worker process dying (not an Exception: nothing may catch it)."""


def test_resume_after_crash_between_stages(live, monkeypatch):
    seeded = live.seed()
    run_id = start(live, seeded)
    real_store = pipeline._store

    def store_then_die(factory, ctx, position, name, chunk, call, parsed, **kwargs):
        real_store(factory, ctx, position, name, chunk, call, parsed, **kwargs)
        if position == 0:
            raise Crash

    monkeypatch.setattr(pipeline, "_store", store_then_die)
    with pytest.raises(Crash):
        pipeline.execute(run_id)
    half = load(live, run_id)
    assert half.status == "running" and [s.name for s in half.stages] == ["critique"]
    critique_stage = half.stages[0]

    monkeypatch.setattr(pipeline, "_store", real_store)
    pipeline.execute(run_id)  # the broker delivers the task again

    run = load(live, run_id)
    assert run.status == "succeeded"
    assert [s.position for s in run.stages] == [0, 1, 2]
    assert run.stages[0].id == critique_stage.id and run.stages[0].finished_at == critique_stage.finished_at
    with live.session() as s:
        assert s.scalar(select(func.count(Critique.id)).where(Critique.run_id == run_id)) == len(
            critique_stage.parsed_output["critiques"])
        assert s.scalar(select(func.count(Stage.id)).where(Stage.run_id == run_id)) == 3
    assert len({(e.start, e.original) for e in run.edits}) == len(run.edits) > 0


def test_resume_after_crash_during_a_model_call(live, monkeypatch):
    seeded = live.seed()
    run_id = start(live, seeded)
    real_call = pipeline._call

    def die_in_propose(factory, ctx, name, messages):
        if name == "propose":
            raise Crash
        return real_call(factory, ctx, name, messages)

    monkeypatch.setattr(pipeline, "_call", die_in_propose)
    with pytest.raises(Crash):
        pipeline.execute(run_id)
    half = load(live, run_id)
    assert [(s.name, s.status) for s in half.stages] == [("critique", "succeeded"), ("propose", "running")]

    monkeypatch.setattr(pipeline, "_call", real_call)
    pipeline.execute(run_id)
    run = load(live, run_id)
    assert run.status == "succeeded"
    assert run.stages[1].id == half.stages[1].id  # the half-done stage row is reused, not duplicated
    assert run.edits


def test_do_not_repeat_goes_into_the_prompt(live):
    seeded = live.seed()
    first = start(live, seeded)
    pipeline.execute(first)
    decide_all(live, first, reject={"the the"})
    with live.session() as s:
        assert service.do_not_repeat(s, document_id=seeded.document_id) == [
            {"original": "the the", "replacement": "the"}]

    second = start(live, seeded)  # same version: nothing was applied
    pipeline.execute(second)
    run = load(live, second)
    assert run.status == "succeeded"
    assert '"original": "the the"' in run.stages[1].messages[1]["content"]
    # The offline reviser reads the list and does not propose it again.
    assert ("the the", "the") not in {(e.original, e.replacement) for e in run.edits}
    assert run.edits  # the other accepted-but-unapplied fixes come back


def test_verify_threshold_drops_weak_edits(live):
    seeded = live.seed(verify_threshold=0.9)
    run_id = start(live, seeded)
    pipeline.execute(run_id)
    run = load(live, run_id)
    candidates = run.stages[1].parsed_output["edits"]
    scores = run.stages[2].parsed_output["scores"]
    weak = sum(1 for score in scores if score is not None and score < 0.9)
    assert weak > 0
    assert run.dropped_by_verify == weak
    assert len(run.edits) == len(candidates) - weak
    assert all(e.verify_score >= 0.9 for e in run.edits)


def test_no_edits_stops_the_loop(live):
    seeded = live.seed(text="The cat sat on the mat.")
    run_id = start(live, seeded)
    pipeline.execute(run_id)
    run = load(live, run_id)
    assert run.status == "succeeded" and run.edits == []
    assert run.stages[2].status == "skipped"
    assert live.document(seeded.document_id).stop_reason == "no_edits"
    with live.session() as s, pytest.raises(Conflict, match="proposed no edits"):
        service.start_run(s, document_id=seeded.document_id, user=seeded.writer)


def test_cancel_before_the_worker_starts(live):
    seeded = live.seed()
    run_id = start(live, seeded)
    with live.session() as s:
        service.cancel_run(s, run_id=run_id, user=seeded.writer)
        s.commit()
    pipeline.execute(run_id)
    run = load(live, run_id)
    assert run.status == "cancelled" and run.stages == [] and run.edits == []
    assert len(events_of(live, run_id, "run.cancelled")) == 1


def test_cancel_during_a_stage_stops_before_the_next(live, monkeypatch):
    seeded = live.seed()
    run_id = start(live, seeded)
    real_call = pipeline._call

    def cancel_while_proposing(factory, ctx, name, messages):
        result = real_call(factory, ctx, name, messages)
        if name == "propose":
            with live.session() as s:
                service.cancel_run(s, run_id=run_id, user=seeded.writer)
                s.commit()
        return result

    monkeypatch.setattr(pipeline, "_call", cancel_while_proposing)
    pipeline.execute(run_id)
    run = load(live, run_id)
    assert run.status == "cancelled"
    assert [(s.name, s.status) for s in run.stages] == [("critique", "succeeded"), ("propose", "succeeded")]
    assert run.edits == []
    assert events_of(live, run_id, "run.finished") == []


def test_unexpected_error_fails_the_run_and_keeps_earlier_stages(live, monkeypatch):
    seeded = live.seed()
    run_id = start(live, seeded)

    def broken(raw, text):
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(pipeline.parsing, "parse_edits", broken)
    pipeline.execute(run_id)
    run = load(live, run_id)
    assert run.status == "failed"
    assert "propose" in run.error and "RuntimeError: parser exploded" in run.error
    assert [(s.name, s.status) for s in run.stages] == [("critique", "succeeded"), ("propose", "failed")]
    [failed] = events_of(live, run_id, "run.failed")
    assert failed.data["stage"] == "propose"


def test_cache_serves_an_identical_stage(live):
    seeded = live.seed()
    first = start(live, seeded)
    pipeline.execute(first)
    decide_all(live, first)
    second = start(live, seeded)
    pipeline.execute(second)
    run = load(live, second)
    critique = run.stages[0]
    assert critique.cached and critique.attempts == 0 and critique.tokens_in == 0
    assert critique.raw_output == load(live, first).stages[0].raw_output

    live.update_project(seeded.project_id, cache_enabled=False)
    decide_all(live, second)
    third = start(live, seeded)
    pipeline.execute(third)
    assert not load(live, third).stages[0].cached


def test_rerun_from_a_corrected_propose_stage(live):
    seeded = live.seed()
    parent_id = start(live, seeded)
    pipeline.execute(parent_id)
    parent = load(live, parent_id)
    keep = [e for e in parent.stages[1].parsed_output["edits"] if e["original"] == "beleive"]
    assert keep
    corrected = {"edits": [{**keep[0], "replacement": "think"}]}

    with live.session() as s:
        rerun = service.rerun_from(s, run_id=parent_id, position=1, parsed_output=corrected, user=seeded.admin)
        s.commit()
        rerun_id = rerun.id
    queued = load(live, rerun_id)
    assert queued.status == "queued" and queued.parent_run_id == parent_id and queued.rerun_from_position == 1
    assert [(s.name, s.corrected) for s in queued.stages] == [("critique", False), ("propose", True)]
    assert queued.stages[1].raw_output == parent.stages[1].raw_output

    pipeline.execute(rerun_id)
    run = load(live, rerun_id)
    assert run.status == "succeeded"
    assert run.stages[2].name == "verify" and run.stages[2].status == "succeeded"
    assert [(e.original, e.replacement) for e in run.edits] == [("beleive", "think")]
    assert len(load(live, parent_id).edits) == len(parent.edits)  # the parent is kept as it was
    with live.session() as s:
        assert s.scalar(select(func.count(Critique.id)).where(Critique.run_id == rerun_id)) > 0
    assert len(events_of(live, rerun_id, "run.rerun")) == 1
