"""Each format built from the fixture world, loaded with `datasets` as a trainer would."""
from __future__ import annotations

import pytest
from datasets import Value

from tests.exports.helpers import build, jsonl, load

pytestmark = pytest.mark.usefixtures("export_dir")


def _is_messages(value, roles=None):
    assert isinstance(value, list) and value
    assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in value)
    if roles:
        assert [m["role"] for m in value] == roles


def _feature_messages(feature):
    # datasets reads a list of {role, content} structs; both string-valued.
    inner = getattr(feature, "feature", None) or feature[0]
    assert inner["role"] == Value("string") and inner["content"] == Value("string")


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_sft_loads_as_conversational_sft(db, world, tmp_path, suffix):
    export, out = build(db, world, "sft", parquet=True)
    ds = load(out / f"data.{suffix}", tmp_path / "cache")
    _feature_messages(ds.features["messages"])
    kinds = sorted(ds["kind"])
    # Two applied transitions (v1→v2, v2→v3) and the accepted/modified edits (doubled, spelling, fast, short).
    assert kinds == ["document"] * 2 + ["edit"] * 4
    doc = next(r for r in ds if r["kind"] == "document" and r["version_id"] == world.v1.id)
    _is_messages(doc["messages"], ["system", "user", "assistant"])
    assert world.v1.text in doc["messages"][1]["content"]
    assert doc["messages"][2]["content"] == world.v2.text
    assert doc["revised_version_id"] == world.v2.id and doc["run_id"] == world.r1.id
    modified = next(r for r in ds if r["edit_id"] == world.edits["spelling"].id)
    assert modified["messages"][1]["content"].endswith("We beleive it is fast.")
    assert modified["messages"][2]["content"] == "We think it is fast."
    assert export.rows_written == 6


def test_sft_openai_flavour_has_only_messages_and_an_aligned_id_file(db, world, tmp_path):
    _export, out = build(db, world, "sft", flavour="openai", edit_level=False)
    rows = jsonl(out / "data.jsonl")
    ids = jsonl(out / "ids.jsonl")
    assert all(set(r) == {"messages"} for r in rows)
    assert len(ids) == len(rows) == 2
    assert [i["run_id"] for i in ids] == [world.r1.id, world.r2.id]
    assert rows[0]["messages"][-1] == {"role": "assistant", "content": world.v2.text}


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_preference_loads_with_explicit_prompt(db, world, tmp_path, suffix):
    _export, out = build(db, world, "preference", parquet=True)
    ds = load(out / f"data.{suffix}", tmp_path / "cache")
    for column in ("prompt", "chosen", "rejected"):
        _feature_messages(ds.features[column])
    by_kind = {r["pair_kind"]: r for r in ds}
    assert set(by_kind) == {"accepted_vs_rejected", "modified_vs_proposed", "comparison", "accepted_vs_original",
                            "original_vs_rejected"}
    pair = by_kind["accepted_vs_rejected"]
    assert pair["chosen"] == [{"role": "assistant", "content": "The team arrived at the river."}]
    assert pair["rejected"] == [{"role": "assistant", "content": "The team arrived at a river."}]
    assert (pair["chosen_edit_id"], pair["rejected_edit_id"]) == (world.edits["doubled"].id, world.edits["other"].id)
    mod = by_kind["modified_vs_proposed"]
    assert mod["chosen"][0]["content"] == "We think it is fast." and mod["rejected"][0]["content"] == "We believe it is fast."
    comp = by_kind["comparison"]
    assert comp["run_id"] == world.r1.id and comp["rejected_run_id"] == world.r1b.id
    assert "stream" in comp["rejected"][0]["content"] and "quick" in comp["chosen"][0]["content"]
    _is_messages(comp["prompt"], ["system", "user"])


def test_preference_openai_flavour(db, world, tmp_path):
    _export, out = build(db, world, "preference", flavour="openai")
    ds = load(out / "data.jsonl", tmp_path / "cache")
    assert set(ds.column_names) == {"input", "preferred_output", "non_preferred_output"}
    row = ds[0]
    _is_messages(row["input"]["messages"], ["system", "user"])
    _is_messages(row["preferred_output"], ["assistant"])
    _is_messages(row["non_preferred_output"], ["assistant"])
    assert len(jsonl(out / "ids.jsonl")) == ds.num_rows == 8  # 3 pairs of proposals, 5 of decisions vs the original


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_unpaired_is_kto_shaped(db, world, tmp_path, suffix):
    _export, out = build(db, world, "unpaired", parquet=True)
    ds = load(out / f"data.{suffix}", tmp_path / "cache")
    assert ds.features["label"] == Value("bool")
    _feature_messages(ds.features["prompt"])
    _feature_messages(ds.features["completion"])
    labels = {r["edit_id"]: (r["label"], r["decision"]) for r in ds}
    e = world.edits
    assert labels == {e["doubled"].id: (True, "accepted"), e["spelling"].id: (False, "modified"),
                      e["ending"].id: (False, "rejected"), e["fast"].id: (True, "accepted"),
                      e["other"].id: (False, "rejected"), e["short"].id: (True, "accepted")}


@pytest.mark.parametrize("neutral_as, expected", [("false", [True, False, False]), ("true", [True, False, True]),
                                                  ("drop", [True, False])])
def test_stepwise_labels_and_neutral_mapping(db, world, tmp_path, neutral_as, expected):
    export, out = build(db, world, "stepwise", parquet=True, neutral_as=neutral_as)
    for suffix in ("jsonl", "parquet"):
        ds = load(out / f"data.{suffix}", tmp_path / f"cache-{suffix}")
        assert ds.features["prompt"] == Value("string")
        assert ds.features["completions"].feature == Value("string")
        assert ds.features["labels"].feature == Value("bool")
        seg = next(r for r in ds if r["step_kind"] == "segment")
        assert seg["labels"] == expected and len(seg["completions"]) == len(expected)
        assert world.v1.text in seg["prompt"] and seg["version_id"] == world.v2.id
        crit = next(r for r in ds if r["step_kind"] == "critique")
        assert crit["labels"] == [True] and "Say who the team is." in crit["completions"][0]
    assert export.manifest["label_mapping"]["0 (neutral)"] == {"false": False, "true": True, "drop": "dropped"}[neutral_as]


def test_critique_refinement_triples(db, world, tmp_path):
    _export, out = build(db, world, "critique_refinement", parquet=True)
    for suffix in ("jsonl", "parquet"):
        ds = load(out / f"data.{suffix}", tmp_path / f"cache-{suffix}")
        assert {"input", "output", "feedback", "refinement"} <= set(ds.column_names)
        assert ds.num_rows == 1
        row = ds[0]
        assert (row["input"], row["output"], row["refinement"]) == (world.v1.text, world.v2.text, world.v3.text)
        assert row["feedback"] == "keep it short" and row["critiques"] == ["Say who the team is."]
        assert row["feedback_source"] == "human+critique" and row["refinement_run_id"] == world.r2.id


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_events_with_exposure(db, world, tmp_path, suffix):
    import json

    _export, out = build(db, world, "events", parquet=True)
    ds = load(out / f"data.{suffix}", tmp_path / "cache")
    assert ds.column_names == ["id", "created_at", "kind", "actor_id", "source", "project_id", "document_id",
                               "run_id", "subject_kind", "subject_id", "ip", "data"]
    shown = [r for r in ds if r["kind"] == "edits.shown"]
    assert len(shown) == 2 and json.loads(shown[0]["data"])["positions"] == [0, 1, 2]
    assert ds["id"] == sorted(ds["id"])
    exposure = {r["edit_id"]: r for r in load(out / f"exposure.{suffix}", tmp_path / "cache2")}
    e = world.edits
    assert exposure[e["doubled"].id]["times_shown"] == 2 and exposure[e["doubled"].id]["best_position"] == 0
    assert exposure[e["ending"].id]["shown"] is True and exposure[e["ending"].id]["best_position"] == 2
    assert exposure[e["fast"].id]["shown"] is False and exposure[e["fast"].id]["acted"] is True
    assert exposure[e["pending"].id]["acted"] is False


def test_every_format_has_a_file_even_when_empty(db, world, tmp_path):
    _export, out = build(db, world, "unpaired", parquet=True, since="2030-01-01")
    assert (out / "data.jsonl").read_text() == ""
    import pyarrow.parquet as pq

    assert pq.read_table(out / "data.parquet").num_rows == 0


def test_preference_pairs_every_decision_against_the_text_it_would_replace(db, world, tmp_path):
    """Plain accepts and rejects give pairs too (accepted edit > original, original > rejected edit),
    each with its own pair_kind, and the pair_kinds option keeps only some kinds."""
    _export, out = build(db, world, "preference", pair_kinds=["accepted_vs_original", "original_vs_rejected"])
    rows = jsonl(out / "data.jsonl")
    kinds = sorted(r["pair_kind"] for r in rows)
    # accepted: doubled, fast (shadow user), short; rejected: ending, other.
    assert kinds == ["accepted_vs_original"] * 3 + ["original_vs_rejected"] * 2
    doubled = next(r for r in rows if r["chosen_edit_id"] == world.edits["doubled"].id)
    assert doubled["chosen"] == [{"role": "assistant", "content": "The team arrived at the river."}]
    assert doubled["rejected"] == [{"role": "assistant", "content": "The team arrived at the the river."}]
    ending = next(r for r in rows if r["rejected_edit_id"] == world.edits["ending"].id)
    assert ending["chosen"][0]["content"] == "The end." and ending["rejected"][0]["content"] == "Fin."
    _export, out = build(db, world, "preference", pair_kinds="comparison")
    assert [r["pair_kind"] for r in jsonl(out / "data.jsonl")] == ["comparison"]
    from app.errors import Invalid

    with pytest.raises(Invalid, match="Unknown pair kind"):
        build(db, world, "preference", pair_kinds=["best_vs_worst"])


def _hand_edit_world(db, world):
    """The writer types "rapid" over "quick" in v3, where a model proposal "quick -> swift" was pending."""
    from app.flows import writer as flow
    from app.models import Run
    from tests.exports.conftest import _edit

    world.document.current_version_id = world.v3.id
    run = Run(project_id=world.project.id, document_id=world.document.id, version_id=world.v3.id,
              model="model-one", status="succeeded", created_by_id=world.writer.id)
    db.add(run)
    db.flush()
    proposal = _edit(db, run, world.v3, "quick", "swift", "pending")
    db.flush()
    start = world.v3.text.index("quick")
    result = flow.edit_by_hand(db, document_id=world.document.id, user=world.writer, base_version_id=world.v3.id,
                               start=start, end=start + 5, text="rapid")
    db.flush()
    return result, proposal


def test_sft_and_preference_rows_from_the_writers_own_revisions(db, world, tmp_path):
    result, proposal = _hand_edit_world(db, world)
    [human] = result.edits
    assert proposal.status == "superseded"
    _export, out = build(db, world, "sft")
    rows = jsonl(out / "data.jsonl")
    [whole] = [r for r in rows if r["kind"] == "human_revision"]
    assert world.v3.text in whole["messages"][1]["content"]
    assert whole["messages"][2]["content"] == "The team arrived at the river. We think it is rapid. "
    assert (whole["version_id"], whole["revised_version_id"], whole["run_id"]) == (world.v3.id, result.version.id,
                                                                                  None)
    [one] = [r for r in rows if r["kind"] == "human_edit"]
    assert one["edit_id"] == human.id and one["messages"][2]["content"] == "We think it is rapid."

    _export, out = build(db, world, "preference", pair_kinds=["human_vs_original", "human_vs_proposed"])
    pairs = {r["pair_kind"]: r for r in jsonl(out / "data.jsonl")}
    assert set(pairs) == {"human_vs_original", "human_vs_proposed"}
    assert pairs["human_vs_original"]["chosen"][0]["content"] == "We think it is rapid."
    assert pairs["human_vs_original"]["rejected"][0]["content"] == "We think it is quick."
    theirs = pairs["human_vs_proposed"]
    assert theirs["rejected"][0]["content"] == "We think it is swift." and theirs["rejected_edit_id"] == proposal.id
    # A person's work: gone when only the shadow user's (ai) feedback is asked for.
    _export, out = build(db, world, "sft", source="ai")
    assert not [r for r in jsonl(out / "data.jsonl") if r["kind"].startswith("human")]
