"""Turn a model's raw answer into clean critiques, edits and scores.

Models wrap JSON in code fences or prose, leave trailing commas, and quote wrong offsets.
This module repairs what is simple to repair, re-anchors every passage on the document
text itself, and raises ParseError with a message fit for the run page when nothing
usable is left.
"""
from __future__ import annotations

import bisect
import json
import math
import re
from dataclasses import dataclass, field

INTENTS = ("fluency", "clarity", "coherence", "style", "meaning-changed", "other")
SEVERITIES = ("low", "medium", "high")
DEFAULT_CONFIDENCE = 0.5

# Words models use instead of the contract's intents.
_INTENT_ALIASES = {
    "grammar": "fluency", "spelling": "fluency", "punctuation": "fluency", "typo": "fluency",
    "wordiness": "clarity", "concision": "clarity", "conciseness": "clarity", "readability": "clarity",
    "tone": "style", "word choice": "style", "meaning": "meaning-changed", "meaning_changed": "meaning-changed",
}
_CONFIDENCE_WORDS = {"low": 0.3, "medium": 0.6, "high": 0.9}
_SEVERITY_ALIASES = {"minor": "low", "moderate": "medium", "major": "high", "critical": "high", "severe": "high"}


class ParseError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class ParsedEdits:
    edits: list[dict] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)


class SpanSet:
    """Non-overlapping half-open [start, end) spans with O(log n) overlap checks; a document can
    carry thousands of candidate edits."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def overlapping(self, start: int, end: int) -> int | None:
        """Index (in start order) of a kept span overlapping [start, end), else None."""
        i = bisect.bisect_right(self._starts, start)
        if i > 0 and self._ends[i - 1] > start:
            return i - 1
        if i < len(self._starts) and self._starts[i] < end:
            return i
        return None

    def start_at(self, index: int) -> int:
        return self._starts[index]

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_right(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)


# ---------------------------------------------------------------- JSON extraction

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)


def _balanced_span(s: str, start: int) -> int | None:
    """End index (exclusive) of the JSON value opening at s[start], ignoring brackets in strings."""
    depth = 0
    quote = None
    escaped = False
    for i in range(start, len(s)):
        ch = s[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            # A single quote only opens a string where a JSON token could start, not in "don't".
            if ch == '"' or (s[i - 1:i].strip() in ("", "{", "[", ",", ":")):
                quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _repair(s: str) -> str:
    s = re.sub(r",\s*([}\]])", r"\1", s)  # trailing commas
    s = re.sub(r"(?<=[{,\s])'([^'\"\\\n]*)'\s*:", r'"\1":', s)  # 'key':
    s = re.sub(r":\s*'([^'\"\\\n]*)'(?=\s*[,}\]])", r': "\1"', s)  # : 'simple value'
    s = re.sub(r"(?<=[:\[,\s])(True|False|None)(?=\s*[,}\]])",
               lambda m: {"True": "true", "False": "false", "None": "null"}[m.group(1)], s)
    return s


def _candidates(raw: str) -> list[str]:
    texts = [m.group(1) for m in _FENCE.finditer(raw)] + [raw]
    out = []
    for t in texts:
        t = t.strip()
        out.append(t)
        for i, ch in enumerate(t):
            if ch in "{[":
                end = _balanced_span(t, i)
                if end is not None:
                    out.append(t[i:end])
                break
    return out


def load_json(raw: str):
    """The JSON value in a model answer, tolerating fences, surrounding prose and simple damage."""
    if raw is None or not raw.strip():
        raise ParseError("The model returned an empty answer.")
    candidates = _candidates(raw)
    for text in candidates:
        try:
            return json.loads(text)
        except ValueError:
            pass
    for text in candidates:
        try:
            return json.loads(_repair(text))
        except ValueError:
            pass
    preview = " ".join(raw.split())[:120]
    raise ParseError(f"The model's answer is not valid JSON: {preview!r}")


def _items(data, key: str, item_keys: tuple[str, ...]) -> list:
    """The list of items from a top-level list, {key: [...]}, a lone item, or a dict with one list."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if isinstance(data.get(key), list):
            return data[key]
        if any(k in data for k in item_keys):
            return [data]
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    raise ParseError(f"The model's answer has no list of {key}.")


# ---------------------------------------------------------------- anchoring

def _common_suffix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(reversed(a), reversed(b)):
        if x != y:
            break
        n += 1
    return n


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def anchor(text: str, passage: str, start=None, before: str = "", after: str = "") -> int | None:
    """Start offset of passage in text: the claimed start if it is right, else the occurrence
    whose surroundings best match the given context, ties broken by distance to the claimed
    start, then document order. None when the passage does not occur."""
    if not passage:
        return None
    claimed = _as_int(start)
    if claimed is not None and text.startswith(passage, claimed) and claimed >= 0:
        return claimed
    best_key, best = None, None
    pos = text.find(passage)
    while pos != -1:
        context = 0
        if before:
            context += _common_suffix(text[max(0, pos - len(before)):pos], before)
        if after:
            end = pos + len(passage)
            context += _common_prefix(text[end:end + len(after)], after)
        distance = abs(pos - claimed) if claimed is not None else 0
        key = (-context, distance, pos)
        if best_key is None or key < best_key:
            best_key, best = key, pos
        pos = text.find(passage, pos + 1)
    return best


# ---------------------------------------------------------------- field normalisation

def _intent(value) -> str:
    if not isinstance(value, str):
        return "other"
    v = value.strip().lower()
    if v in INTENTS:
        return v
    return _INTENT_ALIASES.get(v, "other")


def _confidence(value) -> float:
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _CONFIDENCE_WORDS:
            return _CONFIDENCE_WORDS[v]
        try:
            value = float(v.rstrip("%")) / (100 if v.endswith("%") else 1)
        except ValueError:
            return DEFAULT_CONFIDENCE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return DEFAULT_CONFIDENCE
    if value > 1 and value <= 100:  # a percentage
        value = value / 100
    return min(1.0, max(0.0, float(value)))


def _severity(value) -> str:
    if not isinstance(value, str):
        return "medium"
    v = value.strip().lower()
    return v if v in SEVERITIES else _SEVERITY_ALIASES.get(v, "medium")


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


# ---------------------------------------------------------------- public parsers

def parse_edits(raw: str, text: str) -> ParsedEdits:
    """Edits anchored on text, non-overlapping, in document order; dropped ones with a reason."""
    items = _items(load_json(raw), "edits", ("original", "replacement"))
    result = ParsedEdits()
    candidates = []
    structural_drops = 0
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            result.dropped.append({"item": item, "reason": "not an object"})
            structural_drops += 1
            continue
        original, replacement = item.get("original"), item.get("replacement")
        if not isinstance(original, str) or not isinstance(replacement, str):
            result.dropped.append({**_summary(item), "reason": "original or replacement missing"})
            structural_drops += 1
            continue
        if original == replacement:
            result.dropped.append({**_summary(item), "reason": "no-op: replacement equals original"})
            continue
        start = anchor(text, original, item.get("start"),
                       _text_raw(item.get("context_before")), _text_raw(item.get("context_after")))
        if start is None:
            reason = "empty original" if not original else "original not found in the document"
            result.dropped.append({**_summary(item), "reason": reason})
            continue
        candidates.append((position, {
            "start": start,
            "end": start + len(original),
            "original": original,
            "replacement": replacement,
            "intent": _intent(item.get("intent")),
            "rationale": _text(item.get("rationale")),
            "confidence": _confidence(item.get("confidence", DEFAULT_CONFIDENCE)),
        }))
    if items and structural_drops == len(items):
        raise ParseError("The model's answer has no usable edits (each needs original and replacement).")
    kept: list[dict] = []
    spans = SpanSet()
    by_start: dict[int, dict] = {}
    for _position, edit in sorted(candidates, key=lambda c: (-c[1]["confidence"], c[1]["start"], c[0])):
        hit = spans.overlapping(edit["start"], edit["end"])
        if hit is None:
            spans.add(edit["start"], edit["end"])
            by_start[edit["start"]] = edit
            kept.append(edit)
        else:
            clash = by_start[spans.start_at(hit)]
            same = (clash["start"], clash["original"], clash["replacement"]) == (
                edit["start"], edit["original"], edit["replacement"])
            result.dropped.append({**_summary(edit), "start": edit["start"],
                                   "reason": "duplicate" if same else "overlaps a higher-confidence edit"})
    result.edits = sorted(kept, key=lambda e: e["start"])
    return result


def _text_raw(value) -> str:
    return value if isinstance(value, str) else ""


def _summary(item: dict) -> dict:
    return {k: item[k] for k in ("original", "replacement") if k in item}


def parse_critiques(raw: str, text: str) -> list[dict]:
    """Critiques with segment, start, end, category, severity, text, in document order.

    A critique whose segment is not in the document is kept with start/end None: the comment
    still applies to the document as a whole."""
    items = _items(load_json(raw), "critiques", ("text", "segment", "critique"))
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        body = _text(item.get("text") or item.get("critique") or item.get("comment") or item.get("message"))
        if not body:
            continue
        segment = _text_raw(item.get("segment") or item.get("quote") or "")
        start = anchor(text, segment, item.get("start")) if segment else None
        if start is None and segment.strip() and segment.strip() != segment:
            segment = segment.strip()
            start = anchor(text, segment, item.get("start"))
        out.append({
            "segment": segment,
            "start": start,
            "end": start + len(segment) if start is not None else None,
            "category": (_text(item.get("category")).lower() or "general")[:64],
            "severity": _severity(item.get("severity")),
            "text": body,
        })
    if items and not out:
        raise ParseError("The model's answer has no usable critiques (each needs a text).")
    out.sort(key=lambda c: (c["start"] is None, c["start"] or 0))
    return out


def parse_scores(raw: str, n: int) -> list[float | None]:
    """One score per candidate edit (None where the model gave none), clamped to 0..1."""
    items = _items(load_json(raw), "scores", ("index", "score"))
    scores: list[float | None] = [None] * n
    usable = 0
    for position, item in enumerate(items):
        if isinstance(item, dict):
            index = _as_int(item.get("index", position))
            value = item.get("score")
        else:
            index, value = position, item
        if index is None or not 0 <= index < n:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                continue
        if math.isnan(value):
            continue
        scores[index] = min(1.0, max(0.0, float(value)))
        usable += 1
    if items and not usable and n:
        raise ParseError("The model's answer has no usable scores.")
    return scores
