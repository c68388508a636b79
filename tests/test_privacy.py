"""A number's data on request (issue 8, DPDP): export everything, erase it; both audited."""

import csv
import io
import json

import pytest
from django.urls import reverse

from conversations.models import (
    AuditLog,
    ConsentEvent,
    Conversation,
    FlowSession,
    Message,
    OptOut,
    OptOutSource,
    WebhookEvent,
    WebhookKind,
)
from conversations.services import consent, privacy

from .factories import (
    ConversationFactory,
    FlowFactory,
    InboundMessageFactory,
    MessageFactory,
)

PHONE = "+919876543210"


@pytest.fixture
def person(db):
    conversation = ConversationFactory(
        phone_number=PHONE, contact_name="Asha Rao", flow_answers={"city": "Pune"}
    )
    inbound = InboundMessageFactory(conversation=conversation, body="STOP please", sid="in-1")
    MessageFactory(conversation=conversation, body="Your OTP is 1234", variables=["1234"])
    WebhookEvent.objects.create(kind=WebhookKind.SMS_INCOMING, sid="in-1", payload={"Body": "x"})
    FlowSession.objects.create(
        conversation=conversation,
        flow=FlowFactory(),
        answers={"dob": "1990-01-01"},
        expires_at="2030-01-01T00:00:00Z",
    )
    consent.opt_out(PHONE, source=OptOutSource.KEYWORD, keyword="STOP", message=inbound)
    other = ConversationFactory(phone_number="+919811111111")
    MessageFactory(conversation=other, body="someone else")
    return conversation


def test_collect_has_every_kind_of_record(person):
    data = privacy.collect("09876543210")
    assert data["phone_number"] == PHONE
    assert data["conversation"][0]["contact_name"] == "Asha Rao"
    assert sorted(m["body"] for m in data["messages"]) == ["STOP please", "Your OTP is 1234"]
    assert [o["keyword"] for o in data["opt_outs"]] == ["STOP"]
    assert [e["kind"] for e in data["consent_events"]] == ["opt_out"]
    assert data["flow_sessions"][0]["answers"] == {"dob": "1990-01-01"}
    assert [e["action"] for e in data["audit_entries"]] == ["opt_out"]


def test_admin_json_export_downloads_and_is_audited(client, staff_user, person):
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:conversations_conversation_changelist"),
        {"action": "export_number_data_json", "_selected_action": [person.pk]},
    )
    assert response["Content-Type"] == "application/json"
    data = json.loads(response.content)
    assert data["phone_number"] == PHONE
    assert len(data["messages"]) == 2
    entry = AuditLog.objects.get(action="privacy_export")
    assert (entry.actor, entry.target, entry.detail["format"]) == (staff_user, PHONE, "json")


def test_admin_csv_export_has_one_row_per_record(client, staff_user, person):
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:conversations_conversation_changelist"),
        {"action": "export_number_data_csv", "_selected_action": [person.pk]},
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == privacy.EXPORT_HEADER
    sections = [row[0] for row in rows[1:]]
    assert sections.count("messages") == 2
    assert {"conversation", "opt_outs", "consent_events", "flow_sessions"} <= set(sections)
    assert AuditLog.objects.filter(action="privacy_export").count() == 1


def test_erase_asks_for_confirmation_first(client, staff_user, person):
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:conversations_conversation_changelist"),
        {"action": "erase_number_data", "_selected_action": [person.pk]},
    )
    assert response.status_code == 200
    assert b"cannot be undone" in response.content
    assert Message.objects.filter(body="STOP please").exists()


def test_erase_removes_content_keeps_the_opt_out_and_is_audited(client, staff_user, person):
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:conversations_conversation_changelist"),
        {"action": "erase_number_data", "_selected_action": [person.pk], "confirm": "yes"},
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert (person.contact_name, person.flow_answers, person.last_message_body) == ("", {}, "")
    bodies = set(Message.objects.filter(conversation=person).values_list("body", flat=True))
    assert bodies == {privacy.ERASED_BODY}
    assert Message.objects.filter(conversation=person, variables=["1234"]).count() == 0
    assert FlowSession.objects.get().answers == {}
    assert WebhookEvent.objects.get(sid="in-1").payload == {"erased": True}
    assert OptOut.objects.filter(phone_number=PHONE, revoked_at=None).count() == 1
    assert ConsentEvent.objects.filter(phone_number=PHONE).count() == 1
    assert consent.is_opted_out(PHONE)
    entry = AuditLog.objects.get(action="privacy_erase")
    assert (entry.actor, entry.target, entry.detail["messages"]) == (staff_user, PHONE, 2)


def test_erase_leaves_other_numbers_alone(staff_user, person):
    privacy.erase_number(PHONE, user=staff_user)
    assert Message.objects.filter(body="someone else").exists()
    assert Conversation.objects.filter(phone_number="+919811111111").exists()


def test_agents_cannot_use_the_admin_actions(client, agent_user, person):
    client.force_login(agent_user)
    response = client.post(
        reverse("admin:conversations_conversation_changelist"),
        {"action": "erase_number_data", "_selected_action": [person.pk], "confirm": "yes"},
    )
    assert response.status_code == 302  # to the admin login: not staff
    assert Message.objects.filter(body="STOP please").exists()
