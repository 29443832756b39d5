"""Browser tests: `emend serve` in a subprocess, driven by Playwright in Debian's Chromium.

Mark browser test modules with `pytestmark = pytest.mark.browser`. Without /usr/bin/chromium
the tests are skipped, except under CI=true, where they fail.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI
from tests.helpers import ROOT, free_port, process_env, stop_process, wait_until

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags Chromium keeps dialling Google services, which this network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


def _emend_command() -> list[str]:
    script = shutil.which("emend", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "app.cli"]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serve(var: Path, database_url: str | None = None) -> Iterator[str]:
    """`emend serve` as a user gets it (demo data, a worker on the embedded broker) on a free port,
    on its own SQLite file under `var` or on `database_url`. Yields the base URL."""
    port = free_port()
    env = {
        "EMEND_DATABASE_URL": database_url or f"sqlite:///{var / 'emend.db'}",
        "EMEND_BROKER_URL": f"sqla+sqlite:///{var / 'broker.db'}",
        "EMEND_EXPORT_DIR": str(var / "exports"),
    }
    log_path = var / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*_emend_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--concurrency", "2"],
                                cwd=str(ROOT), env=process_env(env), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    proc.log_path = log_path
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url), timeout=120, interval=0.2, proc=proc, what=f"{url}/healthz")
        yield url
    finally:
        stop_process(proc)  # SIGTERM to its process group: uvicorn and its Celery worker


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[str]:
    """The whole app on the embedded default, shared by the browser tests of a session."""
    with serve(tmp_path_factory.mktemp("live")) as url:
        yield url


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser, live_server) -> Iterator:
    """A fresh browser context (no cookies) per test, with the live server as base URL."""
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
