"""Issue 12 in the browser: an annotator labels a queue item on the run's trace and submits it
(a refused submit first, answered inline); an unsaved comment asks before it is dropped; an
admin filters edits on the search page and sends the results to a queue; metrics draw charts
with their tables."""
from __future__ import annotations

import re
import time

import pytest

from app.demo import DEMO_PROJECT, DEMO_TITLE
from tests.browser.flows import csrf, finished_run_on_new_document, wait_for_run
from tests.browser.test_annotator import _sign_in, expect_current

pytestmark = pytest.mark.browser


def _start_run(page) -> tuple[int, int | None]:
    _sign_in(page, "writer@example.com")
    page.get_by_role("link", name=DEMO_PROJECT).click()
    page.wait_for_url(re.compile(r"/projects/\d+$"))
    project_id = int(re.search(r"/projects/(\d+)", page.url).group(1))
    href = page.get_by_role("link", name=DEMO_TITLE).first.get_attribute("href")
    document_id = int(re.search(r"/documents/(\d+)", href).group(1))
    started = page.request.post(f"/api/v1/documents/{document_id}/runs", data={"feedback": ""},
                                headers={"x-csrftoken": csrf(page)}, timeout=240_000)
    if started.status == 409 and "undecided edits" in started.text():
        return project_id, None  # an earlier test's run is finished and waits for decisions: use it
    assert started.status == 201, started.text()
    run = wait_for_run(page, started.json()["run_id"])
    assert run["status"] == "succeeded", run.get("error")
    return project_id, started.json()["run_id"]


def _new_queue(page, name: str) -> int:
    page.goto("/queues")
    form = page.locator("#new-queue")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Overlap (annotators per item)").fill("1")
    form.get_by_label(re.compile("Annotator")).check()
    form.get_by_role("button", name="Create queue").click()
    page.wait_for_url(re.compile(r"/queues/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def test_annotator_labels_a_queue_item_on_the_trace_and_submits_it(page):
    project_id, _ = _start_run(page)
    # A run on a document of this test's own, so no earlier test on the shared server labelled it.
    fresh_run_id = finished_run_on_new_document(page, project_id, f"Trace labels {time.time_ns()}",
                                                "Teh cat sat on the the mat. Their going to the market tomorow.")
    _sign_in(page, "admin@example.com")
    queue_id = _new_queue(page, "Trace labels")

    _sign_in(page, "annotator@example.com")
    # Items are in run order: earlier runs on the shared live server may carry this annotator's
    # labels already (they count, so submitting those goes straight on). Submit until the refusal.
    page.goto(f"/queues/{queue_id}/next")
    for _ in range(200):
        item_id = page.locator("#queue-item").get_attribute("data-item")
        run_id = int(re.search(r"Run (\d+)", page.locator("#queue-item").inner_text()).group(1))
        page.get_by_role("button", name="Submit and go to the next item").click()
        page.wait_for_function(
            "id => document.querySelector('#submit-message') || !document.querySelector('#queue-item')"
            " || document.querySelector('#queue-item').dataset.item !== id", arg=item_id)
        if page.locator("#submit-message").count():
            break
        assert run_id != fresh_run_id, "the fresh run's item was submitted without a label"
    # Refused: the reason beside the button, the item still on the page.
    page.locator("#submit-message").filter(has_text="at least one step").wait_for()
    assert page.locator("#queue-item").get_attribute("data-item") == item_id

    # Label on the run's own trace page (no queue item there).
    page.goto(f"/runs/{run_id}/trace")
    steps = page.locator("[data-step]")
    page.keyboard.press("n")
    page.keyboard.press("1")
    steps.nth(0).locator(".current-label").filter(has_text="+1").wait_for()
    expect_current(steps.nth(1))  # labelling moved on to the next step
    # A comment typed but not saved: leaving asks first; dismissing keeps the page and the text.
    page.keyboard.press("c")
    page.keyboard.type("Not saved yet")
    page.keyboard.press("Escape")
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.get_by_role("link", name="Queues").first.click()
    assert asked and "not saved" in asked[0]
    assert re.search(rf"/runs/{run_id}/trace$", page.url)
    assert steps.nth(1).locator("textarea[name=comment]").input_value() == "Not saved yet"
    steps.nth(1).get_by_role("button", name="Save comment").click()
    steps.nth(1).locator(".label-state").filter(has_text="saved").wait_for()

    # Back to the queue: the labels given on the trace count, the item is submitted.
    page.goto(f"/queues/{queue_id}/next")
    assert page.locator("#queue-item").get_attribute("data-item") == item_id
    page.get_by_role("button", name="Submit and go to the next item").click()
    page.wait_for_function(
        "id => !document.querySelector('#queue-item') || document.querySelector('#queue-item').dataset.item !== id",
        arg=item_id)
    assert page.locator("#submit-message").count() == 0


def test_admin_filters_edits_and_sends_them_to_a_queue_and_reads_charts(page):
    project_id, _run_id = _start_run(page)
    _sign_in(page, "admin@example.com")
    queue_id = _new_queue(page, "From search")
    page.goto("/search")
    form = page.locator("#search-form")
    form.get_by_label("Find").select_option("edits")
    form.get_by_label("Project").select_option(str(project_id))
    form.get_by_label("Status").select_option("pending")
    form.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/search\?.*status=pending"))
    assert page.locator("#results tr.hit").count() > 0
    bulk = page.locator("#bulk-actions")
    bulk.get_by_label("Queue").select_option(str(queue_id))
    page.once("dialog", lambda d: d.accept())  # "Act on all … results of this filter?"
    bulk.get_by_role("button", name="Add to queue").click()
    page.locator("#search-notice").filter(has_text="Added to the queue").wait_for()
    queued = page.request.get(f"/queues/{queue_id}").text()
    assert "From search" in queued

    page.goto(f"/projects/{project_id}/metrics")
    chart = page.locator("svg#chart-by-depth")
    chart.wait_for()
    assert page.locator("#by-depth table").count() == 1
    assert page.locator("#by-depth th", has_text="Modified").count() >= 1
    page.locator("svg#chart-decisions-over-time").wait_for()
