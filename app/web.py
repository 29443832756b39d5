"""Shared HTML helpers: one Jinja environment, htmx detection, whole-page or block rendering."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from jinja2_fragments.fastapi import Jinja2Blocks

from app.config import ROOT

templates = Jinja2Blocks(directory=str(ROOT / "templates"))
templates.env.auto_reload = False  # see compile_templates


def _timefmt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


_WHITESPACE_SIGNS = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥"})


def _visible_whitespace(value: str) -> str:
    """A span that is only whitespace (a spacing edit) drawn with visible signs in the edit list."""
    return value.translate(_WHITESPACE_SIGNS) if value and not value.strip() else value


templates.env.filters["time"] = _timefmt
templates.env.filters["visible_whitespace"] = _visible_whitespace


def compile_templates() -> None:
    """Compile every template once (about 0.2 s), so the first requests after a start do not queue
    behind compilation. Templates are not reloaded from disk afterwards: like the Python code, a
    changed template takes effect at the next start (a template reloaded under older code could
    call a filter that process does not have)."""
    for name in templates.env.list_templates(extensions=["html"]):
        templates.env.get_template(name)


def is_htmx(request: Request) -> bool:
    """A partial request from htmx (a boosted navigation wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           block: str | list[str] | None = None, status_code: int = 200, headers: dict | None = None):
    """Render the page, or only `block` (or several blocks) when htmx asked for a fragment."""
    ctx = {"user": getattr(request.state, "user", None), **(context or {})}
    if block is not None and is_htmx(request):
        if isinstance(block, list):
            return templates.TemplateResponse(request, template, ctx, block_names=block,
                                              status_code=status_code, headers=headers)
        return templates.TemplateResponse(request, template, ctx, block_name=block,
                                          status_code=status_code, headers=headers)
    return templates.TemplateResponse(request, template, ctx, status_code=status_code, headers=headers)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None
