"""What the browser tests share: Playwright's `expect` (or a module-level skip without
Playwright, except under CI), signing in, screenshots."""

import os
import re
from pathlib import Path

import pytest

try:
    from playwright.sync_api import expect
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip(
        "Playwright for Python is not installed (requirements-dev.txt); browser tests skipped",
        allow_module_level=True,
    )

from tests.factories import UserFactory

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
RAVI = "+919876543210"


def sign_in(page, group, username="asha"):
    """A new agent `username` in `group`, signed in through the login page."""
    user = UserFactory(username=username)
    user.groups.add(group)
    page.goto("/inbox/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pass-for-tests-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="SMS Conversations")).to_be_visible()
    return page


def screenshot(page, name):
    """Into docs/screenshots/ when UPDATE_SCREENSHOTS is set (for the README), else nowhere."""
    if os.environ.get("UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name))
