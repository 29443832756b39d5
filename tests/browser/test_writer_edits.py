"""A writer edits a paragraph by hand while model edits are pending, goes on after the loop stops,
marks the document finished, and reads and downloads the clean text on a small screen (issue 9)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

FIRST = "The the survey team arrived on a early morning. We beleive the flow is changing."
SECOND = "In order to measure the flow , we placed three sensors along the bank."


def _sign_in(page, email: str = "writer@example.com") -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill("emend-demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/projects$"))


def _wait_for_run(page) -> None:
    page.locator("#review[hx-trigger]").wait_for()
    page.locator("#review:not([hx-trigger])").wait_for(timeout=400_000)


def _project_of_depth_one(page) -> str:
    """A site admin makes a project whose loop stops after one applied version, with the writer in it."""
    _sign_in(page, "admin@example.com")
    page.locator("form[action='/projects'] input[name='name']").fill("Short loop")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(r"/projects/\d+$"))
    project_url = page.url
    page.goto(project_url + "/settings")
    page.locator("input[name='max_depth']").fill("1")
    page.get_by_role("button", name="Save settings").click()
    page.locator("#settings-form .flash-ok, #flash .flash").first.wait_for()
    assert page.locator("#settings-form .flash-ok").count() == 1, page.locator("#flash").inner_text()
    page.goto(project_url)
    assert "max depth 1" in page.content()
    page.goto(project_url + "/members")
    page.locator("input[name='email']").fill("writer@example.com")
    page.locator("form[action$='/members'] select[name='role']").select_option("writer")
    page.locator("form[action$='/members'] button[type='submit']").click()
    page.get_by_text("writer@example.com").first.wait_for()
    page.wait_for_load_state("networkidle")
    page.context.clear_cookies()
    return project_url


@pytest.mark.timeout(900)  # two offline-reviser runs on a loaded two-core machine
def test_writer_edits_by_hand_goes_on_after_a_stop_and_reads_the_result(page):
    project_url = _project_of_depth_one(page)
    _sign_in(page)
    assert page.locator("nav a[href='/exports']").count() == 0  # a writer cannot export: no link
    assert page.locator("nav a[href='/projects']").count() == 1
    page.goto(project_url)
    page.get_by_role("link", name="New document").click()
    page.get_by_label("Title").fill("Hand edits")
    page.get_by_label("Paste the text").fill(f"{FIRST}\n\n{SECOND}")
    page.get_by_role("button", name="Create document").click()
    page.wait_for_url(re.compile(r"/documents/\d+$"))
    document_url = page.url
    page.get_by_role("button", name="Start a run").click()
    _wait_for_run(page)
    pending = page.locator("#edit-list .edit-row[data-status='pending']")
    before = pending.count()
    assert before >= 3

    # Edit the first paragraph by hand: fix "beleive" the writer's way.
    page.locator("#edit-link").click()
    page.wait_for_url(re.compile(r"/write"))
    page.locator("#p-0 [data-action='edit-paragraph']").click()
    box = page.locator("#p-0 textarea")
    box.wait_for()
    box.fill(FIRST.replace("We beleive the flow", "We think the flow"))
    page.locator("#p-0 [data-action='save']").click()
    saved = page.locator("#saved")
    saved.wait_for()
    text = saved.inner_text()
    assert "Saved as version 2" in text and "superseded" in text and "carried over" in text

    # The untouched suggestions are still there, on version 2; the rewritten one is gone.
    page.goto(document_url)
    assert "Version 2" in page.locator("#review h2").first.inner_text()
    carried = page.locator("#edit-list .edit-row[data-status='pending']")
    assert 1 <= carried.count() < before
    assert "beleive" not in page.locator("#edit-list").inner_text()

    # Decide and apply: depth 1 is the project's maximum, so the loop stops; then go on anyway.
    page.get_by_role("button", name="Accept all pending").click()
    page.locator("#apply-button").click()
    page.locator("#stop-reason").wait_for()
    assert "maximum depth" in page.locator("#stop-reason").inner_text()
    assert page.locator("#revise-button").count() == 0
    page.locator("#revise-anyway").click()
    _wait_for_run(page)
    assert page.locator("#run-failed").count() == 0

    # Finish, and reopen.
    if page.locator("#edit-list").count():
        page.get_by_role("button", name="Reject all pending").click()
        page.locator("#apply-button").click()
        page.locator("#apply-button").wait_for(state="detached")
    page.locator("#finish-button").click()
    page.locator("#reopen-button").wait_for()
    assert "finished" in page.locator("#stop-reason").inner_text().lower()
    page.locator("#reopen-button").click()
    page.locator("#finish-button").wait_for()
    page.locator("#finish-button").click()
    page.locator("#reopen-button").wait_for()

    # The clean read view on a 360 px screen: no sideways scrolling, changes on demand, downloads.
    page.set_viewport_size({"width": 360, "height": 740})
    page.locator("#read-link").click()
    page.wait_for_url(re.compile(r"/read$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    clean = page.locator("#read-text").inner_text()
    assert "We think the flow" in clean and "beleive" not in clean
    assert page.locator("#read-text del, #read-text ins").count() == 0
    page.locator("#toggle-changes").click()
    page.wait_for_url(re.compile(r"changes=true"))
    assert page.locator("#read-text ins, #read-text del").count() >= 1
    # Copy gives the text as it reads now, without the removed words.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.locator("#copy-text").click()
    page.locator("#copy-text").filter(has_text="Copied").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "We think the flow" in copied and "beleive" not in copied
    for suffix in ("txt", "md"):
        with page.expect_download() as info:
            page.locator(f"#download-{suffix}").click()
        download = info.value
        assert download.suggested_filename == f"Hand-edits.{suffix}"
        assert "We think the flow" in Path(download.path()).read_text(encoding="utf-8")
    page.screenshot(path="/tmp/emend-read-360.png", full_page=True)
