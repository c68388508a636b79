"""A real headless Chromium (Debian's `chromium` package) driven by Playwright for Python.

Playwright's own browser download is never used: the machines are offline from it, and CI
installs `chromium` with apt (.ci/run). Without the browser these tests skip with a clear
message, except under CI (env `CI` set), where a missing browser fails the run.
"""

import importlib
import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser tests must run)", pytrace=False)
    pytest.skip(f"{reason}; browser tests skipped (apt-get install chromium to run them)")


@pytest.fixture(scope="module")
def browser(django_db_setup):
    """One Chromium per module, stopped after it: Playwright's sync API keeps an asyncio loop
    running in this thread while it lives, which other tests' ORM calls must not see."""
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (requirements-dev.txt)")
    # While that loop runs, Django refuses ORM calls from this thread unless told they are
    # synchronous (they are: the test's own setup and checks).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser, live_server):
    """Pages of their own browser contexts (own cookies: one person each), closed after."""
    contexts = []

    def open_page(width=1000, height=720):
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": width, "height": height},
            accept_downloads=True,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def agents_group(transactional_db):
    """The group of migration 0005; a transactional test flushes it, so put it back."""
    from django.apps import apps
    from django.contrib.auth.models import Group

    if not Group.objects.filter(name="Agents").exists():
        importlib.import_module("conversations.migrations.0005_agents_group").add_agents_group(
            apps, None
        )
    return Group.objects.get(name="Agents")


@pytest.fixture
def template(transactional_db):
    from tests.factories import DltTemplateFactory

    return DltTemplateFactory(name="Appointment confirmed", template_id="1107160000000000001")


@pytest.fixture
def signed_in(page, agents_group):
    from .helpers import sign_in

    return sign_in(page, agents_group)


@pytest.fixture
def seed_inbox(transactional_db):
    from tests.factories import seed_mockup_conversations

    seed_mockup_conversations()
