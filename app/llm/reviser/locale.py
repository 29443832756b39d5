"""Spelling locales: American or British, detected from the text unless the project says.

No spelling is ever converted across locales: an edit that only turns a British form into
its American twin (or back) is dropped whatever the locale, so "behaviour" and "color" both
survive. The locale picks Harper's dialect, so words that exist only in one of them are not
flagged as misspellings there.
"""
from __future__ import annotations

import re

AUTO, US, GB = "auto", "en-US", "en-GB"
LOCALES = (AUTO, US, GB)

# British -> American spelling patterns, applied to both sides of an edit to compare them.
_TO_US = [
    (re.compile(r"(?<=[a-z]{3})our(?=s?$|ed$|ing$|ite|ful|able|less|ism|ist|ly|er)"), "or"),
    (re.compile(r"(?<=[a-z]{2})is(e|es|ed|ing|ation|ations|er|ers)$"), r"iz\1"),
    (re.compile(r"(?<=[a-z]{2})ys(e|es|ed|ing|er|ers)$"), r"yz\1"),
    (re.compile(r"(?<=[a-z]{3})tre(s?)$"), r"ter\1"),
    (re.compile(r"(?<=[aeiou])ll(ed|ing|er|ers)$"), r"l\1"),
    (re.compile(r"(?<=[a-z]{3})(?:ogue)(s?)$"), r"og\1"),
    (re.compile(r"^(def|off|lic|pret)ence(s?)$"), r"\1ense\2"),
    (re.compile(r"(?<=[a-z])ae(?=[a-z])"), "e"),
    (re.compile(r"(?<=[a-z])oe(?=[a-z]{2})"), "e"),
    (re.compile(r"ement$"), "ment"),  # judgement, acknowledgement
]
_WORD_PAIRS = {
    "grey": "gray", "programme": "program", "programmes": "programs", "cheque": "check", "cheques": "checks",
    "tyre": "tire", "tyres": "tires", "aluminium": "aluminum", "mould": "mold", "plough": "plow",
    "kerb": "curb", "enrol": "enroll", "fulfil": "fulfill", "skilful": "skillful", "ageing": "aging",
    "learnt": "learned", "spelt": "spelled", "dreamt": "dreamed", "whilst": "while", "amongst": "among",
    "towards": "toward", "storey": "story", "pyjamas": "pajamas", "sceptical": "skeptical",
    "manoeuvre": "maneuver", "draught": "draft", "jewellery": "jewelry", "practise": "practice",
}


def to_us(word: str) -> str:
    w = word.lower()
    if w in _WORD_PAIRS:
        return _WORD_PAIRS[w]
    for pattern, repl in _TO_US:
        w = pattern.sub(repl, w)
    return w


def is_variant(original: str, replacement: str) -> bool:
    """True when the edit only swaps a British spelling for an American one, or back."""
    a, b = original.strip(), replacement.strip()
    if not a or not b or a.lower() == b.lower() or " " in a or " " in b:
        return False
    # "behaviour" -> "behaviors" is still a locale conversion (plus a number slip Harper guessed).
    ua, ub = to_us(a), to_us(b)
    return ua == ub or ua.rstrip("s") == ub.rstrip("s")


_WORDS = re.compile(r"[A-Za-z]+")
_OUR_STEMS = ("col|fav|hon|lab|neighb|flav|hum|rum|harb|behavi|vap|vig|endeav|savi|parl|glam|clam|splend|rig"
              "|ferv|tum|val|od|arm|ard|cand|demean|sav")
_SUFFIX = r"(?:s|ed|ing|ite|ites|ful|able|ably|er|ers|hood|hoods|less)?"
# Spellings that only one locale uses; -ise/-ize counts half (Oxford British spelling uses -ize).
_GB_MARKERS = re.compile(
    rf"(?:{_OUR_STEMS})our{_SUFFIX}|centre|centres|theatre|theatres|metre|metres|litre|litres|fibre|fibres"
    r"|travell(?:ed|ing|er|ers)|cancell(?:ed|ing)|modell(?:ed|ing)|labell(?:ed|ing)|programme|programmes"
    r"|defence|licence|offence|whilst|amongst|grey|cheque|cheques|tyre|tyres|[a-z]{2}ys(?:e|ed|es|ing)"
)
_US_MARKERS = re.compile(
    rf"(?:{_OUR_STEMS})or{_SUFFIX}|center|centers|theater|theaters|liter|liters|fiber|fibers"
    r"|travel(?:ed|ing|er|ers)|cancel(?:ed|ing)|model(?:ed|ing)|label(?:ed|ing)|defense|offense|gray"
    r"|[a-z]{2}yz(?:e|ed|es|ing)"
)
_ISE = re.compile(r"[a-z]{3,}is(?:e|es|ed|ing|ation|ations)")
_IZE = re.compile(r"[a-z]{3,}iz(?:e|es|ed|ing|ation|ations)")
# -ise/-ize words spelled the same in both locales.
_NEUTRAL = frozenset({
    "otherwise", "likewise", "clockwise", "premise", "promise", "promises", "promised", "exercise", "exercises",
    "exercised", "advise", "advised", "advises", "advising", "revise", "revised", "revising", "surprise",
    "surprised", "surprising", "surprises", "despise", "despised", "devise", "devised", "comprise", "comprises",
    "comprised", "compromise", "compromised", "compromises", "enterprise", "enterprises", "franchise",
    "merchandise", "supervise", "supervised", "supervising", "televise", "televised", "disguise", "disguised",
    "expertise", "improvise", "improvised", "concise", "precise", "paradise", "treatise", "chastise", "incise",
    "excise", "demise", "reprise", "cruise", "cruises", "bruise", "bruised", "apprise", "raise", "raised",
    "raising", "praise", "praised", "arise", "arises", "arising", "noise", "noises", "poise", "poised",
    "citizen", "citizens", "seize", "seized", "prize", "prizes", "capsize", "capsized", "baptize",
})


def detect(text: str) -> str:
    """en-GB when British-only spellings outnumber American-only ones, else en-US."""
    gb = us = 0.0
    for m in _WORDS.finditer(text):
        w = m.group().lower()
        if len(w) < 4 or w in _NEUTRAL:
            continue
        if _GB_MARKERS.fullmatch(w):
            gb += 1
        elif _US_MARKERS.fullmatch(w):
            us += 1
        elif _ISE.fullmatch(w):
            gb += 0.5
        elif _IZE.fullmatch(w):
            us += 0.5
    return GB if gb > us else US


def resolve(setting: str | None, text: str) -> str:
    """The locale to check the text in: the setting, or the text's own when it is auto."""
    return setting if setting in (US, GB) else detect(text)
