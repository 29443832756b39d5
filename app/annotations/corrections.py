"""Structured corrections of a stage's output: the parsed output as rows (one critique, edit or
score per row), edited in a form or as raw JSON, and checked by one validation path.

The row fields, their types and allowed values come from the stage's contract schema
(app/llm/schemas/*.schema.json, the one the model is asked to follow). Both forms end in
`check(...)`: the JSON value is validated against that schema (jsonschema), then against the
version's text (a passage must occur in it, edits must not overlap), and every problem is
reported against its row and field so the page can show it beside the row.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

from jsonschema import Draft202012Validator

from app.errors import Invalid
from app.llm import parsing, prompts

LIST_KEYS = {"critique": "critiques", "propose": "edits", "verify": "scores"}
LABELS = {
    "segment": "Passage", "original": "Passage", "replacement": "Replacement", "text": "Critique",
    "category": "Category", "severity": "Severity", "intent": "Intent", "rationale": "Rationale",
    "confidence": "Confidence", "start": "Start offset", "context_before": "Context before",
    "context_after": "Context after", "index": "Candidate edit", "score": "Score", "reason": "Reason",
}
# Text areas, not inputs: these may hold line breaks, which an <input> drops.
LONG_FIELDS = {"segment", "original", "replacement", "text", "rationale", "reason", "context_before", "context_after"}
MAX_ROWS = 5_000  # bounds the form parsing (each row is a handful of fields)


@dataclass(frozen=True)
class RowField:
    name: str
    label: str
    type: str  # "string", "integer" or "number"
    required: bool
    enum: tuple[str, ...] = ()
    description: str = ""
    long: bool = False


@dataclass(frozen=True)
class RowSchema:
    stage: str
    key: str  # the list in the stage's output: "critiques", "edits", "scores"
    fields: tuple[RowField, ...]
    schema: dict

    def field(self, name: str) -> RowField | None:
        return next((f for f in self.fields if f.name == name), None)


@lru_cache
def row_schema(stage_name: str) -> RowSchema:
    """The row fields of a stage, read from its contract schema (in the schema's order)."""
    if stage_name not in LIST_KEYS:
        raise Invalid(f"The {stage_name} stage cannot be corrected.")
    schema = prompts.schema_for(stage_name)
    key = LIST_KEYS[stage_name]
    items = schema["properties"][key]["items"]
    required = set(items.get("required", ()))
    fields = tuple(
        RowField(name=name, label=LABELS.get(name, name.replace("_", " ").capitalize()), type=spec.get("type", "string"),
                 required=name in required, enum=tuple(spec.get("enum", ())), description=spec.get("description", ""),
                 long=name in LONG_FIELDS)
        for name, spec in items["properties"].items())
    return RowSchema(stage=stage_name, key=key, fields=fields, schema=schema)


# --- stored output <-> rows <-> JSON value ---------------------------------------------------

def _form_text(value) -> str:
    return "" if value is None else str(value)


def rows_from_output(stage_name: str, parsed_output) -> list[dict[str, str]]:
    """A stored parsed output as form rows (strings), in the schema's shape: verify's stored
    scores list becomes one row per candidate; derived keys (end) are left out."""
    rs = row_schema(stage_name)
    items = (parsed_output or {}).get(rs.key) or [] if isinstance(parsed_output, dict) else []
    return _as_rows(rs, items, strict=False)


def _as_rows(rs: RowSchema, items: list, *, strict: bool) -> list[dict[str, str]]:
    """Items as form rows; a bare verify score becomes its candidate's row. An item that is not an
    object is skipped (stored output) or refused (`strict`: what a person typed)."""
    rows = []
    for index, item in enumerate(items):
        if rs.stage == "verify" and not isinstance(item, dict):
            item = {"index": index, "score": item, "reason": ""}
        if not isinstance(item, dict):
            if strict:
                raise Invalid(f"Row {index + 1} of the JSON is not an object.")
            continue
        rows.append({f.name: _form_text(item.get(f.name)) for f in rs.fields})
    return rows


def _typed(f: RowField, text: str):
    """A form string as the schema's type where it parses; otherwise the string itself, so the
    schema check reports it (one validation path for typed and raw input)."""
    if f.type == "integer":
        try:
            return int(text.strip())
        except ValueError:
            return text
    if f.type == "number":
        try:
            return float(text.strip())
        except ValueError:
            return text
    return text


def value_from_rows(stage_name: str, rows: list[dict[str, str]]) -> dict:
    """Form rows as the JSON value the schema describes (blank optional fields left out)."""
    rs = row_schema(stage_name)
    items = []
    for row in rows:
        item = {}
        for f in rs.fields:
            text = row.get(f.name, "")
            if f.type == "string":
                if text or f.required:
                    item[f.name] = text
            elif text.strip():
                item[f.name] = _typed(f, text)
        items.append(item)
    return {rs.key: items}


def value_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def rows_from_value(stage_name: str, value) -> list[dict[str, str]]:
    """A JSON value (the Advanced tab) as form rows, for switching back to the row editor."""
    rs = row_schema(stage_name)
    items = value.get(rs.key) if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise Invalid(f"The JSON has no list “{rs.key}” to show as rows.")
    return _as_rows(rs, items, strict=True)


# --- the one validation path -----------------------------------------------------------------

@dataclass
class Problems:
    rows: dict[int, list[tuple[str | None, str]]] = field(default_factory=dict)  # row -> (field, message)
    form: list[str] = field(default_factory=list)

    def add(self, row: int | None, name: str | None, message: str) -> None:
        if row is None:
            self.form.append(message)
        else:
            self.rows.setdefault(row, []).append((name, message))

    def __bool__(self) -> bool:
        return bool(self.rows or self.form)

    def summary(self, rs: RowSchema) -> str:
        parts = list(self.form)
        for row in sorted(self.rows):
            for name, message in self.rows[row]:
                f = rs.field(name) if name else None
                parts.append(f"Row {row + 1}: {f.label + ' ' if f else ''}{message}")
        shown = [p.rstrip(".") for p in parts[:8]]
        more = f" (and {len(parts) - len(shown)} more)" if len(parts) > len(shown) else ""
        return "The correction cannot be used: " + "; ".join(shown) + more + "."


class CorrectionInvalid(Invalid):
    """A refused correction, with each problem against its row and field."""

    def __init__(self, rs: RowSchema, problems: Problems):
        super().__init__(problems.summary(rs))
        self.problems = problems


def _number(n) -> str:
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def _message(error, spec: dict) -> tuple[str | None, str]:
    """(field, message) for one jsonschema error, worded for a person."""
    v = error.validator
    name = error.path[-1] if error.path and isinstance(error.path[-1], str) else None
    if v == "required":
        missing = next((p for p in error.validator_value if p not in (error.instance or {})), None)
        return missing, "is required."
    if v == "enum":
        return name, f"must be one of {', '.join(map(str, error.validator_value))} (not {error.instance!r})."
    if v == "type":
        wanted = error.validator_value
        words = {"integer": "a whole number", "number": "a number", "string": "text", "object": "an object",
                 "array": "a list"}
        if name is None and wanted == "object":
            return None, "must be an object with the row's fields."
        return name, f"must be {words.get(wanted, wanted)} (not {error.instance!r})."
    if v in ("minimum", "maximum"):
        if "minimum" in spec and "maximum" in spec:
            return name, f"must be between {_number(spec['minimum'])} and {_number(spec['maximum'])} (not {_number(error.instance)})."
        return name, f"must be at {'least' if v == 'minimum' else 'most'} {_number(error.validator_value)}."
    if v == "minLength":
        return name, "must not be empty." if error.validator_value == 1 else f"needs at least {error.validator_value} characters."
    if v == "maxLength":
        return name, f"has at most {error.validator_value} characters ({len(error.instance)} given)."
    return name, error.message + "."


def _text_problems(rs: RowSchema, items: list, text: str, candidates: int, problems: Problems) -> None:
    """Checks against the version's text that a schema cannot express; rows with schema
    problems are skipped (their values are not trustworthy yet)."""
    spans: list[tuple[int, int, int]] = []
    seen_index: dict[int, int] = {}
    for row, item in enumerate(items):
        if row in problems.rows or not isinstance(item, dict):
            continue
        if rs.stage == "critique":
            if not item["text"].strip():
                problems.add(row, "text", "is empty; write the critique or remove the row.")
            segment = item["segment"]
            if segment.strip() and parsing.anchor(text, segment, item.get("start")) is None \
                    and parsing.anchor(text, segment.strip(), item.get("start")) is None:
                problems.add(row, "segment", "is not in the version's text (copy it exactly, or leave it empty "
                                             "for a critique of the whole text).")
        elif rs.stage == "propose":
            original = item["original"]
            if original == item["replacement"]:
                problems.add(row, "replacement", "is the same as the passage.")
                continue
            start = parsing.anchor(text, original, item.get("start"), item.get("context_before") or "",
                                   item.get("context_after") or "")
            if start is None:
                problems.add(row, "original", "is not in the version's text (copy it exactly).")
                continue
            spans.append((start, start + len(original), row))
        elif rs.stage == "verify":
            index = item["index"]
            if index >= candidates:
                problems.add(row, "index", f"must be below {candidates}: the propose stage has {candidates} "
                                           f"candidate edit{'' if candidates == 1 else 's'}.")
            elif index in seen_index:
                problems.add(row, "index", f"is already scored in row {seen_index[index] + 1}.")
            else:
                seen_index[index] = row
    spans.sort()
    for (s1, e1, r1), (s2, e2, r2) in pairwise(spans):
        if s2 < e1:
            problems.add(max(r1, r2), "original", f"overlaps the passage of row {min(r1, r2) + 1}; "
                                                   "edits must not overlap.")


def check(stage_name: str, value, *, text: str, candidates: int = 0) -> dict:
    """Validate a corrected output (from rows or raw JSON alike) and return it normalised the
    way the pipeline stores it. Raises CorrectionInvalid with per-row problems."""
    from app.runs import service as runs  # another feature's service, imported when needed

    rs = row_schema(stage_name)
    problems = Problems()
    if isinstance(value, list):  # a bare list of rows is accepted as the stage's list
        value = {rs.key: value}
    if isinstance(value, dict) and isinstance(value.get(rs.key), list):
        # JSON null is "not given" for optional fields (the stored output has start: null).
        items = value[rs.key]
        required = {f.name for f in rs.fields if f.required}
        value = {**value, rs.key: [{k: v for k, v in item.items() if v is not None or k in required}
                                   if isinstance(item, dict) else item for item in items]}
        if len(items) > MAX_ROWS:
            problems.add(None, None, f"at most {MAX_ROWS:,} rows")
    items_spec = rs.schema["properties"][rs.key]["items"]["properties"]
    for error in Draft202012Validator(rs.schema).iter_errors(value):
        path = list(error.absolute_path)
        if len(path) >= 2 and path[0] == rs.key and isinstance(path[1], int):
            name, message = _message(error, items_spec.get(path[2], {}) if len(path) > 2 else {})
            problems.add(path[1], name, message)
        else:
            name, message = _message(error, {})
            problems.add(None, None, f"{name or 'the output'} {message}" if name else
                         (f"The output {message}" if error.validator != "required"
                          else f"the list “{rs.key}” is required"))
    if not problems.form:  # the rows without schema problems are checked against the text too
        _text_problems(rs, value[rs.key], text, candidates, problems)
    if problems:
        raise CorrectionInvalid(rs, problems)
    return runs.normalise_parsed_output(stage_name, value, text=text, candidates=candidates)


# --- the form's state --------------------------------------------------------------------------

@dataclass
class EditorState:
    """What the correction editor shows: the rows (as typed), the JSON text, the active tab,
    the problems found, and which control gets the focus after an htmx swap."""
    stage_name: str
    rows: list[dict[str, str]]
    json_text: str
    mode: str = "rows"  # "rows" or "json"
    comment: str = ""
    problems: Problems = field(default_factory=Problems)
    message: str | None = None
    focus: str | None = None
    open: bool = False

    @property
    def schema(self) -> RowSchema:
        return row_schema(self.stage_name)


def initial_state(stage) -> EditorState:
    rows = rows_from_output(stage.name, stage.parsed_output)
    return EditorState(stage_name=stage.name, rows=rows, json_text=value_json(value_from_rows(stage.name, rows)))


def rows_from_form(stage_name: str, form) -> list[dict[str, str]]:
    """The rows of a submitted editor, in the order of their `row-<i>-<field>` names."""
    rs = row_schema(stage_name)
    names = {f.name for f in rs.fields}
    by_index: dict[int, dict[str, str]] = {}
    for key, value in form.multi_items():
        parts = key.split("-", 2)
        if len(parts) != 3 or parts[0] != "row" or not parts[1].isdigit() or parts[2] not in names:
            continue
        index = int(parts[1])
        if index >= MAX_ROWS:
            raise Invalid(f"A correction has at most {MAX_ROWS:,} rows.")
        by_index.setdefault(index, {})[parts[2]] = value if isinstance(value, str) else ""
    return [{f.name: by_index[i].get(f.name, "") for f in rs.fields} for i in sorted(by_index)]


def apply_op(state: EditorState, op: str) -> None:
    """Add, remove or move a row, or switch tabs (the values typed so far are kept)."""
    rows = state.rows
    verb, _, arg = op.partition("-")
    index = int(arg) if arg.isdigit() else None
    if verb == "tab" and arg == state.mode:  # the tab already shown: nothing to convert
        state.focus = f"tab-{arg}"
        return
    if verb in ("add", "remove", "up", "down") and state.mode != "rows":
        raise Invalid("Rows are added, removed and moved on the Rows tab.")
    if verb == "add":
        blank = {f.name: "" for f in state.schema.fields}
        at = index + 1 if index is not None and index < len(rows) else len(rows)
        rows.insert(at, blank)
        state.focus = f"row-{at}-{state.schema.fields[0].name}"
    elif verb == "remove" and index is not None and index < len(rows):
        rows.pop(index)
        state.focus = f"remove-{min(index, len(rows) - 1)}" if rows else "add"
    elif verb == "up" and index is not None and 0 < index < len(rows):
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
        state.focus = f"up-{index - 1}" if index - 1 > 0 else f"down-{index - 1}"
    elif verb == "down" and index is not None and index < len(rows) - 1:
        rows[index + 1], rows[index] = rows[index], rows[index + 1]
        state.focus = f"down-{index + 1}" if index + 1 < len(rows) - 1 else f"up-{index + 1}"
    elif verb == "tab" and arg == "json":
        state.json_text = value_json(value_from_rows(state.stage_name, rows))
        state.mode, state.focus = "json", "tab-json"
    elif verb == "tab" and arg == "rows":
        try:
            value = json.loads(state.json_text)
        except ValueError as exc:
            state.mode, state.focus = "json", "parsed_output"
            state.message = f"The JSON is not valid ({exc}); fix it before switching to rows."
            return
        try:
            state.rows = rows_from_value(state.stage_name, value)
        except Invalid as exc:
            state.mode, state.focus, state.message = "json", "parsed_output", exc.message
            return
        state.mode, state.focus = "rows", "tab-rows"
    else:
        raise Invalid(f"Unknown editor action {op!r}.")
