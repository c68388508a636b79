"""The agents' inbox pages (issue 6): list, thread, reply, new message, assign, export."""

import csv
import importlib
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from conversations.models import AuditLog, Conversation, Message, MessageSource, MessageStatus
from conversations.services import inbox, sending

from .factories import (
    DltTemplateFactory,
    InboundMessageFactory,
    MessageFactory,
    OptOutFactory,
    StaffFactory,
    UserFactory,
    conversation_with_messages,
)

pytestmark = pytest.mark.django_db

RAVI = "+919876543210"
BODY = "Your appointment is confirmed for 20 Jan at 3 PM. Reply YES to confirm or NO to cancel."


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
    """The seed's mock-up: Ravi, Priya and Amit."""
    return [
        conversation_with_messages(
            RAVI,
            "Ravi Kumar",
            ("outbound", BODY, "delivered"),
            ("inbound", "Yes, I confirm my appointment", "received"),
            minutes_ago=2,
        ),
        conversation_with_messages(
            "+919876543211",
            "Priya Sharma",
            ("outbound", BODY, "delivered"),
            ("inbound", "Hi", "received"),
            ("inbound", "Can you reschedule to 4 PM?", "received"),
            minutes_ago=15,
        ),
        conversation_with_messages(
            "+919876543212", "Amit Patel", ("outbound", BODY, "delivered"), minutes_ago=60
        ),
    ]


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
    with django_assert_max_num_queries(6):
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
    assert '\'=HYPERLINK("http://x")' in [row[7] for row in rows]


@pytest.mark.parametrize("size", [3, 40])
def test_the_thread_runs_a_fixed_number_of_queries(agent, size, django_assert_max_num_queries):
    messages = [("inbound", f"hi {n}", "received") for n in range(size)]
    conversation_with_messages(RAVI, "Ravi", *messages)
    with django_assert_max_num_queries(14):
        assert agent.get(f"/inbox/c/{RAVI}/").status_code == 200
