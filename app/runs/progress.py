"""How far a run has got: chunks done of the total, per stage too (the run page's progress)."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Run, RunChunk, Stage
from app.models.runs import STAGE_NAMES

DONE = ("succeeded", "skipped")


@dataclass
class Progress:
    total: int
    done: int  # chunks through every stage
    by_stage: list[tuple[str, int]] = field(default_factory=list)  # (stage name, chunks done)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 100


def chunk_progress(session: Session, run: Run) -> Progress:
    total = max(1, run.chunk_count or 1)
    whole = {position for position, status in session.execute(
        select(Stage.position, Stage.status).where(Stage.run_id == run.id)) if status in DONE}
    done_units: dict[int, set[int]] = {p: set() for p in range(len(STAGE_NAMES))}
    for position, chunk in session.execute(
            select(RunChunk.position, RunChunk.chunk).where(RunChunk.run_id == run.id, RunChunk.status.in_(DONE))):
        done_units.setdefault(position, set()).add(chunk)
    all_chunks = set(range(total))
    per_stage = [all_chunks if p in whole else done_units[p] for p in range(len(STAGE_NAMES))]
    through = set.intersection(*per_stage) if per_stage else set()
    return Progress(total=total, done=len(through),
                    by_stage=[(name, len(per_stage[p])) for p, name in enumerate(STAGE_NAMES)])
