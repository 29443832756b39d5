"""Critiques: long sentences, passive voice, vague words, wordy phrases (Emend's own), and
Harper's readability and style lints (reviser.core.lint_critiques)."""
from __future__ import annotations

import re

from app.llm.reviser.core import lint_critiques
from app.llm.reviser.instructions import Instructions

LONG_SENTENCE_WORDS = 35
VERY_LONG_SENTENCE_WORDS = 50

# Wordy phrases are critiques, not edits: a human corrector shortened them in 2 of 33 cases.
WORDY_PHRASES: dict[str, str] = {
    "in order to": "to",
    "due to the fact that": "because",
    "owing to the fact that": "because",
    "in light of the fact that": "because",
    "in spite of the fact that": "although",
    "despite the fact that": "although",
    "at this point in time": "now",
    "at the present time": "now",
    "a large number of": "many",
    "the majority of": "most",
    "has the ability to": "can",
    "have the ability to": "can",
    "is able to": "can",
    "for the purpose of": "for",
    "in the event that": "if",
    "with regard to": "about",
    "in the near future": "soon",
    "prior to": "before",
    "in close proximity to": "near",
    "on a daily basis": "daily",
    "each and every": "every",
    "until such time as": "until",
}
_WORDY = re.compile(
    r"\b(" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(WORDY_PHRASES, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
# Sentence ends at . ! ? (plus closing quotes/brackets) followed by whitespace, or at a blank line.
_SENTENCE_END = re.compile(r"[.!?]+[\"'’”)\]]*(?=\s)|\n\s*\n")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")
_BE = r"(?:am|is|are|was|were|be|been|being)"
_IRREGULAR_PARTICIPLES = (
    "written|given|taken|made|done|seen|known|shown|found|held|told|built|sent|paid|made|kept|left|"
    "brought|bought|caught|taught|thought|chosen|driven|eaten|forgotten|hidden|spoken|stolen|broken|"
    "frozen|drawn|grown|thrown|worn|torn|sworn|born|borne|set|put|read|cut|hit|led|won|lost|sold|"
    "understood|begun|sung|rung|run|felt|heard|meant|met|said|shot|spent|struck|hung"
)
_PASSIVE = re.compile(
    rf"\b{_BE}\s+(?:[a-z]+ly\s+)?(?:[a-z]{{3,}}ed|{_IRREGULAR_PARTICIPLES})\b(?:\s+by\b)?",
    re.IGNORECASE,
)
# -ed words that are usually adjectives after "be" ("is interested"), not passives.
_ADJECTIVAL_ED = frozenset({
    "interested", "tired", "excited", "bored", "pleased", "concerned", "married", "worried",
    "supposed", "used", "scared", "surprised", "confused", "satisfied", "disappointed", "involved",
    "related", "based", "required", "needed", "indeed", "limited", "advanced", "detailed", "complicated",
    "experienced", "qualified", "talented", "sophisticated", "crowded", "aged", "naked", "wicked",
    "sacred", "beloved", "ragged", "rugged", "wretched", "learned", "need", "exceed", "succeed",
})
VAGUE_WORDS = (
    "very", "really", "quite", "somewhat", "rather", "basically", "actually", "literally",
    "things", "thing", "stuff", "kind of", "sort of", "a lot", "various", "nice",
)
_VAGUE = re.compile(r"\b(" + "|".join(re.escape(w) for w in VAGUE_WORDS) + r")\b", re.IGNORECASE)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of sentences, trimmed of surrounding whitespace. Fast and good enough
    for rule critiques; abbreviations like "Dr." may split a sentence early, never lengthen it."""
    spans = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.end() if not m.group().startswith("\n") else m.start()
        if end > pos:
            spans.append((pos, end))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    out = []
    for start, end in spans:
        segment = text[start:end]
        stripped = segment.strip()
        if stripped:
            lead = len(segment) - len(segment.lstrip())
            out.append((start + lead, start + lead + len(stripped)))
    return out


def find_critiques(text: str, instructions: Instructions = Instructions()) -> list[dict]:
    critiques = lint_critiques(text, instructions)
    # Harper flags sentences over 40 words; Emend's own rule adds the ones from 36 words.
    flagged = [(c["start"], c["start"] + len(c["segment"])) for c in critiques if c["category"] == "length"]
    for start, end in split_sentences(text):
        sentence = text[start:end]
        words = len(_WORD.findall(sentence))
        if words > LONG_SENTENCE_WORDS and not any(s < end and start < e for s, e in flagged):
            critiques.append({
                "segment": sentence, "start": start, "category": "length",
                "severity": "high" if words > VERY_LONG_SENTENCE_WORDS else "medium",
                "text": f"This sentence has {words} words; consider splitting it "
                        f"(aim for under {LONG_SENTENCE_WORDS}).",
            })
    for m in _PASSIVE.finditer(text):
        participle = m.group().split()[-2 if m.group().lower().endswith(" by") else -1].lower()
        if participle in _ADJECTIVAL_ED:
            continue
        has_agent = m.group().lower().endswith(" by")
        phrase = m.group()[:-3] if has_agent else m.group()
        critiques.append({
            "segment": phrase, "start": m.start(), "category": "passive-voice", "severity": "low",
            "text": f"Passive voice (\"{phrase}\")"
                    + ("; the actor is named after \"by\", so an active sentence may read better."
                       if has_agent else "; say who does it if that matters."),
        })
    for m in _VAGUE.finditer(text):
        word = m.group()
        critiques.append({
            "segment": word, "start": m.start(), "category": "vague", "severity": "low",
            "text": f"\"{word}\" is vague; be specific or cut it.",
        })
    if not instructions.skip_clarity:
        for m in _WORDY.finditer(text):
            phrase = m.group()
            plain = WORDY_PHRASES[" ".join(phrase.lower().split())]
            critiques.append({
                "segment": phrase, "start": m.start(), "category": "wordy", "severity": "low",
                "text": f"\"{plain}\" may say the same as \"{' '.join(phrase.split())}\" in fewer words.",
            })
    critiques.sort(key=lambda c: (c["start"], c["category"], c["segment"]))
    return critiques


