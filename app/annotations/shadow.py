"""Shadow user: predict the writer's decision on each new edit and pre-fill it as AI feedback.

The prediction uses the writer's guidelines first (a guideline such as "ignore spelling" or
"don't touch the quotes" decides edits it is about), then their past decisions per intent:
the acceptance rate of that intent, shrunk towards their overall rate (a Beta prior) so a
few decisions do not swing it. A person's later decision (decision_source="human") replaces
the pre-filled status; predicted_status/predicted_confidence and both events stay.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.events import service as events
from app.models import Document, Edit, Guideline, Run

# Pseudo-decisions of the prior: the overall rate starts at 1/2 with weight 2 (Laplace), and
# each intent's rate starts at the overall rate with weight PRIOR_WEIGHT.
PRIOR_WEIGHT = 4.0
GUIDELINE_CONFIDENCE = 0.9

_NEGATIVE = re.compile(r"\b(ignore|don'?t|do not|never|leave|keep|skip|avoid|no need)\b")
_POSITIVE = re.compile(r"\b(always|fix|correct)\b")
_QUOTES = "\"“”«»"


def _words_only(s: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z'’-]+", s.strip()))


def _strip_punct(s: str) -> str:
    return re.sub(r"[^\w\s]", "", s)


def _in_quotes(text: str, start: int, end: int) -> bool:
    before = text[:start]
    opened = sum(before.count(q) for q in "\"") % 2 == 1 or before.count("“") > before.count("”")
    return opened or any(q in text[start:end] for q in _QUOTES)


# Topic → does this edit touch it? (edit, version text)
_TOPICS = {
    "spelling": (r"\bspell", lambda e, t: e.intent == "fluency" and _words_only(e.original)
                 and _words_only(e.replacement) and e.original.lower() != e.replacement.lower()),
    "typos": (r"\btypos?\b", lambda e, t: e.intent == "fluency" and _words_only(e.original) and _words_only(e.replacement)),
    "punctuation": (r"\bpunctuation|\bcommas?\b", lambda e, t: e.original != e.replacement
                    and _strip_punct(e.original).split() == _strip_punct(e.replacement).split()),
    "capitalisation": (r"\bcapitali[sz]|\bcapitals?\b|\bcase\b",
                       lambda e, t: e.original != e.replacement and e.original.lower() == e.replacement.lower()),
    "quotes": (r"\bquot", lambda e, t: _in_quotes(t, e.start, e.end)),
    "fluency": (r"\bfluency|\bgrammar", lambda e, t: e.intent == "fluency"),
    "clarity": (r"\bclarity|\bwordy|\bwordiness|\bconcise", lambda e, t: e.intent == "clarity"),
    "coherence": (r"\bcoherence", lambda e, t: e.intent == "coherence"),
    "style": (r"\bstyle|\btone\b|\bvoice\b|\bregister\b", lambda e, t: e.intent == "style"),
    "meaning": (r"\bmeaning|\bcontent\b", lambda e, t: e.intent == "meaning-changed"),
}


@dataclass(frozen=True)
class Rule:
    accept: bool
    topic: str
    text: str


def guideline_rules(texts: list[str]) -> list[Rule]:
    """Rules read from guideline sentences: a negative verb ("ignore", "don't touch") rejects,
    "always fix" accepts, for the topics the sentence names."""
    rules = []
    for text in texts:
        for sentence in re.split(r"[\n.;!]+", text):
            lowered = sentence.strip().lower()
            if not lowered:
                continue
            negative = bool(_NEGATIVE.search(lowered))
            if not negative and not _POSITIVE.search(lowered):
                continue
            for topic, (pattern, _match) in _TOPICS.items():
                if re.search(pattern, lowered):
                    rules.append(Rule(accept=not negative, topic=topic, text=sentence.strip()))
    return rules


@dataclass
class History:
    accepted: dict[str, int]
    total: dict[str, int]

    def rate(self, intent: str) -> float:
        overall = (sum(self.accepted.values()) + 1) / (sum(self.total.values()) + 2)
        return (self.accepted.get(intent, 0) + PRIOR_WEIGHT * overall) / (self.total.get(intent, 0) + PRIOR_WEIGHT)


def writer_history(session: Session, *, project_id: int, writer_id: int) -> History:
    """The writer's own (human) decisions in the project, per intent; modified counts as wanted."""
    rows = session.execute(
        select(Edit.intent, Edit.status, func.count()).join(Run, Run.id == Edit.run_id)
        .join(Document, Document.id == Run.document_id)
        .where(Document.project_id == project_id, Document.owner_id == writer_id, Edit.decision_source == "human",
               Edit.status.in_(("accepted", "modified", "rejected")))
        .group_by(Edit.intent, Edit.status)).all()
    accepted: dict[str, int] = {}
    total: dict[str, int] = {}
    for intent, status, count in rows:
        total[intent] = total.get(intent, 0) + count
        if status != "rejected":
            accepted[intent] = accepted.get(intent, 0) + count
    return History(accepted=accepted, total=total)


def predict(edit: Edit, *, text: str, rules: list[Rule], history: History) -> tuple[str, float, str]:
    """(predicted status, confidence, reason) for one edit."""
    for accept in (False, True):  # a "don't" outranks an "always"
        for rule in rules:
            if rule.accept == accept and _TOPICS[rule.topic][1](edit, text):
                return ("accepted" if accept else "rejected"), GUIDELINE_CONFIDENCE, f"guideline: {rule.text}"
    p = history.rate(edit.intent)
    n = history.total.get(edit.intent, 0)
    status = "accepted" if p >= 0.5 else "rejected"
    return status, round(max(p, 1 - p), 4), f"{edit.intent}: acceptance {p:.0%} over {n} past decision(s)"


def prefill_predictions(session: Session, *, run: Run) -> int:
    """Predict and pre-fill the writer's decision on the run's new pending edits (source=ai).
    Returns how many edits were pre-filled; one `edit.predicted` event per run."""
    document = session.get(Document, run.document_id)
    if not document.project.shadow_user:
        return 0
    edits = list(session.scalars(select(Edit).where(
        Edit.run_id == run.id, Edit.status == "pending", Edit.decision_source.is_(None),
        Edit.predicted_status.is_(None)).order_by(Edit.start)))
    if not edits:
        return 0
    texts = [document.project.guidelines or ""] + list(session.scalars(select(Guideline.text).where(
        Guideline.project_id == document.project_id, Guideline.active.is_(True),
        or_(Guideline.document_id.is_(None), Guideline.document_id == document.id))))
    rules = guideline_rules(texts)
    history = writer_history(session, project_id=document.project_id, writer_id=document.owner_id)
    text = run.version.text
    now = utcnow()
    predictions = []
    for edit in edits:
        status, confidence, reason = predict(edit, text=text, rules=rules, history=history)
        edit.predicted_status = status
        edit.predicted_confidence = confidence
        edit.status = status
        edit.decision_source = "ai"
        edit.decided_by_id = None
        edit.decided_at = now
        predictions.append({"edit_id": edit.id, "status": status, "confidence": confidence, "reason": reason})
    session.flush()
    events.record(session, kind="edit.predicted", subject=run, source="ai", project_id=run.project_id,
                  document_id=run.document_id, data={"predictions": predictions})
    session.flush()
    return len(edits)
