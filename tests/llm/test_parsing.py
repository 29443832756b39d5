"""Parsing model answers: repair, re-anchoring, dropping, overlap resolution, errors."""
from __future__ import annotations

import itertools
import json

import pytest

from app.llm.parsing import (
    ParseError,
    SpanSet,
    load_json,
    parse_critiques,
    parse_edits,
    parse_scores,
)

TEXT = "The cat sat on the mat. The cat was happy. The dog barked at the cat."


def edit(original, replacement, **extra):
    return {"original": original, "replacement": replacement, "intent": "fluency",
            "rationale": "r", "confidence": 0.8, **extra}


def test_code_fence_and_prose_around_json():
    raw = f'Sure! Here are the edits:\n```json\n{{"edits": [{json.dumps(edit("mat", "rug"))}]}}\n```\nHope this helps.'
    parsed = parse_edits(raw, TEXT)
    assert [(e["original"], e["replacement"], e["start"]) for e in parsed.edits] == [("mat", "rug", 19)]


def test_trailing_commas_and_single_quoted_keys_are_repaired():
    raw = "{'edits': [{'original': 'mat', 'replacement': 'rug', 'confidence': 0.9,},],}"
    parsed = parse_edits(raw, TEXT)
    assert parsed.edits[0]["original"] == "mat" and parsed.edits[0]["end"] == 22


def test_top_level_list_and_json_without_fence():
    raw = "Answer: " + json.dumps([edit("dog", "puppy")])
    assert [e["replacement"] for e in parse_edits(raw, TEXT).edits] == ["puppy"]


def test_wrong_offset_is_reanchored_to_nearest_occurrence():
    # "cat" occurs at 4, 28 and 65; the model claims 60.
    parsed = parse_edits(json.dumps({"edits": [edit("cat", "kitten", start=60)]}), TEXT)
    assert parsed.edits[0]["start"] == 65


def test_context_beats_claimed_offset():
    parsed = parse_edits(json.dumps({"edits": [
        edit("cat", "kitten", start=60, context_before="The ", context_after=" was happy")]}), TEXT)
    assert parsed.edits[0]["start"] == 28
    assert TEXT[28:31] == "cat"


def test_correct_offset_is_kept():
    parsed = parse_edits(json.dumps({"edits": [edit("cat", "kitten", start=4)]}), TEXT)
    assert parsed.edits[0]["start"] == 4


def test_unmatched_and_noop_edits_are_dropped_with_reasons():
    parsed = parse_edits(json.dumps({"edits": [
        edit("unicorn", "horse"), edit("cat", "cat"), edit("mat", "rug")]}), TEXT)
    assert [e["original"] for e in parsed.edits] == ["mat"]
    reasons = {d["original"]: d["reason"] for d in parsed.dropped}
    assert reasons["unicorn"] == "original not found in the document"
    assert reasons["cat"].startswith("no-op")


def test_overlaps_keep_higher_confidence_then_earlier():
    parsed = parse_edits(json.dumps({"edits": [
        edit("sat on the mat", "sat", confidence=0.5),
        edit("the mat", "a mat", confidence=0.9),
        edit("The dog", "A dog", confidence=0.7),
        edit("dog barked", "dog yelped", confidence=0.7),
    ]}), TEXT)
    kept = [(e["original"], e["confidence"]) for e in parsed.edits]
    assert kept == [("the mat", 0.9), ("The dog", 0.7)]
    spans = [(e["start"], e["end"]) for e in parsed.edits]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert sorted(d["reason"] for d in parsed.dropped) == ["overlaps a higher-confidence edit"] * 2


def test_duplicates_are_dropped():
    parsed = parse_edits(json.dumps({"edits": [edit("mat", "rug", start=19), edit("mat", "rug")]}), TEXT)
    assert len(parsed.edits) == 1 and parsed.dropped[0]["reason"] == "duplicate"


def test_fields_are_normalised():
    parsed = parse_edits(json.dumps({"edits": [
        {"original": "mat", "replacement": "rug", "intent": "Grammar", "confidence": 7},
        {"original": "dog", "replacement": "hound", "intent": "poetry", "confidence": "high"},
        {"original": "happy", "replacement": "glad", "confidence": -3},
    ]}), TEXT)
    by = {e["original"]: e for e in parsed.edits}
    assert by["mat"]["intent"] == "fluency" and by["mat"]["confidence"] == pytest.approx(0.07)
    assert by["dog"]["intent"] == "other" and by["dog"]["confidence"] == 0.9
    assert by["happy"]["intent"] == "other" and by["happy"]["confidence"] == 0.0
    assert set(by["mat"]) == {"start", "end", "original", "replacement", "intent", "rationale", "confidence"}


def test_empty_list_is_a_valid_answer():
    assert parse_edits('{"edits": []}', TEXT).edits == []
    assert parse_edits("[]", TEXT).edits == []


def test_empty_answer_raises():
    with pytest.raises(ParseError) as exc:
        parse_edits("   ", TEXT)
    assert exc.value.message == "The model returned an empty answer."


@pytest.mark.parametrize("raw", [
    "I'm sorry, I can't help with that.",
    '{"edits": [{"original": "mat", "replacement": }',
    '{"answer": "no edits needed", "ok": true}',
    '{"edits": ["fix the cat", 3]}',
])
def test_garbage_raises(raw):
    with pytest.raises(ParseError):
        parse_edits(raw, TEXT)


def test_braces_inside_strings_do_not_confuse_extraction():
    raw = 'Note: {"edits": [{"original": "mat", "replacement": "mat}", "rationale": "a ] b"}]} trailing'
    assert parse_edits(raw, TEXT).edits[0]["replacement"] == "mat}"


def test_load_json_python_literals():
    assert load_json("{'a': True, 'b': None}") == {"a": True, "b": None}


def test_parse_critiques():
    raw = json.dumps({"critiques": [
        {"segment": "The cat was happy.", "category": "Tone", "severity": "major", "text": "Flat."},
        {"segment": "not here", "category": "x", "severity": "low", "text": "Whole document."},
        {"segment": "mat", "start": 0, "severity": "weird", "text": "Which mat?"},
        {"category": "x"},
    ]})
    crits = parse_critiques(raw, TEXT)
    assert [(c["start"], c["end"], c["category"], c["severity"]) for c in crits] == [
        (19, 22, "general", "medium"), (24, 42, "tone", "high"), (None, None, "x", "low")]
    assert set(crits[0]) == {"segment", "start", "end", "category", "severity", "text"}


def test_parse_critiques_garbage_and_empty():
    assert parse_critiques('{"critiques": []}', TEXT) == []
    with pytest.raises(ParseError):
        parse_critiques('{"critiques": [{"severity": "low"}]}', TEXT)
    with pytest.raises(ParseError):
        parse_critiques("", TEXT)


def test_parse_scores():
    raw = '```\n{"scores": [{"index": 2, "score": 0.4, "reason": "meh"}, {"index": 0, "score": 1.7},' \
          ' {"index": 9, "score": 0.5},]}\n```'
    assert parse_scores(raw, 3) == [1.0, None, 0.4]
    assert parse_scores("[0.1, 0.2]", 2) == [0.1, 0.2]
    with pytest.raises(ParseError):
        parse_scores('{"scores": [{"index": 0, "score": "n/a"}]}', 1)
    with pytest.raises(ParseError):
        parse_scores("not json", 1)


def test_span_set_touching_spans_do_not_overlap():
    spans = SpanSet()
    spans.add(10, 20)
    spans.add(30, 40)
    assert spans.overlapping(20, 30) is None  # touches both neighbours
    assert spans.overlapping(0, 10) is None
    assert spans.overlapping(19, 21) == 0
    assert spans.overlapping(25, 31) == 1
    assert spans.overlapping(5, 45) is not None
    assert spans.overlapping(12, 13) == 0
