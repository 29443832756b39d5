"""HTML routes of the exports page: the form, the list with live progress, cancel and downloads."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse

from app.accounts.deps import CurrentUser, DbSession
from app.errors import NotFound
from app.exports import formats, service
from app.web import client_ip, is_htmx, render

router = APIRouter(include_in_schema=False)
TEMPLATE = "exports/list.html"


def _page(request: Request, session, user, *, notice: str | None = None, block: str | None = None):
    service.cleanup_expired(session)
    rows = service.list_exports(session, actor=user)
    return render(request, TEMPLATE, {
        "rows": rows, "projects": service.exporting_projects(session, user), "formats": formats.FORMATS,
        "licences": service.LICENCES, "notice": notice, "progress": service.progress_percent,
        "reasons": {e.id: service.empty_reason(session, e) for e, _p, _w in rows},
    }, block=block)


def _row(request: Request, session, user, export_id: int):
    found = service.list_exports(session, actor=user, export_id=export_id)
    if not found:
        raise NotFound("No such export.")
    export, project, who = found[0]
    return render(request, TEMPLATE, {"e": export, "project_name": project, "who": who,
                                      "progress": service.progress_percent,
                                      "reasons": {export.id: service.empty_reason(session, export)}},
                  block="export_row")


@router.get("/exports")
def exports_page(request: Request, session: DbSession, user: CurrentUser):
    return _page(request, session, user, block="export_list")


@router.post("/exports")
def create_export(request: Request, session: DbSession, user: CurrentUser,
                  format: Annotated[str, Form()], project_id: Annotated[str, Form()] = "",
                  since: Annotated[str, Form()] = "", until: Annotated[str, Form()] = "",
                  source: Annotated[str, Form()] = "all", model: Annotated[str, Form()] = "",
                  max_depth: Annotated[str, Form()] = "", person_id: Annotated[str, Form()] = "",
                  jsonl: Annotated[bool, Form()] = False, parquet: Annotated[bool, Form()] = False,
                  gzip: Annotated[bool, Form()] = False, pseudonymise: Annotated[bool, Form()] = False,
                  flavour: Annotated[str, Form()] = "trl", neutral_as: Annotated[str, Form()] = "false",
                  edit_level: Annotated[bool, Form()] = False, licence: Annotated[str, Form()] = "unknown",
                  pair_kinds: Annotated[list[str] | None, Form()] = None):
    options = {"since": since, "until": until, "source": source, "model": model, "max_depth": max_depth,
               "person_id": person_id, "jsonl": jsonl, "parquet": parquet, "gzip": gzip,
               "pseudonymise": pseudonymise, "flavour": flavour, "neutral_as": neutral_as,
               "edit_level": edit_level, "licence": licence,
               "pair_kinds": pair_kinds if format == "preference" else None}
    export = service.create_export(session, actor=user, format=format,
                                   project_id=int(project_id) if project_id.strip() else None,
                                   options=options, ip=client_ip(request))
    if not is_htmx(request):
        return RedirectResponse("/exports", status_code=303)
    notice = f"Export #{export.id} ({export.format}) is queued"
    notice += f", about {export.rows_estimate:,} rows." if export.rows_estimate else "."
    reason = service.empty_reason(session, export)
    if reason:
        notice += f" It will probably have 0 rows: {reason}."
    return _page(request, session, user, notice=notice, block="export_list")


@router.get("/exports/{export_id}/row")
def export_row(request: Request, export_id: int, session: DbSession, user: CurrentUser):
    return _row(request, session, user, export_id)


@router.post("/exports/{export_id}/cancel")
def cancel_export(request: Request, export_id: int, session: DbSession, user: CurrentUser):
    service.cancel_export(session, actor=user, export_id=export_id, ip=client_ip(request))
    if not is_htmx(request):
        return RedirectResponse("/exports", status_code=303)
    return _row(request, session, user, export_id)


@router.get("/exports/{export_id}/files/{name}")
def download(export_id: int, name: str, session: DbSession, user: CurrentUser):
    path = service.export_file(session, actor=user, export_id=export_id, name=name)
    return FileResponse(path, filename=f"emend-export-{export_id}-{name}")
