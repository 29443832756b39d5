"""Background jobs a project's admins queue and watch (imports, replays): fetching one, listing a
project's, how far one has got, and the two read routes of their JSON APIs — one piece of code
for every such job."""

import inspect
from collections.abc import Callable

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import access
from app.errors import NotFound
from app.models import User


def get_job(session: Session, *, actor: User, model, job_id: int, what: str):
    """The job row, for an admin of its project (NotFound when there is no such row)."""
    job = session.get(model, job_id)
    if job is None:
        raise NotFound(f"No such {what}.")
    access.require_project(session, actor, job.project_id, roles=("admin",))
    return job


def list_jobs(session: Session, *, actor: User, model, project_id: int, limit: int = 50) -> list:
    """A project's jobs of one kind, newest first (project admins)."""
    access.require_project(session, actor, project_id, roles=("admin",))
    return list(session.scalars(select(model).where(model.project_id == project_id)
                                .order_by(model.id.desc()).limit(limit)))


def percent(status: str, done: int | None, total: int | None) -> int:
    """100 once succeeded; before that done / total, never shown as 100."""
    if status == "succeeded":
        return 100
    if not total:
        return 0
    return min(99, int(100 * (done or 0) / total))


def add_read_routes(router: APIRouter, *, plural: str, id_name: str, response_model, get: Callable,
                    list_: Callable, to_out: Callable) -> None:
    """GET /{plural}/{id_name} (one job) and GET /projects/{project_id}/{plural} (a project's), both
    with the `read` scope; `get(session, actor=, job_id=)` and `list_(session, actor=, project_id=)`."""
    from app.accounts.deps import DbSession, scoped

    def one(*, session, user, **path):
        return to_out(get(session, actor=user, job_id=path[id_name]))

    # The path parameter keeps its own name (import_id, replay_id) in the URL and the OpenAPI schema.
    keyword = inspect.Parameter.KEYWORD_ONLY
    one.__signature__ = inspect.Signature([
        inspect.Parameter(id_name, keyword, annotation=int),
        inspect.Parameter("session", keyword, annotation=DbSession),
        inspect.Parameter("user", keyword, annotation=User, default=scoped("read"))])

    def of_project(project_id: int, session: DbSession, user: User = scoped("read")):
        return [to_out(job) for job in list_(session, actor=user, project_id=project_id)]

    router.add_api_route(f"/{plural}/{{{id_name}}}", one, methods=["GET"], response_model=response_model,
                         name=f"get_{plural[:-1]}")
    router.add_api_route(f"/projects/{{project_id}}/{plural}", of_project, methods=["GET"],
                         response_model=list[response_model], name=f"list_{plural}")
