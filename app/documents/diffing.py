"""A near-linear, paragraph-anchored diff of two versions (difflib's SequenceMatcher is quadratic).

Lines (paragraphs) are aligned first: common prefix and suffix, then lines that occur once in
each text anchor the alignment (patience diff: longest increasing subsequence, n log n), and the
gaps between anchors are aligned exactly when they are small, else paired in order with a short
look-ahead. Only the lines that changed are then diffed word by word, the same way. Every exact
(quadratic) comparison is bounded by BOUND work per unit compared, so the whole diff does work
linear in the size of the texts; `Alignment.work` counts it (the tests check the bound).
"""
from __future__ import annotations

import bisect
import difflib
import re
from collections import Counter
from dataclasses import dataclass, field

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)
_WORD = re.compile(r"\w+", re.UNICODE)

# A gap of la x lb units is compared exactly only when la * lb <= BOUND * (la + lb).
BOUND = 64
LOOKAHEAD = 3
# Lines compared word by word when paired; a pair less alike than this is shown as replaced whole.
SIMILAR = 0.3

Opcode = tuple[str, int, int, int, int]


@dataclass
class Alignment:
    work: int = 0  # units touched by exact comparisons plus the linear passes
    exact_gaps: int = 0
    paired_gaps: int = 0
    ops: list[Opcode] = field(default_factory=list)


def _lis(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longest run of pairs increasing in both coordinates (pairs are sorted by the first)."""
    tails: list[int] = []
    tail_index: list[int] = []
    parent = [-1] * len(pairs)
    for n, (_i, j) in enumerate(pairs):
        k = bisect.bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            tail_index.append(n)
        else:
            tails[k] = j
            tail_index[k] = n
        parent[n] = tail_index[k - 1] if k else -1
    out = []
    n = tail_index[-1] if tail_index else -1
    while n != -1:
        out.append(pairs[n])
        n = parent[n]
    return out[::-1]


def _similar(a: str, b: str) -> float:
    wa, wb = set(_WORD.findall(a)), set(_WORD.findall(b))
    if not wa and not wb:
        return 1.0 if a.strip() == b.strip() else 0.0
    return len(wa & wb) / len(wa | wb)


def align(a: list[str], b: list[str], *, pair_similar: bool = False, stats: Alignment | None = None) -> Alignment:
    """Opcodes (tag, i1, i2, j1, j2) like SequenceMatcher.get_opcodes, in near-linear time."""
    stats = stats or Alignment()
    ops = stats.ops
    la, lb = len(a), len(b)
    stats.work += la + lb
    pre = 0
    while pre < la and pre < lb and a[pre] == b[pre]:
        pre += 1
    suf = 0
    while suf < la - pre and suf < lb - pre and a[la - 1 - suf] == b[lb - 1 - suf]:
        suf += 1
    if pre:
        ops.append(("equal", 0, pre, 0, pre))
    _middle(a, b, pre, la - suf, pre, lb - suf, pair_similar, stats)
    if suf:
        ops.append(("equal", la - suf, la, lb - suf, lb))
    stats.ops = _merge(ops)
    return stats


def _middle(a, b, i1, i2, j1, j2, pair_similar, stats) -> None:
    if i1 == i2 and j1 == j2:
        return
    count_a = Counter(a[i1:i2])
    count_b = Counter(b[j1:j2])
    where_b = {}
    for j in range(j1, j2):
        if count_b[b[j]] == 1:
            where_b[b[j]] = j
    pairs = [(i, where_b[a[i]]) for i in range(i1, i2) if count_a[a[i]] == 1 and a[i] in where_b]
    stats.work += (i2 - i1) + (j2 - j1)
    anchors = _lis(pairs)
    ci, cj = i1, j1
    for ai, bj in anchors:
        _gap(a, b, ci, ai, cj, bj, pair_similar, stats)
        stats.ops.append(("equal", ai, ai + 1, bj, bj + 1))
        ci, cj = ai + 1, bj + 1
    _gap(a, b, ci, i2, cj, j2, pair_similar, stats)


def _gap(a, b, i1, i2, j1, j2, pair_similar, stats) -> None:
    pre = 0
    while i1 + pre < i2 and j1 + pre < j2 and a[i1 + pre] == b[j1 + pre]:
        pre += 1
    if pre:
        stats.ops.append(("equal", i1, i1 + pre, j1, j1 + pre))
        i1, j1 = i1 + pre, j1 + pre
    suf = 0
    while i1 < i2 - suf and j1 < j2 - suf and a[i2 - 1 - suf] == b[j2 - 1 - suf]:
        suf += 1
    if suf:
        _gap_core(a, b, i1, i2 - suf, j1, j2 - suf, pair_similar, stats)
        stats.ops.append(("equal", i2 - suf, i2, j2 - suf, j2))
        return
    _gap_core(a, b, i1, i2, j1, j2, pair_similar, stats)


def _gap_core(a, b, i1, i2, j1, j2, pair_similar, stats) -> None:
    la, lb = i2 - i1, j2 - j1
    if not la and not lb:
        return
    if not la:
        stats.ops.append(("insert", i1, i1, j1, j2))
        return
    if not lb:
        stats.ops.append(("delete", i1, i2, j1, j1))
        return
    if la == 1 or lb == 1:  # the common case, without SequenceMatcher's set-up cost
        stats.work += la + lb
        one, many, many_start = (a[i1], b, j1) if la == 1 else (b[j1], a, i1)
        span = j2 - j1 if la == 1 else i2 - i1
        k = next((n for n in range(span) if many[many_start + n] == one), None)
        if k is None:
            stats.ops.append(("replace", i1, i2, j1, j2))
        elif la == 1:
            stats.ops.extend((("insert", i1, i1, j1, j1 + k), ("equal", i1, i2, j1 + k, j1 + k + 1),
                              ("insert", i2, i2, j1 + k + 1, j2)))
        else:
            stats.ops.extend((("delete", i1, i1 + k, j1, j1), ("equal", i1 + k, i1 + k + 1, j1, j2),
                              ("delete", i1 + k + 1, i2, j2, j2)))
        return
    if la * lb <= BOUND * (la + lb):
        stats.exact_gaps += 1
        stats.work += la * lb
        matcher = difflib.SequenceMatcher(None, a[i1:i2], b[j1:j2], autojunk=False)
        for tag, x1, x2, y1, y2 in matcher.get_opcodes():
            stats.ops.append((tag, i1 + x1, i1 + x2, j1 + y1, j1 + y2))
        return
    stats.paired_gaps += 1
    if not pair_similar:
        stats.ops.append(("replace", i1, i2, j1, j2))
        return
    # Too big to compare exactly: walk both in order, pairing alike lines, with a short look-ahead
    # for a line inserted or deleted.
    i, j = i1, j1
    while i < i2 and j < j2:
        stats.work += 1
        if a[i] == b[j]:
            stats.ops.append(("equal", i, i + 1, j, j + 1))
            i, j = i + 1, j + 1
            continue
        if _similar(a[i], b[j]) >= SIMILAR:
            stats.ops.append(("replace", i, i + 1, j, j + 1))
            i, j = i + 1, j + 1
            continue
        ahead_b = next((k for k in range(j + 1, min(j2, j + 1 + LOOKAHEAD)) if _similar(a[i], b[k]) >= SIMILAR), None)
        ahead_a = next((k for k in range(i + 1, min(i2, i + 1 + LOOKAHEAD)) if _similar(a[k], b[j]) >= SIMILAR), None)
        if ahead_b is not None and (ahead_a is None or ahead_b - j <= ahead_a - i):
            stats.ops.append(("insert", i, i, j, ahead_b))
            j = ahead_b
        elif ahead_a is not None:
            stats.ops.append(("delete", i, ahead_a, j, j))
            i = ahead_a
        else:
            stats.ops.append(("replace", i, i + 1, j, j + 1))
            i, j = i + 1, j + 1
    if i < i2:
        stats.ops.append(("delete", i, i2, j, j))
    if j < j2:
        stats.ops.append(("insert", i, i, j, j2))


def _merge(ops: list[Opcode]) -> list[Opcode]:
    """Adjacent opcodes of one kind joined; delete next to insert joined into replace."""
    out: list[list] = []
    for tag, i1, i2, j1, j2 in ops:
        if i1 == i2 and j1 == j2:
            continue
        if out:
            last = out[-1]
            if last[0] == tag and last[2] == i1 and last[4] == j1:
                last[2], last[4] = i2, j2
                continue
            if tag != "equal" and last[0] != "equal" and last[2] == i1 and last[4] == j1:
                last[0], last[2], last[4] = "replace", i2, j2
                continue
        out.append([tag, i1, i2, j1, j2])
    return [tuple(o) for o in out]


@dataclass
class TextDiff:
    ops: list[tuple[str, str, str]]  # (tag, a_piece, b_piece), tag equal / delete / insert / replace
    unified: list[str]
    insertions: int
    deletions: int
    method: str  # "paragraph-anchored"
    work: int  # units compared (near-linear in the texts' size)


# A changed sentence run keeping less than this share of its characters is shown as rewritten.
REWRITE_SHARE = 0.4
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _sentences(text: str) -> list[str]:
    """The text cut after each sentence's closing punctuation and the spaces after it."""
    out, cursor = [], 0
    for match in _SENTENCE_END.finditer(text):
        out.append(text[cursor:match.end()])
        cursor = match.end()
    if cursor < len(text):
        out.append(text[cursor:])
    return out


def _common_tail_space(a: str, b: str) -> tuple[str, str, str]:
    """(a, b) without the whitespace both end with, and that whitespace."""
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n] and a[-1 - n].isspace():
        n += 1
    return a[:len(a) - n], b[:len(b) - n], a[len(a) - n:]


def _words(text: str) -> int:
    return sum(1 for t in _TOKEN.findall(text) if not t.isspace())


def diff_texts(a_text: str, b_text: str, *, a_label: str = "a", b_label: str = "b", context: int = 3) -> TextDiff:
    a_lines, b_lines = a_text.splitlines(keepends=True), b_text.splitlines(keepends=True)
    lines = align(a_lines, b_lines, pair_similar=True)
    work = lines.work
    pieces: list[tuple[str, str, str]] = []
    insertions = deletions = 0

    def push(tag: str, old: str, new: str) -> None:
        if not old and not new:
            return
        if pieces and pieces[-1][0] == tag == "equal":
            pieces[-1] = ("equal", pieces[-1][1] + old, pieces[-1][2] + new)
        else:
            pieces.append((tag, old, new))

    for tag, i1, i2, j1, j2 in lines.ops:
        old, new = "".join(a_lines[i1:i2]), "".join(b_lines[j1:j2])
        if tag == "equal":
            push("equal", old, new)
            continue
        if tag != "replace":
            push(tag, old, new)
            insertions, deletions = insertions + _words(new), deletions + _words(old)
            continue
        # A changed paragraph: its sentences aligned, then the changed sentences word by word.
        a_sent, b_sent = _sentences(old), _sentences(new)
        sentences = align(a_sent, b_sent, pair_similar=True)
        work += sentences.work
        for stag, s1, s2, t1, t2 in sentences.ops:
            s_old, s_new = "".join(a_sent[s1:s2]), "".join(b_sent[t1:t2])
            if stag != "replace":
                push(stag, s_old, s_new)
                if stag != "equal":
                    insertions, deletions = insertions + _words(s_new), deletions + _words(s_old)
                continue
            a_tok, b_tok = _TOKEN.findall(s_old), _TOKEN.findall(s_new)
            words = align(a_tok, b_tok)
            work += words.work
            kept = sum(len(t) for wtag, x1, x2, _y1, _y2 in words.ops if wtag == "equal" for t in a_tok[x1:x2])
            if kept < REWRITE_SHARE * max(len(s_old), len(s_new)):
                # Rewritten rather than edited: one deletion and one insertion read better than
                # the new words threaded through the old ones at every shared "the".
                core_old, core_new, tail = _common_tail_space(s_old, s_new)
                push("replace", core_old, core_new)
                push("equal", tail, tail)
                insertions, deletions = insertions + _words(s_new), deletions + _words(s_old)
                continue
            for wtag, x1, x2, y1, y2 in words.ops:
                wa, wb = a_tok[x1:x2], b_tok[y1:y2]
                push(wtag, "".join(wa), "".join(wb))
                if wtag != "equal":
                    deletions += sum(1 for t in wa if not t.isspace())
                    insertions += sum(1 for t in wb if not t.isspace())
    unified = _unified(a_lines, b_lines, lines.ops, a_label, b_label, context)
    return TextDiff(ops=pieces, unified=unified, insertions=insertions, deletions=deletions,
                    method="paragraph-anchored", work=work)


def window(ops: list[tuple[str, str, str]], start: int, budget: int) -> tuple[int, int | None]:
    """The ops from `start` whose text adds up to about `budget` characters: (end, next start or
    None at the end), so a long diff is drawn a window at a time."""
    size, end = 0, max(0, start)
    while end < len(ops) and (size < budget or end == start):
        tag, old, new = ops[end]
        # A folded unchanged stretch shows only its two ends (see documents/_diff_window.html).
        size += min(len(old), 800) if tag == "equal" else len(old) + len(new)
        end += 1
    return end, (end if end < len(ops) else None)


def _unified(a_lines, b_lines, ops, a_label, b_label, context) -> list[str]:
    """A unified diff from the line opcodes (difflib.unified_diff would align the lines again)."""
    if all(op[0] == "equal" for op in ops):
        return []
    out = [f"--- {a_label}", f"+++ {b_label}"]
    # Group the opcodes into hunks the way difflib.SequenceMatcher.get_grouped_opcodes does.
    groups: list[list[Opcode]] = []
    group: list[Opcode] = []
    codes = list(ops) or [("equal", 0, 1, 0, 1)]
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = (tag, max(i1, i2 - context), i2, max(j1, j2 - context), j2)
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = (tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context))
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * context:
            group.append((tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)))
            groups.append(group)
            group = []
            i1, j1 = max(i1, i2 - context), max(j1, j2 - context)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        groups.append(group)
    for group in groups:
        first, last = group[0], group[-1]
        a_start, a_len = first[1], last[2] - first[1]
        b_start, b_len = first[3], last[4] - first[3]
        out.append(f"@@ -{_range(a_start, a_len)} +{_range(b_start, b_len)} @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(" " + line.rstrip("\n") for line in a_lines[i1:i2])
                continue
            out.extend("-" + line.rstrip("\n") for line in a_lines[i1:i2])
            out.extend("+" + line.rstrip("\n") for line in b_lines[j1:j2])
    return out


def _range(start: int, length: int) -> str:
    beginning = start + 1 if length else start
    return str(beginning) if length == 1 else f"{beginning},{length}"
