"""The shadow user against people: its pre-decisions compared with the person's final decision.

Counted on edits the shadow user predicted (predicted_status) and a person then decided
(decision_source "human"): accuracy (same decision) and Cohen's κ over accepted / modified /
rejected, overall and by intent.
"""
from __future__ import annotations

import math
import warnings
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import access
from app.models import Edit, Run, User

DECISIONS = ("accepted", "modified", "rejected")


def _kappa(predicted: list[str], final: list[str]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if len(predicted) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(cohen_kappa_score(predicted, final, labels=list(DECISIONS)))
    return None if math.isnan(value) else round(value, 4)  # nan: one decision only


def _summary(pairs: list[tuple[str, str]]) -> dict:
    n = len(pairs)
    agree = sum(1 for p, f in pairs if p == f)
    return {"n": n, "agree": agree, "accuracy": agree / n if n else None,
            "kappa": _kappa([p for p, _ in pairs], [f for _, f in pairs])}


def shadow_agreement(session: Session, *, user: User, project_id: int) -> dict:
    access.require_project(session, user, project_id)
    rows = session.execute(
        select(Edit.intent, Edit.predicted_status, Edit.status).join(Run, Run.id == Edit.run_id)
        .where(Run.project_id == project_id, Edit.predicted_status.in_(DECISIONS), Edit.decision_source == "human",
               Edit.status.in_(DECISIONS)).execution_options(yield_per=2000))
    by_intent: dict[str, list] = defaultdict(list)
    everything: list = []
    for intent, predicted, final in rows:
        by_intent[intent].append((predicted, final))
        everything.append((predicted, final))
    return {"overall": _summary(everything),
            "by_intent": {k: _summary(v) for k, v in sorted(by_intent.items(), key=lambda kv: -len(kv[1]))}}
