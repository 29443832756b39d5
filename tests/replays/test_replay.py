"""Replay scoring over a small logged log, with every expected figure worked out by hand."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.models import User
from app.replays import candidate as candidates
from app.replays import service
from app.replays.candidate import Proposal
from tests.imports.fixtures import TEXT0, TEXT1, import_file, same_session, small_log, write_jsonl


@pytest.fixture
def logged(db, site_admin, project, tmp_path):
    records = small_log()
    next(r for r in records if r["id"] == "run-a0")["propensity"] = 0.25
    import_file(db, actor=site_admin, project=project, path=write_jsonl(tmp_path / "log.jsonl", records))
    return project


# The candidate's answers: on a0, "Teh"→"The" (exact match of e1, accepted), delete "the " (same
# effect as e2 "the the"→"the", rejected) and "cat"→"dog" (no match); on a1, e4 again (rejected).
ANSWERS = {
    TEXT0: [{"start": 0, "end": 3, "original": "Teh", "replacement": "The", "intent": "fluency"},
            {"start": 15, "end": 19, "original": "the ", "replacement": "", "intent": "fluency"},
            {"start": 4, "end": 7, "original": "cat", "replacement": "dog", "intent": "meaning-changed"}],
    TEXT1: [{"start": 31, "end": 40, "original": "very very", "replacement": "very", "intent": "clarity"}],
}


def fake_propose(text, **_kwargs):
    return Proposal(edits=[dict(e, confidence=0.5) for e in ANSWERS[text]], calls=1)


def _value(entry):
    return entry["value"]


def test_scores_match_the_hand_computation(db, logged, site_admin):
    replay = service.create_replay(db, actor=site_admin, project_id=logged.id, model="openai/candidate",
                                   prompt_variant="plain", instructions="Keep it informal.")
    db.flush()
    done = service.run_replay(replay.id, session_factory=same_session(db), propose=fake_propose)
    assert done.status == "succeeded", done.error
    # b0 has only a shadow-user decision: not a logged human decision, so not in the slice.
    assert (done.versions_total, done.versions_done) == (2, 2)
    r = done.results["overall"]
    assert r["candidate_edits"] == 4 and r["logged_edits"] == 4
    assert _value(r["match_rate"]) == pytest.approx(3 / 4)
    assert _value(r["estimated_acceptance"]) == pytest.approx(1 / 3)
    assert _value(r["accepted_share"]) == pytest.approx(1 / 4)
    assert _value(r["rejected_rate"]) == pytest.approx(2 / 4)
    assert _value(r["recall_accepted"]) == pytest.approx(1.0)  # e1 is the one edit accepted as proposed
    # μ: run-a0 was assigned with p = 0.25 and e1..e3 were shown at positions 0..2, all decided (p = 1):
    # μ = 0.25, weight 4. e4 has no exposure: of the edits without exposure (e4, e5) one got a
    # person's decision, p = 1/2, and its implicit run p = 1: μ = 0.5, weight 2.
    # IPS = 4 (e1) / 4 candidate edits; SNIPS = 4 / (4 + 4 + 2) over the matched e1, e2, e4.
    assert _value(r["ips_acceptance"]) == pytest.approx(1.0)
    assert _value(r["snips_acceptance"]) == pytest.approx(0.4)
    # The logged model on the same slice: e1 accepted, e2 and e4 rejected, e3 modified.
    assert _value(r["logged_acceptance"]) == pytest.approx(1 / 4)
    assert _value(r["logged_rejected_rate"]) == pytest.approx(2 / 4)
    assert _value(r["logged_snips_acceptance"]) == pytest.approx(4 / 14)
    for name in ("match_rate", "estimated_acceptance", "snips_acceptance"):
        assert r[name]["low"] <= r[name]["value"] <= r[name]["high"]
    d0, d1 = done.results["by_depth"]["0"], done.results["by_depth"]["1"]
    assert (d0["candidate_edits"], _value(d0["match_rate"]), _value(d0["estimated_acceptance"])) == (
        3, pytest.approx(2 / 3), pytest.approx(1 / 2))
    assert (d1["candidate_edits"], _value(d1["match_rate"]), _value(d1["rejected_rate"])) == (1, 1.0, 1.0)
    fluency = done.results["by_intent"]["fluency"]
    assert (fluency["candidate_edits"], fluency["logged_edits"], _value(fluency["match_rate"])) == (2, 2, 1.0)
    assert done.results["by_intent"]["meaning-changed"]["match_rate"]["value"] == 0.0

    rows = [json.loads(line) for line in service.matched_jsonl(db, actor=site_admin, replay_id=replay.id)]
    kinds = sorted((row["original"], row["match"], row["logged_decision"]) for row in rows)
    assert kinds == [("Teh", "exact", "accepted"), ("cat", None, None), ("the ", "effect", "rejected"),
                     ("very very", "exact", "rejected")]


def test_slice_by_depth_and_person(db, logged, site_admin):
    bob = db.scalar(select(User).where(User.name == "Bob"))
    replay = service.create_replay(db, actor=site_admin, project_id=logged.id, model="m", person_ids=str(bob.id))
    done = service.run_replay(replay.id, session_factory=same_session(db), propose=fake_propose)
    assert done.versions_total == 1 and done.results["overall"]["logged_edits"] == 1
    replay = service.create_replay(db, actor=site_admin, project_id=logged.id, model="m", depths="0")
    done = service.run_replay(replay.id, session_factory=same_session(db), propose=fake_propose)
    assert done.versions_total == 1 and list(done.results["by_depth"]) == ["0"]


def test_offline_reviser_and_a_prompt_variant_through_the_gateway(db, logged, site_admin):
    def no_shared_cache(text, **kwargs):  # the test's one session cannot be shared by threads
        return candidates.propose(text, **{**kwargs, "cache": None})

    results = {}
    for variant, instructions in (("default", ""), ("informal", "Keep it informal.")):
        replay = service.create_replay(db, actor=site_admin, project_id=logged.id, model="emend/offline-reviser",
                                       prompt_variant=variant, instructions=instructions)
        done = service.run_replay(replay.id, session_factory=same_session(db), propose=no_shared_cache)
        assert done.status == "succeeded" and done.versions_failed == 0
        results[variant] = done.results["overall"]
    # The reviser fixes "Teh" and the doubled "the the" on a0: both logged edits are matched.
    assert results["default"]["match_rate"]["value"] > 0
    assert results["default"]["recall_accepted"]["value"] == 1.0
    # "Keep it informal" drops wordiness edits ("very very"), so the variant proposes fewer edits.
    assert results["informal"]["candidate_edits"] <= results["default"]["candidate_edits"]


def test_replays_need_a_project_admin(db, logged, member):
    from app.errors import Forbidden

    with pytest.raises(Forbidden):
        service.create_replay(db, actor=member("annotator"), project_id=logged.id, model="m")


def test_a_long_logged_version_is_replayed_in_chunks_with_document_offsets(db, site_admin, project, tmp_path,
                                                                          monkeypatch):
    """The replay takes the pipeline's chunked path (app/runs/pipeline.py propose_text): the chunk
    size is frozen on the replay, every chunk is proposed on, and edits keep document offsets."""
    import re

    from app.config import get_settings
    from app.runs import chunking
    from tests.runs.test_chunks import long_text

    text = long_text(6)
    first = text.index("beleive")
    records = [{"type": "document", "id": "long", "owner": "ann@example.org"},
               {"type": "version", "id": "long-v0", "document": "long", "depth": 0, "text": text},
               {"type": "edit", "id": "long-e1", "version": "long-v0", "start": first, "end": first + 7,
                "original": "beleive", "replacement": "believe", "intent": "fluency", "model": "logged"},
               {"type": "decision", "id": "long-d1", "edit": "long-e1", "decision": "accepted",
                "person": "ann@example.org"}]
    import_file(db, actor=site_admin, project=project, path=write_jsonl(tmp_path / "long.jsonl", records))
    monkeypatch.setenv("EMEND_CHUNK_CHARS", "600")
    get_settings.cache_clear()
    try:
        assert len(chunking.split(text, 600)) == 3
        seen = []

        def no_shared_cache(text, **kwargs):
            proposal = candidates.propose(text, **{**kwargs, "cache": None})
            seen.append(proposal)
            return proposal

        replay = service.create_replay(db, actor=site_admin, project_id=project.id, model="emend/offline-reviser")
        done = service.run_replay(replay.id, session_factory=same_session(db), propose=no_shared_cache)
    finally:
        get_settings.cache_clear()
    assert done.status == "succeeded" and done.versions_failed == 0, done.error
    assert done.candidate["chunk_chars"] == 600
    (proposal,) = seen
    assert proposal.chunks == 3 and proposal.stages.count("critique") == 3 and proposal.stages.count("propose") == 3
    rows = list(service.matched_rows(db, replay=done))
    assert rows and all(text[r["start"]:r["end"]] == r["original"] for r in rows)
    # One "beleive" per paragraph, so in every chunk, each at its own document offset.
    misspelt = sorted(r["start"] for r in rows if (r["original"], r["replacement"]) == ("beleive", "believe"))
    assert misspelt == [m.start() for m in re.finditer("beleive", text)]
    assert [r["match"] for r in rows if r["start"] == first and r["original"] == "beleive"] == ["exact"]
    assert done.results["overall"]["recall_accepted"]["value"] == 1.0
