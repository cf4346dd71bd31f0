"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

The fixtures (`browser`, `page`) live in conftest.py; the helpers tests call live here.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer


def artifacts_dir() -> Path:
    """Where test artifacts go: $TEST_ARTIFACTS_DIR, else <CRM_VAR_DIR>/test-artifacts.

    The default lies in the var dir, which git ignores: screenshots are looked at, never
    committed.
    """
    return Path(os.environ.get("TEST_ARTIFACTS_DIR") or Path(settings.VAR_DIR) / "test-artifacts")


def shoot(page: Page, name: str) -> Path:
    """Save a full-page PNG of `page` as screenshots/<name>.png under artifacts_dir()."""
    path = artifacts_dir() / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    return path


def login(page: Page, live_server: LiveServer, user: AbstractBaseUser, password: str) -> None:
    """Sign `user` in through the Django admin's login form, as a person would.

    Fails the test at once, with the form's error, when the admin refuses the credentials.
    """
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("input[type=submit]")
    if "/admin/login/" in page.url:
        errors = page.locator(".errornote, .errorlist").all_inner_texts()
        raise AssertionError(f"admin login as {user.get_username()!r} refused: {errors}")
