"""The offline reviser's rules, instructions and determinism (no litellm needed)."""
from __future__ import annotations

import itertools
import json

import pytest

from app.llm.offline import Instructions, find_critiques, find_edits, respond, split_sentences
from app.llm.parsing import parse_critiques, parse_edits, parse_scores
from app.llm.prompts import critique_messages, propose_messages, read_prompt, verify_messages


def pairs(text: str, **kwargs) -> list[tuple[str, str]]:
    return [(e.original, e.replacement) for e in find_edits(text, **kwargs)]


def propose(text: str, feedback: str = "", guidelines=(), do_not_repeat=()) -> list[dict]:
    messages = propose_messages(text=text, critiques=[], guidelines=list(guidelines), feedback=feedback,
                                do_not_repeat=list(do_not_repeat))
    return json.loads(respond(messages))["edits"]


@pytest.mark.parametrize("text, expected", [
    ("We recieve many letters.", ("recieve", "receive")),
    ("This is definately true.", ("definately", "definitely")),
    ("The goverment decided.", ("goverment", "government")),
    ("I will see you tommorow.", ("tommorow", "tomorrow")),
])
def test_spelling(text, expected):
    assert expected in pairs(text)


@pytest.mark.parametrize("text", [
    "Anna met Dzhokhar in Brno.",  # capitalised names
    "Use the abc123 token and the xkcd site.",  # digits; short words
    "We don't know, it's fine.",  # contractions
    "Write to alice@example.org or see www.examplz.com/recieve.",  # addresses
])
def test_spelling_leaves_names_codes_and_short_words(text):
    assert [p for p in pairs(text) if p[0] in text.split() or "@" in p[0]] == []
    assert all(e.rule != "spelling" for e in find_edits(text))


def test_doubled_word():
    assert ("the the", "the") in pairs("We read the the report.")
    assert ("had had", "had") not in pairs("She had had enough.")


def test_spacing():
    text = "One  two , three;four. Five.Six"
    found = pairs(text)
    assert ("  ", " ") in found
    assert (" ,", ",") in found
    assert (";", "; ") in found
    assert (".", ". ") in found  # "Five.Six"
    # Decimals, domains and abbreviations are not sentence ends.
    assert pairs("It costs 3.50 at example.com, e.g.here.") == []


@pytest.mark.parametrize("text, expected", [
    ("I ate a apple.", ("a apple", "an apple")),
    ("It was an car.", ("an car", "a car")),
    ("Wait a hour.", ("a hour", "an hour")),
    ("She went to an university.", ("an university", "a university")),
    ("A owl hooted.", ("A owl", "An owl")),
])
def test_article_agreement(text, expected):
    assert expected in pairs(text)


@pytest.mark.parametrize("text", ["a university", "an hour", "a European city", "an apple", "a one-off", "an FBI agent"])
def test_article_agreement_leaves_correct_ones(text):
    assert pairs(text) == []


def test_capital_after_full_stop():
    assert ("the", "The") in pairs("It rained. the roads flooded.")
    # Abbreviations do not end sentences.
    assert pairs("We met Dr. smith and e.g. others.") == []


def test_capital_merges_with_spelling():
    assert ("recieve", "Recieve") not in pairs("Done. recieve it now.")
    assert ("recieve", "Receive") in pairs("Done. recieve it now.")


@pytest.mark.parametrize("text, expected", [
    ("We left in order to rest.", ("in order to", "to")),
    ("Due to the fact that it rained, we stayed.", ("Due to the fact that", "Because")),
    ("At this point in time we wait.", ("At this point in time", "Now")),
    ("In spite of the fact that he ran, he lost.", ("In spite of the fact that", "Although")),
    ("A large number of people came.", ("A large number of", "Many")),
    ("She has the ability to swim.", ("has the ability to", "can")),
    ("It is for the purpose of testing.", ("for the purpose of", "for")),
])
def test_wordy_phrases(text, expected):
    assert expected in pairs(text)
    edit = next(e for e in find_edits(text) if e.original == expected[0])
    assert edit.intent == "clarity" and 0 < edit.confidence < 1 and edit.rationale


def test_edit_fields_and_offsets_are_exact():
    text = "We recieve the the report in order to check it.  It was a apple."
    for e in find_edits(text):
        assert text[e.start:e.end] == e.original
        assert e.intent in ("fluency", "clarity")
    starts = [(e.start, e.end) for e in find_edits(text)]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(starts)), "edits overlap"


def test_long_sentence_critique():
    long = " ".join(["word"] * 40) + "."
    very_long = " ".join(["word"] * 60) + "."
    crits = find_critiques(f"Short one. {long} {very_long}")
    lengths = [c for c in crits if c["category"] == "length"]
    assert [c["severity"] for c in lengths] == ["medium", "high"]
    assert lengths[0]["segment"] == long


def test_passive_voice_critique():
    crits = find_critiques("The report was written by the team. The cake is eaten. She is interested.")
    passive = [c["segment"] for c in crits if c["category"] == "passive-voice"]
    assert passive == ["was written", "is eaten"]


def test_vague_word_critique():
    crits = find_critiques("This is very good stuff, really.")
    assert {c["segment"] for c in crits if c["category"] == "vague"} == {"very", "stuff", "really"}
    assert all(c["severity"] in ("low", "medium", "high") for c in crits)


def test_split_sentences():
    text = "One. Two!  Three?\n\nFour"
    assert [text[s:e] for s, e in split_sentences(text)] == ["One.", "Two!", "Three?", "Four"]


def test_do_not_repeat_is_respected():
    text = "We recieve the the report."
    assert {"original": "the the", "replacement": "the"} in [
        {"original": e["original"], "replacement": e["replacement"]} for e in propose(text)]
    edits = propose(text, do_not_repeat=[{"original": "the the", "replacement": "the"}])
    assert [(e["original"], e["replacement"]) for e in edits] == [("recieve", "receive")]


def test_ignore_spelling_instruction():
    text = "We recieve the the report."
    edits = propose(text, feedback="Please ignore spelling, the terms are on purpose.")
    assert [(e["original"], e["replacement"]) for e in edits] == [("the the", "the")]
    # Guidelines count as instructions too.
    assert all(e["original"] != "recieve" for e in propose(text, guidelines=["Do not fix spelling."]))


def test_quotes_instruction():
    text = 'He said "we recieve the the mail" and left in order to rest.'
    assert {e["original"] for e in propose(text)} >= {"recieve", "the the", "in order to"}
    for feedback in ("Don't change quotes.", "do not touch quotes", "Leave quotations alone"):
        assert [e["original"] for e in propose(text, feedback=feedback)] == ["in order to"], feedback


def test_informal_instruction_skips_clarity_edits():
    text = "We left in order to rest, the the end."
    for feedback in ("Keep it informal.", "don't fix wordiness"):
        assert [e["intent"] for e in propose(text, feedback=feedback)] == ["fluency"]


def test_instruction_parsing_is_not_trigger_happy():
    assert Instructions.from_text("Fix the spelling and tighten wordy phrases.") == Instructions()


def test_answers_parse_cleanly_and_offsets_hold():
    text = "It rained. the roads flooded due to the fact that drains were very blocked.  A owl watched."
    edits = propose(text)
    parsed = parse_edits(json.dumps({"edits": edits}), text)
    assert parsed.dropped == [] and len(parsed.edits) == len(edits) >= 4
    assert [e["start"] for e in parsed.edits] == [e["start"] for e in edits]
    crits = parse_critiques(respond(critique_messages(text=text, guidelines=[], feedback="")), text)
    assert any(c["category"] == "vague" and text[c["start"]:c["end"]] == "very" for c in crits)


def test_verify_scores_rule_confidence_and_missing_originals():
    text = "We recieve the the report."
    candidates = [
        {"original": "the the", "replacement": "the"},
        {"original": "not in the text", "replacement": "x"},
        {"original": "report", "replacement": "paper"},
        {"original": "We", "replacement": "We"},
    ]
    scores = parse_scores(respond(verify_messages(text=text, edits=candidates)), len(candidates))
    assert scores == [0.95, 0.0, 0.5, 0.0]


def test_deterministic():
    text = ("Teh team recieve the the data.  It was analysed by a intern , due to the fact that "
            "nobody else was very available. " * 20)
    messages = propose_messages(text=text, critiques=[], guidelines=[], feedback="", do_not_repeat=[])
    assert respond(messages) == respond(messages)
    cm = critique_messages(text=text, guidelines=[], feedback="")
    assert respond(cm) == respond(cm)


def test_unknown_task_answers_an_error_object():
    assert "error" in json.loads(respond([{"role": "system", "content": "hello"}]))


def test_read_prompt_round_trip_with_tricky_document():
    text = "A doc that mentions </document> and <feedback>\nitself.\n"
    task, sections = read_prompt(propose_messages(
        text=text, critiques=[{"segment": "A doc", "category": "x", "severity": "low", "text": "t"}],
        guidelines=["Be brief"], feedback="keep it short", do_not_repeat=[]))
    assert task == "propose"
    assert sections["document"] == text
    assert sections["feedback"] == "keep it short"
    assert json.loads(sections["guidelines"]) == ["Be brief"]
