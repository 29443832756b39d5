"""The offline reviser: a deterministic rule-based "model" served through litellm.

It is registered as the litellm custom provider `emend`, so `emend/offline-reviser` goes
through exactly the same gateway, prompts and JSON contract as a hosted model. It reads the
task and inputs from the prompt (see app.llm.prompts) and answers JSON.

Rules (edits): spelling, doubled words, spacing around punctuation, a/an agreement,
capital after a full stop, wordy phrases. Critiques: long sentences, passive voice,
vague words. The rule functions are plain Python and usable without litellm.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from app.llm.parsing import SpanSet
from app.llm.prompts import CONTEXT_CHARS, read_prompt

PROVIDER = "emend"
MODEL_NAME = "offline-reviser"
MODEL = f"{PROVIDER}/{MODEL_NAME}"

# Rule confidences: the verify task scores an edit with the confidence of the rule behind it.
CONF_DOUBLED = 0.95
CONF_SPACING = 0.9
CONF_ARTICLE = 0.9
CONF_CAPITAL = 0.85
CONF_SPELLING_ONE = 0.85  # a single plausible correction at edit distance 1
CONF_SPELLING_MANY = 0.7
CONF_SPELLING_FAR = 0.6  # edit distance 2 (a double-letter slip plus one more)
CONF_WORDY = 0.7

LONG_SENTENCE_WORDS = 35
VERY_LONG_SENTENCE_WORDS = 50


@dataclass(frozen=True)
class Instructions:
    """What the reviser understood from the guidelines and feedback."""
    skip_spelling: bool = False
    skip_quotes: bool = False
    skip_clarity: bool = False

    @classmethod
    def from_text(cls, text: str) -> Instructions:
        t = " ".join(text.lower().replace("’", "'").split())
        return cls(
            skip_spelling=bool(re.search(
                r"\b(ignore|skip|leave|don't (?:fix|change|correct|touch)|do not (?:fix|change|correct|touch)|no)"
                r" (?:the )?spelling", t)),
            skip_quotes=bool(re.search(
                r"\b(don't|do not|never|no)( \w+)? (change|touch|edit|modify|alter)( \w+)? (quotes|quotations?|quoted)"
                r"|\b(leave|keep|ignore|skip) (the )?(quotes|quotations?|quoted)", t)),
            skip_clarity=bool(re.search(
                r"\bkeep (it|the (text|tone)|this) (informal|casual|conversational)"
                r"|\b(don't|do not|no need to) (fix|change|touch|cut|reduce) (the )?(wordiness|wordy)"
                r"|\bignore (the )?wordiness", t)),
        )


# ---------------------------------------------------------------- spelling

_spell_lock = threading.Lock()
_spell = None


def _checker():
    global _spell
    with _spell_lock:
        if _spell is None:
            from spellchecker import SpellChecker

            _spell = SpellChecker(distance=1)
        return _spell


# Common English words the bundled frequency list lacks or ranks oddly; never "corrected".
_ALWAYS_KNOWN = frozenset({"email", "emails", "online", "website", "websites", "okay", "ok", "etc"})
# A correction must be a reasonably common word, or rare unknown tokens get "fixed" into rarer words.
_MIN_CANDIDATE_FREQ = 50


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _edits1(word: str) -> set[str]:
    """Every string one deletion, transposition, replacement or insertion away.

    Ours rather than pyspellchecker's: its alphabet carries accented letters and apostrophes,
    which almost doubles the work for plain English words."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out.update(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1)
    out.update(a + c + b[1:] for a, b in splits if b for c in _LETTERS)
    out.update(a + c + b for a, b in splits for c in _LETTERS)
    return out


def _double_letter_neighbours(spell, word: str) -> set[str]:
    """Words two edits away where one edit doubles or undoubles a letter ("tommorow" -> "tomorrow").

    Full edit distance 2 takes about a second per word; a wrong double letter plus one more slip
    is the common case and costs a few milliseconds."""
    variants = set()
    for i, ch in enumerate(word):
        variants.add(word[:i] + ch + word[i:])
        if i + 1 < len(word) and word[i + 1] == ch:
            variants.add(word[:i] + word[i + 1:])
    out = set()
    for v in variants:
        out.update(_edits1(v))
    return out


# Far (two-edit) lookups cost ~10 ms each; a document gets this many distinct ones, chosen by
# order of first appearance so the answer never depends on what earlier calls cached.
MAX_FAR_LOOKUPS = 30
_FAR = "far"


@lru_cache(maxsize=50_000)
def _near_fix(word: str) -> tuple[str, float] | str | None:
    """A one-edit correction, None when the word is fine or ambiguous, _FAR when only a
    two-edit search could tell."""
    if word in _ALWAYS_KNOWN:
        return None
    spell = _checker()
    freq = spell.word_frequency.dictionary
    if word in freq:
        return None
    ranked = sorted(
        ((freq[c], c) for c in _edits1(word) if c in freq and freq[c] >= _MIN_CANDIDATE_FREQ),
        reverse=True,
    )
    if ranked:
        # A swapped pair of letters ("recieve") is the commonest typo: trust a unique transposition.
        letters = sorted(word)
        swaps = [c for _f, c in ranked if len(c) == len(word) and sorted(c) == letters]
        if len(swaps) == 1:
            return swaps[0], CONF_SPELLING_ONE
        if len(ranked) == 1:
            return ranked[0][1], CONF_SPELLING_ONE
        # Several candidates: only sure for longer words whose best fix is far more common.
        if len(word) >= 5 and ranked[0][0] >= 3 * ranked[1][0]:
            return ranked[0][1], CONF_SPELLING_MANY
        return None
    if len(word) < 6:  # short words two edits away from anything are names, jargon or too ambiguous
        return None
    return _FAR


@lru_cache(maxsize=10_000)
def _far_fix(word: str) -> tuple[str, float] | None:
    spell = _checker()
    freq = spell.word_frequency.dictionary
    far = sorted(
        ((freq[c], c) for c in _double_letter_neighbours(spell, word)
         if c in freq and freq[c] >= 10 * _MIN_CANDIDATE_FREQ),
        reverse=True,
    )
    if far and (len(far) == 1 or far[0][0] >= 10 * far[1][0]):
        return far[0][1], CONF_SPELLING_FAR
    return None


def spelling_fix(word: str, allow_far: bool = True) -> tuple[str, float] | None:
    """(correction, confidence) for a lowercase word that is clearly misspelled, else None."""
    near = _near_fix(word)
    if near == _FAR:
        return _far_fix(word) if allow_far else None
    return near


# ---------------------------------------------------------------- edits

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


_PLAIN_WORD = re.compile(r"(?<![\w'’\-@/.])[a-z]{4,}(?![\w'’\-@/]|\.\w)")
_DOUBLED = re.compile(r"\b([A-Za-z]+)([ \t]+)(\1)\b", re.IGNORECASE)
_LEGIT_DOUBLES = frozenset({"had", "that", "is"})
_MULTI_SPACE = re.compile(r"(?<=\S)[ \t]{2,}(?=\S)")
_SPACE_BEFORE_PUNCT = re.compile(r"(?<=[A-Za-z0-9)\]\"'’”])[ \t]+([,.;:!?])(?![,.;:!?])(?=\s|$)")
_MISSING_SPACE = re.compile(r"(?<=[a-z])([,;])(?=[A-Za-z])|(?<=[a-z]{2})(\.)(?=[A-Z](?:[a-z]|\s))")
_ARTICLE = re.compile(r"\b(a|an|A|An)([ \t]+)([A-Za-z][A-Za-z\-]*)")
_SENTENCE_START = re.compile(r"([.!?])(\s+)([a-z][a-z'’]*)\b")
_ABBREVIATIONS = frozenset({
    "e.g", "i.e", "etc", "vs", "cf", "al", "approx", "mr", "mrs", "ms", "dr", "prof", "st", "no",
    "fig", "p", "pp", "vol", "ed", "inc", "ltd", "co", "jr", "sr", "a.m", "p.m",
})
# Vowel letter, consonant sound ("a university") and silent h ("an hour").
_CONSONANT_SOUND = re.compile(r"^(uni|use|usu|uti|ure|uro|eu|ewe|one|once|ubi|ufo)", re.IGNORECASE)
_SILENT_H = re.compile(r"^(hour|honest|honou?r|heir)", re.IGNORECASE)

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
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”]*”|‘[^’\n]*’|(?<![A-Za-z])'[^'\n]*'(?![A-Za-z])")


def _match_case(template: str, word: str) -> str:
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _needs_an(word: str) -> bool | None:
    """True for "an", False for "a", None when unsure (acronyms, numbers)."""
    if word.isupper() and len(word) > 1:
        return None  # "an FBI agent" vs "a NATO base" depends on pronunciation of letters
    if _SILENT_H.match(word):
        return True
    if _CONSONANT_SOUND.match(word):
        return False
    return word[0].lower() in "aeiou"


def _spelling_edits(text: str) -> list[RuleEdit]:
    edits = []
    # Only plain lowercase words: names, acronyms, contractions, hyphenated words, numbers,
    # URLs and e-mail addresses are left alone (the lookarounds reject their neighbours).
    far_words: set[str] = set()
    for m in _PLAIN_WORD.finditer(text):
        word = m.group()
        near = _near_fix(word)
        if near == _FAR:
            if word not in far_words and len(far_words) >= MAX_FAR_LOOKUPS:
                continue
            far_words.add(word)
            fix = _far_fix(word)
        else:
            fix = near
        if fix is None:
            continue
        correction, confidence = fix
        edits.append(RuleEdit(
            m.start(), m.end(), word, correction, "fluency",
            f"\"{word}\" looks misspelled; \"{correction}\" is the likely word.", confidence, "spelling",
        ))
    return edits


def _doubled_edits(text: str) -> list[RuleEdit]:
    edits = []
    for m in _DOUBLED.finditer(text):
        if m.group(1).lower() in _LEGIT_DOUBLES:
            continue
        edits.append(RuleEdit(
            m.start(), m.end(), m.group(), m.group(1), "fluency",
            f"The word \"{m.group(1)}\" is repeated.", CONF_DOUBLED, "doubled-word",
        ))
    return edits


def _spacing_edits(text: str) -> list[RuleEdit]:
    edits = []
    for m in _MULTI_SPACE.finditer(text):
        edits.append(RuleEdit(m.start(), m.end(), m.group(), " ", "fluency",
                              "Collapse repeated spaces into one.", CONF_SPACING, "spacing"))
    for m in _SPACE_BEFORE_PUNCT.finditer(text):
        edits.append(RuleEdit(m.start(), m.end(), m.group(), m.group(1), "fluency",
                              f"No space belongs before \"{m.group(1)}\".", CONF_SPACING, "spacing"))
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
                              f"A space is missing after \"{mark}\".", CONF_SPACING, "spacing"))
    return edits


def _article_edits(text: str) -> list[RuleEdit]:
    edits = []
    for m in _ARTICLE.finditer(text):
        article, gap, word = m.groups()
        wants_an = _needs_an(word)
        if wants_an is None or wants_an == (article.lower() == "an"):
            continue
        fixed = _match_case(article, "an" if wants_an else "a")
        edits.append(RuleEdit(
            m.start(), m.end(), m.group(), f"{fixed}{gap}{word}", "fluency",
            f"Use \"{fixed.lower()}\" before a word that starts with a "
            f"{'vowel' if wants_an else 'consonant'} sound.", CONF_ARTICLE, "article",
        ))
    return edits


def _capital_edits(text: str, skip_spelling: bool) -> list[RuleEdit]:
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
        base = word
        if not skip_spelling and word.isalpha() and len(word) >= 4:
            fix = spelling_fix(word, allow_far=False)
            if fix:
                base = fix[0]
        replacement = base[:1].upper() + base[1:]
        start = m.start(3)
        edits.append(RuleEdit(
            start, start + len(word), word, replacement, "fluency",
            "A sentence starts with a capital letter.", CONF_CAPITAL, "capital",
        ))
    return edits


def _wordy_edits(text: str) -> list[RuleEdit]:
    edits = []
    for m in _WORDY.finditer(text):
        phrase = m.group()
        plain = WORDY_PHRASES[" ".join(phrase.lower().split())]
        replacement = _match_case(phrase, plain)
        edits.append(RuleEdit(
            m.start(), m.end(), phrase, replacement, "clarity",
            f"\"{replacement}\" says the same as \"{' '.join(phrase.split())}\" in fewer words.",
            CONF_WORDY, "wordy",
        ))
    return edits


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _QUOTED.finditer(text)]


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


def resolve_overlaps(edits: list[RuleEdit]) -> list[RuleEdit]:
    """Keep the higher-confidence edit of any overlapping pair, then the earlier one."""
    kept: list[RuleEdit] = []
    spans = SpanSet()
    for edit in sorted(edits, key=lambda e: (-e.confidence, e.start, e.end)):
        if spans.overlapping(edit.start, edit.end) is None:
            spans.add(edit.start, edit.end)
            kept.append(edit)
    return sorted(kept, key=lambda e: e.start)


def find_edits(
    text: str,
    instructions: Instructions = Instructions(),
    do_not_repeat: set[tuple[str, str]] | frozenset = frozenset(),
) -> list[RuleEdit]:
    """All rule edits for the text, non-overlapping and in document order."""
    edits = _doubled_edits(text) + _spacing_edits(text) + _article_edits(text)
    edits += _capital_edits(text, instructions.skip_spelling)
    if not instructions.skip_spelling:
        edits += _spelling_edits(text)
    if not instructions.skip_clarity:
        edits += _wordy_edits(text)
    if instructions.skip_quotes:
        spans = _quoted_spans(text)
        edits = [e for e in edits if not _inside(spans, e.start, e.end)]
    if do_not_repeat:
        edits = [e for e in edits if (e.original, e.replacement) not in do_not_repeat]
    return resolve_overlaps(edits)


# ---------------------------------------------------------------- critiques

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


def find_critiques(text: str) -> list[dict]:
    critiques = []
    for start, end in split_sentences(text):
        sentence = text[start:end]
        words = len(_WORD.findall(sentence))
        if words > LONG_SENTENCE_WORDS:
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
    critiques.sort(key=lambda c: (c["start"], c["category"]))
    return critiques


# ---------------------------------------------------------------- answering prompts

def _context(text: str, start: int, end: int) -> tuple[str, str]:
    return text[max(0, start - CONTEXT_CHARS):start], text[end:end + CONTEXT_CHARS]


def _json_section(sections: dict[str, str], name: str) -> list:
    try:
        value = json.loads(sections.get(name) or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def answer_critique(sections: dict[str, str]) -> dict:
    return {"critiques": find_critiques(sections.get("document", ""))}


def answer_propose(sections: dict[str, str]) -> dict:
    text = sections.get("document", "")
    guidelines = [g for g in _json_section(sections, "guidelines") if isinstance(g, str)]
    instructions = Instructions.from_text(" . ".join(guidelines + [sections.get("feedback", "")]))
    rejected = {
        (d.get("original"), d.get("replacement"))
        for d in _json_section(sections, "do_not_repeat") if isinstance(d, dict)
    }
    edits = []
    for e in find_edits(text, instructions, rejected):
        before, after = _context(text, e.start, e.end)
        edits.append({
            "original": e.original, "replacement": e.replacement, "start": e.start,
            "context_before": before, "context_after": after,
            "intent": e.intent, "rationale": e.rationale, "confidence": e.confidence,
        })
    return {"edits": edits}


def answer_verify(sections: dict[str, str]) -> dict:
    text = sections.get("document", "")
    # What the rules would propose with no instruction applied: their confidence is the score.
    supported = {(e.original, e.replacement): e for e in find_edits(text)}
    scores = []
    for position, cand in enumerate(_json_section(sections, "edits")):
        if not isinstance(cand, dict):
            continue
        index = cand.get("index", position)
        original, replacement = cand.get("original"), cand.get("replacement")
        if not isinstance(original, str) or not isinstance(replacement, str) or not original:
            scores.append({"index": index, "score": 0.0, "reason": "The candidate has no usable original text."})
        elif original not in text:
            scores.append({"index": index, "score": 0.0, "reason": "The original text does not occur in the document."})
        elif original == replacement:
            scores.append({"index": index, "score": 0.0, "reason": "The edit changes nothing."})
        elif (original, replacement) in supported:
            rule = supported[(original, replacement)]
            scores.append({"index": index, "score": rule.confidence,
                           "reason": f"Supported by the {rule.rule} rule."})
        else:
            scores.append({"index": index, "score": 0.5,
                           "reason": "No rule of the offline reviser supports or contradicts this edit."})
    return {"scores": scores}


_ANSWERS = {"critique": answer_critique, "propose": answer_propose, "verify": answer_verify}


def respond(messages: list[dict]) -> str:
    """The reviser's JSON answer to a prompt built by app.llm.prompts."""
    task, sections = read_prompt(messages)
    if task not in _ANSWERS:
        return json.dumps({"error": f"The offline reviser does not know the task {task!r}."})
    return json.dumps(_ANSWERS[task](sections), ensure_ascii=False)


def _count_tokens(s: str) -> int:
    # Deterministic rough estimate (about four characters per token) so usage is never zero.
    return max(1, (len(s) + 3) // 4)


# ---------------------------------------------------------------- litellm registration

_registered = False
_register_lock = threading.Lock()


def ensure_registered() -> None:
    """Register the `emend` provider with litellm once per process (imports litellm)."""
    global _registered
    if _registered:
        return
    with _register_lock:
        if _registered:
            return
        import litellm

        handler = _make_handler(litellm)
        providers = [p for p in (litellm.custom_provider_map or []) if p.get("provider") != PROVIDER]
        litellm.custom_provider_map = providers + [{"provider": PROVIDER, "custom_handler": handler}]
        # litellm builds its provider list from custom_provider_map only when this runs.
        from litellm.utils import custom_llm_setup

        custom_llm_setup()
        _registered = True


def _make_handler(litellm):
    class OfflineReviser(litellm.CustomLLM):
        def completion(self, model, messages, *args, **kwargs):
            content = respond(messages)
            prompt = "".join(str(m.get("content") or "") for m in messages)
            tokens_in, tokens_out = _count_tokens(prompt), _count_tokens(content)
            return litellm.ModelResponse(
                model=MODEL,
                choices=[{"index": 0, "finish_reason": "stop",
                          "message": {"role": "assistant", "content": content}}],
                usage={"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                       "total_tokens": tokens_in + tokens_out},
            )

        async def acompletion(self, model, messages, *args, **kwargs):
            return self.completion(model, messages, *args, **kwargs)

    return OfflineReviser()
