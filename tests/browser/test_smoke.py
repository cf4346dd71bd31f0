"""The browser harness itself: Chromium signs in to the admin and sees it styled, and the
guards every browser test relies on (no other host, dialogs recorded) do their job."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.browser import login, shoot
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"  # UserFactory's


def test_a_superuser_signs_in_through_the_admin_form_and_sees_the_styled_index(
    page: Page, live_server: LiveServer
) -> None:
    """GIVEN a superuser
    WHEN they sign in through /admin/login/ in Chromium
    THEN the admin index shows, styled by the live server's own static files, with no
    request to another host and no dialog."""
    admin = UserFactory(username="boss", is_staff=True, is_superuser=True)

    login(page, live_server, admin, PASSWORD)

    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    # The admin's stylesheet loaded: the header bar is not the browser's default white.
    header_colour = page.locator("#header").evaluate("e => getComputedStyle(e).backgroundColor")
    assert header_colour not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
    shoot(page, "admin-index")
    assert page.external_requests == []  # type: ignore[attr-defined]
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_an_alert_is_recorded_and_a_request_to_another_host_is_blocked(
    page: Page, live_server: LiveServer
) -> None:
    """The XSS checks rely on `page.dialogs`, and the no-other-host rule on the blocking."""
    page.goto("/admin/login/")

    page.evaluate("alert(1)")
    status = page.evaluate(
        "fetch('http://example.invalid/x.js').then(r => r.status, () => 'blocked')"
    )

    assert page.dialogs == ["1"]  # type: ignore[attr-defined]
    assert status == "blocked"
    assert page.external_requests == ["http://example.invalid/x.js"]  # type: ignore[attr-defined]
    # Cleared so the fixture's teardown does not fail this test for the blocked request.
    page.external_requests.clear()  # type: ignore[attr-defined]
