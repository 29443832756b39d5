"""Convert an `events` export (data, exposure and versions files) into the import format.

    emend convert-events EXPORT_DIR OUT.jsonl

The export names everything by id; the import format wants records before the records that refer
to them. Output order: each document with its versions in id order, each run just before the
version its decisions made (and the others after all versions), the feedback, then every edit
followed by its decision (the edit's final state: the exposure file carries it). Runs are read
from the `run.*` events (model, version, status, times, dropped repeats; the end time from the
exposure file when the run has edits) and the feedback text
from `feedback.given`. Labels come last: each annotation's final state from its latest
`annotation.saved` event — step labels of a version's segments (`target: segment`, by step index)
and labels of edits. Memory grows with the number of runs and annotations, not with edits or
events. Not carried: runs still queued or running (no final event), labels of critiques (the
import format has no critiques), the history of a label or comment (only its final state).
"""
from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

_FINAL = {"run.finished": "succeeded", "run.failed": "failed", "run.cancelled": "cancelled"}


def _open(directory: Path, table: str):
    for name in (f"{table}.jsonl", f"{table}.jsonl.gz"):
        path = directory / name
        if path.exists():
            return gzip.open(path, "rt", encoding="utf-8") if name.endswith(".gz") else open(path, encoding="utf-8")
    raise FileNotFoundError(f"{directory} has no {table}.jsonl: convert an `events` export (JSONL)")


def _rows(directory: Path, table: str) -> Iterator[dict]:
    with _open(directory, table) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _person(value) -> str | None:
    return None if value is None else f"user-{value}" if isinstance(value, int) else str(value)


def convert(directory: str | Path) -> Iterator[dict]:
    directory = Path(directory)
    runs: dict[int, dict] = {}
    feedback: list[dict] = []
    labels: dict[int, dict] = {}  # annotation id → its latest saved state
    for event in _rows(directory, "data"):
        kind, run_id = event["kind"], event.get("run_id")
        data = json.loads(event["data"]) if isinstance(event.get("data"), str) else (event.get("data") or {})
        if kind == "annotation.saved" and data.get("target_kind") in ("segment", "edit"):
            after = data.get("after") or {}
            labels[event["subject_id"]] = {
                "target": data["target_kind"], "target_id": data.get("target_id"), "step": data.get("step") or 0,
                "label": after.get("label"), "comment": after.get("comment") or "",
                "source": after.get("source") or event.get("source") or "human",
                "person": _person(event.get("actor_id")), "at": event["created_at"]}
        if kind == "feedback.given":
            feedback.append({"document": event["document_id"], "text": data.get("text") or "",
                             "person": _person(event.get("actor_id")), "at": event["created_at"],
                             "run": data.get("about_run_id"), "used_by_run": run_id, "id": event["id"]})
        if run_id is None or not kind.startswith("run."):
            continue
        run = runs.setdefault(run_id, {"feedback": False})
        if kind == "run.started":
            run.update(version=data.get("version_id"), model=data.get("model"), created_at=event["created_at"],
                       person=_person(event.get("actor_id")), feedback=bool(data.get("feedback")))
        elif kind in _FINAL:
            run.update(status=_FINAL[kind], finished_at=event["created_at"],
                       dropped_repeats=int(data.get("dropped_repeats") or 0))
            run.setdefault("version", data.get("version_id"))
            run.setdefault("model", data.get("model"))
    texts = {f["used_by_run"]: f["text"] for f in feedback if f["used_by_run"] is not None}
    # The run's own end time where the exposure file has it (its event is written a moment later).
    for e in _rows(directory, "exposure"):
        if e.get("run_finished_at") and e["run_id"] in runs:
            runs[e["run_id"]]["finished_at"] = e["run_finished_at"]

    def run_record(run_id: int) -> dict | None:
        run = runs.get(run_id)
        if not run or "status" not in run or run.get("version") is None:
            return None
        return {"type": "run", "id": f"run-{run_id}", "version": f"version-{run['version']}",
                "model": run.get("model") or "unknown", "status": run["status"],
                "feedback": texts.get(run_id, "") if run.get("feedback") else "",
                "created_at": run.get("created_at") or run.get("finished_at"), "finished_at": run.get("finished_at"),
                "dropped_repeats": run.get("dropped_repeats", 0), "person": run.get("person")}

    emitted: set[int] = set()
    documents: set[int] = set()
    versions: set[int] = set()
    labelled_edits = {a["target_id"] for a in labels.values() if a["target"] == "edit"}
    edits_out: set[int] = set()  # only the labelled ones: the set stays as small as the labels
    for v in _rows(directory, "versions"):
        versions.add(v["version_id"])
        if v["document_id"] not in documents:
            documents.add(v["document_id"])
            yield {"type": "document", "id": f"document-{v['document_id']}", "title": v.get("title") or "",
                   "owner": _person(v.get("owner")), "created_at": v.get("created_at"),
                   "stop_reason": v.get("stop_reason")}
        if v.get("source_run_id") is not None and v["source_run_id"] not in emitted:
            record = run_record(v["source_run_id"])
            if record:
                emitted.add(v["source_run_id"])
                yield record
        yield {"type": "version", "id": f"version-{v['version_id']}", "document": f"document-{v['document_id']}",
               "depth": v["depth"], "text": v["text"],
               "parent": f"version-{v['parent_id']}" if v.get("parent_id") else None,
               "run": f"run-{v['source_run_id']}" if v.get("source_run_id") in emitted else None,
               "person": _person(v.get("created_by")), "created_at": v.get("created_at")}
    for run_id in sorted(runs):
        if run_id not in emitted:
            record = run_record(run_id)
            if record:
                emitted.add(run_id)
                yield record
    for f in feedback:
        yield {"type": "feedback", "id": f"feedback-{f['id']}", "document": f"document-{f['document']}",
               "text": f["text"], "person": f["person"] or "unknown", "at": f["at"],
               "run": f"run-{f['run']}" if f["run"] in emitted else None,
               "used_by_run": f"run-{f['used_by_run']}" if f["used_by_run"] in emitted else None}
    for e in _rows(directory, "exposure"):
        if e["run_id"] not in emitted:
            continue
        if e["edit_id"] in labelled_edits:
            edits_out.add(e["edit_id"])
        yield {"type": "edit", "id": f"edit-{e['edit_id']}", "version": f"version-{e['version_id']}",
               "run": f"run-{e['run_id']}", "start": e["start"], "end": e["end"], "original": e["original"],
               "replacement": e["replacement"], "intent": e.get("intent") or "other",
               "confidence": e.get("confidence"), "created_at": e.get("created_at"),
               "shown_position": e.get("best_position") if e.get("shown") else None}
        if e["status"] != "pending" and e.get("decision_source"):
            yield {"type": "decision", "id": f"decision-{e['edit_id']}", "edit": f"edit-{e['edit_id']}",
                   "decision": e["status"], "replacement": e.get("decided_replacement"),
                   "person": _person(e.get("person_id")), "at": e.get("decided_at"),
                   "source": e["decision_source"], "confidence": e.get("predicted_confidence")}
    for annotation_id in sorted(labels):
        a = labels[annotation_id]
        if a["target"] == "segment" and a["target_id"] in versions:
            target = {"version": f"version-{a['target_id']}", "step": a["step"]}
        elif a["target"] == "edit" and a["target_id"] in edits_out:
            target = {"edit": f"edit-{a['target_id']}"}
        else:
            continue  # its version or edit is not in the export
        yield {"type": "label", "id": f"label-{annotation_id}", "target": a["target"], "label": a["label"],
               "person": a["person"] or "unknown", **target, "comment": a["comment"], "source": a["source"],
               "at": a["at"]}


def convert_to_file(directory: str | Path, out: str | Path) -> int:
    """Write the converted records to `out`; returns how many."""
    n = 0
    with open(out, "w", encoding="utf-8") as fh:
        for record in convert(directory):
            # Absent means null in the format, but a label must be given even when it is null (cleared).
            kept = {k: v for k, v in record.items() if v is not None or (k == "label" and record["type"] == "label")}
            fh.write(json.dumps(kept, ensure_ascii=False) + "\n")
            n += 1
    return n
