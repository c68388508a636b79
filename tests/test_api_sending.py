"""POST /api/sms/send, POST /api/conversations/<phone>/reply, GET /api/messages/<id>."""

import pytest

from conversations.models import Message
from conversations.services import sending

from .factories import DltTemplateFactory, MessageFactory, OptOutFactory

pytestmark = pytest.mark.django_db

BODY = "Your appointment is confirmed for 20 Jan at 3 PM. Reply YES to confirm or NO to cancel."


@pytest.fixture(autouse=True)
def template(monkeypatch):
    monkeypatch.setattr(sending, "enqueue_send", lambda message: None)
    return DltTemplateFactory(template_id="1107160000000000001")


def test_send_is_accepted_with_the_seed_keys_and_ours(staff_api):
    response = staff_api.post("/api/sms/send", {"to": "9876543210", "body": BODY}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["success"] is True
    assert body["sid"] is None  # Exotel's sid arrives when the worker has sent it
    assert (body["status"], body["to"], body["segments"]) == ("pending", "+919876543210", 1)
    assert Message.objects.get(pk=body["id"]).body == BODY


def test_send_by_template_id_and_variables(agent_api):
    payload = {
        "to": "+91 98765 43210",
        "dlt_template_id": "1107160000000000001",
        "variables": ["1 Feb", "4 PM"],
    }
    response = agent_api.post("/api/sms/send/", payload, format="json")
    assert response.status_code == 202
    assert "1 Feb at 4 PM" in Message.objects.get().body


def test_send_requires_authentication(api_client):
    response = api_client.post("/api/sms/send", {"to": "9876543210", "body": BODY}, format="json")
    assert response.status_code == 401
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "to"),
        ({"to": "9876543210"}, "body"),
        ({"to": "hello", "body": BODY}, "to"),
        ({"to": "9876543210", "body": "Hi there"}, "body"),
        ({"to": "9876543210", "body": "x" * 2001}, "body"),
        ({"to": "9876543210", "body": 42}, "body"),
        ({"to": ["9876543210"], "body": BODY}, "to"),
        (
            {"to": "9876543210", "dlt_template_id": "1107160000000000001", "variables": "x"},
            "variables",
        ),
        (
            {"to": "9876543210", "dlt_template_id": "1107160000000000001", "variables": ["a"]},
            "variables",
        ),
        ({"to": "9876543210", "body": BODY, "sms_type": "otp"}, "sms_type"),
        ({"to": "9876543210", "body": "<script>alert(1)</script>"}, "body"),
        ({"to": "9876543210'; DROP TABLE conversations_message;--", "body": BODY}, "to"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(staff_api, payload, field):
    response = staff_api.post("/api/sms/send", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert field in body["fields"], body
    assert not Message.objects.exists()


def test_send_to_an_opted_out_number_is_refused(staff_api):
    OptOutFactory(phone_number="+919876543210")
    response = staff_api.post("/api/sms/send", {"to": "9876543210", "body": BODY}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "opted_out"


@pytest.mark.parametrize(
    "phone", ["+919876543210", "%2B919876543210", "919876543210", "9876543210"]
)
def test_reply_accepts_any_number_format_in_the_path(staff_api, phone):
    response = staff_api.post(f"/api/conversations/{phone}/reply", {"body": BODY}, format="json")
    assert response.status_code == 202
    assert response.json()["to"] == "+919876543210"


def test_reply_to_a_junk_number_is_a_404(staff_api):
    response = staff_api.post(
        "/api/conversations/not-a-number/reply", {"body": BODY}, format="json"
    )
    assert response.status_code == 404


def test_message_detail_shows_status_history(staff_api):
    message = MessageFactory(sid="sid-9", status="queued")
    message.status_events.create(status="queued", source="send", occurred_at=message.created_at)
    body = staff_api.get(f"/api/messages/{message.pk}").json()
    assert body["sid"] == "sid-9"
    assert body["history"][0]["status"] == "queued"


def test_unknown_message_is_a_404(staff_api):
    assert staff_api.get("/api/messages/999999").status_code == 404


def test_template_writes_are_linted(staff_api):
    payload = {
        "name": "Bad",
        "template_id": "1107160000000000009",
        "entity_id": "1" * 19,
        "sender_id": "EXOTEL",
        "body": "Hi {#var#}{#var#}",
        "sms_type": "transactional",
    }
    response = staff_api.post("/api/templates", payload, format="json")
    assert response.status_code == 400
    assert "back to back" in response.json()["fields"]["body"][0]


def test_an_agents_reply_clears_the_needs_attention_flag(staff_api):
    from .factories import ConversationFactory

    conversation = ConversationFactory(phone_number="+919876543210", needs_attention=True)
    response = staff_api.post(
        f"/api/conversations/{conversation.phone_number}/reply", {"body": BODY}, format="json"
    )
    assert response.status_code == 202
    conversation.refresh_from_db()
    assert conversation.needs_attention is False
