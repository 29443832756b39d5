"""Scoring a candidate's proposals against the logged human decisions (docs/replays.md).

Per logged version: the logged edits that people decided (accepted, modified, rejected) and the
candidate's edits. A candidate edit *matches* a logged edit when both have the same span and
replacement (exact), or — the fuzzy rule — when their spans overlap and applying either to the
version gives the same text (same effect: "Teh"→"The" and "Teh cat"→"The cat"). Each logged edit
matches at most one candidate edit (the first, in text order).

Figures (sums over versions, so a cluster bootstrap over versions gives their intervals):
- match rate: matched candidate edits / candidate edits;
- estimated acceptance: of the matched candidate edits, the share people accepted as proposed;
- accepted share: accepted matches / all candidate edits (unmatched counted as not accepted);
- recall: accepted logged edits the candidate proposed / accepted logged edits;
- rejected rate: candidate edits matching a rejected logged edit / candidate edits;
- IPS and self-normalised IPS (SNIPS) acceptance, weighting each decided logged edit by 1/μ,
  μ = (probability the logged run was assigned its model/prompt) × (probability that an edit at
  its shown position got a decision, estimated from the logged exposure). IPS divides by the
  candidate's edits, SNIPS by the summed weights of the matched edits.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 1000
MIN_PROPENSITY = 0.01
STATS = ("candidate", "matched", "matched_accepted", "matched_rejected", "logged", "logged_accepted",
         "logged_rejected", "recalled", "ips_num", "ips_den", "logged_ips_num", "logged_ips_den")


@dataclass
class Logged:
    id: int
    start: int
    end: int
    replacement: str
    intent: str
    status: str  # accepted / modified / rejected
    mu: float = 1.0


def _apply(text: str, start: int, end: int, replacement: str) -> str:
    return text[:start] + replacement + text[end:]


def match_kind(text: str, c: dict, logged: Logged) -> str | None:
    if (c["start"], c["end"], c["replacement"]) == (logged.start, logged.end, logged.replacement):
        return "exact"
    overlap = c["start"] < logged.end and logged.start < c["end"] or (
        c["start"] == c["end"] == logged.start == logged.end)
    if overlap and _apply(text, c["start"], c["end"], c["replacement"]) == _apply(
            text, logged.start, logged.end, logged.replacement):
        return "effect"
    return None


def match(text: str, candidate: list[dict], logged: list[Logged]) -> list[tuple[dict, Logged | None, str | None]]:
    """Each candidate edit with the logged edit it matches (or None) and how."""
    free = sorted(logged, key=lambda e: (e.start, e.end, e.id))
    out = []
    for c in sorted(candidate, key=lambda e: (e["start"], e["end"])):
        found = None
        for i, e in enumerate(free):
            kind = match_kind(text, c, e)
            if kind:
                found = (e, kind)
                del free[i]
                break
        out.append((c, *(found or (None, None))))
    return out


def version_stats(text: str, candidate: list[dict], logged: list[Logged]) -> dict[str, dict[str, np.ndarray]]:
    """Per group ("all", "intent:<x>", kept apart for candidate and logged intents): the STATS sums."""
    groups: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(STATS)))
    ix = {name: i for i, name in enumerate(STATS)}

    def add(keys, name, value=1.0):
        for key in keys:
            groups[key][ix[name]] += value

    pairs = match(text, candidate, logged)
    matched_ids = {e.id for _c, e, _k in pairs if e is not None}
    for c, e, _kind in pairs:
        keys = ("all", f"intent:{c['intent']}")
        add(keys, "candidate")
        if e is None:
            continue
        add(keys, "matched")
        add(keys, "ips_den", 1.0 / e.mu)
        if e.status == "accepted":
            add(keys, "matched_accepted")
            add(keys, "ips_num", 1.0 / e.mu)
        elif e.status == "rejected":
            add(keys, "matched_rejected")
    for e in logged:
        keys = ("all", f"intent:{e.intent}")
        add(keys, "logged")
        add(keys, "logged_ips_den", 1.0 / e.mu)
        if e.status == "rejected":
            add(keys, "logged_rejected")
        if e.status == "accepted":
            add(keys, "logged_accepted")
            add(keys, "logged_ips_num", 1.0 / e.mu)
            if e.id in matched_ids:
                add(keys, "recalled")
    return dict(groups)


def _div(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def figures(sums: np.ndarray) -> dict[str, np.ndarray]:
    """The figures from STATS sums; `sums` is (..., len(STATS))."""
    g = {name: sums[..., i] for i, name in enumerate(STATS)}
    return {
        "candidate_edits": g["candidate"],
        "match_rate": _div(g["matched"], g["candidate"]),
        "estimated_acceptance": _div(g["matched_accepted"], g["matched"]),
        "accepted_share": _div(g["matched_accepted"], g["candidate"]),
        "recall_accepted": _div(g["recalled"], g["logged_accepted"]),
        "rejected_rate": _div(g["matched_rejected"], g["candidate"]),
        "ips_acceptance": _div(g["ips_num"], g["candidate"]),
        "snips_acceptance": _div(g["ips_num"], g["ips_den"]),
        # The logged model on the same slice: its edits are the logged ones.
        "logged_edits": g["logged"],
        "logged_acceptance": _div(g["logged_accepted"], g["logged"]),
        "logged_rejected_rate": _div(g["logged_rejected"], g["logged"]),
        "logged_snips_acceptance": _div(g["logged_ips_num"], g["logged_ips_den"]),
    }


def _clean(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def summarise(per_version: list[dict[str, np.ndarray]], *, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> dict:
    """Point figures and 95% bootstrap intervals (resampling versions) for every group."""
    keys = sorted({k for v in per_version for k in v})
    n = len(per_version)
    out: dict[str, dict] = {}
    if n == 0:
        return out
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=samples).astype(float)  # (samples, versions)
    zero = np.zeros(len(STATS))
    for key in keys:
        matrix = np.stack([v.get(key, zero) for v in per_version])  # (versions, stats)
        point = figures(matrix.sum(axis=0))
        boot = figures(weights @ matrix)
        entry = {}
        for name, value in point.items():
            if name in ("candidate_edits", "logged_edits"):
                entry[name] = int(value)
                continue
            sample = boot[name][~np.isnan(boot[name])]
            low, high = (np.percentile(sample, [2.5, 97.5]) if sample.size else (np.nan, np.nan))
            entry[name] = {"value": _clean(value), "low": _clean(low), "high": _clean(high)}
        out[key] = entry
    return out
