"""A writer takes a 40,000-word document through two rounds in the browser (issue 9, "done when"):
upload, a chunked run by the real worker, keyboard review across windows, accept-all + apply, a
hand edit of a paragraph, revise again, the diff of the first and the last version in windows, the
clean read view. Every page the writer opens stays small."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from app.demo import DEMO_PROJECT
from tests.browser.conftest import serve
from tests.browser.test_writer_edits import _sign_in, _wait_for_run
from tests.conftest import PG_URL, create_postgres_database, drop_postgres_database
from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from run_bench import prose  # (the benches' generated prose with planted mistakes)

pytestmark = pytest.mark.browser

PAGE_LIMIT = 300_000  # bytes of HTML per page, whatever the document's size


def _goto_small(page, path: str):
    response = page.goto(path)
    assert response.ok, (path, response.status)
    if len(response.body()) > PAGE_LIMIT:
        Path("/tmp/emend-large-page.html").write_bytes(response.body())  # to see what made it large
    assert len(response.body()) <= PAGE_LIMIT, (path, len(response.body()))
    return response


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def long_page(request, browser, tmp_path):
    """A page on a server of this test's own: the embedded default, and the app on PostgreSQL."""
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("EMEND_TEST_DATABASE_URL is not set")
    database_url = create_postgres_database(PG_URL) if request.param == "postgresql" else None
    try:
        with serve(tmp_path, database_url) as url:
            context = browser.new_context(base_url=url)
            context.set_default_timeout(15_000)
            try:
                yield context.new_page()
            finally:
                context.close()
    finally:
        if database_url:
            drop_postgres_database(PG_URL, database_url)


@pytest.mark.timeout(1500)  # two offline-reviser runs of 40k words on a loaded two-core machine
def test_writer_takes_a_40000_word_document_through_two_rounds(long_page, tmp_path):
    page = long_page
    text = prose(words=40_000, seed=40)
    assert len(text.split()) >= 40_000 and len(text) > 200_000
    upload = tmp_path / "chapter.txt"
    upload.write_text(text, encoding="utf-8")

    _sign_in(page)
    page.get_by_role("link", name=DEMO_PROJECT).click()
    page.wait_for_url(re.compile(r"/projects/\d+$"))
    page.get_by_role("link", name="New document").click()
    page.get_by_label("Title").fill("Chapter of 40k words")
    page.locator("input[type=file][name=file]").set_input_files(str(upload))
    page.get_by_role("button", name="Create document").click()
    page.wait_for_url(re.compile(r"/documents/\d+$"), timeout=60_000)
    document_url = page.url
    document_path = "/" + document_url.split("/", 3)[3]

    # Round 1: a chunked run by the worker; progress counts chunks while it works.
    page.get_by_role("button", name="Start a run").click()
    page.locator("#review[hx-trigger]").wait_for()
    page.wait_for_function("() => /chunks? done/i.test(document.querySelector('#review').innerText)"
                           " || !document.querySelector('#review[hx-trigger]')", timeout=300_000)
    assert re.search(r"chunks? done", page.locator("#review").inner_text(), re.IGNORECASE)  # 39 chunks: seconds
    _wait_for_run(page)
    assert page.locator("#run-failed").count() == 0
    _goto_small(page, document_path)
    rows = page.locator("#edit-list .edit-row[data-status='pending']")
    assert rows.count() >= 20
    pending = int(page.locator("#counters [data-count=pending]").inner_text())
    # The critiques beside the text come a page at a time as the writer scrolls their list.
    critiques = page.locator("#critiques .critique")
    shown = critiques.count()
    assert page.locator("#critiques-more").count() == 1
    page.locator("#critiques-more").scroll_into_view_if_needed()
    page.wait_for_function(f"document.querySelectorAll('#critiques .critique').length > {shown}")
    assert pending >= 100  # planted mistakes all through the document, not only its first chunk

    # The keyboard: move, accept one, reject the next.
    page.locator("body").press("j")
    first = page.locator("#edit-list .edit-row.current")
    first_id = first.get_attribute("id")
    page.keyboard.press("a")
    page.wait_for_function(f"document.querySelector('#{first_id}').dataset.status === 'accepted'")
    second_id = page.locator("#edit-list .edit-row.current").get_attribute("id")
    page.keyboard.press("r")
    page.wait_for_function(f"document.querySelector('#{second_id}').dataset.status === 'rejected'")
    page.get_by_role("button", name="Accept all pending").click()
    page.locator("#apply-button").wait_for()
    assert re.match(rf"Apply {pending - 1} edits", page.locator("#apply-button").inner_text())
    page.locator("#apply-button").click()
    page.locator("#apply-button").wait_for(state="detached", timeout=60_000)

    # A hand edit of the third paragraph, saved as a new version.
    _goto_small(page, document_path + "/write")
    page.locator("#p-2 [data-action='edit-paragraph']").click()
    box = page.locator("#p-2 textarea")
    box.wait_for()
    box.fill("A paragraph the writer rewrote by hand.")
    page.locator("#p-2 [data-action='save']").click()
    page.locator("#saved").wait_for()
    assert "Saved as version" in page.locator("#saved").inner_text()

    # Round 2 on the hand-edited version.
    _goto_small(page, document_path)
    page.locator("#revise-button").click()
    _wait_for_run(page)
    assert page.locator("#run-failed").count() == 0

    # History and the diff of the first and latest versions, a window at a time.
    _goto_small(page, document_path + "/versions")
    versions = page.locator("[id^=version-]")
    assert versions.count() >= 3
    ids = sorted(int(v.get_attribute("id").split("-")[1]) for v in versions.all())
    _goto_small(page, f"{document_path}/diff?a={ids[0]}&b={ids[-1]}")
    assert page.locator("#word-diff ins.edit").count() >= 1
    # The rewritten paragraph reads as one insertion, not new words threaded through the old.
    inserted = page.locator("#word-diff ins.edit").all_inner_texts()
    assert any("A paragraph the writer rewrote by hand" in piece for piece in inserted)
    before = page.locator("#word-diff ins.edit").count()
    page.locator("#word-diff .diff-more").scroll_into_view_if_needed()
    page.wait_for_function(f"document.querySelectorAll('#word-diff ins.edit').length > {before}")

    # The clean text: the hand edit and the accepted fixes are in it.
    _goto_small(page, document_path + "/read")
    clean = page.locator("#read-text").inner_text()
    assert "A paragraph the writer rewrote by hand." in clean
    assert clean.count("we beleive") < text.count("we beleive")  # the accepted fixes are applied
