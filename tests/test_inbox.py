"""The agents' inbox pages (issue 6): list, thread, reply, new message, assign, export."""

import csv
import importlib
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import AuditLog, Conversation, Message, MessageSource, MessageStatus
from conversations.services import inbox, sending

from .factories import (
    SEED_CONFIRMATION,
    DltTemplateFactory,
    InboundMessageFactory,
    MessageFactory,
    OptOutFactory,
    StaffFactory,
    UserFactory,
    conversation_with_messages,
    seed_mockup_conversations,
)

pytestmark = pytest.mark.django_db

RAVI = "+919876543210"
BODY = SEED_CONFIRMATION


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(sending, "enqueue_send", lambda message: None)


@pytest.fixture
def agents_group(db):
    """The group of migration 0005 (put back if a transactional test flushed it)."""
    from django.apps import apps

    if not Group.objects.filter(name=inbox.AGENTS_GROUP).exists():
        importlib.import_module("conversations.migrations.0005_agents_group").add_agents_group(
            apps, None
        )
    return Group.objects.get(name=inbox.AGENTS_GROUP)


@pytest.fixture
def asha(agents_group):
    user = UserFactory(username="asha")
    user.groups.add(agents_group)
    return user


@pytest.fixture
def agent(client, asha):
    client.force_login(asha)
    return client


@pytest.fixture
def template(db):
    return DltTemplateFactory(template_id="1107160000000000001", name="Appointment")


@pytest.fixture
def seed_inbox(db):
    return seed_mockup_conversations()


# --- Access --------------------------------------------------------------------------------


def test_the_inbox_sends_strangers_to_the_login_page(client):
    response = client.get("/inbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/inbox/")


def test_the_login_page_is_ours_and_has_csrf(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Sign in to SMS Desk" in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_signing_in_lands_on_the_inbox(client, asha):
    response = client.post("/accounts/login/", {"username": "asha", "password": "pass-for-tests-1"})
    assert response.status_code == 302
    assert response["Location"] == "/inbox/"


def test_signing_out_returns_to_the_login_page(agent):
    response = agent.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert agent.get("/inbox/").status_code == 302


def test_password_reset_by_email_is_not_offered(client):
    assert client.get("/accounts/password_reset/").status_code == 404


def test_a_user_outside_the_agents_group_is_refused(client):
    client.force_login(UserFactory(username="visitor"))
    assert client.get("/inbox/").status_code == 403


def test_the_agents_group_has_exactly_the_inbox_permissions(agents_group):
    codenames = set(agents_group.permissions.values_list("codename", flat=True))
    assert codenames == {
        "view_conversation",
        "change_conversation",
        "view_message",
        "add_message",
        "view_dlttemplate",
        "view_optout",
        "view_consentevent",
    }


def test_an_agent_cannot_reach_the_admin(agent):
    response = agent.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_see_the_inbox_without_the_group(client):
    client.force_login(StaffFactory(username="boss"))
    assert client.get("/inbox/").status_code == 200


def test_agents_can_be_limited_to_their_own_conversations(agent, asha, settings, seed_inbox):
    settings.INBOX_ASSIGNED_ONLY = True
    Conversation.objects.filter(pk=seed_inbox[1].pk).update(assignee=asha)
    response = agent.get("/inbox/")
    assert [r.conversation.phone_number for r in response.context["rows"]] == ["+919876543211"]
    assert agent.get(f"/inbox/c/{RAVI}/").status_code == 404


# --- The list ------------------------------------------------------------------------------


def test_the_list_looks_like_the_seed(agent, seed_inbox):
    html = agent.get("/inbox/").content.decode()
    assert "+919876543210 — Ravi Kumar" in html
    assert "2 msgs" in html and "3 msgs" in html and "1 msg<" in html
    assert 'Last: "Yes, I confirm my appointment"' in html
    assert "Last: Delivered (no reply)" in html
    assert "2m ago" in html and "15m ago" in html and "1h ago" in html
    assert "Send New Message" in html and "Export Conversations" in html


def test_the_list_is_newest_first(agent, seed_inbox):
    rows = agent.get("/inbox/").context["rows"]
    assert [r.conversation.contact_name for r in rows] == [
        "Ravi Kumar",
        "Priya Sharma",
        "Amit Patel",
    ]


def test_unread_conversations_carry_a_badge(agent, seed_inbox):
    html = agent.get("/inbox/").content.decode()
    assert 'title="2 unread"' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [("Priya", ["Priya Sharma"]), ("9876543212", ["Amit Patel"]), ("reschedule", ["Priya Sharma"])],
)
def test_search_finds_phone_name_and_message_text(agent, seed_inbox, query, expected):
    rows = agent.get("/inbox/", {"q": query}).context["rows"]
    assert [r.conversation.contact_name for r in rows] == expected


def test_the_unread_filter(agent, seed_inbox):
    rows = agent.get("/inbox/", {"filter": "unread"}).context["rows"]
    assert {r.conversation.contact_name for r in rows} == {"Ravi Kumar", "Priya Sharma"}


def test_the_mine_filter(agent, asha, seed_inbox):
    Conversation.objects.filter(pk=seed_inbox[2].pk).update(assignee=asha)
    rows = agent.get("/inbox/", {"filter": "mine"}).context["rows"]
    assert [r.conversation.contact_name for r in rows] == ["Amit Patel"]


def test_the_opted_out_filter(agent, seed_inbox):
    OptOutFactory(phone_number="+919876543211")
    rows = agent.get("/inbox/", {"filter": "opted_out"}).context["rows"]
    assert [r.conversation.contact_name for r in rows] == ["Priya Sharma"]


def test_the_list_is_paginated(agent):
    for n in range(30):
        conversation_with_messages(
            f"+91981{n:07d}", f"C{n}", ("inbound", "hi", "received"), minutes_ago=n
        )
    first = agent.get("/inbox/")
    assert len(first.context["rows"]) == 25
    assert "Page 1 of 2" in first.content.decode()
    assert len(agent.get("/inbox/", {"page": 2}).context["rows"]) == 5


def test_the_list_runs_a_fixed_number_of_queries(agent, asha, django_assert_max_num_queries):
    for n in range(40):
        conversation = conversation_with_messages(
            f"+91982{n:07d}", f"C{n}", ("inbound", "hi", "received"), minutes_ago=n
        )
        Conversation.objects.filter(pk=conversation.pk).update(assignee=asha)
        OptOutFactory(phone_number=conversation.phone_number)
    with django_assert_max_num_queries(7):
        assert agent.get("/inbox/", {"q": "C1"}).status_code == 200
    with django_assert_max_num_queries(6):
        assert agent.get("/inbox/").status_code == 200


def test_the_rows_fragment_is_the_list_alone(agent, seed_inbox):
    html = agent.get("/inbox/rows/").content.decode()
    assert html.lstrip().startswith('<div id="conversation-list"')
    assert "Ravi Kumar" in html and "<html" not in html


def test_a_script_in_a_message_is_shown_as_text(agent):
    conversation_with_messages(
        RAVI, "<b>Ravi</b>", ("inbound", "<script>alert(1)</script>", "received")
    )
    html = agent.get("/inbox/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;Ravi&lt;/b&gt;" in html
    thread = agent.get(f"/inbox/c/{RAVI}/").content.decode()
    assert "<script>alert(1)</script>" not in thread


def test_relative_times():
    now = timezone.now()
    assert inbox.relative_time(now - timedelta(seconds=5), now) == "just now"
    assert inbox.relative_time(now - timedelta(minutes=2), now) == "2m ago"
    assert inbox.relative_time(now - timedelta(hours=1, minutes=5), now) == "1h ago"
    assert inbox.relative_time(now - timedelta(days=3), now) == "3d ago"


# --- The thread ----------------------------------------------------------------------------


def test_the_thread_shows_both_directions_with_status_and_reason(agent):
    conversation = conversation_with_messages(RAVI, "Ravi Kumar", ("inbound", "Hello", "received"))
    MessageFactory(
        conversation=conversation,
        body="We could not reach you",
        status=MessageStatus.FAILED,
        detailed_status="FAILED_DND",
        detailed_status_code=20006,
        error_message="Number is on DND",
    )
    html = agent.get(f"/inbox/c/{RAVI}/").content.decode()
    assert 'class="bubble inbound"' in html and 'class="bubble outbound"' in html
    assert 'title="FAILED_DND (20006): Number is on DND"' in html
    assert " IST" in html


def test_opening_a_thread_marks_it_read(agent):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.get(f"/inbox/c/{RAVI}/")
    conversation.refresh_from_db()
    assert conversation.unread_count == 0
    assert not Message.objects.filter(read_at__isnull=True).exists()


@pytest.mark.parametrize("phone", ["9876543210", "919876543210", "%2B919876543210"])
def test_the_thread_accepts_any_number_format(agent, phone):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    assert agent.get(f"/inbox/c/{phone}/").status_code == 200


def test_an_unknown_thread_is_a_404(agent):
    assert agent.get("/inbox/c/not-a-number/").status_code == 404
    assert agent.get("/inbox/c/9876500000/").status_code == 404


def test_a_reply_goes_through_the_pipeline_from_the_inbox(agent, asha, template):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    response = agent.post(
        f"/inbox/c/{RAVI}/", {"template": template.template_id, "variables": ["20 Jan", "3 PM"]}
    )
    assert response.status_code == 302
    message = Message.objects.get(direction="outbound")
    assert message.body == BODY
    assert (message.source, message.created_by, message.status) == (
        MessageSource.INBOX,
        asha,
        MessageStatus.PENDING,
    )


def test_a_free_text_reply_must_match_a_template(agent, template):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    response = agent.post(f"/inbox/c/{RAVI}/", {"body": "Hello there"})
    assert response.status_code == 400
    assert "matches no active DLT template" in response.content.decode()
    assert not Message.objects.filter(direction="outbound").exists()


def test_missing_variables_are_shown_next_to_the_variables(agent, template):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    response = agent.post(f"/inbox/c/{RAVI}/", {"template": template.template_id})
    assert response.status_code == 400
    assert response.context["form"].errors["variables"] == [
        "This template has 2 variable(s); 0 given."
    ]


def test_an_opted_out_number_has_a_banner_and_cannot_be_sent_to(agent, template):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "STOP", "received"))
    OptOutFactory(phone_number=RAVI)
    page = agent.get(f"/inbox/c/{RAVI}/").content.decode()
    assert "This number has opted out" in page
    assert "<fieldset disabled>" in page
    response = agent.post(
        f"/inbox/c/{RAVI}/", {"template": template.template_id, "variables": ["20 Jan", "3 PM"]}
    )
    assert response.status_code == 400
    assert "opted out" in response.content.decode()
    assert not Message.objects.filter(direction="outbound").exists()


def test_an_agent_assigns_a_conversation_to_themself(agent, asha):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/assign/", {"assignee": "me"})
    conversation.refresh_from_db()
    assert conversation.assignee == asha
    assert AuditLog.objects.filter(action="conversation_assigned", actor=asha).exists()


def test_an_agent_cannot_hand_a_conversation_to_someone_else(agent, asha):
    other = UserFactory(username="ravi-agent")
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/assign/", {"assignee": str(other.pk)})
    conversation.refresh_from_db()
    assert conversation.assignee == asha


def test_assigning_never_changes_unread(agent):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/assign/", {"assignee": "me"})
    conversation.refresh_from_db()
    assert conversation.unread_count == 1


def test_assigning_needs_a_post(agent):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    assert agent.get(f"/inbox/c/{RAVI}/assign/").status_code == 405


def test_the_messages_fragment_is_the_thread_alone(agent):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    html = agent.get(f"/inbox/c/{RAVI}/messages/").content.decode()
    assert html.lstrip().startswith('<ol id="thread"') and "Hello" in html


def test_the_side_panel_shows_flow_answers_and_consent(agent):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    Conversation.objects.filter(pk=conversation.pk).update(flow_answers={"order_id": "A-17"})
    from .factories import ConsentEventFactory

    ConsentEventFactory(phone_number=RAVI)
    html = agent.get(f"/inbox/c/{RAVI}/").content.decode()
    assert "order_id" in html and "A-17" in html
    assert "Consent history" in html and "STOP" in html


# --- New message and export -----------------------------------------------------------------


def test_send_new_message(agent, template):
    response = agent.post(
        "/inbox/new/",
        {"to": "98765 43219", "template": template.template_id, "variables": ["20 Jan", "3 PM"]},
    )
    assert response.status_code == 302
    assert response["Location"] == "/inbox/c/+919876543219/"
    assert Message.objects.get().conversation.phone_number == "+919876543219"


def test_send_new_message_shows_a_bad_number_next_to_the_field(agent, template):
    response = agent.post(
        "/inbox/new/", {"to": "12", "template": template.template_id, "variables": ["a", "b"]}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["to"]
    assert not Message.objects.exists()


def test_forms_need_csrf(asha, template):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(asha)
    response = client.post("/inbox/new/", {"to": RAVI, "body": BODY})
    assert response.status_code == 403


def test_export_streams_the_filtered_rows_neutralised(agent, seed_inbox):
    InboundMessageFactory(conversation=seed_inbox[0], body='=HYPERLINK("http://x")')
    response = agent.get("/inbox/export.csv", {"q": "Ravi"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="conversations.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == inbox.EXPORT_HEADER
    assert {row[0] for row in rows[1:]} == {"'+919876543210"}
    assert len(rows) == 1 + 3
    body = inbox.EXPORT_HEADER.index("body")
    assert '\'=HYPERLINK("http://x")' in [row[body] for row in rows]


@pytest.mark.parametrize("size", [3, 40])
def test_the_thread_runs_a_fixed_number_of_queries(agent, size, django_assert_max_num_queries):
    messages = [("inbound", f"hi {n}", "received") for n in range(size)]
    conversation_with_messages(RAVI, "Ravi", *messages)
    # 15: one of them reads the conversation's call events (issue 9), shown among the messages.
    with django_assert_max_num_queries(15):
        assert agent.get(f"/inbox/c/{RAVI}/").status_code == 200


# --- Made for a team: the reply lock ("Asha is replying") -------------------------------------


@pytest.fixture
def ravi_agent(agents_group):
    user = UserFactory(username="ravi-agent")
    user.groups.add(agents_group)
    return user


@pytest.fixture
def other(ravi_agent):
    from django.test import Client

    client = Client()
    client.force_login(ravi_agent)
    return client


def test_the_reply_box_heartbeat_takes_the_lock(agent, asha):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    answer = agent.post(f"/inbox/c/{RAVI}/replying/").json()
    assert answer["mine"] is True and answer["holder"] is None
    conversation.refresh_from_db()
    assert conversation.replying_user == asha
    assert conversation.replying_until > timezone.now()


def test_others_see_who_is_replying_and_their_send_button_waits(agent, other):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/replying/")
    assert other.post(f"/inbox/c/{RAVI}/replying/").json() == {
        "mine": False,
        "holder": "asha",
        "seconds": 30,
    }
    html = other.get(f"/inbox/c/{RAVI}/").content.decode()
    assert "asha is replying." in html
    assert 'aria-describedby="send-hint" disabled>Send reply' in html


def test_the_polled_thread_brings_the_lock_banner_out_of_band(agent, other):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/replying/")
    html = other.get(f"/inbox/c/{RAVI}/messages/").content.decode()
    assert 'id="reply-lock"' in html and 'hx-swap-oob="true"' in html
    assert 'data-holder="asha"' in html


def test_nobody_can_send_over_an_agent_who_is_replying(agent, other, template):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/replying/")
    response = other.post(
        f"/inbox/c/{RAVI}/", {"template": template.template_id, "variables": ["20 Jan", "3 PM"]}
    )
    assert response.status_code == 400
    assert "asha is replying to this conversation" in response.content.decode()
    assert not Message.objects.filter(direction="outbound").exists()


def test_the_lock_holder_sends_and_sending_frees_the_lock(agent, other, template):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/replying/")
    response = agent.post(
        f"/inbox/c/{RAVI}/", {"template": template.template_id, "variables": ["20 Jan", "3 PM"]}
    )
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.replying_user is None
    assert other.post(f"/inbox/c/{RAVI}/replying/").json()["mine"] is True


def test_an_expired_lock_lets_another_agent_send(agent, other, asha, template):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    Conversation.objects.filter(pk=conversation.pk).update(
        replying_user=asha, replying_until=timezone.now() - timedelta(seconds=1)
    )
    response = other.post(
        f"/inbox/c/{RAVI}/", {"template": template.template_id, "variables": ["20 Jan", "3 PM"]}
    )
    assert response.status_code == 302
    assert Message.objects.filter(direction="outbound").count() == 1


def test_leaving_the_reply_box_releases_the_lock(agent, other):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/replying/")
    agent.post(f"/inbox/c/{RAVI}/replying/", {"release": "1"})
    assert other.post(f"/inbox/c/{RAVI}/replying/").json()["mine"] is True


def test_an_api_reply_is_refused_while_an_agent_is_replying(agent, staff_api, template):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/replying/")
    response = staff_api.post(
        f"/api/conversations/{RAVI}/reply",
        {"dlt_template_id": template.template_id, "variables": ["20 Jan", "3 PM"]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "conversation_locked"
    assert not Message.objects.filter(direction="outbound").exists()


def test_a_new_message_to_a_number_an_agent_is_replying_to_is_refused(agent, other, template):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/replying/")
    response = other.post(
        "/inbox/new/",
        {"to": "98765 43210", "template": template.template_id, "variables": ["20 Jan", "3 PM"]},
    )
    assert response.status_code == 400
    assert "asha is replying to this conversation" in response.content.decode()
    assert not Message.objects.filter(direction="outbound").exists()


def test_the_lock_holder_may_send_a_new_message_to_the_number_and_it_frees_the_lock(
    agent, other, template
):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/replying/")
    response = agent.post(
        "/inbox/new/",
        {"to": RAVI, "template": template.template_id, "variables": ["20 Jan", "3 PM"]},
    )
    assert response.status_code == 302
    assert Message.objects.get(direction="outbound").conversation == conversation
    assert other.post(f"/inbox/c/{RAVI}/replying/").json()["mine"] is True


def test_the_heartbeat_needs_a_post_and_the_send_permission(agent, client):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    assert agent.get(f"/inbox/c/{RAVI}/replying/").status_code == 405
    client.force_login(UserFactory(username="visitor"))
    assert client.post(f"/inbox/c/{RAVI}/replying/").status_code == 403


# --- Made for a team: outcomes, unread ---------------------------------------------------------


def test_one_click_closes_a_conversation_with_its_outcome(agent, asha):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    response = agent.post(f"/inbox/c/{RAVI}/outcome/", {"outcome": "Confirmed"})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert (conversation.outcome, conversation.closed_by) == ("Confirmed", asha)
    assert conversation.closed_at is not None
    entry = AuditLog.objects.get(action="conversation_closed")
    assert (entry.actor, entry.target, entry.detail) == (asha, RAVI, {"outcome": "Confirmed"})
    assert "Closed: Confirmed" in agent.get(f"/inbox/c/{RAVI}/").content.decode()


def test_the_outcomes_are_a_setting(agent, settings):
    settings.INBOX_OUTCOMES = ["Paid", "Wrong number"]
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    html = agent.get(f"/inbox/c/{RAVI}/").content.decode()
    assert 'value="Paid"' in html and 'value="Wrong number"' in html
    assert 'value="Confirmed"' not in html


def test_an_unknown_outcome_is_refused(agent):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    response = agent.post(f"/inbox/c/{RAVI}/outcome/", {"outcome": "<b>Whatever</b>"}, follow=True)
    assert "Choose one of: Confirmed, Rescheduled, Resolved." in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.closed_at is None and conversation.outcome == ""


def test_a_closed_conversation_can_be_reopened(agent, asha):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/outcome/", {"outcome": "Resolved"})
    agent.post(f"/inbox/c/{RAVI}/outcome/", {"reopen": "1"})
    conversation.refresh_from_db()
    assert (conversation.closed_at, conversation.outcome) == (None, "")
    assert AuditLog.objects.filter(action="conversation_reopened", actor=asha).exists()


def test_a_new_inbound_message_reopens_a_closed_conversation(agent, client):
    from .sms import post_sms

    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.get(f"/inbox/c/{RAVI}/")
    agent.post(f"/inbox/c/{RAVI}/outcome/", {"outcome": "Confirmed"})
    assert post_sms(client, "One more question", phone=RAVI).status_code == 200
    conversation.refresh_from_db()
    assert (conversation.closed_at, conversation.outcome) == (None, "")
    assert conversation.unread_count == 1


def test_our_own_reply_does_not_reopen_a_closed_conversation(agent, template):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(f"/inbox/c/{RAVI}/outcome/", {"outcome": "Confirmed"})
    sending.send_message(RAVI, template=template, variables=["20 Jan", "3 PM"])
    conversation.refresh_from_db()
    assert conversation.outcome == "Confirmed"


def test_the_open_and_closed_filters(agent, seed_inbox):
    agent.post("/inbox/c/+919876543211/outcome/", {"outcome": "Rescheduled"})
    closed = agent.get("/inbox/", {"filter": "closed"})
    assert [r.conversation.contact_name for r in closed.context["rows"]] == ["Priya Sharma"]
    assert "Rescheduled</span>" in closed.content.decode()
    opened = agent.get("/inbox/", {"filter": "open"}).context["rows"]
    assert [r.conversation.contact_name for r in opened] == ["Ravi Kumar", "Amit Patel"]


def test_the_export_carries_the_outcome(agent, seed_inbox):
    agent.post(f"/inbox/c/{RAVI}/outcome/", {"outcome": "Confirmed"})
    response = agent.get("/inbox/export.csv", {"filter": "closed"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row["outcome"] for row in rows} == {"Confirmed"}
    assert all(row["closed_at_ist"] for row in rows) and len(rows) == 2


@pytest.mark.parametrize("outcome", ["Confirmed", None])
def test_assigning_or_closing_a_read_conversation_never_marks_it_unread(agent, outcome):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.get(f"/inbox/c/{RAVI}/")
    agent.post(f"/inbox/c/{RAVI}/assign/", {"assignee": "me"})
    if outcome:
        agent.post(f"/inbox/c/{RAVI}/outcome/", {"outcome": outcome})
    conversation.refresh_from_db()
    assert conversation.unread_count == 0
    assert not Message.objects.filter(read_at__isnull=True).exists()


def test_renaming_or_assigning_through_the_api_never_marks_unread(staff_api, staff_user):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    staff_api.get(f"/api/conversations/{RAVI}")
    response = staff_api.patch(
        f"/api/conversations/{RAVI}", {"name": "Ravi K", "assignee": "staff"}, format="json"
    )
    assert response.status_code == 200
    conversation.refresh_from_db()
    assert (conversation.unread_count, conversation.contact_name) == (0, "Ravi K")


# --- Needs attention: replies no automatic answer fits ---------------------------------------


def test_an_unrecognised_reply_is_tagged_and_filtered_as_needing_attention(agent, client):
    from .sms import text_in

    conversation_with_messages(RAVI, "Ravi", ("outbound", BODY, "delivered"))
    conversation_with_messages("+919811112222", "Meera", ("inbound", "Thanks", "received"))
    assert text_in(client, "Can I come on Friday instead?", phone=RAVI) is None
    listed = agent.get("/inbox/", {"filter": "attention"})
    assert [r.conversation.contact_name for r in listed.context["rows"]] == ["Ravi"]
    assert listed.content.decode().count("Needs attention</span>") == 1
    thread = agent.get(f"/inbox/c/{RAVI}/").content.decode()
    assert "Mark as handled" in thread


def test_the_polled_thread_brings_the_flag_out_of_band_as_it_comes_and_goes(agent):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello?", "received"))
    calm = agent.get(f"/inbox/c/{RAVI}/messages/").content.decode()
    assert '<div id="attention" hx-swap-oob="true"></div>' in calm
    Conversation.objects.filter(pk=conversation.pk).update(needs_attention=True)
    flagged = agent.get(f"/inbox/c/{RAVI}/messages/").content.decode()
    assert '<div id="attention" hx-swap-oob="true">' in flagged
    assert "Mark as handled" in flagged


def test_marking_a_conversation_handled_clears_the_flag_and_is_audited(agent, asha):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello?", "received"))
    Conversation.objects.filter(pk=conversation.pk).update(needs_attention=True)
    response = agent.post(f"/inbox/c/{RAVI}/handled/", follow=True)
    assert "Marked as handled." in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.needs_attention is False
    entry = AuditLog.objects.get(action="conversation_attention_cleared")
    assert (entry.actor, entry.target) == (asha, RAVI)
    assert agent.get("/inbox/", {"filter": "attention"}).context["rows"] == []


def test_marking_handled_needs_a_post_and_the_permission_to_change_conversations(agent, client):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello?", "received"))
    Conversation.objects.filter(pk=conversation.pk).update(needs_attention=True)
    assert agent.get(f"/inbox/c/{RAVI}/handled/").status_code == 405
    client.force_login(UserFactory(username="visitor"))
    assert client.post(f"/inbox/c/{RAVI}/handled/").status_code == 403
    conversation.refresh_from_db()
    assert conversation.needs_attention is True


# --- Naming the contact ------------------------------------------------------------------------


def test_an_agent_names_the_contact_from_the_thread(agent, asha):
    conversation = conversation_with_messages(RAVI, "", ("inbound", "Hello", "received"))
    response = agent.post(f"/inbox/c/{RAVI}/name/", {"name": "  Ravi   <b>Kumar</b> "}, follow=True)
    assert "Name saved." in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.contact_name == "Ravi <b>Kumar</b>"
    entry = AuditLog.objects.get(action="conversation_renamed")
    assert (entry.actor, entry.detail) == (asha, {"from": "", "to": "Ravi <b>Kumar</b>"})
    listed = agent.get("/inbox/").content.decode()
    assert "Ravi &lt;b&gt;Kumar&lt;/b&gt;" in listed and "<b>Kumar</b>" not in listed
    thread = agent.get(f"/inbox/c/{RAVI}/").content.decode()
    assert 'name="name" value="Ravi &lt;b&gt;Kumar&lt;/b&gt;" maxlength="120"' in thread


def test_a_blank_name_removes_the_name(agent):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    response = agent.post(f"/inbox/c/{RAVI}/name/", {"name": "   "}, follow=True)
    assert "Name removed." in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.contact_name == ""


@pytest.mark.parametrize(
    ("name", "reason"),
    [("R" * 121, "no more than 120 characters"), ("Ra\x00vi", "control characters")],
)
def test_a_bad_name_is_refused_and_changes_nothing(agent, name, reason):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    response = agent.post(f"/inbox/c/{RAVI}/name/", {"name": name}, follow=True)
    assert response.status_code == 200
    assert reason in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.contact_name == "Ravi"
    assert not AuditLog.objects.filter(action="conversation_renamed").exists()


def test_naming_needs_a_post_and_the_permission_to_change_conversations(agent, client):
    conversation = conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    assert agent.get(f"/inbox/c/{RAVI}/name/").status_code == 405
    client.force_login(UserFactory(username="visitor"))
    assert client.post(f"/inbox/c/{RAVI}/name/", {"name": "Mallory"}).status_code == 403
    conversation.refresh_from_db()
    assert conversation.contact_name == "Ravi"


# --- Audit ------------------------------------------------------------------------------------


def test_a_reply_from_the_inbox_is_audited(agent, asha, template):
    conversation_with_messages(RAVI, "Ravi", ("inbound", "Hello", "received"))
    agent.post(
        f"/inbox/c/{RAVI}/", {"template": template.template_id, "variables": ["20 Jan", "3 PM"]}
    )
    entry = AuditLog.objects.get(action="reply")
    message = Message.objects.get(direction="outbound")
    assert (entry.actor, entry.target) == (asha, RAVI)
    assert entry.detail == {"message": message.pk, "source": "inbox"}


def test_an_export_is_audited_with_its_filter(agent, asha, seed_inbox):
    b"".join(agent.get("/inbox/export.csv", {"q": "Ravi", "filter": "unread"}).streaming_content)
    entry = AuditLog.objects.get(action="inbox_export")
    assert entry.actor == asha
    assert entry.detail == {"query": "Ravi", "filter": "unread"}


# --- An expired session under htmx ------------------------------------------------------------


def test_an_expired_session_sends_a_polled_page_to_the_login_page_whole(client):
    response = client.get(
        "/inbox/rows/",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/inbox/?filter=unread"},
    )
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/accounts/login/?next=/inbox/%3Ffilter%3Dunread"
    assert b"<form" not in response.content


def test_an_expired_session_on_the_heartbeat_says_where_to_sign_in(client):
    response = client.post(
        f"/inbox/c/{RAVI}/replying/",
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver/inbox/c/{RAVI}/"},
    )
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/accounts/login/?next=/inbox/c/%2B919876543210/"


# --- Queries do not grow with the data ---------------------------------------------------------


def _queries_for(client, path, params=None):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(path, params or {}).status_code == 200
    return len(captured)


def _conversations(count, assignee, start=0):
    for n in range(start, start + count):
        conversation = conversation_with_messages(
            f"+91983{n:07d}",
            f"C{n}",
            ("outbound", BODY, "delivered"),
            ("inbound", "hi", "received"),
            minutes_ago=n,
        )
        Conversation.objects.filter(pk=conversation.pk).update(assignee=assignee)
        if n % 3 == 0:
            OptOutFactory(phone_number=conversation.phone_number)


@pytest.mark.parametrize("params", [{}, {"q": "C1"}, {"filter": "unread"}, {"filter": "closed"}])
def test_the_list_runs_the_same_queries_for_5_or_50_conversations(
    agent, asha, params, django_assert_max_num_queries
):
    _conversations(5, asha)
    small = _queries_for(agent, "/inbox/", params)
    _conversations(45, asha, start=5)
    with django_assert_max_num_queries(small):
        assert agent.get("/inbox/", params).status_code == 200
    assert small <= 7


def test_the_api_list_runs_the_same_queries_for_5_or_50_conversations(
    staff_api, staff_user, django_assert_max_num_queries
):
    _conversations(5, staff_user)
    small = _queries_for(staff_api, "/api/conversations")
    _conversations(45, staff_user, start=5)
    with django_assert_max_num_queries(small):
        response = staff_api.get("/api/conversations")
    assert response.json()["total"] == 50 and len(response.json()["conversations"]) == 50
    assert small <= 3


def test_the_thread_runs_the_same_queries_for_3_or_40_messages(
    agent, django_assert_max_num_queries
):
    conversation = conversation_with_messages(
        RAVI, "Ravi", *[("inbound", f"hi {n}", "received") for n in range(3)]
    )
    small = _queries_for(agent, f"/inbox/c/{RAVI}/")
    for n in range(37):
        InboundMessageFactory(conversation=conversation, body=f"more {n}")
        MessageFactory(conversation=conversation, body=f"ours {n}", created_by=UserFactory())
    with django_assert_max_num_queries(small):
        assert agent.get(f"/inbox/c/{RAVI}/").status_code == 200


def test_a_long_thread_shows_its_newest_messages_and_a_link_to_the_rest(agent, monkeypatch):
    conversation_with_messages(
        RAVI, "Ravi", *[("inbound", f"message {n}", "received") for n in range(5)]
    )
    monkeypatch.setattr(inbox, "THREAD_LIMIT", 3)
    html = agent.get(f"/inbox/c/{RAVI}/").content.decode()
    assert "message 0" not in html and "message 1" not in html
    assert html.index("message 2") < html.index("message 4")
    assert "Show 2 earlier messages" in html
    everything = agent.get(f"/inbox/c/{RAVI}/", {"all": "1"}).content.decode()
    assert all(f"message {n}" in everything for n in range(5))
    polled = agent.get(f"/inbox/c/{RAVI}/messages/", {"all": "1"}).content.decode()
    assert "messages/?all=1" in polled and "message 0" in polled


@pytest.mark.parametrize("listed", [1, 2000])
def test_search_with_many_matches_keeps_the_filter_and_the_count(
    agent, asha, seed_inbox, monkeypatch, listed
):
    monkeypatch.setattr(inbox, "MAX_LISTED_IDS", listed)
    Conversation.objects.filter(pk=seed_inbox[2].pk).update(assignee=asha)
    page = agent.get("/inbox/", {"q": "9876543", "filter": "mine"}).context["page"]
    assert [c.contact_name for c in page.object_list] == ["Amit Patel"]
    assert page.paginator.count == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the id array is PostgreSQL's")
def test_search_with_many_matches_reads_the_messages_once(agent, seed_inbox, monkeypatch):
    monkeypatch.setattr(inbox, "MAX_LISTED_IDS", 1)
    with CaptureQueriesContext(connection) as queries:
        rows = agent.get("/inbox/", {"q": "9876543"}).context["rows"]
    assert len(rows) == 3
    message_searches = [q["sql"] for q in queries if 'FROM "conversations_message"' in q["sql"]]
    assert len([sql for sql in message_searches if "LIKE" in sql]) == 1


@pytest.mark.parametrize("listed", [1, 2000])
def test_search_finds_the_same_with_many_or_few_matches(agent, seed_inbox, monkeypatch, listed):
    monkeypatch.setattr(inbox, "MAX_LISTED_IDS", listed)
    rows = agent.get("/inbox/", {"q": "9876543"}).context["rows"]
    assert [r.conversation.contact_name for r in rows] == [
        "Ravi Kumar",
        "Priya Sharma",
        "Amit Patel",
    ]
