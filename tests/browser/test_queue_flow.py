"""Issue 12, flow, in the browser: an annotator works several queue items from the keyboard, each
next item appears without a page load (it was prefetched), `?` lists their own bindings, a key
they rebound labels, and they tag and comment on an item. The test makes a project, documents,
runs and a queue of its own, so other tests on the shared live server do not change what it sees."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.flows import csrf, start_run_on_new_document, wait_for_run
from tests.browser.test_annotator import _sign_in

pytestmark = pytest.mark.browser
TEXTS = ("Teh cat sat on the the mat. Their going to the market tomorow.",
         "We was late becuase the the bus broke down.",
         "She dont like it when peple is rude.")


def _own_queue(page) -> int:
    """A project with three finished runs, the demo annotator assigned to a queue of them."""
    _sign_in(page, "admin@example.com")
    headers = {"x-csrftoken": csrf(page)}
    stamp = time.time_ns()
    made = page.request.post("/projects", form={"name": f"Flow {stamp}"}, headers=headers)
    assert made.ok, made.text()
    project_id = int(re.search(r"/projects/(\d+)", made.url).group(1))
    added = page.request.post(f"/projects/{project_id}/members", headers=headers,
                              form={"email": "annotator@example.com", "role": "annotator"})
    assert added.ok, added.text()
    patched = page.request.patch(f"/api/v1/projects/{project_id}", headers=headers,
                                 data={"guidelines": "Prefer plain words over jargon."})
    assert patched.ok, patched.text()
    runs = [start_run_on_new_document(page, project_id, f"Flow {stamp} {i}", text) for i, text in enumerate(TEXTS)]
    for run_id in runs:
        assert wait_for_run(page, run_id)["status"] == "succeeded"
    members = page.request.get(f"/api/v1/projects/{project_id}/members").json()
    annotator_id = next(m["user_id"] for m in members if m["email"] == "annotator@example.com")
    queue = page.request.post("/queues", headers=headers, form={
        "project_id": str(project_id), "name": f"Flow queue {stamp}", "item_kind": "run", "overlap": "1",
        "claim_timeout_minutes": "30", "blind": "1", "instructions": "Label the run as a whole first.",
        "assignees": str(annotator_id)})
    assert queue.ok, queue.text()
    return int(re.search(r"/queues/(\d+)$", queue.url).group(1))


def _current(step):
    expect(step).to_have_class(re.compile(r"\bcurrent\b"))


def _label(step, text: str) -> None:
    step.locator(".current-label").filter(has_text=text).wait_for()


def test_annotator_works_a_queue_from_the_keyboard_with_prefetch_shortcuts_tags_and_comments(page):
    queue_id = _own_queue(page)
    _sign_in(page, "annotator@example.com")
    try:
        _work_the_queue(page, queue_id)
    finally:
        # The demo annotator is shared with other tests: give them the default keys back.
        reset = page.request.post("/account/shortcuts", form={"reset": "1"}, headers={"x-csrftoken": csrf(page)})
        assert reset.ok, reset.text()


def _work_the_queue(page, queue_id: int) -> None:
    # Rebind "+1 good" to g (the old keys no longer label).
    page.goto("/account/shortcuts")
    page.get_by_label("Label the step +1 (good)").fill("g")
    page.get_by_role("button", name="Save shortcuts").click()
    page.locator("#shortcuts-notice").filter(has_text="Shortcuts saved.").wait_for()

    page.goto(f"/queues/{queue_id}/next")
    page.locator("#queue-item").wait_for()
    guide = page.locator(".queue-guide")
    expect(guide).to_contain_text("Label the run as a whole first.")
    expect(guide).to_contain_text("Prefer plain words over jargon.")
    # On a small screen the guidelines start folded above the item; one click opens them.
    page.set_viewport_size({"width": 480, "height": 900})
    page.reload()
    page.wait_for_function("() => { const d = document.querySelector('.queue-guide details.guide');"
                           " return d && !d.open; }")
    guide.get_by_text("Guidelines and instructions").click()
    expect(guide.get_by_text("Label the run as a whole first.")).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    page.locator("#queue-item").wait_for()

    # `?` lists the person's actual bindings.
    page.keyboard.press("?")
    overlay = page.locator("#keys-help")
    expect(overlay).to_be_visible()
    expect(overlay.locator('tr[data-action="good"] .kbd')).to_have_text(["g"])
    expect(overlay.locator('tr[data-action="next"] .kbd')).to_have_text(["n", "j"])
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()

    # A mark that a full page load would wipe out.
    page.evaluate("window.__sameDocument = true")
    seen = []
    for round_ in range(3):
        work = page.locator("#queue-work")
        item_id = page.locator("#queue-item").get_attribute("data-item")
        assert item_id not in seen
        seen.append(item_id)
        steps = page.locator("#queue-work [data-step]")
        page.keyboard.press("n")
        _current(steps.nth(0))
        page.keyboard.press("1")  # no longer bound: nothing is labelled
        page.keyboard.press("g")
        _label(steps.nth(0), "+1")
        _current(steps.nth(1))  # labelling moved on to the next step
        page.keyboard.press("3")
        _label(steps.nth(1), "−1")
        _current(steps.nth(2))
        assert steps.nth(0).locator(".current-label").inner_text() == "+1"

        if round_ == 0:
            notes = page.locator("#item-notes")
            notes.get_by_label("New tag").fill("needs-expert")
            notes.get_by_role("button", name="Add tag").click()
            page.locator("#item-notes .tag .badge").filter(has_text="needs-expert").wait_for()
            page.locator("#item-notes").get_by_label("Comment on this item").fill("The verifier is too kind here.")
            page.locator("#item-notes").get_by_role("button", name="Add comment").click()
            page.locator("#item-notes .comment").filter(has_text="The verifier is too kind here.").wait_for()
            page.locator("#queue-item").click()  # out of the comment field, so the keys work again

        if round_ < 2:
            # The next item is ready before it is asked for; submitting swaps it in, no page load.
            expect(work).to_have_attribute("data-prefetched", re.compile(r"^\d+$"))
            upcoming = work.get_attribute("data-prefetched")
            page.keyboard.press("s")
            page.wait_for_function("id => document.querySelector('#queue-item') && "
                                   "document.querySelector('#queue-item').dataset.item === id", arg=upcoming)
            assert page.evaluate("window.__sameDocument === true"), "the next item came with a full page load"
            assert page.locator("#submit-message").count() == 0
        else:
            # The last item: nothing was prefetched, submitting loads the end of the queue.
            page.keyboard.press("s")
            page.locator("#queue-done").wait_for()
    assert len(set(seen)) == 3
