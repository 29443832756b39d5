"""A writer reviews a 1,000-edit run in windows with the keyboard, filters the edit list, and every
writer page fits a 360 px screen."""
from __future__ import annotations

import re
import subprocess

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import make_engine
from app.documents import service as documents
from app.edits import window
from app.models import Edit, Project, Run, User
from tests.browser.conftest import _emend_command, _healthy
from tests.helpers import ROOT, free_port, process_env, stop_process, wait_until

pytestmark = pytest.mark.browser

EDITS = 1_000
INTENTS = ("fluency", "clarity", "style", "coherence")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """`emend serve` (demo users, no worker) with a document whose run has 1,000 pending edits."""
    var = tmp_path_factory.mktemp("windows")
    url_db = f"sqlite:///{var / 'emend.db'}"
    port = free_port()
    env = {"EMEND_DATABASE_URL": url_db, "EMEND_BROKER_URL": f"sqla+sqlite:///{var / 'broker.db'}",
           "EMEND_EXPORT_DIR": str(var / "exports")}
    with open(var / "serve.log", "wb") as log:
        proc = subprocess.Popen([*_emend_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-worker"], cwd=str(ROOT), env=process_env(env), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url), timeout=120, interval=0.2, proc=proc, what=f"{url}/healthz")
        engine = make_engine(url_db)
        with Session(engine) as session:
            writer = session.scalar(select(User).where(User.email == "writer@example.com"))
            project = session.scalar(select(Project).order_by(Project.id).limit(1))
            text = "\n\n".join(f"Paragraph {n}: the team beleive the flow is changing." for n in range(EDITS))
            document = documents.create_document(session, project_id=project.id, title="Long report",
                                                 text=text, actor=writer)
            version = document.current_version
            run = Run(project_id=project.id, document_id=document.id, version_id=version.id,
                      model="emend/offline-reviser", status="succeeded", created_by_id=writer.id)
            session.add(run)
            session.flush()
            cursor, rows = 0, []
            for n in range(EDITS):
                start = text.index("beleive", cursor)
                cursor = start + 7
                rows.append(Edit(run_id=run.id, version_id=version.id, start=start, end=cursor, original="beleive",
                                 replacement="believe", intent=INTENTS[n % 4], rationale="spelling",
                                 confidence=0.95 if n % 2 else 0.6))
            session.add_all(rows)
            session.commit()
            ids = {"document": document.id, "run": run.id, "edits": [e.id for e in rows]}
        engine.dispose()
        yield url, ids
    finally:
        stop_process(proc)


@pytest.fixture
def writer_page(browser, seeded):
    url, ids = seeded
    context = browser.new_context(base_url=url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("E-mail").fill("writer@example.com")
    page.get_by_label("Password").fill("emend-demo")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/projects$"))
    try:
        yield page, ids
    finally:
        context.close()


def test_keyboard_review_crosses_windows(writer_page):
    page, ids = writer_page
    response = page.goto(f"/documents/{ids['document']}")
    assert len(response.body()) < 300_000  # a window, not the whole run
    rows = page.locator("#edit-list .edit-row")
    assert rows.count() == window.PAGE_EDITS
    page.locator("body").press("j")
    first = ids["edits"][0]
    assert page.locator(f"#edit-{first}.current").count() == 1
    page.keyboard.press("a")  # accept, and on to the next
    page.wait_for_function(f"document.querySelector('#edit-{first}').dataset.status === 'accepted'")
    for _ in range(window.PAGE_EDITS - 2):
        page.keyboard.press("j")
    last_loaded = ids["edits"][window.PAGE_EDITS - 1]
    assert page.locator(f"#edit-{last_loaded}.current").count() == 1
    # j past the window's last row fetches the next page and moves into it.
    page.keyboard.press("j")
    beyond = ids["edits"][window.PAGE_EDITS]
    page.locator(f"#edit-{beyond}.current").wait_for()
    # Its text section is fetched too, with the mark highlighted.
    page.locator(f"#mark-{beyond}.current").wait_for()
    page.keyboard.press("r")
    page.wait_for_function(f"document.querySelector('#edit-{beyond}').dataset.status === 'rejected'")
    assert page.locator(f"#edit-{ids['edits'][window.PAGE_EDITS + 1]}.current").count() == 1
    page.keyboard.press("k")
    page.keyboard.press("k")
    assert page.locator(f"#edit-{last_loaded}.current").count() == 1
    assert page.locator("#counters [data-count=pending]").inner_text().strip() == str(EDITS - 2)
    # Accept-all stays one action for the whole run, loaded or not.
    page.get_by_role("button", name="Accept all pending").click()
    page.locator("#apply-button").wait_for()
    assert re.match(rf"Apply {EDITS - 1} edits", page.locator("#apply-button").inner_text())


def _settled(page) -> None:
    """htmx gives swapped-in content its behaviour when it settles (20 ms later): a change made
    before that would be lost, by a test far faster than a person."""
    page.wait_for_function("!document.querySelector('.htmx-added, .htmx-settling, .htmx-request')")


def test_writer_filters_the_list_and_decides_the_filtered_set(writer_page):
    page, ids = writer_page
    page.goto(f"/documents/{ids['document']}")
    page.locator(".edit-filters select[name=intent]").select_option("style")
    page.locator("#filter-summary").wait_for()
    _settled(page)
    badges = page.locator("#edit-list .edit-row .badge.intent-style")
    assert page.locator("#edit-list .edit-row").count() == badges.count() > 0
    page.locator(".edit-filters select[name=min_confidence]").select_option("0.9")  # style edits here are all 0.6
    page.locator("#no-match").wait_for()
    _settled(page)
    page.locator(".edit-filters select[name=intent]").select_option("clarity")
    page.wait_for_function("document.querySelector('#filter-summary').innerText.startsWith('250 edits match')")
    assert page.locator("#edit-list .edit-row .badge.intent-clarity").count() == window.PAGE_EDITS
    if page.get_by_role("button", name="Accept the pending ones").count():
        page.get_by_role("button", name="Accept the pending ones").click()
        page.wait_for_function("!document.querySelector('#edit-list .edit-row[data-status=pending]')")
        assert page.locator("#edit-list .edit-row[data-status=accepted]").count() > 0
    # A space or punctuation change is readable in the line: the change is marked, context around it.
    line = page.locator("#edit-list .edit-row .edit-change").first.inner_text()
    assert "beleive" in line and "believe" in line and "flow" in line


@pytest.mark.parametrize("path", ["/projects", "{project}", "{document}", "{document}/versions", "{diff}"])
def test_writer_pages_fit_360_px(writer_page, path):
    page, ids = writer_page
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"/documents/{ids['document']}")
    project = page.locator("p.muted a").first.get_attribute("href")
    target = path.format(project=project, document=f"/documents/{ids['document']}",
                         diff=f"/documents/{ids['document']}/versions")
    page.goto(target)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{target} is {width} px wide"
    sign_out = page.get_by_role("button", name="Sign out").bounding_box()
    assert sign_out and sign_out["x"] >= 0 and sign_out["x"] + sign_out["width"] <= 360
    assert httpx.get(page.url.split("/", 3)[0] + "//" + page.url.split("/")[2] + "/healthz").status_code == 200
