"""The inbox in a real browser against a live server (issue 6)."""

import re
from pathlib import Path

import pytest
import requests

from conversations.models import Conversation, Message
from conversations.services import sending
from conversations.services.status_callbacks import apply_status, parse_status_report
from tests.factories import OptOutFactory, conversation_with_messages
from tests.sms import inbound_fields

from .helpers import RAVI, expect, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    # Sends are checked and stored; no worker calls Exotel here (its callbacks are applied below).
    monkeypatch.setattr(sending, "enqueue_send", lambda message: None)


def test_an_agent_signs_in_and_sees_the_list(signed_in, seed_inbox):
    page = signed_in
    page.reload()
    rows = page.locator("li.conversation")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("+919876543210 — Ravi Kumar")
    expect(rows.first).to_contain_text('Last: "Yes, I confirm my appointment"')
    expect(rows.first).to_contain_text("2m ago")
    expect(rows.nth(2)).to_contain_text("Last: Delivered (no reply)")
    expect(page.get_by_role("link", name="Send New Message")).to_be_visible()
    screenshot(page, "inbox-list.png")


def test_open_a_thread_reply_and_see_it_delivered_live(signed_in, seed_inbox, template):
    page = signed_in
    page.reload()
    page.get_by_role("link", name=re.compile("Ravi Kumar")).click()
    expect(page.locator("#thread .bubble.inbound").last).to_contain_text(
        "Yes, I confirm my appointment"
    )
    page.get_by_label("DLT template").select_option(label="Appointment confirmed")
    page.get_by_label("Variable 1").fill("21 Jan")
    page.get_by_label("Variable 2").fill("4 PM")
    expect(page.locator("[data-compose-preview]")).to_have_text(
        "Your appointment is confirmed for 21 Jan at 4 PM. Reply YES to confirm or NO to cancel."
    )
    expect(page.locator("[data-compose-counter]")).to_contain_text("1 SMS · GSM-7")
    screenshot(page, "inbox-thread.png")
    page.get_by_label("Variable 2").press("Control+Enter")
    expect(page.get_by_text("Reply queued.")).to_be_visible()
    reply = page.locator("#thread .bubble.outbound").last
    expect(reply).to_contain_text("21 Jan at 4 PM")
    expect(reply.locator(".status")).to_have_text("Pending")
    # What the worker and Exotel's callback do, applied here: the page shows it without reload.
    message = Message.objects.get(body__contains="21 Jan")
    _, report = parse_status_report(
        {"SmsSid": "sb_1", "Status": "delivered", "DetailedStatusCode": "20005"}
    )
    apply_status(message.pk, report, source="callback")
    expect(reply.locator(".status")).to_have_text("Delivered", timeout=6_000)


def test_an_inbound_reply_appears_live(signed_in, seed_inbox, live_server):
    page = signed_in
    page.goto(f"/inbox/c/{RAVI}/")
    response = requests.post(
        f"{live_server.url}/webhook/sms-incoming",
        data=inbound_fields("Running 10 minutes late", phone=RAVI),
        timeout=10,
    )
    assert response.status_code == 200
    expect(page.locator("#thread .bubble.inbound").last).to_have_text(
        re.compile("Running 10 minutes late"), timeout=6_000
    )
    page.goto("/inbox/")
    requests.post(
        f"{live_server.url}/webhook/sms-incoming",
        data=inbound_fields("New customer here", phone="+919876500001"),
        timeout=10,
    )
    expect(page.locator("li.conversation").first).to_contain_text(
        "New customer here", timeout=6_000
    )


def test_an_opted_out_number_cannot_be_messaged(signed_in, template):
    page = signed_in
    conversation_with_messages(RAVI, "Ravi Kumar", ("inbound", "STOP", "received"))
    OptOutFactory(phone_number=RAVI)
    page.goto(f"/inbox/c/{RAVI}/")
    expect(page.get_by_role("alert")).to_contain_text("opted out")
    expect(page.get_by_role("button", name="Send reply")).to_be_disabled()
    page.goto("/inbox/new/")
    page.get_by_label("Phone number").fill("9876543210")
    page.get_by_label("DLT template").select_option(label="Appointment confirmed")
    page.get_by_label("Variable 1").fill("21 Jan")
    page.get_by_label("Variable 2").fill("4 PM")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".errorlist")).to_contain_text("opted out")
    assert not Message.objects.filter(direction="outbound").exists()


def test_a_script_in_a_message_is_shown_as_text(signed_in):
    page = signed_in
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    conversation_with_messages(
        RAVI, "<b>Ravi</b>", ("inbound", "<script>alert(1)</script>", "received")
    )
    page.reload()
    expect(page.locator("li.conversation")).to_contain_text("<script>alert(1)</script>")
    page.goto(f"/inbox/c/{RAVI}/")
    expect(page.locator("#thread .bubble.inbound")).to_have_text(
        re.compile(r"<script>alert\(1\)</script>")
    )
    expect(page.locator("h1")).to_contain_text("<b>Ravi</b>")
    assert dialogs == []


def test_export_downloads_the_rows(signed_in, seed_inbox):
    page = signed_in
    page.reload()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export Conversations").click()
    download = download_info.value
    assert download.suggested_filename == "conversations.csv"
    lines = Path(download.path()).read_text().splitlines()
    assert lines[0].startswith("phone_number,name,assignee")
    assert len(lines) == 1 + 6
    assert sum("Priya Sharma" in line for line in lines) == 3


# --- Made for a team --------------------------------------------------------------------------


def test_others_see_who_is_replying_and_cannot_send_over_them(
    new_page, agents_group, seed_inbox, template
):
    from .helpers import sign_in

    asha = sign_in(new_page(), agents_group, "asha")
    ravi = sign_in(new_page(), agents_group, "ravi")
    ravi.goto(f"/inbox/c/{RAVI}/")
    send = ravi.get_by_role("button", name="Send reply")
    expect(send).to_be_enabled()
    asha.goto(f"/inbox/c/{RAVI}/")
    asha.get_by_label("Message", exact=True).fill("Typing a reply")
    # Ravi's page learns it from its polling of the thread (every 3 s), without reload.
    expect(ravi.locator("#reply-lock")).to_have_text(re.compile("^asha is replying"))
    expect(send).to_be_disabled()
    expect(asha.locator("#reply-lock")).to_be_hidden()
    expect(asha.get_by_role("button", name="Send reply")).to_be_enabled()


def test_a_flag_raised_while_the_thread_is_open_shows_live_and_is_marked_handled(
    signed_in, seed_inbox
):
    page = signed_in
    page.goto(f"/inbox/c/{RAVI}/")
    expect(page.locator("#attention")).to_be_empty()
    Conversation.objects.filter(phone_number=RAVI).update(needs_attention=True)
    button = page.get_by_role("button", name="Mark as handled")
    expect(button).to_be_visible(timeout=6_000)
    button.click()
    expect(page.get_by_text("Marked as handled.")).to_be_visible()
    expect(page.locator("#attention")).to_be_empty()
    page.goto("/inbox/?filter=attention")
    expect(page.locator("li.conversation")).to_have_count(0)


def test_one_click_closes_the_conversation_and_the_list_shows_it(signed_in, seed_inbox):
    page = signed_in
    page.goto(f"/inbox/c/{RAVI}/")
    page.get_by_role("button", name="Confirmed").click()
    expect(page.get_by_text("Closed as Confirmed.")).to_be_visible()
    expect(page.locator(".tag-closed")).to_have_text("Closed: Confirmed")
    page.goto("/inbox/?filter=closed")
    expect(page.locator("li.conversation")).to_have_count(1)
    expect(page.locator("li.conversation")).to_contain_text("Confirmed")


def test_an_expired_session_takes_the_whole_page_to_the_login_page(signed_in, seed_inbox):
    page = signed_in
    page.goto("/inbox/?filter=unread")
    page.context.clear_cookies()
    # The next poll (every 4 s) is refused; the page goes to the login page as a whole.
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/inbox/%3Ffilter%3Dunread"))
    expect(page.get_by_role("heading", name="Sign in to SMS Desk")).to_be_visible()
    expect(page.locator("#conversation-list")).to_have_count(0)


# --- Phone width and keyboard -----------------------------------------------------------------


def _horizontal_overflow(page):
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_the_pages_fit_a_phone_screen(new_page, agents_group, seed_inbox, template):
    from .helpers import sign_in

    page = sign_in(new_page(width=375, height=740), agents_group)
    page.reload()
    expect(page.locator("li.conversation")).to_have_count(3)
    assert _horizontal_overflow(page) <= 0
    screenshot(page, "inbox-list-phone.png")
    page.goto(f"/inbox/c/{RAVI}/")
    page.get_by_label("DLT template").select_option(label="Appointment confirmed")
    page.get_by_label("Variable 1").fill("21 Jan")
    page.get_by_label("Variable 2").fill("4 PM")
    send = page.get_by_role("button", name="Send reply")
    send.scroll_into_view_if_needed()
    box = send.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    assert _horizontal_overflow(page) <= 0
    screenshot(page, "inbox-thread-phone.png")
    send.click()
    expect(page.get_by_text("Reply queued.")).to_be_visible()


def test_every_control_has_a_label_and_the_reply_box_is_in_order(signed_in, seed_inbox, template):
    page = signed_in
    page.goto(f"/inbox/c/{RAVI}/")
    page.get_by_label("DLT template").select_option(label="Appointment confirmed")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
              .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
              .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
              .map(el => el.name || el.id)"""
    )
    assert unlabelled == []
    page.get_by_label("DLT template").focus()
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate(
                "document.activeElement.labels?.[0]?.textContent || "
                "document.activeElement.textContent.trim()"
            )
        )
    assert order == ["Variable 1", "Variable 2", "Send reply"]


def test_the_counter_switches_to_unicode_and_counts_its_segments(signed_in, seed_inbox):
    page = signed_in
    page.goto(f"/inbox/c/{RAVI}/")
    box = page.get_by_label("Message", exact=True)
    box.fill("Namaste")
    expect(page.locator("[data-compose-counter]")).to_have_text("7 characters · 1 SMS · GSM-7")
    box.fill("नमस्ते " * 12)  # 84 characters: Unicode, 67 a part past 70
    expect(page.locator("[data-compose-counter]")).to_have_text("84 characters · 2 SMS · Unicode")
