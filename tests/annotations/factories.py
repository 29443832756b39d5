"""A finished run with stages, critiques and edits inserted directly (no pipeline needed)."""
from __future__ import annotations

import json

from app.documents import service as documents
from app.models import Critique, Edit, Run, Stage

TEXT = ("Teh cat sat on the the mat. It was a very good cat.\n\n"
        "The dog was seen by the cat. Nobody knew why.")


def make_document(db, writer, project, text: str = TEXT, title: str = "Pets"):
    return documents.create_document(db, project_id=project.id, title=title, text=text, actor=writer)


def make_run(db, document, *, model: str = "emend/offline-reviser", variant: str = "", status: str = "succeeded",
             edits=(("Teh", "The", "fluency"), ("the the", "the", "fluency"), ("very good", "excellent", "clarity"))):
    version = document.current_version
    text = version.text
    run = Run(project_id=document.project_id, document_id=document.id, version_id=version.id, model=model,
              variant=variant, status=status, tokens_in=300, tokens_out=120, cost=0.0)
    db.add(run)
    db.flush()
    critique_out = {"critiques": [
        {"segment": "The dog was seen by the cat.", "start": text.find("The dog"), "end": text.find("The dog") + 28,
         "category": "passive-voice", "severity": "medium", "text": "Passive voice hides who acts."}]}
    edit_dicts = []
    cursor = 0
    for original, replacement, intent in edits:
        start = text.index(original, cursor)
        cursor = start + len(original)
        edit_dicts.append({"start": start, "end": cursor, "original": original, "replacement": replacement,
                           "intent": intent, "rationale": f"Fix {original}", "confidence": 0.8})
    outputs = [("critique", critique_out), ("propose", {"edits": edit_dicts, "dropped": [], "repeats": []}),
               ("verify", {"scores": [0.9] * len(edit_dicts)})]
    stages = []
    for position, (name, parsed) in enumerate(outputs):
        stage = Stage(run_id=run.id, position=position, name=name, status="succeeded", model=model,
                      messages=[{"role": "system", "content": f"TASK: {name}"}, {"role": "user", "content": text}],
                      raw_output=json.dumps(parsed), parsed_output=parsed, tokens_in=100, tokens_out=40,
                      latency_ms=12, attempts=1)
        db.add(stage)
        stages.append(stage)
    db.flush()
    for position, c in enumerate(critique_out["critiques"]):
        db.add(Critique(run_id=run.id, stage_id=stages[0].id, version_id=version.id, position=position,
                        start=c["start"], end=c["end"], segment=c["segment"], category=c["category"],
                        severity=c["severity"], text=c["text"]))
    for e in edit_dicts:
        db.add(Edit(run_id=run.id, stage_id=stages[1].id, version_id=version.id, start=e["start"], end=e["end"],
                    original=e["original"], replacement=e["replacement"], intent=e["intent"],
                    rationale=e["rationale"], confidence=e["confidence"], verify_score=0.9))
    db.flush()
    db.refresh(run)
    return run


def label_item(db, user, item, label: int | None = 1) -> None:
    """Label (or, with label=None, only comment on) a queue item, as an annotator must before
    submitting it."""
    from app.annotations import service

    if item.run_id is not None:
        service.save_annotation(db, user=user, target_kind="run", target_id=item.run_id, label=label,
                                comment="" if label is not None else "looked at it", queue_item_id=item.id)
    else:
        from app.models import Document

        service.save_annotation(db, user=user, target_kind="segment",
                                target_id=db.get(Document, item.document_id).current_version_id,
                                step=0, label=label, comment="" if label is not None else "looked at it",
                                queue_item_id=item.id)
