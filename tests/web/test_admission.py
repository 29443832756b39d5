"""Requests whose work grows with a document's size pass a gate: at most EMEND_HEAVY_REQUESTS at
once per process, and a waiting one holds no thread and no database connection."""
from __future__ import annotations

import asyncio

from fastapi.routing import APIRoute

from app import admission
from app.config import get_settings


def _peak_in_flight(requests: int) -> int:
    in_flight = peak = 0

    async def one() -> None:
        nonlocal in_flight, peak
        gate = admission._heavy_request()
        await gate.__anext__()  # the dependency's code before its yield
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        await gate.aclose()

    async def all_of_them() -> None:
        await asyncio.gather(*(one() for _ in range(requests)))

    asyncio.run(all_of_them())
    return peak


def test_at_most_the_setting_run_at_once(monkeypatch):
    monkeypatch.setattr(get_settings(), "heavy_requests", 2)
    assert _peak_in_flight(8) == 2
    monkeypatch.setattr(get_settings(), "heavy_requests", 5)
    assert _peak_in_flight(8) == 5  # a new event loop: a gate of its own, with the new setting


def test_the_gate_comes_first_on_the_large_pages_only():
    from app.annotations.pages import router as annotations
    from app.documents.pages import router as documents
    from app.edits.pages import router as edits
    from app.projects.pages import router as projects

    # First among the route's dependencies: resolved before the session and the signed-in user.
    heavy = {(method, route.path) for router in (documents, edits, annotations, projects)
             for route in router.routes if isinstance(route, APIRoute) for method in route.methods
             if route.dependant.dependencies and route.dependant.dependencies[0].call is admission._heavy_request}
    for path in ("/documents/{document_id}", "/documents/{document_id}/diff", "/documents/{document_id}/read",
                 "/runs/{run_id}/trace", "/versions/{version_id}/compare"):
        assert ("GET", path) in heavy, path
    assert ("POST", "/documents/{document_id}/decide-all") in heavy
    assert ("GET", "/projects/{project_id}") not in heavy  # small pages never wait for large ones
    assert ("POST", "/edits/{edit_id}/decide") not in heavy
