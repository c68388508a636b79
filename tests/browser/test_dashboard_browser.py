"""The supervisors' dashboard in a real browser (issue 8): staff see the charts, agents are
refused."""

import re

import pytest

from tests.factories import StaffFactory, UserFactory, seed_mockup_conversations

from .helpers import expect, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, username):
    page.goto("/accounts/login/?next=/dashboard/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pass-for-tests-1")
    page.get_by_role("button", name="Sign in").click()


def test_staff_sees_the_charts_without_console_errors(page):
    seed_mockup_conversations()
    StaffFactory(username="boss")
    problems = []
    page.on(
        "console",
        lambda m: problems.append(f"{m.text} {m.location}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    sign_in(page, "boss")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(4)
    # The per-day chart drew its three lines, and they have a size on the page.
    expect(page.locator("#panel-outbound polyline")).to_have_count(3)
    box = charts.first.bounding_box()
    assert box["width"] > 200 and box["height"] > 50
    expect(page.locator("#panel-outbound")).to_contain_text("Messages sent, delivered and failed")
    with page.expect_download() as download:
        page.locator("#panel-outbound a.csv").click()
    assert download.value.suggested_filename.startswith("dashboard-outbound-")
    screenshot(page, "dashboard.png")
    assert problems == []


def test_an_agent_is_refused(page):
    UserFactory(username="asha")
    sign_in(page, "asha")
    response = page.goto("/dashboard/")
    assert response.status == 403
    expect(page.locator("svg.chart")).to_have_count(0)
