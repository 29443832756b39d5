"""The demo writer signs in through the form and finds the demo document."""
from __future__ import annotations

import re

import pytest

from app.demo import DEMO_PROJECT, DEMO_TITLE

pytestmark = pytest.mark.browser


def _sign_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_demo_writer_signs_in_and_sees_the_demo_document(page):
    _sign_in(page, "writer@example.com", "emend-demo")

    page.wait_for_url(re.compile(r"/projects$"))
    project_link = page.get_by_role("link", name=DEMO_PROJECT)
    project_link.click()

    page.wait_for_url(re.compile(r"/projects/\d+$"))
    assert page.get_by_text(DEMO_TITLE).first.is_visible()


def test_wrong_password_shows_an_error_and_stays_signed_out(page):
    _sign_in(page, "writer@example.com", "not-the-password")

    error = page.locator(".flash-error")
    error.wait_for()
    assert "Wrong e-mail or password" in error.inner_text()
    assert page.url.endswith("/login")
    assert page.get_by_label("E-mail").input_value() == "writer@example.com"


def test_error_pages_for_a_signed_in_user_keep_the_page_frame(page):
    """On the real server the request's session is closed before an error page is drawn."""
    _sign_in(page, "writer@example.com", "emend-demo")
    page.wait_for_url(re.compile(r"/projects$"))
    for path, status, message in (("/documents/999999", 404, "No such document."),
                                  ("/admin/users", 403, None)):
        response = page.goto(path)
        assert response.status == status, (path, response.status)
        assert page.locator(".who").inner_text()  # the frame shows who is signed in
        if message:
            assert message in page.content()
