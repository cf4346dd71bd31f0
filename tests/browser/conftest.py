"""Fixtures for browser tests: Debian's Chromium, one fresh page per test, and two guards.

The browser is the system's `chromium` (never a build Playwright downloads), started once
for this package. Every test runs on transactional_db against pytest-django's live server,
starting from the rows a fresh migration made. Each test gets a new context and page on
which:
- any request to another origin than the live server's is blocked and fails the test, so
  no page here may load a font, script or image from elsewhere;
- JavaScript dialogs (alert, confirm, prompt) are dismissed and their messages recorded in
  `page.dialogs`, so a test can assert that no injected script ran.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from playwright.sync_api import Browser, Dialog, Page, Playwright, Request, Route, sync_playwright
from pytest_django import DjangoDbBlocker
from pytest_django.live_server_helper import LiveServer

INSTALL_HINT = (
    "Browser tests need Debian's Chromium on PATH (never a downloaded browser build): "
    "`sudo apt-get install chromium`, or `make browser` as root."
)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


@pytest.fixture
def _migrated_rows_around(
    django_db_setup: None, django_db_blocker: DjangoDbBlocker
) -> Iterator[None]:
    """Start a browser test on empty tables; leave the rows of a fresh migration behind.

    transactional_db empties every table after a test, rows the migrations made too (the
    role groups), and with serialized rollback reloads those rows before the next one.
    Two gaps are closed here. Before: a transactional test elsewhere may have emptied the
    tables and let post_migrate re-create content types and permissions under new ids, with
    which the reloaded rows would collide, so the tables are emptied without post_migrate.
    After: the next test in the suite finds the database as migrating left it, as it would
    after any non-transactional test, and not without permissions or groups.
    """
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)
    yield
    connection = connections[DEFAULT_DB_ALIAS]
    with django_db_blocker.unblock():
        connection.creation.deserialize_db_from_string(connection._test_serialized_contents)


@pytest.fixture
def transactional_db(_migrated_rows_around: None, transactional_db: None) -> None:
    """pytest-django's transactional_db, inside _migrated_rows_around.

    live_server requests this fixture before any other database fixture of a test, so
    overriding it is the one place that surely wraps pytest-django's own setup and teardown.
    """


@pytest.fixture(autouse=True)
def _browser_tests_use_transactional_db(
    transactional_db: None, django_db_serialized_rollback: None
) -> None:
    """The live server answers from its own thread and connection, so a test's rows must be
    committed for it to see them: every browser test runs on transactional_db, and starts
    from the rows a fresh migration made (serialized rollback; see _migrated_rows_around).
    """


@pytest.fixture(scope="package")
def playwright(django_db_setup: None) -> Iterator[Playwright]:
    """Playwright's sync API, for this package's tests only.

    From start() to stop() it keeps an asyncio loop "running" in this thread (it switches
    to the loop through greenlets), and Django reacts in two ways that are undone here:
    - every ORM call in this thread, by a test or by pytest-django's fixtures, looks like
      one made from async code and raises SynchronousOnlyOperation. They are plain blocking
      calls between browser steps, so that check is off for exactly this window;
    - `connections` (asgiref's Local) switches to a second, context-local store and would
      open second connections, which lack what pytest-django keeps on the first ones (the
      database's contents after migrating, reloaded by serialized rollback). That store is
      handed this thread's own connections instead.
    Package scope closes the window after the last browser test (pytest-django runs these
    transactional tests together), so the rest of the suite keeps Django's check.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    own = {alias: connections[alias] for alias in connections}
    manager = sync_playwright().start()
    for alias, connection in own.items():
        connections[alias] = connection
    try:
        yield manager
    finally:
        manager.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def chromium_executable() -> str:
    """Debian's `chromium` on PATH. Missing, it skips these tests, or fails them under CI."""
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT, pytrace=False)
        pytest.skip(INSTALL_HINT)
    return executable


@pytest.fixture(scope="package")
def browser(chromium_executable: str, playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless, shared by every browser test."""
    args = [
        # Tests run as root (CI does), where Chromium refuses to start its sandbox.
        "--no-sandbox",
        # The browser itself, not any page, calls Google (Debian's wrapper gives it API
        # keys): update.googleapis.com, accounts.google.com, and content-autofill when a
        # form is filled. Page routing never sees those; resolving no name but localhost
        # stops them before even a DNS query leaves the machine.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
    ]
    browser = playwright.chromium.launch(
        executable_path=chromium_executable, args=args, headless=True
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A page in a fresh context (1280x900) whose relative URLs go to the live server.

    Extra attributes: `page.dialogs`, the messages of the dialogs that opened (each
    dismissed), and `page.external_requests`, the URLs it tried to load from elsewhere
    (each blocked). Any of the latter fails the test at teardown.
    """
    server = _origin(live_server.url)
    dialogs: list[str] = []
    external: list[str] = []

    def guard(route: Route, request: Request) -> None:
        if _origin(request.url) == server:
            route.continue_()
        else:
            external.append(request.url)
            route.abort("blockedbyclient")

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.route("**/*", guard)
    page = context.new_page()
    page.on("dialog", on_dialog)
    # Web sockets bypass routing; the UI opens none, so any one counts as external.
    page.on("websocket", lambda ws: external.append(ws.url))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    page.external_requests = external  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()
    if external:
        pytest.fail(f"the page loaded from another host than {live_server.url}: {external}")
