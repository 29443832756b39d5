"""Prompt / model variants of a project competing for its new runs.

Policy (project.variant_policy): `off`; `fixed` — each active variant gets its traffic share;
`thompson` — Thompson sampling on acceptance: draw each variant's acceptance from its Beta
posterior (1 + accepted, 1 + other decisions) and take the best draw. The assignment and its
probability (for Thompson, estimated from the same posterior by simulation) go into the run's
params (`assignment`) and a `variant.assigned` event, so replays and exports carry propensities.

`assign_run(session, run=...)` is the hook for run start (app/runs/service.py start_run).
"""
from __future__ import annotations

import math

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts import access
from app.errors import Conflict, Invalid
from app.events import service as events
from app.models import Edit, Event, Project, Run, User, Variant
from app.models.replays import VARIANT_POLICIES

MIN_DECISIONS = 20  # per variant, before its acceptance is shown as a result
THOMPSON_DRAWS = 4000


def list_variants(session: Session, *, actor: User, project_id: int) -> list[Variant]:
    access.require_project(session, actor, project_id, roles=("admin",))
    return list(session.scalars(select(Variant).where(Variant.project_id == project_id).order_by(Variant.id)))


def save_variant(session: Session, *, actor: User, project_id: int, name: str, model: str, instructions: str = "",
                 temperature: float = 0.0, share: float = 1.0, active: bool = True) -> Variant:
    project, _role = access.require_project(session, actor, project_id, roles=("admin",))
    name = (name or "").strip()[:64]
    model = (model or "").strip()[:200] or project.model
    if not name:
        raise Invalid("Give the variant a name.")
    if not 0 <= float(temperature) <= 2:
        raise Invalid("Temperature must be between 0 and 2.")
    if float(share) < 0:
        raise Invalid("A traffic share cannot be negative.")
    variant = session.scalar(select(Variant).where(Variant.project_id == project.id, Variant.name == name))
    if variant is None:
        variant = Variant(project_id=project.id, name=name)
        session.add(variant)
    variant.model, variant.instructions = model, (instructions or "").strip()[:4000]
    variant.temperature, variant.share, variant.active = float(temperature), float(share), bool(active)
    session.flush()
    events.record(session, kind="variant.saved", actor=actor, project_id=project.id,
                  data={"variant_id": variant.id, "name": name, "model": model, "share": variant.share,
                        "active": variant.active})
    return variant


def set_policy(session: Session, *, actor: User, project_id: int, policy: str) -> Project:
    project, _role = access.require_project(session, actor, project_id, roles=("admin",))
    if policy not in VARIANT_POLICIES:
        raise Invalid(f"The policy is one of {', '.join(VARIANT_POLICIES)}.")
    if policy != "off" and not session.scalar(select(func.count(Variant.id)).where(
            Variant.project_id == project.id, Variant.active.is_(True), Variant.share > 0)):
        raise Conflict("Add an active variant with a traffic share first.")
    project.variant_policy = policy
    events.record(session, kind="project.updated", actor=actor, subject=project,
                  data={"variant_policy": policy})
    return project


# ------------------------------------------------------------------ outcomes and assignment

def variant_outcomes(session: Session, project_id: int) -> dict[int, dict]:
    """variant id → {"runs", "accepted", "decided"} from people's decisions on the variant's runs."""
    assigned: dict[int, int] = {}
    for run_id, data in session.execute(select(Event.run_id, Event.data).where(
            Event.project_id == project_id, Event.kind == "variant.assigned")):
        if run_id is not None and isinstance(data, dict) and data.get("variant_id") is not None:
            assigned[run_id] = int(data["variant_id"])
    out: dict[int, dict] = {}
    for variant_id in set(assigned.values()):
        out[variant_id] = {"runs": 0, "accepted": 0, "decided": 0}
    for run_id in assigned:
        out[assigned[run_id]]["runs"] += 1
    ids = sorted(assigned)
    for i in range(0, len(ids), 500):
        for run_id, status, count in session.execute(
                select(Edit.run_id, Edit.status, func.count()).where(
                    Edit.run_id.in_(ids[i:i + 500]), Edit.status != "pending", Edit.decision_source == "human")
                .group_by(Edit.run_id, Edit.status)):
            entry = out[assigned[run_id]]
            entry["decided"] += count
            entry["accepted"] += count if status == "accepted" else 0
    return out


def _active(session: Session, project_id: int) -> list[Variant]:
    return list(session.scalars(select(Variant).where(Variant.project_id == project_id, Variant.active.is_(True),
                                                      Variant.share > 0).order_by(Variant.id)))


def choose(session: Session, project: Project, *, rng: np.random.Generator | None = None
           ) -> tuple[Variant, float] | None:
    """(variant, probability it had of being chosen) by the project's policy, or None when off."""
    if project.variant_policy == "off":
        return None
    variants = _active(session, project.id)
    if not variants:
        return None
    rng = rng or np.random.default_rng()
    if project.variant_policy == "fixed":
        shares = np.array([v.share for v in variants], dtype=float)
        p = shares / shares.sum()
        index = int(rng.choice(len(variants), p=p))
        return variants[index], float(p[index])
    outcomes = variant_outcomes(session, project.id)
    a = np.array([1 + outcomes.get(v.id, {}).get("accepted", 0) for v in variants], dtype=float)
    b = np.array([1 + outcomes.get(v.id, {}).get("decided", 0) - outcomes.get(v.id, {}).get("accepted", 0)
                  for v in variants], dtype=float)
    index = int(np.argmax(rng.beta(a, b)))
    # The propensity of this choice under Thompson sampling: P(variant's draw is the largest).
    draws = rng.beta(a[:, None], b[:, None], size=(len(variants), THOMPSON_DRAWS))
    wins = np.bincount(draws.argmax(axis=0), minlength=len(variants)) / THOMPSON_DRAWS
    return variants[index], float(max(wins[index], 1.0 / THOMPSON_DRAWS))


def assign_run(session: Session, *, run: Run, rng: np.random.Generator | None = None) -> Variant | None:
    """Give a new loop run its variant (model, temperature, instructions) and log the assignment."""
    project = session.get(Project, run.project_id)
    chosen = choose(session, project, rng=rng)
    if chosen is None:
        return None
    variant, probability = chosen
    run.model = variant.model
    params = dict(run.params or {})
    params["temperature"] = variant.temperature
    if variant.instructions:
        params["instructions"] = variant.instructions
    params["assignment"] = {"variant_id": variant.id, "name": variant.name, "policy": project.variant_policy,
                            "probability": round(probability, 6)}
    run.params = params
    session.flush()
    events.record(session, kind="variant.assigned", subject=run, source="ai",
                  data={"variant_id": variant.id, "name": variant.name, "policy": project.variant_policy,
                        "probability": probability, "model": variant.model})
    return variant


# ------------------------------------------------------------------ the variants page

def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    if n == 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def variants_report(session: Session, *, actor: User, project_id: int, seed: int = 0) -> dict:
    """Acceptance per variant with 95% intervals, and for each pair the probability that one's
    acceptance is higher (from the Beta posteriors); `enough` is False until every compared variant
    has MIN_DECISIONS decisions."""
    project, _role = access.require_project(session, actor, project_id, roles=("admin",))
    variants = list_variants(session, actor=actor, project_id=project_id)
    outcomes = variant_outcomes(session, project.id)
    rows = []
    for v in variants:
        o = outcomes.get(v.id, {"runs": 0, "accepted": 0, "decided": 0})
        rows.append({"variant": v, "runs": o["runs"], "accepted": o["accepted"], "decided": o["decided"],
                     "acceptance": o["accepted"] / o["decided"] if o["decided"] else None,
                     "interval": _wilson(o["accepted"], o["decided"]), "enough": o["decided"] >= MIN_DECISIONS})
    rng = np.random.default_rng(seed)
    pairs = []
    ready = [r for r in rows if r["enough"]]
    for i, a in enumerate(ready):
        for b in ready[i + 1:]:
            da = rng.beta(1 + a["accepted"], 1 + a["decided"] - a["accepted"], THOMPSON_DRAWS)
            db = rng.beta(1 + b["accepted"], 1 + b["decided"] - b["accepted"], THOMPSON_DRAWS)
            pairs.append({"a": a["variant"].name, "b": b["variant"].name, "p_a_better": float((da > db).mean())})
    return {"project": project, "rows": rows, "pairs": pairs, "min_decisions": MIN_DECISIONS,
            "enough": len(ready) >= 2, "policy": project.variant_policy, "policies": VARIANT_POLICIES}
