"""Issue 12 (2–3) in the browser: an annotator corrects a critique stage row by row — a bad value
first, answered beside the row with every typed value kept — then saves; the corrected critique
is marked in the version's text on the child run's trace. Uses a document of its own (the live
server is shared between browser tests)."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from app.demo import DEMO_PROJECT
from tests.browser.flows import finished_run_on_new_document, wait_for_run
from tests.browser.test_annotator import _sign_in

pytestmark = pytest.mark.browser
TEXT = ("Teh cat sat on the the mat. Their going to the market tomorow.\n\n"
        "The report was written by the committee. Nobody knew why it took so long.")


def _own_run(page) -> int:
    _sign_in(page, "writer@example.com")
    page.get_by_role("link", name=DEMO_PROJECT).click()
    page.wait_for_url(re.compile(r"/projects/\d+$"))
    project_id = int(re.search(r"/projects/(\d+)", page.url).group(1))
    return finished_run_on_new_document(page, project_id, f"Row corrections {time.time_ns()}", TEXT)


def test_annotator_corrects_a_critique_row_by_row(page):
    run_id = _own_run(page)
    _sign_in(page, "annotator@example.com")
    page.goto(f"/runs/{run_id}/trace")
    stage = page.locator("section.stage").first
    expect(stage.locator("h2")).to_contain_text("critique")
    stage.get_by_text("Correct this output and re-run the later stages").click()
    editor = stage.locator("details.correct")
    rows = editor.locator(".correction-row")
    expect(editor.get_by_role("tab", name="Rows")).to_be_focused()  # loaded on opening

    # Start from an empty list: remove the model's rows one by one (the focus stays in the editor).
    while rows.count():
        before = rows.count()
        rows.first.get_by_role("button", name=re.compile(r"Remove row 1")).click()
        expect(rows).to_have_count(before - 1)
    editor.get_by_role("button", name="+ Add a row").click()
    expect(rows).to_have_count(1)
    expect(rows.nth(0).get_by_label("Passage *")).to_be_focused()  # the new row's first field
    first = rows.nth(0)
    first.get_by_label("Passage *").fill("Nobody knew why it took so long.")
    first.get_by_label("Category *").fill("vague")
    first.get_by_label("Severity *").fill("low")
    first.get_by_label("Critique *").fill("Why is never said.")
    first.get_by_role("button", name="Add a row after row 1").click()
    expect(rows).to_have_count(2)
    second = rows.nth(1)
    second.get_by_label("Passage *").fill("Teh cat sat on the the mat.")
    second.get_by_label("Category *").fill("spelling")
    second.get_by_label("Severity *").fill("severe")  # not one of low, medium, high
    second.get_by_label("Critique *").fill("Misspelt “The” and a doubled “the”.")
    # Alt+↑ in a row moves it up, from the keyboard; the values move with it.
    second.get_by_label("Critique *").press("Alt+ArrowUp")
    expect(rows.nth(0).get_by_label("Category *")).to_have_value("spelling")
    expect(rows.nth(1).get_by_label("Category *")).to_have_value("vague")

    editor.get_by_label("Why (optional)").fill("the spelling is the real problem")
    editor.get_by_role("button", name="Save correction and re-run").click()
    bad = rows.nth(0)
    expect(bad.locator(".row-problems")).to_contain_text("Severity must be one of low, medium, high")
    expect(bad.get_by_label("Severity *")).to_have_value("severe")
    expect(bad.get_by_label("Severity *")).to_have_attribute("aria-invalid", "true")
    expect(bad.get_by_label("Severity *")).to_be_focused()
    expect(bad.get_by_label("Critique *")).to_have_value("Misspelt “The” and a doubled “the”.")
    expect(rows.nth(1).get_by_label("Passage *")).to_have_value("Nobody knew why it took so long.")
    expect(rows.nth(1).locator(".row-problems")).to_have_count(0)
    expect(editor.get_by_label("Why (optional)")).to_have_value("the spelling is the real problem")
    assert page.url.endswith(f"/runs/{run_id}/trace")  # the same page, no error page

    # The Advanced (JSON) tab shows the same rows as JSON.
    editor.get_by_role("tab", name="Advanced (JSON)").click()
    expect(editor.locator("textarea[name=parsed_output]")).to_contain_text('"severity": "severe"')
    editor.get_by_role("tab", name="Rows").click()
    expect(rows).to_have_count(2)

    bad.get_by_label("Severity *").fill("high")
    editor.get_by_role("button", name="Save correction and re-run").click()
    page.wait_for_url(re.compile(rf"/runs/(?!{run_id}/)\d+/trace$"))
    child_id = int(re.search(r"/runs/(\d+)/trace", page.url).group(1))
    page.get_by_text("Corrected rerun of").wait_for()
    assert wait_for_run(page, child_id)["status"] == "succeeded"
    page.reload()

    # The corrected critiques are marked in the version's text, in place.
    critique = page.locator("section.stage").first
    marks = critique.locator(".stage-context mark.context-critique")
    expect(marks.filter(has_text="Teh cat sat on the the mat.")).to_have_count(1)
    expect(marks.filter(has_text="Nobody knew why it took so long.")).to_have_count(1)
    expect(critique.locator(".stage-context")).to_contain_text("Their going to the market")
    assert "Misspelt" in critique.inner_text()
