"""Replays, variants and the shadow-user block through the pages and the API."""
from __future__ import annotations

import numpy as np
import pytest

from app.edits import service as edits
from app.errors import Conflict
from app.models import Event, Replay, Run
from app.replays import service
from app.variants import service as variants
from tests.conftest import api_headers, login
from tests.edits.factories import make_run
from tests.imports.fixtures import same_session
from tests.replays.test_replay import fake_propose, logged  # noqa: F401 - the fixture


def test_replay_api_and_results_page(db, client, logged, site_admin, sent_tasks):  # noqa: F811
    headers = api_headers(db, site_admin, ["admin", "read"])
    r = client.post("/api/v1/replays", headers=headers, json={"project_id": logged.id, "model": "openai/candidate",
                                                             "prompt_variant": "terse", "depths": [0, 1]})
    assert r.status_code == 202, r.text
    replay_id = r.json()["id"]
    assert ("replays.run", [replay_id]) in [(n, list(a)) for n, a in sent_tasks]
    login(client, site_admin)
    assert "every 2s" in client.get(f"/replays/{replay_id}").text  # queued: the status block polls
    service.run_replay(replay_id, session_factory=same_session(db), propose=fake_propose)
    body = client.get(f"/api/v1/replays/{replay_id}", headers=headers).json()
    assert body["status"] == "succeeded" and body["results"]["overall"]["candidate_edits"] == 4
    page = client.get(f"/replays/{replay_id}").text
    assert "Candidate against the logged model" in page and "By intent" in page and "By depth" in page
    assert "every 2s" not in page
    lines = client.get(f"/api/v1/replays/{replay_id}/matches.jsonl", headers=headers).text.splitlines()
    assert len(lines) == 4
    assert "terse" in client.get(f"/projects/{logged.id}/replays").text


def test_replay_form_refuses_bad_input(db, client, logged, site_admin):  # noqa: F811
    login(client, site_admin)
    r = client.post(f"/projects/{logged.id}/replays", data={"model": "m", "depths": "one"})
    assert r.status_code == 422 and "whole numbers" in r.text
    assert db.query(Replay).count() == 0


def test_an_empty_slice_says_not_enough_data(db, client, project, site_admin):
    replay = service.create_replay(db, actor=site_admin, project_id=project.id, model="m")
    service.run_replay(replay.id, session_factory=same_session(db), propose=fake_propose)
    login(client, site_admin)
    assert "Not enough data yet" in client.get(f"/replays/{replay.id}").text


def test_fixed_shares_and_thompson_assignment_are_logged_with_their_probability(db, doc, writer, site_admin, project):
    with pytest.raises(Conflict):
        variants.set_policy(db, actor=site_admin, project_id=project.id, policy="fixed")
    a = variants.save_variant(db, actor=site_admin, project_id=project.id, name="a", model="model-a", share=3)
    b = variants.save_variant(db, actor=site_admin, project_id=project.id, name="b", model="model-b",
                              instructions="Keep it informal.", temperature=0.3, share=1)
    variants.set_policy(db, actor=site_admin, project_id=project.id, policy="fixed")
    rng = np.random.default_rng(1)
    chosen = []
    for _ in range(200):
        run = make_run(db, doc, [], user=writer)
        chosen.append(variants.assign_run(db, run=run, rng=rng).name)
        prob = run.params["assignment"]["probability"]
        assert prob == (0.75 if run.model == "model-a" else 0.25)
    assert 120 < chosen.count("a") < 180  # 3:1 shares
    event = db.query(Event).filter(Event.kind == "variant.assigned").order_by(Event.id.desc()).first()
    assert event.run_id == run.id and event.data["probability"] in (0.75, 0.25)
    b_run = db.query(Run).filter(Run.model == "model-b").first()
    assert b_run.params["instructions"] == "Keep it informal." and b_run.params["temperature"] == 0.3

    # Variant b's runs get their edits accepted, a's rejected: Thompson sampling moves traffic to b.
    for variant, decision in ((a, "reject"), (b, "accept")):
        for _ in range(3):
            run = make_run(db, doc, [("Teh", "The", "fluency")] * 1, user=writer)
            run.model = variant.model
            db.flush()
            from app.events import service as events
            events.record(db, kind="variant.assigned", subject=run, source="ai",
                          data={"variant_id": variant.id, "probability": 0.5})
            for e in run.edits:
                edits.decide_edit(db, edit_id=e.id, user=writer, decision=decision)
    variants.set_policy(db, actor=site_admin, project_id=project.id, policy="thompson")
    picks = [variants.choose(db, project, rng=rng) for _ in range(50)]
    assert sum(1 for v, _p in picks if v.name == "b") > 35
    assert all(0 < p <= 1 for _v, p in picks)


def test_variants_page_says_not_enough_data_then_compares(db, client, site_admin, project):
    variants.save_variant(db, actor=site_admin, project_id=project.id, name="plain", model="m")
    login(client, site_admin)
    page = client.get(f"/projects/{project.id}/variants").text
    assert "not enough data yet" in page and "Not enough data yet" in page
    api = client.get(f"/api/v1/projects/{project.id}/variants", headers=api_headers(db, site_admin, ["read"])).json()
    assert api["enough_data"] is False and api["variants"][0]["name"] == "plain"


def test_shadow_agreement_block(db, client, doc, writer, site_admin, project):
    run = make_run(db, doc, [("Teh", "The", "fluency"), ("the the", "the", "fluency"),
                             ("in order to", "to", "clarity")], user=writer)
    predictions = {"Teh": "accepted", "the the": "accepted", "in order to": "rejected"}
    finals = {"Teh": "accept", "the the": "reject", "in order to": "reject"}
    for e in run.edits:
        e.predicted_status = predictions[e.original]
    db.flush()
    for e in run.edits:
        edits.decide_edit(db, edit_id=e.id, user=writer, decision=finals[e.original])
    login(client, site_admin)
    assert f'hx-get="/projects/{project.id}/shadow-agreement"' in client.get(f"/projects/{project.id}/metrics").text
    block = client.get(f"/projects/{project.id}/shadow-agreement", headers={"HX-Request": "true"}).text
    # 2 of 3 agree; κ over (acc, acc, rej) vs (acc, rej, rej): p_o = 2/3, p_e = (2/3·1/3 + 1/3·2/3) = 4/9,
    # κ = (2/3 − 4/9) / (1 − 4/9) = 0.4.
    assert "67%" in block and "0.40" in block and "fluency" in block


def test_a_new_loop_run_is_assigned_by_the_projects_policy(db, doc, writer, site_admin, project):
    from app.runs import service as runs

    variants.save_variant(db, actor=site_admin, project_id=project.id, name="informal", model="emend/offline-reviser",
                          instructions="Keep it informal.", temperature=0.2, share=1)
    assert runs.start_run(db, document_id=doc.id, user=writer).params.get("assignment") is None  # policy off
    db.query(Run).filter(Run.document_id == doc.id).update({"status": "cancelled"})
    variants.set_policy(db, actor=site_admin, project_id=project.id, policy="fixed")
    run = runs.start_run(db, document_id=doc.id, user=writer)
    assert run.params["assignment"]["name"] == "informal" and run.params["assignment"]["probability"] == 1
    assert run.params["instructions"] == "Keep it informal."
    assert db.query(Event).filter(Event.kind == "variant.assigned", Event.run_id == run.id).count() == 1
