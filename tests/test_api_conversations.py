"""GET /api/conversations (the seed's keys), GET/PATCH /api/conversations/<phone>, flows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import AuditLog, Conversation, FlowSession, Message
from conversations.services import consent, inbox

from .factories import (
    ConversationFactory,
    InboundMessageFactory,
    MessageFactory,
    UserFactory,
)
from .sms import CUSTOMER, post_sms

pytestmark = pytest.mark.django_db

SEED_KEYS = {"phone_number", "name", "message_count", "last_message", "last_activity", "has_unread"}


def phones(response):
    return [c["phone_number"] for c in response.json()["conversations"]]


@pytest.fixture
def ravi(db):
    conversation = ConversationFactory(phone_number=CUSTOMER, contact_name="Ravi Kumar")
    MessageFactory(conversation=conversation, body="Your appointment is confirmed for Jan 20.")
    InboundMessageFactory(conversation=conversation, body="Yes, I confirm my appointment")
    Conversation.objects.filter(pk=conversation.pk).update(
        message_count=2,
        unread_count=1,
        last_message_body="Yes, I confirm my appointment",
        last_message_direction="inbound",
        last_message_status="received",
    )
    conversation.refresh_from_db()
    return conversation


def test_the_list_has_the_seeds_keys(agent_api, ravi):
    body = agent_api.get("/api/conversations").json()
    assert body["total"] == 1
    item = body["conversations"][0]
    assert set(item) >= SEED_KEYS
    assert item["name"] == "Ravi Kumar"
    assert item["message_count"] == 2
    assert item["has_unread"] is True
    assert item["last_message"]["body"] == "Yes, I confirm my appointment"


def test_a_conversation_without_messages_has_no_last_message(agent_api):
    ConversationFactory()
    assert agent_api.get("/api/conversations").json()["conversations"][0]["last_message"] is None


def test_the_list_is_newest_activity_first(agent_api):
    now = timezone.now()
    for minutes, phone in ((15, "+919876543211"), (2, "+919876543210"), (60, "+919876543212")):
        ConversationFactory(phone_number=phone, last_activity_at=now - timedelta(minutes=minutes))
    assert phones(agent_api.get("/api/conversations")) == [
        "+919876543210",
        "+919876543211",
        "+919876543212",
    ]


def test_the_list_is_paginated_with_the_total_of_all_pages(agent_api):
    ConversationFactory.create_batch(5)
    body = agent_api.get("/api/conversations?page_size=2&page=2").json()
    assert body["total"] == 5
    assert len(body["conversations"]) == 2
    assert body["next"] and body["previous"]


def test_the_list_needs_a_signed_in_user(api_client):
    assert api_client.get("/api/conversations").status_code == 401


def test_filter_unread(agent_api, ravi):
    ConversationFactory(phone_number="+919876543211")
    assert phones(agent_api.get("/api/conversations?unread=true")) == [CUSTOMER]
    assert phones(agent_api.get("/api/conversations?unread=false")) == ["+919876543211"]


def test_filter_assigned(agent_api, agent_user):
    ConversationFactory(phone_number="+919876543210", assignee=agent_user)
    ConversationFactory(phone_number="+919876543211", assignee=UserFactory())
    ConversationFactory(phone_number="+919876543212")
    assert phones(agent_api.get("/api/conversations?assigned=me")) == ["+919876543210"]
    assert phones(agent_api.get("/api/conversations?assigned=false")) == ["+919876543212"]
    assert len(phones(agent_api.get("/api/conversations?assigned=true"))) == 2


def test_filter_opted_out(agent_api):
    ConversationFactory(phone_number="+919876543210")
    ConversationFactory(phone_number="+919876543211")
    consent.opt_out("+919876543211", source="staff")
    body = agent_api.get("/api/conversations?opted_out=true").json()
    assert [(c["phone_number"], c["opted_out"]) for c in body["conversations"]] == [
        ("+919876543211", True)
    ]
    assert phones(agent_api.get("/api/conversations?opted_out=false")) == ["+919876543210"]


def test_filter_needs_attention(agent_api):
    ConversationFactory(phone_number="+919876543210", needs_attention=True)
    ConversationFactory(phone_number="+919876543211")
    assert phones(agent_api.get("/api/conversations?needs_attention=true")) == ["+919876543210"]


@pytest.mark.parametrize("listed", [0, 2000])
@pytest.mark.parametrize("query", ["98765 43210", "43210", "Ravi", "ravi kumar", "CONFIRM my"])
def test_search_by_phone_name_or_body(agent_api, ravi, monkeypatch, query, listed):
    monkeypatch.setattr(inbox, "MAX_LISTED_IDS", listed)  # 0: the path for many matches
    ConversationFactory(phone_number="+919811111111", contact_name="Priya Sharma")
    assert phones(agent_api.get("/api/conversations", {"search": query})) == [CUSTOMER]


def test_a_search_of_only_spaces_lists_everyone(agent_api, ravi):
    ConversationFactory(phone_number="+919811111111", contact_name="Priya Sharma")
    listed = phones(agent_api.get("/api/conversations", {"search": "   "}))
    assert sorted(listed) == ["+919811111111", CUSTOMER]


@pytest.mark.parametrize(
    "query",
    ["unread=maybe", "assigned=someone", "assignee=abc", "opted_out=2", f"search={'x' * 101}"],
)
def test_bad_filters_get_a_400_with_a_reason(agent_api, query):
    response = agent_api.get(f"/api/conversations?{query}")
    assert response.status_code == 400
    assert response.json()["error"]


@pytest.mark.parametrize("query", ["'; DROP TABLE conversations_message; --", "%", "_", "\\"])
def test_search_with_sql_characters_is_just_text(agent_api, ravi, query):
    assert agent_api.get("/api/conversations", {"search": query}).status_code == 200
    assert Message.objects.count() == 2


@pytest.mark.parametrize(
    "phone", ["+919876543210", "%2B919876543210", "919876543210", "9876543210", "09876543210"]
)
def test_a_conversation_is_found_by_any_phone_format(agent_api, ravi, phone):
    response = agent_api.get(f"/api/conversations/{phone}")
    assert response.status_code == 200
    assert response.json()["phone_number"] == CUSTOMER


def test_the_detail_has_every_message_oldest_first(agent_api, ravi):
    body = agent_api.get(f"/api/conversations/{CUSTOMER}").json()
    assert [m["body"] for m in body["messages"]] == [
        "Your appointment is confirmed for Jan 20.",
        "Yes, I confirm my appointment",
    ]
    expected = {"id", "sid", "direction", "body", "status", "detailed_status"}
    assert expected | {"detailed_status_code", "created_at"} <= set(body["messages"][0])


def test_opening_a_conversation_marks_inbound_read(agent_api, ravi):
    body = agent_api.get(f"/api/conversations/{CUSTOMER}").json()
    assert body["has_unread"] is False
    ravi.refresh_from_db()
    assert ravi.unread_count == 0
    assert not Message.objects.filter(direction="inbound", read_at__isnull=True).exists()


def test_a_message_arriving_after_opening_stays_unread(agent_api, client, ravi):
    agent_api.get(f"/api/conversations/{CUSTOMER}")
    post_sms(client, "One more thing")
    ravi.refresh_from_db()
    assert ravi.unread_count == 1


def test_the_detail_shows_answers_and_the_running_flow(agent_api, ravi, reply_templates):
    from conversations.models import Flow
    from conversations.services import flows

    Conversation.objects.filter(pk=ravi.pk).update(flow_answers={"rating": "good"})
    ravi.refresh_from_db()
    flows.start_flow(ravi, Flow.objects.get(slug="order-status"))
    body = agent_api.get(f"/api/conversations/{CUSTOMER}").json()
    assert body["flow_answers"] == {"rating": "good"}
    assert body["active_flow"]["flow"] == "order-status"
    assert body["active_flow"]["step"] == "order-id"


def test_an_unknown_conversation_is_a_404(agent_api):
    response = agent_api.get("/api/conversations/+919999999999")
    assert response.status_code == 404
    assert response.json()["error"] == "Conversation not found"


@pytest.mark.parametrize("phone", ["not-a-number", "12", "%00", "+91" + "9" * 30])
def test_a_malformed_phone_is_a_400(agent_api, phone):
    response = agent_api.get(f"/api/conversations/{phone}")
    assert response.status_code == 400
    assert "phone" in response.json()["fields"]


def test_rename_a_contact(agent_api, agent_user, ravi):
    response = agent_api.patch(f"/api/conversations/{CUSTOMER}", {"name": "  Ravi  K. "})
    assert response.status_code == 200
    assert response.json()["name"] == "Ravi K."
    audit = AuditLog.objects.get(action="conversation_renamed")
    assert (audit.actor, audit.detail) == (agent_user, {"from": "Ravi Kumar", "to": "Ravi K."})


def test_a_name_too_long_is_a_400(agent_api, ravi):
    response = agent_api.patch(f"/api/conversations/{CUSTOMER}", {"name": "x" * 121})
    assert response.status_code == 400
    assert "name" in response.json()["fields"]


def test_a_name_with_control_characters_is_a_400_and_changes_nothing(agent_api, ravi):
    response = agent_api.patch(
        f"/api/conversations/{CUSTOMER}", {"name": "Ravi\u0007"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {"name": ["A name cannot contain control characters."]}
    ravi.refresh_from_db()
    assert ravi.contact_name == "Ravi Kumar"


def test_assign_to_an_agent_by_username_or_id(agent_api, ravi):
    priya = UserFactory(username="priya")
    url = f"/api/conversations/{CUSTOMER}"
    assert agent_api.patch(url, {"assignee": "priya"}, format="json").json()["assignee"] == {
        "id": priya.pk,
        "username": "priya",
    }
    assert agent_api.patch(url, {"assignee": priya.pk}, format="json").status_code == 200
    assert agent_api.patch(url, {"assignee": None}, format="json").json()["assignee"] is None
    assert AuditLog.objects.filter(action="conversation_assigned").count() == 3


@pytest.mark.parametrize("assignee", ["nobody", 999999, ["priya"], {"id": 1}, True])
def test_assigning_to_someone_unknown_is_a_400(agent_api, ravi, assignee):
    url = f"/api/conversations/{CUSTOMER}"
    response = agent_api.patch(url, {"assignee": assignee}, format="json")
    assert response.status_code == 400
    assert "assignee" in response.json()["fields"]


def test_an_inactive_user_cannot_be_assigned(agent_api, ravi):
    UserFactory(username="gone", is_active=False)
    url = f"/api/conversations/{CUSTOMER}"
    assert agent_api.patch(url, {"assignee": "gone"}, format="json").status_code == 400


def test_clearing_the_attention_flag(agent_api, ravi):
    Conversation.objects.filter(pk=ravi.pk).update(needs_attention=True)
    url = f"/api/conversations/{CUSTOMER}"
    assert agent_api.patch(url, {"needs_attention": False}, format="json").status_code == 200
    ravi.refresh_from_db()
    assert not ravi.needs_attention


def test_put_and_delete_are_not_allowed(agent_api, ravi):
    url = f"/api/conversations/{CUSTOMER}"
    assert agent_api.put(url, {"name": "x"}).status_code == 405
    assert agent_api.delete(url).status_code == 405


def test_start_a_flow_sends_its_first_prompt(agent_api, ravi, reply_templates):
    url = f"/api/conversations/{CUSTOMER}/flows"
    body = {"flow": "appointment", "context": {"date": "Jan 20", "time": "3 PM"}}
    response = agent_api.post(url, body, format="json")
    assert response.status_code == 201
    assert response.json()["body"] == (
        "Your appointment is scheduled for Jan 20 at 3 PM. Reply C to confirm, R to reschedule."
    )
    assert FlowSession.objects.get().status == "active"


def test_starting_a_flow_for_an_opted_out_number_is_a_400(agent_api, ravi, reply_templates):
    consent.opt_out(CUSTOMER, source="staff")
    response = agent_api.post(f"/api/conversations/{CUSTOMER}/flows", {"flow": "survey"})
    assert response.status_code == 400
    assert response.json()["code"] == "opted_out"
    assert not FlowSession.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"flow": "no-such-flow"}, "flow"),
        ({}, "flow"),
        ({"flow": "otp-verify", "context": {"otp": "1" * 31}}, "context"),
        ({"flow": "otp-verify", "context": {"bad key!": "1"}}, "context"),
        ({"flow": "otp-verify", "context": ["1"]}, "context"),
    ],
)
def test_bad_flow_starts_are_a_400(agent_api, ravi, body, field):
    response = agent_api.post(f"/api/conversations/{CUSTOMER}/flows", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_the_schema_documents_the_conversations_api(agent_api):
    response = agent_api.get("/api/schema?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/conversations/{phone}/flows" in paths or any("flows" in p for p in paths)
