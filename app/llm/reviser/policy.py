"""Intent and confidence of every rule and lint kind, measured on a development set.

Confidence is the share of a rule's edits that a human corrector also made (JFLEG dev, both
halves pooled, smoothed towards its lint kind's share: (hits + 5 * kind) / (edits + 5));
bench/reviser_quality.py --rules prints the table these numbers come from. The verify stage
scores an edit with its rule's confidence. An edit below EDIT_MIN is not proposed: the kinds a
writer can still use become critiques, the rest are dropped.
"""
from __future__ import annotations

EDIT_MIN = 0.6       # propose as an edit at or above this confidence
CRITIQUE_MIN = 0.2   # below EDIT_MIN but at least this: a critique, so the writer still sees it
SMOOTHING = 5

# Emend's own rules: the confidences they had before measurement, now the priors.
EMEND_PRIORS: dict[str, float] = {
    "doubled-word": 0.95, "spacing": 0.9, "article": 0.85, "capital": 0.85, "paragraph-capital": 0.85,
    "spelling-swap": 0.85, "spelling-one": 0.85, "spelling-many": 0.7, "spelling-far": 0.6,
    "run-together": 0.85, "capitalised-typo": 0.85, "comma-intro": 0.7, "comma-but": 0.6,
    "apostrophe": 0.85,
}
# Emend's own rules, measured (hits/edits on the development set). Spacing and capital after a
# full stop have no cases there (its sentences come tokenised): they keep their priors.
EMEND_RULES: dict[str, float] = {
    "spelling-one": 0.69,  # 84/123
    "paragraph-capital": 0.85,  # 74/87
    "spelling-many": 0.62,  # 48/78
    "spelling-swap": 0.7,  # 31/45
    "comma-intro": 0.8,  # 26/32
    "comma-but": 0.68,  # 16/23
    "capitalised-typo": 0.84,  # 15/18
    "run-together": 0.85,  # 6/7
    "doubled-word": 0.7,  # 3/6
    "spelling-far": 0.45,  # 2/6
    "article": 0.66,  # 3/6
    "apostrophe": 0.69,  # 2/4
    "spacing": 0.9,  # 0/0
    "capital": 0.85,  # 0/0
}

# Harper's lint kinds: the prior for a rule seen too rarely to measure, and its intent.
KIND_CONFIDENCE: dict[str, float] = {
    "Agreement": 0.45, "BoundaryError": 0.7, "Capitalization": 0.6, "Eggcorn": 0.4, "Enhancement": 0.1,
    "Formatting": 0.07, "Grammar": 0.6, "Malapropism": 0.4, "Miscellaneous": 0.4, "Nonstandard": 0.4,
    "Punctuation": 0.55, "Readability": 0.0, "Redundancy": 0.26, "Regionalism": 0.0, "Repetition": 0.5,
    "Spelling": 0.25, "Style": 0.22, "Typo": 0.18, "Usage": 0.5, "WordChoice": 0.4,
}
KIND_INTENT: dict[str, str] = {
    "Enhancement": "style", "Readability": "clarity", "Redundancy": "clarity", "Style": "style",
    "WordChoice": "fluency", "Regionalism": "style",
}
# Kinds that are always critiques, never edits: they are about reading, not correctness.
CRITIQUE_KINDS = frozenset({"Readability", "Style", "Enhancement", "Redundancy"})

# Harper's rules measured on the development set: smoothed confidence  # hits/edits.
HARPER_RULES: dict[str, float] = {
    "OpenCompounds": 0.88,  # 7/7
    "RegularIrregulars": 0.75,  # 3/3
    "CapitalizePersonalPronouns": 0.74,  # 20/26
    "ThereToTheir": 0.71,  # 2/2
    "TheyToThem": 0.71,  # 2/2
    "DiscourseMarkers": 0.69,  # 9/12
    "NationalCapitals": 0.67,  # 1/1
    "SimplePastToPastParticiple": 0.67,  # 1/1
    "TheAnother": 0.67,  # 1/1
    "Lots": 0.62,  # 1/1
    "Nowadays": 0.58,  # 1/1
    "PluralWrongWordOfPhrase": 0.58,  # 1/1
    "SingleBe": 0.57,  # 1/2
    "AdjectiveDoubleDegree": 0.54,  # 3/3
    "ItsContraction": 0.54,  # 1/2
    "PronounVerbAgreement": 0.54,  # 1/1
    "ThereIsAgreement": 0.54,  # 1/1
    "CompoundNouns": 0.5,  # 5/9
    "DespiteOf": 0.5,  # 1/1
    "DoubleModal": 0.5,  # 1/1
    "InflectedVerbAfterTo": 0.5,  # 1/1
    "NeedToNoun": 0.5,  # 0/1
    "NounVerbConfusion": 0.5,  # 1/1
    "OfCourse": 0.5,  # 1/1
    "PossessiveYour": 0.5,  # 1/1
    "RepeatedWords": 0.5,  # 2/4
    "ThenThan": 0.5,  # 1/1
    "Therefore": 0.5,  # 1/1
    "ToTwoToo": 0.5,  # 1/1
    "ModalBeAdjective": 0.43,  # 1/2
    "Someone": 0.43,  # 1/2
    "AnA": 0.42,  # 3/7
    "VeryLess": 0.42,  # 0/1
    "Hazzle": 0.38,  # 1/1
    "MergeWords": 0.38,  # 1/3
    "OrthographicConsistency": 0.38,  # 3/11
    "PronounInflectionBe": 0.38,  # 0/1
    "Furthermore": 0.33,  # 0/1
    "MassNouns": 0.33,  # 1/5
    "Myself": 0.33,  # 0/1
    "WantBe": 0.33,  # 0/1
    "ThatThan": 0.32,  # 1/1
    "AvoidAndAlso": 0.29,  # 1/3
    "CorrectNumberSuffix": 0.29,  # 0/2
    "WrongNegative": 0.25,  # 0/3
    "CondenseAllThe": 0.22,  # 0/1
    "WouldNeverHave": 0.18,  # 0/1
    "MissingTo": 0.17,  # 0/7
    "QuiteQuiet": 0.15,  # 0/1
    "WrongApostrophe": 0.15,  # 0/1
    "DisjointPrefixes": 0.14,  # 0/4
    "SplitWords": 0.14,  # 3/22
    "Cant": 0.08,  # 0/1
    "Excellent": 0.06,  # 0/4
    "NumericRangeEnDash": 0.06,  # 0/1
    "QuoteSpacing": 0.06,  # 0/1
    "EllipsisLength": 0.05,  # 0/2
    "UseEllipsisCharacter": 0.04,  # 0/4
    "Regionalisms": 0.0,  # 0/1
}


# Rules whose lints carry no suggestion but make useful critiques (seen on the development set).
HARPER_CRITIQUE_RULES = frozenset({"LongSentences", "MissingPreposition", "AllowTo", "WillNonLemma",
                                   "PronounVerbAgreement"})


def harper_rules_to_run() -> frozenset:
    """The Harper rules worth their time: measured good enough for an edit or a critique."""
    return frozenset(r for r, c in HARPER_RULES.items() if c >= CRITIQUE_MIN) | HARPER_CRITIQUE_RULES


def emend_confidence(rule: str) -> float:
    return EMEND_RULES.get(rule, EMEND_PRIORS[rule])


def harper_confidence(rule: str, kind: str) -> float:
    if rule in HARPER_RULES:
        return HARPER_RULES[rule]
    return KIND_CONFIDENCE.get(kind, 0.3)


def harper_intent(kind: str) -> str:
    return KIND_INTENT.get(kind, "fluency")
