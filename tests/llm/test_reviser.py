"""The offline reviser: Harper underneath, Emend's own rules, instructions, determinism (no litellm)."""
from __future__ import annotations

import itertools
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.llm.parsing import parse_critiques, parse_edits, parse_scores
from app.llm.prompts import critique_messages, propose_messages, read_prompt, verify_messages
from app.llm.reviser import Instructions, find_critiques, find_edits, policy, respond, split_sentences


def pairs(text: str, **kwargs) -> list[tuple[str, str]]:
    return [(e.original, e.replacement) for e in find_edits(text, **kwargs)]


def propose(text: str, feedback: str = "", guidelines=(), do_not_repeat=()) -> list[dict]:
    messages = propose_messages(text=text, critiques=[], guidelines=list(guidelines), feedback=feedback,
                                do_not_repeat=list(do_not_repeat))
    return json.loads(respond(messages))["edits"]


def critiques(text: str, feedback: str = "", guidelines=()) -> list[dict]:
    return json.loads(respond(critique_messages(text=text, guidelines=list(guidelines), feedback=feedback)))["critiques"]


@pytest.mark.parametrize("text, expected", [
    ("We recieve many letters.", ("recieve", "receive")),
    ("This is definately true.", ("definately", "definitely")),
    ("The goverment decided.", ("goverment", "government")),
])
def test_spelling(text, expected):
    assert expected in pairs(text)


@pytest.mark.parametrize("text, expected", [
    ("We have alot of work.", ("alot", "a lot")),
    ("She came aswell.", ("aswell", "as well")),
    ("He was there allday long.", ("allday", "all day")),
])
def test_run_together_words_are_split(text, expected):
    assert expected in pairs(text)


def test_run_together_split_loses_to_a_closer_common_word():
    # "no ring" is two words, but "boring" is one letter away and common: never "no ring".
    assert ("noring", "no ring") not in pairs("It was a noring meeting.")
    assert ("alot", "alto") not in pairs("We have alot of work.")


@pytest.mark.parametrize("text, expected", [
    ("Teh cat sat on the mat.", ("Teh", "The")),
    ("It rained. Teh roads flooded.", ("Teh", "The")),
    ("Recieve the parcel today.", ("Recieve", "Receive")),
])
def test_capitalised_typo_at_sentence_start(text, expected):
    assert expected in pairs(text)


def test_capitalised_words_inside_a_sentence_are_names():
    assert pairs("We met Teh and Recieve in Brno.") == []


def test_first_word_of_a_paragraph_is_capitalised():
    text = "this is the first paragraph of it.\n\nand here the second one begins.\n- item one\nhttps://example.org"
    found = pairs(text)
    assert ("this", "This") in found and ("and", "And") in found
    assert all(original not in ("item", "https") for original, _ in found)


@pytest.mark.parametrize("text", [
    "Anna met Dzhokhar in Brno.",  # capitalised names
    "Use the abc123 token and the xkcd site.",  # digits; short words
    "We don't know, it's fine.",  # contractions
    "Write to alice@example.org or see www.examplz.com/recieve.",  # addresses
])
def test_spelling_leaves_names_codes_and_short_words(text):
    assert pairs(text) == []


def test_british_spelling_kept_under_en_gb_and_when_detected():
    text = "The behaviour of the organisation was analysed, and the colour of the centre globalised."
    for locale in ("auto", "en-GB"):
        assert pairs(text, instructions=Instructions(locale=locale)) == [], locale
    # Nor are American spellings turned British, whatever the locale.
    american = "The behavior of the organization was analyzed, and the color of the center changed."
    for locale in ("auto", "en-US", "en-GB"):
        assert pairs(american, instructions=Instructions(locale=locale)) == [], locale


def test_locale_is_detected_and_read_from_guidelines():
    from app.llm.reviser import locale
    from app.runs.service import LOCALE_GUIDELINES

    assert locale.detect("We organised the colour scheme at the centre.") == "en-GB"
    assert locale.detect("We organized the color scheme at the center.") == "en-US"
    assert locale.detect("He is a good author and doctor.") == "en-US"
    assert Instructions.from_text(LOCALE_GUIDELINES["en-GB"]).locale == "en-GB"
    assert Instructions.from_text(LOCALE_GUIDELINES["en-US"]).locale == "en-US"
    assert Instructions.from_text("Please use British spelling.").locale == "en-GB"
    assert Instructions.from_text("Fix the spelling.").locale == "auto"
    # A spelling fix that only changes locale is not proposed even where the dictionary lacks the word.
    edits = propose("The behaviour was analysed.", guidelines=[LOCALE_GUIDELINES["en-US"]])
    assert edits == []


def test_letters_used_as_labels_keep_their_article():
    text = "The gene A is expressed. Type A or B is an variant."
    found = pairs(text)
    assert all(original not in ("A", "gene A", "A is", "A or") for original, _ in found)
    assert ("an variant", "a variant") in found


def test_harper_lints_become_edits_with_their_measured_confidence():
    edits = find_edits("Yesterday i think we were late.")
    assert [(e.original, e.replacement) for e in edits] == [("i", "I")]
    assert edits[0].rule == "harper:CapitalizePersonalPronouns"
    assert edits[0].confidence == policy.HARPER_RULES["CapitalizePersonalPronouns"] >= policy.EDIT_MIN


def test_low_precision_lints_are_not_edits():
    # Harper's Formatting kind ("..." -> "…") was right in 0 of 4 cases: never an edit.
    assert policy.harper_confidence("UseEllipsisCharacter", "Formatting") < policy.EDIT_MIN
    assert pairs("Wait... we are not done yet.") == []
    assert policy.harper_confidence("SomeRuleNeverSeen", "Typo") < policy.EDIT_MIN


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


@pytest.mark.parametrize("text", ["a university", "an hour", "a European city", "an apple", "a one-off",
                                  "an FBI agent", "a information"])
def test_article_agreement_leaves_correct_ones(text):
    assert pairs(f"It is {text}.") == []


def test_capital_after_full_stop():
    assert ("the", "The") in pairs("It rained. the roads flooded.")
    # Abbreviations do not end sentences.
    assert pairs("We met Dr. smith and e.g. others.") == []


def test_capital_merges_with_spelling():
    assert ("recieve", "Recieve") not in pairs("Done. recieve it now.")
    assert ("recieve", "Receive") in pairs("Done. recieve it now.")


@pytest.mark.parametrize("text, phrase", [
    ("We left in order to rest.", "in order to"),
    ("Due to the fact that it rained, we stayed.", "Due to the fact that"),
    ("She is able to swim.", "is able to"),
])
def test_wordy_phrases_are_critiques_not_edits(text, phrase):
    assert pairs(text) == []
    wordy = [c for c in find_critiques(text) if c["category"] == "wordy"]
    assert [c["segment"] for c in wordy] == [phrase]


def test_edit_fields_and_offsets_are_exact():
    text = "Teh team recieve the the report alot.  It was a apple. i think so."
    edits = find_edits(text)
    assert len(edits) >= 6
    for e in edits:
        assert text[e.start:e.end] == e.original
        assert e.intent in ("fluency", "clarity", "style") and e.rationale and 0 < e.confidence <= 1
    spans = [(e.start, e.end) for e in edits]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), "edits overlap"


def test_long_sentence_critique():
    long = " ".join(["word"] * 38) + "."
    crits = find_critiques(f"Short one. {long}")
    assert [(c["category"], c["severity"]) for c in crits if c["category"] == "length"] == [("length", "medium")]


def test_readability_lints_become_critiques():
    sentence = ("The committee met on Monday and it discussed the budget and the plans for the new building and "
                "the members argued about the costs and the delays and the contractors and the roof and the "
                "windows until late in the evening when everyone went home tired.")
    crits = [c for c in find_critiques(sentence) if c["category"] == "length"]
    assert len(crits) == 1 and "words long" in crits[0]["text"]  # Harper's message, not Emend's
    assert crits[0]["severity"] == "medium"
    assert pairs(sentence) == []  # a critique, never an edit


def test_unsure_lints_become_critiques():
    # Harper's agreement rule was right too rarely to be an edit: its suggestion is a critique.
    crits = find_critiques("They is happy about it.")
    assert any(c["segment"] == "is" and "\"are\"" in c["text"] for c in crits)
    assert pairs("They is happy about it.") == []


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
    text = "Teh team recieve the the report alot."
    edits = propose(text, feedback="Please ignore spelling, the terms are on purpose.")
    assert [(e["original"], e["replacement"]) for e in edits] == [("the the", "the")]
    # Saved guidelines count as instructions too.
    assert all(e["original"] != "recieve" for e in propose(text, guidelines=["Do not fix spelling."]))


def test_quotes_instruction():
    text = 'He said "we recieve the the mail" and i left.'
    assert {e["original"] for e in propose(text)} >= {"recieve", "the the", "i"}
    for feedback in ("Don't change quotes.", "do not touch the quotes", "Leave quotations alone"):
        assert [e["original"] for e in propose(text, feedback=feedback)] == ["i"], feedback


def test_informal_instruction_skips_clarity_and_style():
    text = "We left in order to rest, the the end."
    assert any(c["category"] == "wordy" for c in critiques(text))
    for feedback in ("Keep it informal.", "don't fix wordiness"):
        assert [e["intent"] for e in propose(text, feedback=feedback)] == ["fluency"]
        assert not any(c["category"] == "wordy" for c in critiques(text, feedback=feedback)), feedback
    assert not any(c["category"] == "wordy" for c in critiques(text, guidelines=["Keep it informal."]))


def test_instruction_parsing_is_not_trigger_happy():
    assert Instructions.from_text("Fix the spelling and tighten wordy phrases.") == Instructions()


def test_answers_parse_cleanly_and_offsets_hold():
    text = "It rained. the roads flooded due to the fact that drains were very blocked.  A owl watched."
    edits = propose(text)
    parsed = parse_edits(json.dumps({"edits": edits}), text)
    assert parsed.dropped == [] and len(parsed.edits) == len(edits) >= 3
    assert [e["start"] for e in parsed.edits] == [e["start"] for e in edits]
    crits = parse_critiques(respond(critique_messages(text=text, guidelines=[], feedback="")), text)
    assert any(c["category"] == "vague" and text[c["start"]:c["end"]] == "very" for c in crits)


def test_verify_scores_with_measured_confidences():
    text = "We recieve the the report, i agree. I bought an ipod."
    candidates = [
        {"original": "the the", "replacement": "the"},
        {"original": "not in the text", "replacement": "x"},
        {"original": "report", "replacement": "paper"},
        {"original": "We", "replacement": "We"},
        {"original": "i", "replacement": "I"},
        {"original": "ipod", "replacement": "iPod"},  # a lint too unsure to propose still scores low
    ]
    scores = parse_scores(respond(verify_messages(text=text, edits=candidates)), len(candidates))
    assert scores == [policy.EMEND_RULES["doubled-word"], 0.0, 0.5, 0.0,
                      policy.HARPER_RULES["CapitalizePersonalPronouns"], policy.HARPER_RULES["OrthographicConsistency"]]


def test_deterministic():
    text = ("Teh team recieve the the data alot.  It was analysed by a intern , due to the fact that "
            "nobody else was very available. i think so.\n\nthe next part. " * 20)
    messages = propose_messages(text=text, critiques=[], guidelines=[], feedback="", do_not_repeat=[])
    assert respond(messages) == respond(messages)
    cm = critique_messages(text=text, guidelines=[], feedback="")
    assert respond(cm) == respond(cm)


def test_threads_share_no_linter():
    # A harper.Linter raises if two threads use it at once: the pool gives each caller its own.
    texts = [f"Teh team {i} recieve alot of data, and i think they is happy." for i in range(16)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda t: [(e.original, e.replacement) for e in find_edits(t)], texts))
    assert all(r == results[0] for r in results) and ("i", "I") in results[0]


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


def test_comma_after_an_introductory_phrase_and_before_but():
    found = pairs("In my opinion it works. However it is slow. We had many good ideas but none of them worked.")
    assert ("opinion", "opinion,") in found and ("However", "However,") in found and ("ideas", "ideas,") in found
    assert pairs("However, it is slow. It was all but lost. Not only this but also that.") == []


def test_apostrophes_of_contractions():
    found = pairs("I dont know, but thats fine. We cant go and I wont.")
    assert ("dont", "don't") in found and ("thats", "that's") in found
    assert all(o not in ("cant", "wont") for o, _ in found)  # words as they stand


def test_wrapped_lines_code_and_compounds_are_left_alone():
    prose = ("The survey team placed three sensors along\nthe bank, and the data\nshowed a trend.\n\n"
             "Run `recieve --fast` or:\n\n```\nteh  = alot\n```\n\n| col  | recieve |\n|---|---|\n")
    assert pairs(prose) == []
    assert pairs("We built a dataset for the workflow.") == []  # compounds, not run-together slips


def test_warm_up_builds_a_linter_before_the_first_run():
    from app.llm.reviser import checker, warm_up

    checker.reset()
    warm_up()
    assert checker.pool_sizes() == {"en-US/measured": 1}
    find_edits("The behaviour of the organisation was analysed.")  # British: a British linter on demand
    assert checker.pool_sizes() == {"en-US/measured": 1, "en-GB/measured": 1}
