"""An annotator works through a queue with the keyboard, labels steps, corrects a critique
stage and re-runs; against `emend serve` with its worker and the offline reviser."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from app.demo import DEMO_PROJECT, DEMO_TITLE
from tests.browser.flows import csrf, wait_for_run

pytestmark = pytest.mark.browser
PASSWORD = "emend-demo"


def _sign_in(page, email: str) -> None:
    page.context.clear_cookies()
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/projects$"))


def test_annotator_works_through_a_queue_and_corrects_a_critique(page):
    # The demo writer runs a revision pass on the demo document.
    _sign_in(page, "writer@example.com")
    page.get_by_role("link", name=DEMO_PROJECT).click()
    href = page.get_by_role("link", name=DEMO_TITLE).first.get_attribute("href")
    document_id = int(re.search(r"/documents/(\d+)", href).group(1))
    started = page.request.post(f"/api/v1/documents/{document_id}/runs", data={"feedback": ""},
                                headers={"x-csrftoken": csrf(page)})
    assert started.status == 201, started.text()
    run_id = started.json()["run_id"]
    assert wait_for_run(page, run_id)["status"] == "succeeded"

    # The admin puts the project's runs in a queue for the annotator.
    _sign_in(page, "admin@example.com")
    page.goto("/queues")
    form = page.locator("#new-queue")
    form.get_by_label("Name").fill("Browser queue")
    form.get_by_label("Overlap (annotators per item)").fill("1")
    form.get_by_label(re.compile("Annotator")).check()
    form.get_by_role("button", name="Create queue").click()
    page.wait_for_url(re.compile(r"/queues/\d+$"))
    queue_id = int(page.url.rsplit("/", 1)[1])

    # The annotator takes the next item and labels with the keyboard.
    _sign_in(page, "annotator@example.com")
    page.goto(f"/queues/{queue_id}/next")
    page.locator("#queue-item").wait_for()
    # The item is the queue's first run; on the shared live server, an earlier test's run may come first.
    item_run_id = int(re.search(r"Run (\d+)", page.locator("#lineage h2").inner_text()).group(1))
    steps = page.locator("[data-step]")
    assert steps.count() >= 4  # the run, its three stages, critiques and edits
    page.keyboard.press("n")  # the run as a whole becomes current
    page.keyboard.press("1")
    expect_label(steps.nth(0), "+1")
    expect_current(steps.nth(1))  # labelling moved on to stage 1: critique
    page.keyboard.press("3")
    expect_label(steps.nth(1), "−1")
    expect_current(steps.nth(2))
    page.keyboard.press("p")  # back to the critique stage to comment on it
    page.keyboard.press("c")
    page.keyboard.type("The critique misses the spelling errors.")
    steps.nth(1).get_by_role("button", name="Save comment").click()
    expect_label(steps.nth(1), "−1")
    page.keyboard.press("n")
    page.keyboard.press("2")
    expect_label(steps.nth(2), "0")

    # Correct the critique stage and re-run the stages after it.
    critique = page.locator("section.stage").first
    critique.get_by_text("Correct this output and re-run the later stages").click()
    text = page.request.get(f"/api/v1/runs/{item_run_id}").json()
    assert text["status"] == "succeeded"
    fixed = {"critiques": [{"segment": "", "category": "spelling", "severity": "high",
                            "text": "Several words are misspelt."}]}
    critique.get_by_role("tab", name="Advanced (JSON)").click()  # the raw JSON, beside the row editor
    critique.locator("textarea[name=parsed_output]").fill(json.dumps(fixed))
    critique.get_by_role("button", name="Save correction and re-run").click()
    page.wait_for_url(re.compile(r"/runs/\d+/trace$"))
    child_id = int(re.search(r"/runs/(\d+)/trace", page.url).group(1))
    assert child_id != item_run_id
    page.get_by_text("Corrected rerun of").wait_for()
    assert page.locator(f'.lineage-parent a[href="/runs/{item_run_id}/trace"]').count() == 1
    assert wait_for_run(page, child_id)["status"] == "succeeded"
    page.reload()
    assert page.locator("section.stage").count() == 3
    assert "Several words are misspelt." in page.locator("section.stage").first.inner_text()

    # Back to the queue: submit the item; nothing is left.
    page.goto(f"/queues/{queue_id}/next")
    page.get_by_role("button", name="Submit and go to the next item").click()
    page.locator("#queue-done").wait_for()


def expect_label(step, text: str) -> None:
    step.locator(".current-label").filter(has_text=text).wait_for()


def expect_current(step) -> None:
    """The step is the current one (labelling a step moves on to the next: the default setting)."""
    expect(step).to_have_class(re.compile(r"\bcurrent\b"))
