"""A writer goes through the whole revision loop in a browser, mostly with the keyboard."""
from __future__ import annotations

import re

import pytest

from app.demo import DEMO_PROJECT

pytestmark = pytest.mark.browser

# Known mistakes the offline reviser fixes: a doubled word, a/an, spacing before a comma,
# a wordy phrase, a missing capital, misspellings.
TEXT = ("The the survey team arrived on a early morning. In order to measure the flow , we placed "
        "three sensors along the bank.  due to the fact that the water was high, one sensor was lost. "
        "We beleive the flow is changing faster then expected.")


def _sign_in(page) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill("writer@example.com")
    page.get_by_label("Password").fill("emend-demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/projects$"))


def _start_run(page, button: str) -> None:
    """Start a run and wait until it has finished: the review block polls itself while it works."""
    page.get_by_role("button", name=button).click()
    page.locator("#review[hx-trigger]").wait_for()
    page.locator("#review:not([hx-trigger])").wait_for(timeout=60_000)


def _status(page, edit_id: str) -> str:
    return page.locator(f"#edit-{edit_id}").get_attribute("data-status")


def test_writer_revises_until_the_loop_stops(page):
    _sign_in(page)
    page.get_by_role("link", name=DEMO_PROJECT).click()
    page.get_by_role("link", name="New document").click()
    page.get_by_label("Title").fill("Browser field notes")
    page.get_by_label("Paste the text").fill(TEXT)
    page.get_by_role("button", name="Create document").click()
    page.wait_for_url(re.compile(r"/documents/\d+$"))
    assert page.get_by_role("heading", name="Browser field notes").is_visible()

    _start_run(page, "Start a run")
    rows = page.locator("#edit-list .edit-row")
    assert rows.count() >= 3
    # The edits are inline in the text: struck-through original, inserted replacement.
    assert page.locator("#doc-text del.edit").count() >= 3
    assert page.locator("#doc-text ins.edit").first.is_visible()

    # Keyboard: j selects the first edit, a accepts it (and moves on), r rejects the next.
    first_id, second_id = rows.nth(0).get_attribute("data-edit-id"), rows.nth(1).get_attribute("data-edit-id")
    page.locator("body").press("j")
    assert "current" in (rows.nth(0).get_attribute("class") or "")
    page.keyboard.press("a")
    page.wait_for_function(f"document.querySelector('#edit-{first_id}').dataset.status === 'accepted'")
    page.keyboard.press("r")
    page.wait_for_function(f"document.querySelector('#edit-{second_id}').dataset.status === 'rejected'")
    rejected_change = page.locator(f"#edit-{second_id} .edit-change").inner_text()
    assert "1" in page.locator("#counters [data-count=accepted]").inner_text()

    # ? shows the keys; typing in an input is not a shortcut.
    page.keyboard.press("?")
    assert page.locator("#key-help").is_visible()
    page.keyboard.press("?")
    assert not page.locator("#key-help").is_visible()

    # e: modify the third edit (selected after the rejection) with our own replacement.
    third_id = rows.nth(2).get_attribute("data-edit-id")
    assert page.locator(f"#edit-{third_id}.current").count() == 1
    page.keyboard.press("e")
    replacement = page.locator(f"#edit-{third_id} [data-input=replacement]")
    assert replacement.evaluate("el => el === document.activeElement")
    replacement.fill("MINE")
    replacement.press("Enter")
    page.wait_for_function(f"document.querySelector('#edit-{third_id}').dataset.status === 'modified'")
    assert page.locator(f"#mark-{third_id} ins.edit").inner_text() == "MINE"

    page.get_by_role("button", name="Accept all pending").click()
    apply_button = page.locator("#apply-button")
    apply_button.wait_for()
    assert re.match(r"Apply \d+ edits?", apply_button.inner_text())
    apply_button.click()
    page.get_by_role("button", name="Revise again").wait_for()
    assert "Version 2" in page.locator("#review h2").first.inner_text()
    assert "MINE" in page.locator("#doc-text").inner_text()

    # Revise again (with feedback) until the loop stops: no more edits, or the maximum depth.
    feedback_given = False
    for _ in range(4):
        if page.locator("#stop-reason").count():
            break
        if not feedback_given:
            page.get_by_label("Feedback for the next run").fill("Keep the tone plain.")
            feedback_given = True
        _start_run(page, "Revise again")
        if page.locator("#edit-list .edit-row").count():
            changes = page.locator("#edit-list .edit-change").all_inner_texts()
            assert rejected_change not in changes  # a rejected edit is not proposed again
            page.get_by_role("button", name="Accept all pending").click()
            page.locator("#apply-button").click()
            page.locator("#edit-list").wait_for(state="detached")
    stop = page.locator("#stop-reason")
    stop.wait_for()
    assert re.fullmatch(r"Stopped: (the model proposed no more edits|maximum depth \d+ reached)\.",
                        stop.inner_text().strip())
    # No dead end: the loop's own button is gone, an override (logged as such) is offered.
    assert page.get_by_role("button", name="Revise again", exact=True).count() == 0
    assert page.get_by_role("button", name="Revise again anyway").count() == 1

    # History and a diff between the first and the latest version.
    page.get_by_role("link", name="History").click()
    page.wait_for_url(re.compile(r"/documents/\d+/versions$"))
    versions = page.locator("tbody tr")
    assert versions.count() >= 2
    versions.last.locator("input[name=a]").check()
    versions.first.locator("input[name=b]").check()
    page.get_by_role("button", name="Diff a → b").click()
    page.wait_for_url(re.compile(r"/diff\?"))
    assert page.locator("#word-diff del.edit").count() >= 1
    assert any("MINE" in t for t in page.locator("#word-diff ins.edit").all_inner_texts())
    assert re.search(r"\d+ words? removed, \d+ added", page.locator("#diff-stats").inner_text())
