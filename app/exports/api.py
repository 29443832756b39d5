"""JSON API for exports under /api/v1/exports (API tokens need the `export` scope)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from app.accounts.deps import DbSession, scoped
from app.exports import service
from app.exports.schemas import ExportCreate, ExportFile, ExportOut
from app.models import Export, User
from app.web import client_ip

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])
Exporter = scoped("export")


def to_out(export: Export) -> ExportOut:
    files: list[ExportFile] = []
    if export.status == "succeeded" and export.manifest:
        base = f"/api/v1/exports/{export.id}/files/"
        files = [ExportFile(name=f["name"], rows=f["rows"], bytes=f["bytes"], sha256=f["sha256"],
                            url=base + f["name"]) for f in export.manifest["files"]]
        files += [ExportFile(name=n, url=base + n) for n in (service.MANIFEST, service.CARD)]
    return ExportOut(id=export.id, format=export.format, project_id=export.project_id, status=export.status,
                     rows_written=export.rows_written or 0, rows_estimate=export.rows_estimate,
                     progress=service.progress_percent(export), options=export.options or {}, error=export.error,
                     created_at=export.created_at, started_at=export.started_at, finished_at=export.finished_at,
                     expires_at=export.expires_at, files=files, manifest=export.manifest)


@router.post("", status_code=202, response_model=ExportOut)
def create(body: ExportCreate, request: Request, session: DbSession, user: User = Exporter):
    export = service.create_export(session, actor=user, format=body.format, project_id=body.project_id,
                                   options=body.options(), ip=client_ip(request))
    return to_out(export)


@router.get("", response_model=list[ExportOut])
def list_(session: DbSession, user: User = Exporter, limit: int = 50):
    return [to_out(e) for e, _project, _who in service.list_exports(session, actor=user, limit=min(limit, 200))]


@router.get("/{export_id}", response_model=ExportOut)
def get(export_id: int, session: DbSession, user: User = Exporter):
    return to_out(service.get_export(session, actor=user, export_id=export_id))


@router.post("/{export_id}/cancel", response_model=ExportOut)
def cancel(export_id: int, request: Request, session: DbSession, user: User = Exporter):
    return to_out(service.cancel_export(session, actor=user, export_id=export_id, ip=client_ip(request)))


@router.get("/{export_id}/files/{name}", response_class=FileResponse, responses={200: {
    "description": "The file, as written by the export (JSONL, gzipped JSONL, Parquet, the manifest or the card).",
    "content": {"application/x-ndjson": {}, "application/gzip": {}, "application/vnd.apache.parquet": {},
                "application/json": {}, "text/markdown": {}, "application/octet-stream": {}}}})
def download(export_id: int, name: str, session: DbSession, user: User = Exporter):
    path = service.export_file(session, actor=user, export_id=export_id, name=name)
    return FileResponse(path, filename=f"emend-export-{export_id}-{name}", media_type=_media_type(name))


_MEDIA_TYPES = {".jsonl": "application/x-ndjson", ".gz": "application/gzip",
                ".parquet": "application/vnd.apache.parquet", ".json": "application/json", ".md": "text/markdown"}


def _media_type(name: str) -> str:
    return next((t for suffix, t in _MEDIA_TYPES.items() if name.endswith(suffix)), "application/octet-stream")
