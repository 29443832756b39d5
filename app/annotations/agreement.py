"""Inter-annotator agreement: Cohen's κ (scikit-learn) for pairs, Krippendorff's α (ordinal) for any number.

A unit is one labelled step (target kind, target id, step); a coder is an annotator. Only
labels given on the queue's items count (annotations carry the queue item they were made in).
"""
from __future__ import annotations

import math
import warnings
from collections import defaultdict
from itertools import combinations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Annotation, Queue, QueueItem, User

LABELS = [-1, 0, 1]


def _number(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else round(value, 4)


def cohen_kappa(a: list[int], b: list[int]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if len(a) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined κ (one label only) comes back as nan → None
        return _number(cohen_kappa_score(a, b, labels=LABELS))


def krippendorff_alpha(matrix: list[list[float]]) -> float | None:
    """Ordinal α over a coders × units matrix with nan for missing labels."""
    import krippendorff
    import numpy as np

    data = np.array(matrix, dtype=float)
    if data.shape[0] < 2 or data.shape[1] < 1 or not ((~np.isnan(data)).sum(axis=0) >= 2).any():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _number(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal",
                                          value_domain=LABELS))


def compute(labels: list[tuple[int, tuple, int]]) -> dict:
    """Agreement over (coder, unit, label) triples: α for all coders, κ per pair of coders
    (on the units both labelled) and their mean (for two coders, simply their κ)."""
    by_coder: dict[int, dict[tuple, int]] = defaultdict(dict)
    for coder, unit, label in labels:
        by_coder[coder][unit] = label
    coders = sorted(by_coder)
    units = sorted({unit for _c, unit, _l in labels}, key=repr)
    matrix = [[by_coder[c].get(u, math.nan) for u in units] for c in coders]
    pairs = []
    for c1, c2 in combinations(coders, 2):
        shared = sorted(by_coder[c1].keys() & by_coder[c2].keys(), key=repr)
        kappa = cohen_kappa([by_coder[c1][u] for u in shared], [by_coder[c2][u] for u in shared])
        pairs.append({"annotators": [c1, c2], "units": len(shared), "kappa": kappa})
    kappas = [p["kappa"] for p in pairs if p["kappa"] is not None]
    overlapping = sum(1 for u in units if sum(1 for c in coders if u in by_coder[c]) >= 2)
    return {
        "annotators": len(coders),
        "units": len(units),
        "overlapping_units": overlapping,
        "labels": len(labels),
        "kappa": round(sum(kappas) / len(kappas), 4) if kappas else None,
        "alpha": krippendorff_alpha(matrix),
        "pairs": pairs,
    }


def queue_agreement(session: Session, *, queue: Queue) -> dict:
    """Agreement for the queue as a whole and per target kind (run, stage, critique, edit, segment)."""
    rows = session.execute(
        select(Annotation.user_id, Annotation.target_kind, Annotation.target_id, Annotation.step, Annotation.label)
        .join(QueueItem, QueueItem.id == Annotation.queue_item_id)
        .where(QueueItem.queue_id == queue.id, Annotation.label.is_not(None), Annotation.source == "human")).all()
    triples = [(uid, (kind, tid, step), label) for uid, kind, tid, step, label in rows]
    per_kind = {}
    for kind in sorted({t[1][0] for t in triples}):
        per_kind[kind] = compute([t for t in triples if t[1][0] == kind])
    names = {u.id: u.display_name for u in session.scalars(
        select(User).where(User.id.in_({t[0] for t in triples})))} if triples else {}
    return {"queue_id": queue.id, "overall": compute(triples), "by_target_kind": per_kind, "annotator_names": names}
