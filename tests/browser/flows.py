"""Steps the browser tests share: runs started and awaited through the API, on documents a test
makes for itself (the live server is shared, so a test sees only what it made)."""
from __future__ import annotations

import time


def csrf(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


def wait_for_run(page, run_id: int, seconds: float = 300) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = page.request.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish in {seconds} s")


def start_run_on_new_document(page, project_id: int, title: str, text: str) -> int:
    """A document of the test's own and a run on it (the signed-in person's); the run's id."""
    headers = {"x-csrftoken": csrf(page)}
    created = page.request.post("/api/v1/documents", headers=headers,
                                data={"project_id": project_id, "title": title, "text": text})
    assert created.status == 201, created.text()
    started = page.request.post(f"/api/v1/documents/{created.json()['id']}/runs", data={"feedback": ""},
                                headers=headers, timeout=240_000)
    assert started.status == 201, started.text()
    return started.json()["run_id"]


def finished_run_on_new_document(page, project_id: int, title: str, text: str) -> int:
    run = wait_for_run(page, start_run_on_new_document(page, project_id, title, text))
    assert run["status"] == "succeeded", run.get("error")
    return run["id"]
