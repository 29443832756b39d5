"""What each export format contains: its rows (streamed from the database), its Arrow schema and
its field documentation for the dataset card.

Every builder takes the reading session and a `Context` (filters and options) and yields
`(table, row)` pairs; `table` names the file the row goes to ("data", or "exposure" for the
per-edit exposure table of the events export). Queries stream with `yield_per`, ordered so a
builder only keeps the current version's text and sentence spans in memory.

Field names follow what the trainers read: TRL's conversational SFT (`messages`), explicit-prompt
preference (`prompt` / `chosen` / `rejected`), unpaired preference / KTO (`prompt` /
`completion` / `label`), stepwise supervision (`prompt` / `completions` / `labels`), and
OpenAI's supervised and preference fine-tuning files (`messages`; `input` / `preferred_output`
/ `non_preferred_output`).
"""
from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
from sqlalchemy import Integer, and_, column, exists, func, or_, select, text
from sqlalchemy.orm import Session, aliased

from app.models import (
    Annotation,
    Comparison,
    Critique,
    Document,
    Edit,
    Event,
    Feedback,
    Run,
    Version,
)
from app.models.base import UTCDateTime

SCHEMA_VERSION = 1
FORMATS = ("sft", "preference", "unpaired", "stepwise", "critique_refinement", "events")
FLAVOURS = ("trl", "openai")
NEUTRAL_AS = ("false", "true", "drop")
SOURCES = ("human", "ai", "all")
# The preference pairs by where they come from; an export may keep only some (option pair_kinds).
PAIR_KINDS = ("accepted_vs_rejected", "modified_vs_proposed", "comparison", "accepted_vs_original",
              "original_vs_rejected", "human_vs_original", "human_vs_proposed")

SYSTEM_PROMPT = (
    "You are a careful editor of English prose. Revise the text you are given: fix spelling, grammar, "
    "punctuation and spacing, and make wordy passages concise, without changing its meaning. "
    "Answer with the revised text only."
)
CRITIQUE_PROMPT = "Critique this text step by step: point out each problem of one passage at a time."


# --- filters, options and pseudonyms -------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    project_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    source: str = "all"
    model: str | None = None
    max_depth: int | None = None
    person_id: int | None = None


@dataclass(frozen=True)
class Context:
    filters: Filters = field(default_factory=Filters)
    pseudonymise: bool = False
    secret_key: str = ""
    flavour: str = "trl"
    neutral_as: str = "false"
    edit_level: bool = True
    pair_kinds: tuple[str, ...] | None = None  # None: every kind

    def wants(self, pair_kind: str) -> bool:
        return self.pair_kinds is None or pair_kind in self.pair_kinds

    def person(self, user_id: int | None):
        if user_id is None or not self.pseudonymise:
            return user_id
        return pseudonym(user_id, self.secret_key)


def pseudonym(user_id: int, secret_key: str) -> str:
    """A stable pseudonym: HMAC-SHA256 of the user id keyed with the app's secret key."""
    digest = hmac.new(secret_key.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()
    return "u_" + digest[:16]


def hmac_pads(secret_key: str) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104), so PostgreSQL can compute the same pseudonym
    with its built-in sha256() and no extension."""
    key = secret_key.encode()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def scrub_event_data(data: dict, ctx: Context) -> dict:
    """Pseudonymised events keep no e-mail addresses and carry pseudonyms for user ids."""
    if not ctx.pseudonymise or not isinstance(data, dict):
        return data
    clean = {k: v for k, v in data.items() if k != "email"}
    if isinstance(clean.get("user_id"), int):
        clean["user_id"] = ctx.person(clean["user_id"])
    return clean


def _window(column, f: Filters) -> list:
    conds = []
    if f.since is not None:
        conds.append(column >= f.since)
    if f.until is not None:
        conds.append(column < f.until)
    return conds


def _eq(column, value) -> list:
    return [] if value is None else [column == value]


def _source(column, f: Filters) -> list:
    return [] if f.source == "all" else [column == f.source]


def _run_decisions_source(run_id_column, f: Filters) -> list:
    """A version transition counts as AI feedback when any of its run's edits was decided by the model."""
    if f.source == "all":
        return []
    by_ai = exists().where(Edit.run_id == run_id_column, Edit.decision_source == "ai")
    return [by_ai] if f.source == "ai" else [~by_ai]


# --- prompts and texts ---------------------------------------------------------------------

def revise_messages(text: str, *, feedback: str = "", unit: str = "text") -> list[dict]:
    instruction = f"Revise this {unit}."
    if feedback and feedback.strip():
        instruction += f"\nThe author's feedback: {feedback.strip()}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": f"{instruction}\n\n{text}"}]


def assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def apply_edits(text: str, edits: list[tuple[int, int, str]]) -> str:
    """The text with non-overlapping (start, end, replacement) edits applied."""
    for start, end, replacement in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


class VersionTexts:
    """The few most recent version texts and their sentence spans (queries are ordered by version)."""

    def __init__(self, session: Session, keep: int = 4):
        self.session = session
        self.keep = keep
        self._cache: OrderedDict[int, list] = OrderedDict()

    def _entry(self, version_id: int) -> list:
        entry = self._cache.get(version_id)
        if entry is None:
            text = self.session.scalar(select(Version.text).where(Version.id == version_id)) or ""
            entry = [text, None, None]
            self._cache[version_id] = entry
            while len(self._cache) > self.keep:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(version_id)
        return entry

    def text(self, version_id: int) -> str:
        return self._entry(version_id)[0]

    def context(self, version_id: int, start: int, end: int) -> tuple[str, int, int]:
        """The sentence(s) around [start, end): (context text, start of context, end of context)."""
        entry = self._entry(version_id)
        text = entry[0]
        if entry[1] is None:
            import pysbd

            spans = pysbd.Segmenter(language="en", clean=False, char_span=True).segment(text) if text else []
            entry[1] = [(s.start, s.end) for s in spans] or [(0, len(text))]
            entry[2] = [s for s, _ in entry[1]]
        spans, starts = entry[1], entry[2]
        first = max(0, bisect.bisect_right(starts, start) - 1)
        last = first if end <= start else max(first, bisect.bisect_left(starts, end) - 1)
        cs, ce = min(spans[first][0], start), max(spans[last][1], end)
        while cs < start and text[cs].isspace():
            cs += 1
        while ce > end and text[ce - 1].isspace():
            ce -= 1
        return text[cs:ce], cs, ce


# --- Arrow schemas ---------------------------------------------------------------------------

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def _person(ctx: Context) -> pa.DataType:
    return pa.string() if ctx.pseudonymise else pa.int64()


def schema(fmt: str, table: str, ctx: Context) -> pa.Schema:
    i, s, p = pa.int64(), pa.string(), _person(ctx)
    if table == "ids":
        # The OpenAI flavour keeps its files to OpenAI's fields; the ids go to a line-aligned sidecar.
        full = schema(fmt, "data", Context(pseudonymise=ctx.pseudonymise))
        return pa.schema([fld for fld in full if fld.name not in OPENAI_FIELDS])
    if fmt == "sft":
        if ctx.flavour == "openai":
            return pa.schema([("messages", MESSAGES)])
        return pa.schema([("messages", MESSAGES), ("kind", s), ("project_id", i), ("document_id", i),
                          ("version_id", i), ("revised_version_id", i), ("run_id", i), ("edit_id", i),
                          ("person_id", p), ("model", s)])
    if fmt == "preference":
        if ctx.flavour == "openai":
            return pa.schema([("input", pa.struct([("messages", MESSAGES)])), ("preferred_output", MESSAGES),
                              ("non_preferred_output", MESSAGES)])
        return pa.schema([("prompt", MESSAGES), ("chosen", MESSAGES), ("rejected", MESSAGES), ("pair_kind", s),
                          ("project_id", i), ("document_id", i), ("version_id", i), ("run_id", i),
                          ("rejected_run_id", i), ("chosen_edit_id", i), ("rejected_edit_id", i),
                          ("comparison_id", i), ("person_id", p), ("model", s)])
    if fmt == "unpaired":
        return pa.schema([("prompt", MESSAGES), ("completion", MESSAGES), ("label", pa.bool_()), ("decision", s),
                          ("decision_source", s), ("intent", s), ("confidence", pa.float64()), ("project_id", i),
                          ("document_id", i), ("version_id", i), ("run_id", i), ("edit_id", i), ("person_id", p),
                          ("model", s)])
    if fmt == "stepwise":
        return pa.schema([("prompt", s), ("completions", pa.list_(s)), ("labels", pa.list_(pa.bool_())),
                          ("step_kind", s), ("steps", pa.list_(i)), ("project_id", i), ("document_id", i),
                          ("version_id", i), ("run_id", i), ("person_id", p), ("source", s)])
    if fmt == "critique_refinement":
        return pa.schema([("input", s), ("output", s), ("feedback", s), ("refinement", s), ("critiques", pa.list_(s)),
                          ("feedback_source", s), ("project_id", i), ("document_id", i), ("input_version_id", i),
                          ("output_version_id", i), ("refinement_version_id", i), ("run_id", i),
                          ("refinement_run_id", i), ("person_id", p), ("model", s)])
    if fmt == "events" and table == "data":
        return pa.schema([("id", i), ("created_at", pa.timestamp("us", tz="UTC")), ("kind", s), ("actor_id", p),
                          ("source", s), ("project_id", i), ("document_id", i), ("run_id", i), ("subject_kind", s),
                          ("subject_id", i), ("ip", s), ("data", s)])
    if fmt == "events" and table == "exposure":
        return pa.schema([("edit_id", i), ("run_id", i), ("version_id", i), ("document_id", i), ("project_id", i),
                          ("model", s), ("status", s), ("decision_source", s), ("shown", pa.bool_()),
                          ("times_shown", i), ("first_shown_at", pa.timestamp("us", tz="UTC")),
                          ("best_position", i), ("acted", pa.bool_()), ("decided_at", pa.timestamp("us", tz="UTC")),
                          ("person_id", p), ("start", i), ("end", i), ("original", s), ("replacement", s),
                          ("decided_replacement", s), ("intent", s), ("confidence", pa.float64()),
                          ("predicted_confidence", pa.float64()), ("created_at", pa.timestamp("us", tz="UTC")),
                          ("run_finished_at", pa.timestamp("us", tz="UTC"))])
    if fmt == "events" and table == "versions":
        return pa.schema([("version_id", i), ("document_id", i), ("project_id", i), ("number", i), ("depth", i),
                          ("parent_id", i), ("source_run_id", i), ("text", s), ("created_at", pa.timestamp("us", tz="UTC")),
                          ("created_by", p), ("title", s), ("owner", p), ("stop_reason", s)])
    raise ValueError(f"no table {table!r} in format {fmt!r}")


OPENAI_FIELDS = {"messages", "input", "preferred_output", "non_preferred_output"}

TABLES = {fmt: ("data",) for fmt in FORMATS} | {"events": ("data", "exposure", "versions")}

# Field documentation for the dataset card, per format.
FIELDS = {
    "sft": {
        "messages": "system (editing instruction), user (instruction, the author's feedback if any, and the text), "
                    "assistant (the revised text the person accepted)",
        "kind": "`document`: a whole applied version transition; `edit`: one accepted or modified edit in its "
                "sentence context; `human_revision`: a version the writer typed by hand, whole; `human_edit`: one "
                "change of it in its sentence context",
        "version_id / revised_version_id": "the version read and the version the decisions made",
        "run_id, edit_id, project_id, document_id": "where the row came from",
        "person_id": "who made the revised version or decided the edit (pseudonym when pseudonymised)",
        "model": "the model of the run",
    },
    "preference": {
        "prompt": "system and user messages: the instruction and the sentence context (or the whole text)",
        "chosen / rejected": "one assistant message each: the preferred and the dispreferred revision",
        "pair_kind": "`accepted_vs_rejected` (two proposals for the same span), `modified_vs_proposed` (a "
                     "person's rewrite over the model's proposal), `comparison` (a pairwise choice between runs), "
                     "`accepted_vs_original` (an accepted edit over the text it replaced), `original_vs_rejected` "
                     "(the text kept over a rejected edit), `human_vs_original` (the writer's own change, typed by "
                     "hand, over the text it replaced), `human_vs_proposed` (the writer's own change over the "
                     "model's pending proposal for that passage, which it superseded); the export option "
                     "pair_kinds keeps only some",
        "chosen_edit_id / rejected_edit_id / comparison_id / run_id / rejected_run_id": "the source rows",
        "person_id": "who decided",
    },
    "unpaired": {
        "prompt": "system and user messages: instruction and the sentence around the edit",
        "completion": "one assistant message: the sentence with the model's proposed edit",
        "label": "true when the person accepted the proposal as is; false when they rejected or rewrote it",
        "decision": "accepted / rejected / modified", "decision_source": "human, or ai (shadow user)",
        "intent, confidence": "the model's intent and confidence for the edit",
        "edit_id, run_id, version_id, document_id, project_id, person_id, model": "the source rows",
    },
    "stepwise": {
        "prompt": "the task: the revision instruction and the text revised (segments) or the text critiqued "
                  "(critiques)",
        "completions": "the steps, in order: the version's labelled segments, or the run's labelled critiques",
        "labels": "one boolean per step: good (+1) is true, bad (-1) is false; neutral (0) as the manifest says",
        "step_kind": "segment or critique", "steps": "each step's index (segment step or critique position)",
        "person_id": "the annotator", "source": "human, or ai",
    },
    "critique_refinement": {
        "input": "the text a run read", "output": "the revised text that run's decisions made",
        "feedback": "the person's free-text feedback on the output (may be empty when critiques alone led)",
        "critiques": "the model's critiques of the output that the next run followed",
        "refinement": "the text the next run's decisions made from the output, following the feedback",
        "feedback_source": "human, critique or human+critique",
        "run_id / refinement_run_id and the version ids": "the source rows",
    },
    "events": {
        "data file": "every column of the append-only event log; `data` is the event's JSON payload as a string. "
                     "Exposure is logged as `edits.shown` events whose data holds `edit_ids` and their `positions`",
        "exposure file": "one row per edit: whether it was shown (times_shown, first_shown_at, best_position), "
                         "whether a person or the shadow user acted on it, and the decision; enough to estimate "
                         "the propensity of feedback (CausalRM)",
        "actor_id / person_id": "user ids, or pseudonyms when pseudonymised (then `ip` is empty and e-mail "
                                "addresses are removed from `data`)",
        "exposure: start, end, original, replacement, intent, confidence": "the edit itself (its span in the "
                                                                        "text of its version)",
        "versions file": "every version's text, depth, parent and the run whose decisions made it, with its "
                         "document's title, owner and stop reason: with the other two files, enough to import "
                         "the log elsewhere (docs/import-format.md, `emend convert-events`)",
    },
}


# --- row builders ----------------------------------------------------------------------------

def _decided_edits_query(ctx: Context, statuses: tuple[str, ...]):
    f = ctx.filters
    return (
        select(Edit.id, Edit.run_id, Edit.version_id, Edit.start, Edit.end, Edit.replacement,
               Edit.decided_replacement, Edit.status, Edit.decision_source, Edit.decided_by_id, Edit.intent,
               Edit.confidence, Run.project_id, Run.document_id, Run.model, Run.feedback)
        .join(Run, Run.id == Edit.run_id).join(Version, Version.id == Edit.version_id)
        .where(Edit.status.in_(statuses), *_eq(Run.project_id, f.project_id), *_window(Edit.decided_at, f),
               *_source(Edit.decision_source, f), *_eq(Run.model, f.model), *_eq(Edit.decided_by_id, f.person_id),
               *([Version.depth <= f.max_depth] if f.max_depth is not None else []))
        .order_by(Edit.version_id, Edit.start, Edit.id)
    )


def _stream(session: Session, stmt, size: int = 500):
    return session.execute(stmt.execution_options(yield_per=size))


def sft_rows(session: Session, ctx: Context) -> Iterator[tuple[str, dict]]:
    f = ctx.filters
    src, dst = aliased(Version), aliased(Version)
    stmt = (
        select(Run.id, Run.project_id, Run.document_id, Run.version_id, Run.applied_version_id, Run.model,
               Run.feedback, src.text, dst.text, dst.created_by_id)
        .join(src, src.id == Run.version_id).join(dst, dst.id == Run.applied_version_id)
        .where(Run.applied_version_id.is_not(None), *_eq(Run.project_id, f.project_id), *_window(dst.created_at, f),
               *_eq(Run.model, f.model), *_eq(dst.created_by_id, f.person_id), *_run_decisions_source(Run.id, f),
               *([src.depth <= f.max_depth] if f.max_depth is not None else []))
        .order_by(Run.id)
    )
    for r in _stream(session, stmt, 100):
        yield "data", {
            "messages": revise_messages(r[7], feedback=r[6]) + assistant(r[8]), "kind": "document",
            "project_id": r[1], "document_id": r[2], "version_id": r[3], "revised_version_id": r[4], "run_id": r[0],
            "edit_id": None, "person_id": ctx.person(r[9]), "model": r[5],
        }
    yield from _human_revision_rows(session, ctx)
    if not ctx.edit_level:
        return
    texts = VersionTexts(session)
    for e in _human_edits(session, ctx):
        before, after = _in_context(texts, e.version_id, e.start, e.end, e.replacement)
        yield "data", {
            "messages": revise_messages(before, unit="passage") + assistant(after), "kind": "human_edit",
            "project_id": e.project_id, "document_id": e.document_id, "version_id": e.version_id,
            "revised_version_id": e.revised_version_id, "run_id": None, "edit_id": e.id,
            "person_id": ctx.person(e.decided_by_id), "model": None,
        }
    for e in _stream(session, _decided_edits_query(ctx, ("accepted", "modified"))):
        before, cs, ce = texts.context(e.version_id, e.start, e.end)
        new = e.decided_replacement if e.status == "modified" and e.decided_replacement is not None else e.replacement
        text = texts.text(e.version_id)
        after = text[cs:e.start] + new + text[e.end:ce]
        yield "data", {
            "messages": revise_messages(before, feedback=e.feedback, unit="passage") + assistant(after),
            "kind": "edit", "project_id": e.project_id, "document_id": e.document_id, "version_id": e.version_id,
            "revised_version_id": None, "run_id": e.run_id, "edit_id": e.id,
            "person_id": ctx.person(e.decided_by_id), "model": e.model,
        }


def _human_filters(f: Filters, created_at) -> list | None:
    """Conditions for the writer's own edits, or None when the filters exclude them (they come from
    a person, never from a model)."""
    if f.source == "ai" or f.model is not None:
        return None
    return [*_eq(Document.project_id, f.project_id), *_window(created_at, f)]


def _human_revision_rows(session: Session, ctx: Context) -> Iterator[tuple[str, dict]]:
    """Versions the writer typed by hand: the text before, the writer's text after."""
    f = ctx.filters
    src, dst = aliased(Version), aliased(Version)
    conds = _human_filters(f, dst.created_at)
    if conds is None:
        return
    made_by_hand = exists().where(Edit.revised_version_id == dst.id, Edit.source == "human")
    stmt = (
        select(dst.id, dst.parent_id, dst.document_id, Document.project_id, src.text, dst.text, dst.created_by_id)
        .join(src, src.id == dst.parent_id).join(Document, Document.id == dst.document_id)
        .where(made_by_hand, *conds, *_eq(dst.created_by_id, f.person_id),
               *([src.depth <= f.max_depth] if f.max_depth is not None else []))
        .order_by(dst.id)
    )
    for r in _stream(session, stmt, 100):
        yield "data", {
            "messages": revise_messages(r[4]) + assistant(r[5]), "kind": "human_revision", "project_id": r[3],
            "document_id": r[2], "version_id": r[1], "revised_version_id": r[0], "run_id": None, "edit_id": None,
            "person_id": ctx.person(r[6]), "model": None,
        }


def _human_edits(session: Session, ctx: Context, superseded: bool = False):
    """The writer's own edits (source human), in version order; with `superseded`, joined to each
    model proposal they superseded (one row per pair)."""
    f = ctx.filters
    conds = _human_filters(f, Edit.decided_at)
    if conds is None:
        return iter(())
    cols = [Edit.id, Edit.version_id, Edit.revised_version_id, Edit.start, Edit.end, Edit.replacement,
            Edit.decided_by_id, Version.document_id, Document.project_id]
    stmt = select(*cols).join(Version, Version.id == Edit.version_id).join(Document, Document.id == Version.document_id)
    if superseded:
        model = aliased(Edit)
        stmt = (stmt.add_columns(model.id.label("model_edit_id"), model.run_id.label("model_run_id"),
                                 model.start.label("model_start"), model.end.label("model_end"),
                                 model.replacement.label("model_replacement"), Run.model, Run.feedback)
                .join(model, model.superseded_by_id == Edit.id).join(Run, Run.id == model.run_id))
    stmt = stmt.where(Edit.source == "human", *conds, *_eq(Edit.decided_by_id, f.person_id),
                      *([Version.depth <= f.max_depth] if f.max_depth is not None else [])
                      ).order_by(Edit.version_id, Edit.start, Edit.id)
    return _stream(session, stmt)


def _in_context(texts: VersionTexts, version_id: int, start: int, end: int, replacement: str) -> tuple[str, str]:
    before, cs, ce = texts.context(version_id, start, end)
    text = texts.text(version_id)
    return before, text[cs:start] + replacement + text[end:ce]


def preference_rows(session: Session, ctx: Context) -> Iterator[tuple[str, dict]]:
    f = ctx.filters
    texts = VersionTexts(session)
    # 1. Two proposals for the same span of the same version: the one taken over the one rejected.
    rej = aliased(Edit)
    chosen_text = func.coalesce(Edit.decided_replacement, Edit.replacement)
    stmt = (
        select(Edit.id, Edit.run_id, Edit.version_id, Edit.start, Edit.end, chosen_text.label("chosen"),
               Edit.decided_by_id, Run.project_id, Run.document_id, Run.model, Run.feedback,
               rej.id.label("rej_id"), rej.run_id.label("rej_run"), rej.replacement.label("rejected"))
        .join(Run, Run.id == Edit.run_id).join(Version, Version.id == Edit.version_id)
        .join(rej, and_(rej.version_id == Edit.version_id, rej.start == Edit.start, rej.end == Edit.end,
                        rej.status == "rejected", rej.id != Edit.id))
        .where(Edit.status.in_(("accepted", "modified")), rej.replacement != chosen_text,
               *_eq(Run.project_id, f.project_id), *_window(Edit.decided_at, f), *_eq(Run.model, f.model),
               *_source(Edit.decision_source, f), *_source(rej.decision_source, f),
               *_eq(Edit.decided_by_id, f.person_id),
               *([Version.depth <= f.max_depth] if f.max_depth is not None else []))
        .order_by(Edit.version_id, Edit.start, Edit.id, rej.id)
    )
    for r in _stream(session, stmt) if ctx.wants("accepted_vs_rejected") else ():
        before, good = _in_context(texts, r.version_id, r.start, r.end, r.chosen)
        _, bad = _in_context(texts, r.version_id, r.start, r.end, r.rejected)
        yield "data", _pair(ctx, revise_messages(before, feedback=r.feedback, unit="passage"), good, bad,
                            "accepted_vs_rejected", r.project_id, r.document_id, r.version_id, r.run_id, r.rej_run,
                            r.id, r.rej_id, None, r.decided_by_id, r.model)
    # 2. A person's rewrite over the model's proposal.
    for e in _stream(session, _decided_edits_query(ctx, ("modified",))) if ctx.wants("modified_vs_proposed") else ():
        if e.decided_replacement is None or e.decided_replacement == e.replacement:
            continue
        before, good = _in_context(texts, e.version_id, e.start, e.end, e.decided_replacement)
        _, bad = _in_context(texts, e.version_id, e.start, e.end, e.replacement)
        yield "data", _pair(ctx, revise_messages(before, feedback=e.feedback, unit="passage"), good, bad,
                            "modified_vs_proposed", e.project_id, e.document_id, e.version_id, e.run_id, e.run_id,
                            e.id, e.id, None, e.decided_by_id, e.model)
    # 3. Every decision against the text it would replace: accepted edit over the original text,
    #    the original text over a rejected edit.
    statuses = tuple(s for s, kind in (("accepted", "accepted_vs_original"), ("rejected", "original_vs_rejected"))
                     if ctx.wants(kind))
    if statuses:
        for e in _stream(session, _decided_edits_query(ctx, statuses)):
            before, proposed = _in_context(texts, e.version_id, e.start, e.end, e.replacement)
            if proposed == before:
                continue
            prompt = revise_messages(before, feedback=e.feedback, unit="passage")
            if e.status == "accepted":
                yield "data", _pair(ctx, prompt, proposed, before, "accepted_vs_original", e.project_id,
                                    e.document_id, e.version_id, e.run_id, None, e.id, None, None,
                                    e.decided_by_id, e.model)
            else:
                yield "data", _pair(ctx, prompt, before, proposed, "original_vs_rejected", e.project_id,
                                    e.document_id, e.version_id, None, e.run_id, None, e.id, None,
                                    e.decided_by_id, e.model)
    # 4. The writer's own changes, typed by hand: over the text they replaced, and over the model's
    #    pending proposal for that passage which they superseded.
    if ctx.wants("human_vs_original"):
        for e in _human_edits(session, ctx):
            before, after = _in_context(texts, e.version_id, e.start, e.end, e.replacement)
            yield "data", _pair(ctx, revise_messages(before, unit="passage"), after, before, "human_vs_original",
                                e.project_id, e.document_id, e.version_id, None, None, e.id, None, None,
                                e.decided_by_id, None)
    if ctx.wants("human_vs_proposed"):
        for e in _human_edits(session, ctx, superseded=True):
            start, end = min(e.start, e.model_start), max(e.end, e.model_end)
            text = texts.text(e.version_id)
            mine = text[start:e.start] + e.replacement + text[e.end:end]
            theirs = text[start:e.model_start] + e.model_replacement + text[e.model_end:end]
            if mine == theirs:
                continue
            before, good = _in_context(texts, e.version_id, start, end, mine)
            _, bad = _in_context(texts, e.version_id, start, end, theirs)
            yield "data", _pair(ctx, revise_messages(before, feedback=e.feedback, unit="passage"), good, bad,
                                "human_vs_proposed", e.project_id, e.document_id, e.version_id, None,
                                e.model_run_id, e.id, e.model_edit_id, None, e.decided_by_id, e.model)
    # 5. Pairwise choices between two runs' revisions of the same version (ties say nothing).
    if not ctx.wants("comparison"):
        return
    ra, rb = aliased(Run), aliased(Run)
    stmt = (
        select(Comparison.id, Comparison.version_id, Comparison.run_a_id, Comparison.run_b_id, Comparison.choice,
               Comparison.user_id, Comparison.project_id, Version.document_id, ra.model.label("model_a"),
               rb.model.label("model_b"))
        .join(Version, Version.id == Comparison.version_id)
        .join(ra, ra.id == Comparison.run_a_id).join(rb, rb.id == Comparison.run_b_id)
        .where(Comparison.choice.in_(("a", "b")), *_eq(Comparison.project_id, f.project_id),
               *_window(Comparison.created_at, f), *_source(Comparison.source, f),
               *_eq(Comparison.user_id, f.person_id),
               *([or_(ra.model == f.model, rb.model == f.model)] if f.model is not None else []),
               *([Version.depth <= f.max_depth] if f.max_depth is not None else []))
        .order_by(Comparison.version_id, Comparison.id)
    )
    for c in _stream(session, stmt, 100):
        text = texts.text(c.version_id)
        win, lose = (c.run_a_id, c.run_b_id) if c.choice == "a" else (c.run_b_id, c.run_a_id)
        yield "data", _pair(ctx, revise_messages(text), run_revision(session, win, text),
                            run_revision(session, lose, text), "comparison", c.project_id, c.document_id,
                            c.version_id, win, lose, None, None, c.id, c.user_id,
                            c.model_a if c.choice == "a" else c.model_b)


def run_revision(session: Session, run_id: int, text: str) -> str:
    """A run's candidate revision: its version's text with every edit it proposed applied."""
    edits = session.execute(select(Edit.start, Edit.end, Edit.replacement).where(Edit.run_id == run_id)).all()
    return apply_edits(text, [tuple(e) for e in edits])


def _pair(ctx: Context, prompt, good: str, bad: str, kind: str, project_id, document_id, version_id, run_id,
          rejected_run_id, chosen_edit_id, rejected_edit_id, comparison_id, person, model) -> dict:
    return {"prompt": prompt, "chosen": assistant(good), "rejected": assistant(bad), "pair_kind": kind,
            "project_id": project_id, "document_id": document_id, "version_id": version_id, "run_id": run_id,
            "rejected_run_id": rejected_run_id, "chosen_edit_id": chosen_edit_id,
            "rejected_edit_id": rejected_edit_id, "comparison_id": comparison_id, "person_id": ctx.person(person),
            "model": model}


def unpaired_rows(session: Session, ctx: Context) -> Iterator[tuple[str, dict]]:
    texts = VersionTexts(session)
    for e in _stream(session, _decided_edits_query(ctx, ("accepted", "rejected", "modified"))):
        before, proposed = _in_context(texts, e.version_id, e.start, e.end, e.replacement)
        yield "data", {
            "prompt": revise_messages(before, feedback=e.feedback, unit="passage"), "completion": assistant(proposed),
            "label": e.status == "accepted", "decision": e.status, "decision_source": e.decision_source,
            "intent": e.intent, "confidence": e.confidence, "project_id": e.project_id,
            "document_id": e.document_id, "version_id": e.version_id, "run_id": e.run_id, "edit_id": e.id,
            "person_id": ctx.person(e.decided_by_id), "model": e.model,
        }


def _step_label(label: int, neutral_as: str) -> bool | None:
    if label == 0:
        return None if neutral_as == "drop" else neutral_as == "true"
    return label > 0


def stepwise_rows(session: Session, ctx: Context) -> Iterator[tuple[str, dict]]:
    f = ctx.filters
    common = [Annotation.label.is_not(None), *_eq(Annotation.project_id, f.project_id),
              *_window(Annotation.updated_at, f), *_source(Annotation.source, f), *_eq(Annotation.user_id, f.person_id)]
    # Segments: the steps of a version (a revision of its parent, or an original).
    stmt = (
        select(Annotation.target_id, Annotation.user_id, Annotation.step, Annotation.segment_text, Annotation.label,
               Annotation.source, Annotation.project_id, Version.document_id, Version.source_run_id,
               Version.parent_id, Document.title)
        .join(Version, Version.id == Annotation.target_id).join(Document, Document.id == Version.document_id)
        .where(Annotation.target_kind == "segment", *common,
               *([Version.depth <= f.max_depth] if f.max_depth is not None else []),
               *([exists().where(Run.id == Version.source_run_id, Run.model == f.model)] if f.model else []))
        .order_by(Annotation.target_id, Annotation.user_id, Annotation.step)
    )
    texts = VersionTexts(session)
    for (version_id, user_id), group in itertools.groupby(_stream(session, stmt),
                                                         key=lambda r: (r.target_id, r.user_id)):
        group = list(group)
        first = group[0]
        if first.parent_id is not None:
            prompt = f"Revise this text.\n\n{texts.text(first.parent_id)}"
        else:
            prompt = f"Write the document titled {first.title!r}."
        row = _steps(ctx, prompt, [(g.step, g.segment_text or "", g.label) for g in group])
        if row:
            yield "data", row | {"step_kind": "segment", "project_id": first.project_id,
                                 "document_id": first.document_id, "version_id": version_id,
                                 "run_id": first.source_run_id, "person_id": ctx.person(user_id),
                                 "source": first.source}
    # Critiques: the steps of a run's critique stage.
    stmt = (
        select(Critique.run_id, Annotation.user_id, Critique.position, Critique.segment, Critique.text,
               Annotation.label, Annotation.source, Annotation.project_id, Run.document_id, Critique.version_id)
        .join(Critique, Critique.id == Annotation.target_id).join(Run, Run.id == Critique.run_id)
        .join(Version, Version.id == Critique.version_id)
        .where(Annotation.target_kind == "critique", *common, *_eq(Run.model, f.model),
               *([Version.depth <= f.max_depth] if f.max_depth is not None else []))
        .order_by(Critique.run_id, Annotation.user_id, Critique.position)
    )
    for (run_id, user_id), group in itertools.groupby(_stream(session, stmt), key=lambda r: (r.run_id, r.user_id)):
        group = list(group)
        first = group[0]
        prompt = f"{CRITIQUE_PROMPT}\n\n{texts.text(first.version_id)}"
        row = _steps(ctx, prompt, [(g.position, f"{g.segment!r}: {g.text}" if g.segment else g.text, g.label)
                                   for g in group])
        if row:
            yield "data", row | {"step_kind": "critique", "project_id": first.project_id,
                                 "document_id": first.document_id, "version_id": first.version_id,
                                 "run_id": run_id, "person_id": ctx.person(user_id), "source": first.source}


def _steps(ctx: Context, prompt: str, steps: list[tuple[int, str, int]]) -> dict | None:
    kept = [(i, text, _step_label(label, ctx.neutral_as)) for i, text, label in steps]
    kept = [k for k in kept if k[2] is not None]
    if not kept:
        return None
    return {"prompt": prompt, "completions": [k[1] for k in kept], "labels": [k[2] for k in kept],
            "steps": [k[0] for k in kept]}


def critique_refinement_rows(session: Session, ctx: Context) -> Iterator[tuple[str, dict]]:
    """A run's output, the feedback and critiques on it, and what the next run made of them (ILF)."""
    f = ctx.filters
    first, nxt = aliased(Run), aliased(Run)
    v_out, v_ref = aliased(Version), aliased(Version)
    stmt = (
        select(first.id.label("run_id"), first.version_id.label("input_version_id"),
               first.applied_version_id.label("output_version_id"), nxt.id.label("next_id"),
               nxt.applied_version_id.label("refinement_version_id"), nxt.feedback, nxt.model, nxt.created_by_id,
               nxt.project_id, nxt.document_id, v_ref.created_by_id.label("ref_by"))
        .join(nxt, nxt.version_id == first.applied_version_id)
        .join(v_out, v_out.id == first.applied_version_id)
        .join(v_ref, v_ref.id == nxt.applied_version_id)
        .join(Version, Version.id == first.version_id)
        .where(nxt.applied_version_id.is_not(None), *_eq(nxt.project_id, f.project_id),
               *_window(v_ref.created_at, f), *_eq(nxt.model, f.model), *_eq(v_ref.created_by_id, f.person_id),
               *_run_decisions_source(nxt.id, f),
               *([Version.depth <= f.max_depth] if f.max_depth is not None else []))
        .order_by(first.id, nxt.id)
    )
    texts = VersionTexts(session, keep=8)
    for r in _stream(session, stmt, 100):
        notes = session.scalars(select(Feedback.text).where(Feedback.used_by_run_id == r.next_id)
                                .order_by(Feedback.id)).all()
        feedback = "\n".join(t.strip() for t in notes if t.strip()) or (r.feedback or "").strip()
        critiques = session.scalars(select(Critique.text).where(Critique.run_id == r.next_id)
                                    .order_by(Critique.position)).all()
        if not feedback and not critiques:
            continue
        kind = "+".join(k for k, present in (("human", feedback), ("critique", critiques)) if present)
        yield "data", {
            "input": texts.text(r.input_version_id), "output": texts.text(r.output_version_id), "feedback": feedback,
            "refinement": texts.text(r.refinement_version_id), "critiques": list(critiques), "feedback_source": kind,
            "project_id": r.project_id, "document_id": r.document_id, "input_version_id": r.input_version_id,
            "output_version_id": r.output_version_id, "refinement_version_id": r.refinement_version_id,
            "run_id": r.run_id, "refinement_run_id": r.next_id, "person_id": ctx.person(r.created_by_id or r.ref_by),
            "model": r.model,
        }


EVENT_COLUMNS = ("id", "created_at", "kind", "actor_id", "source", "project_id", "document_id", "run_id",
                 "subject_kind", "subject_id", "ip", "data")


def events_query(ctx: Context):
    f = ctx.filters
    return (select(*(getattr(Event, c) for c in EVENT_COLUMNS))
            .where(*_eq(Event.project_id, f.project_id), *_window(Event.created_at, f), *_source(Event.source, f),
                   *_eq(Event.actor_id, f.person_id))
            .order_by(Event.id))


def event_rows(session: Session, ctx: Context) -> Iterator[tuple[str, dict]]:
    dumps = json.dumps
    for r in _stream(session, events_query(ctx), 5000):
        yield "data", {
            "id": r[0], "created_at": r[1], "kind": r[2], "actor_id": ctx.person(r[3]), "source": r[4],
            "project_id": r[5], "document_id": r[6], "run_id": r[7], "subject_kind": r[8], "subject_id": r[9],
            "ip": None if ctx.pseudonymise else r[10], "data": dumps(scrub_event_data(r[11], ctx), ensure_ascii=False),
        }
    yield from exposure_rows(session, ctx)


def _exposure_subquery():
    """PostgreSQL, per edit id: how often `edits.shown` events listed it, when first, and its best position.

    ROWS FROM zips `edit_ids` with `positions` in one pass: indexing `positions` per element would re-parse
    the event's JSON (a `json` column) every time, quadratic in the array's length."""
    sql = ("SELECT (x.edit_id)::bigint AS edit_id, count(*) AS times_shown, min(e.created_at) AS first_shown_at, "
           "min(coalesce(x.position ->> 'position', x.position #>> '{}')::int) AS best_position "
           "FROM events e CROSS JOIN LATERAL ROWS FROM (json_array_elements_text(e.data -> 'edit_ids'), "
           "json_array_elements(e.data -> 'positions')) AS x(edit_id, position) "
           "WHERE e.kind = 'edits.shown' GROUP BY 1")
    return text(sql).columns(column("edit_id", Integer), column("times_shown", Integer),
                             column("first_shown_at", UTCDateTime()), column("best_position", Integer)).subquery("x")


def _position(value) -> int | None:
    """A position as `record_exposure` writes it ({"edit_id": …, "position": …}) or a bare number."""
    value = value.get("position") if isinstance(value, dict) else value
    return None if value is None else int(value)


def _exposure_by_edit(session: Session) -> dict[int, list]:
    """SQLite, {edit id: [times_shown, first_shown_at, best_position]} from the `edits.shown` events.

    SQLite cannot zip two JSON arrays, and json_extract per element re-parses the whole event (quadratic),
    so the events are streamed, each parsed once, and aggregated here."""
    shown: dict[int, list] = {}
    stmt = select(Event.created_at, Event.data).where(Event.kind == "edits.shown")
    for at, data in _stream(session, stmt, 50):
        positions = data.get("positions") or []
        for i, edit_id in enumerate(data.get("edit_ids") or []):
            position = _position(positions[i]) if i < len(positions) else None
            entry = shown.setdefault(int(edit_id), [0, at, None])
            entry[0] += 1
            entry[1] = min(entry[1], at)
            if position is not None and (entry[2] is None or position < entry[2]):
                entry[2] = position
    return shown


def exposure_rows(session: Session, ctx: Context) -> Iterator[tuple[str, dict]]:
    f = ctx.filters
    stmt = (
        select(Edit.id, Edit.run_id, Edit.version_id, Run.document_id, Run.project_id, Run.model, Edit.status,
               Edit.decision_source, Edit.decided_at, Edit.decided_by_id)
        .join(Run, Run.id == Edit.run_id)
        .where(*_eq(Run.project_id, f.project_id), *_window(Edit.created_at, f), *_eq(Run.model, f.model))
        .order_by(Edit.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        x = _exposure_subquery()
        rows = _stream(session, stmt.add_columns(x.c.times_shown, x.c.first_shown_at, x.c.best_position,
                                                 *_EDIT_COLUMNS).outerjoin(x, x.c.edit_id == Edit.id), 2000)
    else:
        shown = _exposure_by_edit(session)
        rows = ((*r[:10], *shown.get(r[0], (None, None, None)), *r[10:])
                for r in _stream(session, stmt.add_columns(*_EDIT_COLUMNS), 2000))
    for r in rows:
        yield "exposure", {
            "edit_id": r[0], "run_id": r[1], "version_id": r[2], "document_id": r[3], "project_id": r[4],
            "model": r[5], "status": r[6], "decision_source": r[7], "shown": bool(r[10]), "times_shown": r[10] or 0,
            "first_shown_at": r[11], "best_position": r[12], "acted": r[6] not in ("pending", "superseded"), "decided_at": r[8],
            "person_id": ctx.person(r[9]), "start": r[13], "end": r[14], "original": r[15], "replacement": r[16],
            "decided_replacement": r[17], "intent": r[18], "confidence": r[19], "predicted_confidence": r[20],
            "created_at": r[21], "run_finished_at": r[22],
        }
    yield from version_rows(session, ctx)


_EDIT_COLUMNS = (Edit.start, Edit.end, Edit.original, Edit.replacement, Edit.decided_replacement, Edit.intent,
                 Edit.confidence, Edit.predicted_confidence, Edit.created_at, Run.finished_at)


def version_rows(session: Session, ctx: Context) -> Iterator[tuple[str, dict]]:
    """Every version of the exported documents, with its text (the events name versions by id only)."""
    f = ctx.filters
    stmt = (select(Version.id, Version.document_id, Document.project_id, Version.number, Version.depth,
                   Version.parent_id, Version.source_run_id, Version.text, Version.created_at, Version.created_by_id,
                   Document.title, Document.owner_id, Document.stop_reason)
            .join(Document, Document.id == Version.document_id)
            .where(*_eq(Document.project_id, f.project_id)).order_by(Version.id))
    for r in _stream(session, stmt, 500):
        yield "versions", {
            "version_id": r[0], "document_id": r[1], "project_id": r[2], "number": r[3], "depth": r[4],
            "parent_id": r[5], "source_run_id": r[6], "text": r[7], "created_at": r[8],
            "created_by": ctx.person(r[9]), "title": r[10], "owner": ctx.person(r[11]), "stop_reason": r[12],
        }


BUILDERS: dict[str, Callable[[Session, Context], Iterator[tuple[str, dict]]]] = {
    "sft": sft_rows, "preference": preference_rows, "unpaired": unpaired_rows, "stepwise": stepwise_rows,
    "critique_refinement": critique_refinement_rows, "events": event_rows,
}


def estimate(session: Session, fmt: str, ctx: Context) -> int:
    """A cheap upper-bound-ish row count for progress (the number of source rows the builder reads)."""
    f = ctx.filters
    if fmt == "events":
        return session.scalar(select(func.count()).select_from(events_query(ctx).order_by(None).subquery())) or 0
    if fmt in ("unpaired", "preference"):
        statuses = ("accepted", "rejected", "modified")
        edits = session.scalar(select(func.count()).select_from(
            _decided_edits_query(ctx, statuses).order_by(None).subquery())) or 0
        if fmt == "preference":
            edits += session.scalar(select(func.count()).select_from(Comparison).where(
                Comparison.choice.in_(("a", "b")), *_eq(Comparison.project_id, f.project_id))) or 0
        return edits
    if fmt == "sft":
        runs = session.scalar(select(func.count()).select_from(Run).where(
            Run.applied_version_id.is_not(None), *_eq(Run.project_id, f.project_id))) or 0
        if ctx.edit_level:
            runs += session.scalar(select(func.count()).select_from(
                _decided_edits_query(ctx, ("accepted", "modified")).order_by(None).subquery())) or 0
        return runs
    if fmt == "stepwise":
        return session.scalar(select(func.count(func.distinct(Annotation.target_id))).where(
            Annotation.target_kind.in_(("segment", "critique")), Annotation.label.is_not(None),
            *_eq(Annotation.project_id, f.project_id))) or 0
    return session.scalar(select(func.count()).select_from(Run).where(
        Run.applied_version_id.is_not(None), *_eq(Run.project_id, f.project_id))) or 0
