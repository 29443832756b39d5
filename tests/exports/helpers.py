from __future__ import annotations

import json
from pathlib import Path

from app.exports import service


def build(db, world, fmt: str, *, project=True, **options):
    export = service.create_export(db, actor=world.admin, format=fmt,
                                   project_id=world.project.id if project else None, options=options)
    db.flush()
    export = service.build_export(db, export_id=export.id)
    assert export.status == "succeeded", export.error
    return export, Path(export.path)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def load(path: Path, cache: Path):
    import datasets

    kind = "parquet" if path.suffix == ".parquet" else "json"
    return datasets.load_dataset(kind, data_files=str(path), split="train", cache_dir=str(cache))
