"""Emend's own rules: the slips they catch they catch more precisely than the checker.

Spelling (pyspellchecker's frequency list, one clear candidate only), run-together words
("alot" -> "a lot"), capitalised typos at a sentence start ("Teh" -> "The"), doubled words,
spacing, a/an agreement, a capital letter after a full stop and at the start of a paragraph.
Every edit names its rule; its confidence comes from reviser.policy (measured).
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from app.llm.reviser import locale as locales


@dataclass
class RuleEdit:
    start: int
    end: int
    original: str
    replacement: str
    intent: str
    rationale: str
    confidence: float
    rule: str


# ---------------------------------------------------------------- spelling

_spell_lock = threading.Lock()
_spell = None


def checker():
    """pyspellchecker, loaded once per process (read-only afterwards, so threads share it)."""
    global _spell
    with _spell_lock:
        if _spell is None:
            from spellchecker import SpellChecker

            _spell = SpellChecker(distance=1)
        return _spell


def _freq() -> dict:
    return checker().word_frequency.dictionary


# Common English words the bundled frequency list lacks or ranks oddly; never "corrected".
_ALWAYS_KNOWN = frozenset({
    "email", "emails", "online", "website", "websites", "okay", "ok", "etc", "admin", "admins", "app", "apps",
    "dataset", "datasets", "username", "usernames", "login", "logins", "logout", "blog", "blogs", "smartphone",
    "smartphones", "workflow", "workflows", "timestamp", "timestamps", "frontend", "backend", "config",
    "metadata", "webpage", "webpages", "signup", "inbox", "hashtag", "podcast", "podcasts", "screenshot",
})
# A correction must be a reasonably common word, or rare unknown tokens get "fixed" into rarer words.
_MIN_CANDIDATE_FREQ = 50
# Parts of a run-together word must be common words: "alot" -> "a lot", never "alto".
_MIN_PART_FREQ = 20_000
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _edits1(word: str) -> set[str]:
    """Every string one deletion, transposition, replacement or insertion away (plain letters only)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out.update(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1)
    out.update(a + c + b[1:] for a, b in splits if b for c in _LETTERS)
    out.update(a + c + b for a, b in splits for c in _LETTERS)
    return out


def _double_letter_neighbours(word: str) -> set[str]:
    """Words two edits away where one edit doubles or undoubles a letter ("tommorow" -> "tomorrow")."""
    variants = set()
    for i, ch in enumerate(word):
        variants.add(word[:i] + ch + word[i:])
        if i + 1 < len(word) and word[i + 1] == ch:
            variants.add(word[:i] + word[i + 1:])
    out = set()
    for v in variants:
        out.update(_edits1(v))
    return out


# A run-together slip starts with a short function word ("alot", "infact", "eachother"); two
# content words run together are usually a real compound the dictionary lacks ("dataset").
_RUN_TOGETHER_HEADS = frozenset({
    "a", "an", "as", "at", "in", "on", "of", "to", "all", "any", "each", "every", "no", "some", "so", "too",
    "be", "by", "for", "with", "up", "my", "your", "it", "is", "i", "the", "more", "very", "not",
})


def split_fix(word: str) -> str | None:
    """"alot" -> "a lot", "infact" -> "in fact": an unknown word made of a function word and a common word."""
    freq = _freq()
    best = None
    for i in range(1, len(word)):
        left, right = word[:i], word[i:]
        if left not in _RUN_TOGETHER_HEADS or len(right) < 2:
            continue
        lf, rf = freq.get(left, 0), freq.get(right, 0)
        if min(lf, rf) >= _MIN_PART_FREQ and (best is None or min(lf, rf) > best[0]):
            best = (min(lf, rf), f"{left} {right}")
    return best[1] if best else None


MAX_FAR_LOOKUPS = 30  # two-edit searches cost ~10 ms each; capped per document, in text order
_FAR = "far"


@lru_cache(maxsize=50_000)
def _near_fix(word: str) -> tuple[str, str] | str | None:
    """(correction, rule) one edit away, None when fine or ambiguous, _FAR when only a two-edit
    search could tell."""
    if word in _ALWAYS_KNOWN:
        return None
    freq = _freq()
    if word in freq:
        return None
    ranked = sorted(
        ((freq[c], c) for c in _edits1(word) if c in freq and freq[c] >= _MIN_CANDIDATE_FREQ),
        reverse=True,
    )
    split = split_fix(word)
    if split:
        # Two common words beat a one-letter fix only into a far rarer word: "alot" is "a lot",
        # not "alto", but "noring" is "boring", not "no ring".
        parts = split.split()
        rivals = [f for f, c in ranked if c not in parts]
        if not rivals or min(freq[p] for p in parts) >= 20 * rivals[0]:
            return split, "run-together"
    if ranked:
        # A swapped pair of letters ("recieve") is the commonest typo: trust a transposition that
        # is unique or far more common than the other ("teh": "the", not "eth").
        letters = sorted(word)
        swaps = [(f, c) for f, c in ranked if len(c) == len(word) and sorted(c) == letters]
        if len(swaps) == 1 or (swaps and swaps[0][0] >= 100 * swaps[1][0]):
            return swaps[0][1], "spelling-swap"
        if len(ranked) == 1:
            return ranked[0][1], "spelling-one"
        # Several candidates: only sure for longer words whose best fix is far more common.
        if len(word) >= 5 and ranked[0][0] >= 3 * ranked[1][0]:
            return ranked[0][1], "spelling-many"
        return None
    if len(word) < 6:  # short words two edits away from anything are names, jargon or too ambiguous
        return None
    return _FAR


@lru_cache(maxsize=10_000)
def _far_fix(word: str) -> tuple[str, str] | None:
    freq = _freq()
    far = sorted(
        ((freq[c], c) for c in _double_letter_neighbours(word)
         if c in freq and freq[c] >= 10 * _MIN_CANDIDATE_FREQ),
        reverse=True,
    )
    if far and (len(far) == 1 or far[0][0] >= 10 * far[1][0]):
        return far[0][1], "spelling-far"
    return None


def spelling_fix(word: str, allow_far: bool = True) -> tuple[str, str] | None:
    """(correction, rule) for a lowercase word that is clearly misspelled, else None. A fix that
    only changes the spelling locale ("behaviour" -> "behavior") is no fix."""
    near = _near_fix(word)
    fix = (_far_fix(word) if allow_far else None) if near == _FAR else near
    if fix and locales.is_variant(word, fix[0]):
        return None
    return fix


def clear_caches() -> None:
    _near_fix.cache_clear()
    _far_fix.cache_clear()


# ---------------------------------------------------------------- patterns

_PLAIN_WORD = re.compile(r"(?<![\w'’\-@/.])[a-z]{4,}(?![\w'’\-@/]|\.\w)")
_DOUBLED = re.compile(r"\b([A-Za-z]+)([ \t]+)(\1)\b", re.IGNORECASE)
_LEGIT_DOUBLES = frozenset({"had", "that", "is"})
_MULTI_SPACE = re.compile(r"(?<=\S)[ \t]{2,}(?=\S)")
_SPACE_BEFORE_PUNCT = re.compile(r"(?<=[A-Za-z0-9)\]\"'’”])[ \t]+([,.;:!?])(?![,.;:!?])(?=\s|$)")
_MISSING_SPACE = re.compile(r"(?<=[a-z])([,;])(?=[A-Za-z])|(?<=[a-z]{2})(\.)(?=[A-Z](?:[a-z]|\s))")
_ARTICLE = re.compile(r"\b(a|an|A|An)([ \t]+)([A-Za-z][A-Za-z\-]*)")
_SENTENCE_START = re.compile(r"([.!?])(\s+)([a-z][a-z'’]*)\b")
# The first word of the text or of a paragraph, lowercase: after a blank line, or after a line
# break that follows a finished sentence (a wrapped line follows a word or a comma: not a start).
_PARAGRAPH_START = re.compile(
    r"(?:^|\n[ \t]*\n|(?<=[.!?])[ \t]*\n|(?<=[.!?][\"”])[ \t]*\n)[ \t]*([a-z][a-z'’]*)\b(?![.@/:\\_\-(]|\w)")
_CAPITALISED = re.compile(r"(?:^|(?<=[.!?]\s)|(?<=\n))\s*([A-Z][a-z]{2,})\b(?![\w'’\-@/])")
_ABBREVIATIONS = frozenset({
    "e.g", "i.e", "etc", "vs", "cf", "al", "approx", "mr", "mrs", "ms", "dr", "prof", "st", "no",
    "fig", "p", "pp", "vol", "ed", "inc", "ltd", "co", "jr", "sr", "a.m", "p.m",
})
_CONSONANT_SOUND = re.compile(r"^(uni|use|usu|uti|ure|uro|eu|ewe|one|once|ubi|ufo)", re.IGNORECASE)
_SILENT_H = re.compile(r"^(hour|honest|honou?r|heir)", re.IGNORECASE)
# After these, "a"/"A" is a letter or a label ("gene A is", "plan a or b"), not an article.
_NOT_A_NOUN = frozenset({
    "is", "are", "was", "were", "and", "or", "of", "in", "on", "at", "to", "as", "if", "it", "its", "an",
    "a", "the", "for", "but", "nor", "so", "yet", "by", "be", "has", "have", "had", "will", "would", "can",
    "could", "should", "may", "might", "must", "up", "out", "off", "into", "onto", "over", "under", "than",
    "then", "also", "only", "even", "one", "all", "any", "each", "i", "we", "you", "he", "she", "they",
})
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”]*”|‘[^’\n]*’|(?<![A-Za-z])'[^'\n]*'(?![A-Za-z])")


def _match_case(template: str, word: str) -> str:
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _needs_an(word: str) -> bool | None:
    """True for "an", False for "a", None when unsure (acronyms, numbers)."""
    if word.isupper() and len(word) > 1:
        return None  # "an FBI agent" vs "a NATO base" depends on how the letters are said
    if _SILENT_H.match(word):
        return True
    if _CONSONANT_SOUND.match(word):
        return False
    return word[0].lower() in "aeiou"


def _spelling_message(word: str, correction: str, rule: str) -> str:
    if rule == "run-together":
        return f"\"{correction}\" is written as two words."
    return f"\"{word}\" looks misspelled; \"{correction}\" is the likely word."


# ---------------------------------------------------------------- rules

def spelling_edits(text: str) -> list[RuleEdit]:
    # Only plain lowercase words: names, acronyms, contractions, hyphenated words, numbers,
    # URLs and e-mail addresses are left alone (the lookarounds reject their neighbours).
    edits = []
    far_words: set[str] = set()
    for m in _PLAIN_WORD.finditer(text):
        word = m.group()
        if _near_fix(word) == _FAR:
            if word not in far_words and len(far_words) >= MAX_FAR_LOOKUPS:
                continue
            far_words.add(word)
        fix = spelling_fix(word)
        if fix is None:
            continue
        correction, rule = fix
        edits.append(RuleEdit(m.start(), m.end(), word, correction, "fluency",
                              _spelling_message(word, correction, rule), 0.0, rule))
    return edits


# Contractions written without their apostrophe; none of these is an English word as it stands
# ("cant", "wont", "lets", "were", "ill" are, so they are not here).
_CONTRACTIONS = {
    "dont": "don't", "doesnt": "doesn't", "didnt": "didn't", "isnt": "isn't", "wasnt": "wasn't",
    "werent": "weren't", "arent": "aren't", "havent": "haven't", "hasnt": "hasn't", "hadnt": "hadn't",
    "couldnt": "couldn't", "wouldnt": "wouldn't", "shouldnt": "shouldn't", "mustnt": "mustn't",
    "im": "I'm", "ive": "I've", "youre": "you're", "theyre": "they're", "thats": "that's", "whats": "what's",
    "theres": "there's", "wouldve": "would've", "couldve": "could've", "shouldve": "should've",
}
_CONTRACTION = re.compile(r"(?<![\w'’\-@/.])(" + "|".join(_CONTRACTIONS) + r")(?![\w'’\-@/])", re.IGNORECASE)


def apostrophe_edits(text: str) -> list[RuleEdit]:
    edits = []
    for m in _CONTRACTION.finditer(text):
        word = m.group()
        fixed = _CONTRACTIONS[word.lower()]
        if word[:1].isupper():
            fixed = fixed[:1].upper() + fixed[1:]
        edits.append(RuleEdit(m.start(), m.end(), word, fixed, "fluency",
                              f"\"{fixed}\" needs its apostrophe.", 0.0, "apostrophe"))
    return edits


def capitalised_typo_edits(text: str) -> list[RuleEdit]:
    """"Teh" -> "The" where a sentence starts: there a capital says nothing about a name."""
    edits = []
    for m in _CAPITALISED.finditer(text):
        word = m.group(1)
        fix = spelling_fix(word.lower(), allow_far=False)
        if fix is None:
            continue
        correction, rule = fix
        replacement = correction[:1].upper() + correction[1:]
        edits.append(RuleEdit(m.start(1), m.end(1), word, replacement, "fluency",
                              _spelling_message(word, replacement, rule), 0.0, "capitalised-typo"))
    return edits


def doubled_edits(text: str) -> list[RuleEdit]:
    edits = []
    for m in _DOUBLED.finditer(text):
        if m.group(1).lower() in _LEGIT_DOUBLES:
            continue
        edits.append(RuleEdit(m.start(), m.end(), m.group(), m.group(1), "fluency",
                              f"The word \"{m.group(1)}\" is repeated.", 0.0, "doubled-word"))
    return edits


def spacing_edits(text: str) -> list[RuleEdit]:
    edits = []
    for m in _MULTI_SPACE.finditer(text):
        edits.append(RuleEdit(m.start(), m.end(), m.group(), " ", "fluency",
                              "Collapse repeated spaces into one.", 0.0, "spacing"))
    for m in _SPACE_BEFORE_PUNCT.finditer(text):
        edits.append(RuleEdit(m.start(), m.end(), m.group(), m.group(1), "fluency",
                              f"No space belongs before \"{m.group(1)}\".", 0.0, "spacing"))
    for m in _MISSING_SPACE.finditer(text):
        # Skip URLs, e-mail addresses and file names: the token around the mark has no spaces.
        left = text.rfind(" ", 0, m.start()) + 1
        right = text.find(" ", m.end())
        token = text[left:right if right != -1 else len(text)]
        if any(s in token for s in ("http", "www", "@", "/", "\\")):
            continue
        mark = m.group()
        if mark == "." and token.lower().split(".")[0] in _ABBREVIATIONS:
            continue
        edits.append(RuleEdit(m.start(), m.end(), mark, mark + " ", "fluency",
                              f"A space is missing after \"{mark}\".", 0.0, "spacing"))
    return edits


# Uncountable nouns take no indefinite article at all: "a information" is not fixed by "an".
_MASS_NOUNS = frozenset({
    "information", "advice", "knowledge", "furniture", "equipment", "homework", "research", "evidence",
    "news", "progress", "luggage", "baggage", "traffic", "money", "music", "software", "feedback",
    "education", "health", "weather", "electricity", "pollution", "vocabulary", "grammar", "behaviour",
    "behavior", "employment", "unemployment", "entertainment", "happiness", "importance", "advertising",
})


def article_edits(text: str) -> list[RuleEdit]:
    edits = []
    for m in _ARTICLE.finditer(text):
        article, gap, word = m.groups()
        if word.lower() in _NOT_A_NOUN or word.lower() in _MASS_NOUNS or len(word) == 1:
            continue
        if article == "A" and m.start() > 0 and not re.search(r"(?:^|[.!?:\n\"“(])\s*$", text[:m.start()]):
            continue  # a capital A inside a sentence is a label: "gene A", "Plan A"
        wants_an = _needs_an(word)
        if wants_an is None or wants_an == (article.lower() == "an"):
            continue
        fixed = _match_case(article, "an" if wants_an else "a")
        edits.append(RuleEdit(
            m.start(), m.end(), m.group(), f"{fixed}{gap}{word}", "fluency",
            f"Use \"{fixed.lower()}\" before a word that starts with a "
            f"{'vowel' if wants_an else 'consonant'} sound.", 0.0, "article",
        ))
    return edits


def _capitalise(word: str, skip_spelling: bool) -> str:
    base = word
    if not skip_spelling and word.isalpha() and len(word) >= 4:
        fix = spelling_fix(word, allow_far=False)
        if fix:
            base = fix[0]
    return base[:1].upper() + base[1:]


def capital_edits(text: str, skip_spelling: bool) -> list[RuleEdit]:
    edits = []
    for m in _SENTENCE_START.finditer(text):
        mark, _gap, word = m.groups()
        if mark == ".":
            left = max(text.rfind(" ", 0, m.start()), text.rfind("\n", 0, m.start())) + 1
            prev = text[left:m.start()].lower()
            # Abbreviations, ellipses, decimals, domains: a full stop that does not end a sentence.
            if prev in _ABBREVIATIONS or "." in prev or not prev or text[m.start() - 1:m.start()] in ".":
                continue
            if not prev[-1:].isalpha() and prev[-1:] not in ")\"'’”":
                continue
        start = m.start(3)
        edits.append(RuleEdit(start, start + len(word), word, _capitalise(word, skip_spelling), "fluency",
                              "A sentence starts with a capital letter.", 0.0, "capital"))
    for m in _PARAGRAPH_START.finditer(text):
        word = m.group(1)
        line_end = text.find("\n", m.end())
        line = text[m.start(1):line_end if line_end != -1 else len(text)]
        # A one-word line, or a line with no sentence in it, may be a heading, code or a list item.
        if len(line.split()) < 3 or word in ("i",) or not re.search(r"[a-z]{2,}\s+[a-z]{2,}", line):
            continue
        edits.append(RuleEdit(m.start(1), m.end(1), word, _capitalise(word, skip_spelling), "fluency",
                              "A paragraph starts with a capital letter.", 0.0, "paragraph-capital"))
    return edits


# Introductory words and phrases that a comma follows at the start of a sentence.
_INTRODUCTIONS = (
    "however", "moreover", "furthermore", "therefore", "thus", "hence", "consequently", "additionally",
    "besides", "nevertheless", "nonetheless", "meanwhile", "finally", "firstly", "secondly", "thirdly",
    "lastly", "first of all", "in addition", "in conclusion", "in fact", "in my opinion", "in my view",
    "in this case", "in other words", "in short", "in general", "in the end", "on the other hand",
    "for example", "for instance", "of course", "as a result", "to sum up", "to conclude", "personally",
    "unfortunately", "fortunately", "nowadays", "yes", "indeed",
)
_INTRO = re.compile(
    r"(?:^|(?<=[.!?]\s)|(?<=\n))[ \t]*(" + "|".join(re.escape(p).replace(r"\ ", r"[ \t]+") for p in
                                             sorted(_INTRODUCTIONS, key=len, reverse=True))
    + r")(?=[ \t]+[A-Za-z])", re.IGNORECASE)
# ", but" between two clauses: the clause before it has at least this many words.
_BUT = re.compile(r"([A-Za-z']+)(?=[ \t]+but[ \t]+(?!also\b|rather\b|not\b)[A-Za-z])")
_NOT_CLAUSE_END = frozenset({"nothing", "all", "anything", "everything", "none", "not", "last", "no", "and",
                             "or", "only", "cannot", "can't", "one"})


def comma_edits(text: str) -> list[RuleEdit]:
    edits = []
    for m in _INTRO.finditer(text):
        phrase = m.group(1)
        last = phrase.split()[-1]
        start = m.end(1) - len(last)
        edits.append(RuleEdit(start, m.end(1), last, last + ",", "fluency",
                              f"A comma follows the introductory \"{' '.join(phrase.split())}\".", 0.0, "comma-intro"))
    for m in _BUT.finditer(text):
        word = m.group(1)
        if word.lower() in _NOT_CLAUSE_END:
            continue
        clause_start = max(text.rfind(ch, 0, m.start()) for ch in ",;:.!?\n") + 1
        if len(text[clause_start:m.end()].split()) < 4:
            continue
        edits.append(RuleEdit(m.start(1), m.end(1), word, word + ",", "fluency",
                              "A comma separates two clauses joined by \"but\".", 0.0, "comma-but"))
    return edits


# Code and tables are not prose: fenced blocks, inline `code`, indented code lines, table rows.
_CODE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]+`|(?m:^(?: {4}|\t).*$)|(?m:^[ \t]*\|.*\|[ \t]*$)",
                   re.DOTALL)


def code_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _CODE.finditer(text)]


def quoted_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _QUOTED.finditer(text)]


def emend_edits(text: str, *, skip_spelling: bool) -> list[RuleEdit]:
    """Every edit of Emend's own rules (confidence 0 until the policy sets it)."""
    edits = doubled_edits(text) + spacing_edits(text) + article_edits(text) + capital_edits(text, skip_spelling)
    edits += comma_edits(text)
    if not skip_spelling:
        edits += spelling_edits(text) + capitalised_typo_edits(text) + apostrophe_edits(text)
    return edits
