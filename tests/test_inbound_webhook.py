"""POST /webhook/sms-incoming: store once per SmsSid, ack at once, answer in a task."""

import json
import threading

import pytest
from django.db import connection, connections
from django.test import Client

from conversations.models import (
    Conversation,
    Direction,
    InboundOutcome,
    Message,
    MessageSource,
    MessageStatus,
    WebhookEvent,
    WebhookKind,
)
from conversations.services.threads import refresh_conversation_summary
from conversations.services.webhook_events import process_webhook_event

from .conftest import wait_until
from .factories import ConversationFactory
from .sms import CUSTOMER, inbound_fields, post_sms, run_inbound_tasks

pytestmark = pytest.mark.django_db


def test_inbound_sms_is_stored_and_acknowledged(client):
    response = post_sms(client, "Hello there", sid="inb_sms_abc123")
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    message = Message.objects.get(sid="inb_sms_abc123")
    assert message.direction == Direction.INBOUND
    assert message.status == MessageStatus.RECEIVED
    assert message.source == MessageSource.EXOTEL
    assert message.body == "Hello there"
    assert message.conversation.phone_number == CUSTOMER


def test_inbound_sms_moves_the_conversation_counters(client):
    conversation = ConversationFactory(phone_number=CUSTOMER, message_count=3, unread_count=1)
    post_sms(client, "Can you reschedule to 4 PM?")
    conversation.refresh_from_db()
    assert conversation.message_count == 4
    assert conversation.unread_count == 2
    assert conversation.last_message_body == "Can you reschedule to 4 PM?"
    assert conversation.last_message_direction == Direction.INBOUND


def test_inbound_sms_keeps_exotels_time_and_our_number(client):
    post_sms(client, "Hi", sid="inb_time")
    message = Message.objects.get(sid="inb_time")
    assert message.sent_at.isoformat() == "2025-01-15T05:00:00+00:00"
    assert message.exophone == "+911140000000"


def test_the_raw_event_is_stored_for_the_task_without_the_token(client, settings):
    settings.EXOTEL_WEBHOOK_TOKEN = "s3cret"
    post_sms(client, "Hi", sid="inb_raw", query="?token=s3cret")
    event = WebhookEvent.objects.get(sid="inb_raw")
    assert event.kind == WebhookKind.SMS_INCOMING
    assert event.payload["Body"] == "Hi"
    assert "token" not in json.dumps(event.payload)


def test_the_task_is_enqueued_only_after_the_commit(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        post_sms(client, "Hi")
    assert len(callbacks) == 1


def test_the_same_sms_delivered_three_times_is_stored_once(client):
    fields = {"sid": "inb_dup"}
    answers = [post_sms(client, "YES", **fields) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    assert Message.objects.filter(sid="inb_dup").count() == 1
    assert WebhookEvent.objects.filter(sid="inb_dup").count() == 1
    assert Conversation.objects.get(phone_number=CUSTOMER).message_count == 1


def test_form_and_json_bodies_give_the_same_message(client):
    post_sms(client, "नमस्ते, order 42?", sid="inb_form")
    post_sms(client, "नमस्ते, order 42?", sid="inb_json", as_json=True)
    form, as_json = (Message.objects.get(sid=s) for s in ("inb_form", "inb_json"))
    fields = ("body", "direction", "status", "exophone", "sent_at", "conversation_id")
    assert [getattr(form, f) for f in fields] == [getattr(as_json, f) for f in fields]


def test_a_duplicate_changes_nothing_even_after_processing(client, reply_templates):
    post_sms(client, "HELP", sid="inb_once")
    run_inbound_tasks()
    before = Message.objects.count()
    post_sms(client, "HELP", sid="inb_once")
    run_inbound_tasks()
    assert Message.objects.count() == before
    assert InboundOutcome.objects.count() == 1


@pytest.mark.parametrize("number", ["+919876543210", "919876543210", "09876543210", "9876543210"])
def test_sender_numbers_in_any_indian_format_join_one_conversation(client, number):
    post_sms(client, "Hi", phone=number)
    assert list(Conversation.objects.values_list("phone_number", flat=True)) == [CUSTOMER]


def test_an_sms_for_another_exotel_account_is_refused(client):
    response = post_sms(client, "Hi", AccountSid="someone_else")
    assert response.status_code == 403
    assert "AccountSid" in response.json()["error"]
    assert not Message.objects.exists()


def test_a_missing_account_sid_is_accepted(client):
    data = inbound_fields("Hi")
    del data["AccountSid"]
    assert client.post("/webhook/sms-incoming", data).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"SmsSid": ""}, "SmsSid"),
        ({"From": ""}, "From"),
        ({"From": "not a number"}, "From"),
        ({"From": "12"}, "From"),
        ({"SmsSid": "x' OR '1'='1"}, "SmsSid"),
        ({"SmsSid": "a" * 65}, "SmsSid"),
        ({"Body": "x" * 2001}, "Body"),
        ({"To": "9" * 40}, "To"),
    ],
)
def test_bad_fields_get_a_400_naming_the_field(client, change, field):
    response = client.post("/webhook/sms-incoming", {**inbound_fields("Hi"), **change})
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [b"", b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"[" * 5000 + b"]" * 5000],
)
def test_junk_json_gets_a_400(client, raw):
    response = client.post("/webhook/sms-incoming", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["received"] is False


@pytest.mark.parametrize("value", [["+919876543210"], {"n": 1}, True])
def test_json_fields_of_the_wrong_type_get_a_400(client, value):
    data = {**inbound_fields("Hi"), "From": value}
    response = client.post("/webhook/sms-incoming", data, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["fields"]["From"] == ["From must be text."]


def test_json_numbers_are_read_as_text(client):
    data = {**inbound_fields("Hi", sid="inb_num"), "From": 919876543210}
    response = client.post("/webhook/sms-incoming", data, content_type="application/json")
    assert response.status_code == 200
    assert Message.objects.get(sid="inb_num").conversation.phone_number == CUSTOMER


def test_a_lone_surrogate_in_the_body_gets_a_400(client):
    raw = json.dumps(inbound_fields("x")).replace('"x"', '"\\ud83d"')
    response = client.post("/webhook/sms-incoming", raw, content_type="application/json")
    assert response.status_code == 400
    assert "Body" in response.json()["fields"]


def test_nul_characters_are_dropped_not_stored(client):
    post_sms(client, "Hi\x00 there", sid="inb_nul", Extra="a\x00b")
    assert Message.objects.get(sid="inb_nul").body == "Hi there"
    assert WebhookEvent.objects.get(sid="inb_nul").payload["Extra"] == "ab"


def test_an_oversized_request_gets_a_413(client):
    response = client.post(
        "/webhook/sms-incoming", {**inbound_fields("Hi"), "Padding": "x" * 70_000}
    )
    assert response.status_code == 413


def test_an_empty_body_is_a_valid_sms(client):
    assert post_sms(client, "", sid="inb_empty").status_code == 200
    assert Message.objects.get(sid="inb_empty").body == ""


def test_the_token_is_required_when_configured(client, settings):
    settings.EXOTEL_WEBHOOK_TOKEN = "s3cret"
    assert post_sms(client, "Hi").status_code == 403
    assert post_sms(client, "Hi", query="?token=wrong").status_code == 403
    assert post_sms(client, "Hi", query="?token=s3cret").status_code == 200


def test_addresses_outside_the_allowlist_are_refused(client, settings):
    settings.EXOTEL_WEBHOOK_ALLOWED_IPS = ["10.0.0.1"]
    assert post_sms(client, "Hi").status_code == 403
    settings.EXOTEL_WEBHOOK_ALLOWED_IPS = ["127.0.0.1"]
    assert post_sms(client, "Hi").status_code == 200


def test_the_webhook_needs_no_csrf_token():
    csrf_client = Client(enforce_csrf_checks=True)
    assert post_sms(csrf_client, "Hi").status_code == 200


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_get_a_405(client, method):
    assert getattr(client, method)("/webhook/sms-incoming").status_code == 405


def test_the_path_answers_with_a_trailing_slash_too(client):
    response = client.post("/webhook/sms-incoming/", inbound_fields("Hi"))
    assert response.status_code == 200


def test_the_task_answers_a_keyword_through_the_outbound_pipeline(client, reply_templates):
    post_sms(client, "HELP")
    run_inbound_tasks()
    reply = Message.objects.get(direction=Direction.OUTBOUND)
    assert reply.status == MessageStatus.PENDING
    assert reply.source == MessageSource.KEYWORD
    assert reply.body.startswith("Reply to this message and our team will help you.")


def test_the_event_records_what_was_done(client, reply_templates):
    post_sms(client, "HELP", sid="inb_outcome")
    run_inbound_tasks()
    event = WebhookEvent.objects.get(sid="inb_outcome")
    assert event.processed_at is not None
    assert event.outcome == "help; replied via api"


def test_a_replayed_event_does_not_answer_twice(client, reply_templates):
    post_sms(client, "HELP", sid="inb_replay")
    run_inbound_tasks()
    event = WebhookEvent.objects.get(sid="inb_replay")
    WebhookEvent.objects.filter(pk=event.pk).update(processed_at=None)
    process_webhook_event(event.pk)
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 1
    event.refresh_from_db()
    assert event.outcome == "already answered (help)"


def test_a_reply_without_a_dlt_template_is_not_sent_and_flags_the_conversation(client):
    post_sms(client, "HELP", sid="inb_nodlt")
    run_inbound_tasks()
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()
    outcome = InboundOutcome.objects.get(message__sid="inb_nodlt")
    assert outcome.reply_error.startswith("dlt_mismatch")
    assert Conversation.objects.get(phone_number=CUSTOMER).needs_attention


@pytest.mark.worker
def test_a_real_worker_answers_help_after_the_webhook(live_worker, reply_templates):
    response = post_sms(Client(), "help!", sid="inb_live")
    assert response.status_code == 200
    processed = WebhookEvent.objects.filter(sid="inb_live", processed_at__isnull=False)
    wait_until(processed.exists, timeout=20, what="the worker's drain to apply the event")
    reply = Message.objects.get(direction=Direction.OUTBOUND)
    assert reply.source == MessageSource.KEYWORD
    assert WebhookEvent.objects.get(sid="inb_live").processed_at is not None


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises writers, so two requests can never race; PostgreSQL can.",
)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_copies_arriving_at_the_same_moment_are_stored_once():
    barrier = threading.Barrier(2)
    answers = []

    def deliver():
        try:
            barrier.wait(timeout=5)
            answers.append(post_sms(Client(), "YES", sid="inb_race").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert answers == [200, 200]
    assert Message.objects.filter(sid="inb_race").count() == 1
    assert WebhookEvent.objects.filter(sid="inb_race").count() == 1
    assert Conversation.objects.get(phone_number=CUSTOMER).message_count == 1


SUMMARY_FIELDS = (
    "message_count",
    "unread_count",
    "last_message_body",
    "last_message_direction",
    "last_message_status",
    "last_activity_at",
)


@pytest.mark.parametrize("known_customer", [False, True], ids=["new", "known"])
def test_counters_after_the_webhook_equal_a_recount(client, known_customer):
    if known_customer:
        conversation = ConversationFactory(phone_number=CUSTOMER)
        refresh_conversation_summary(conversation.pk)
    post_sms(client, "first", sid="inb_count_1")
    post_sms(client, "second", sid="inb_count_2")
    post_sms(client, "second", sid="inb_count_2")
    conversation = Conversation.objects.get(phone_number=CUSTOMER)
    counted = [getattr(conversation, f) for f in SUMMARY_FIELDS]
    recounted = refresh_conversation_summary(conversation.pk)
    assert counted == [getattr(recounted, f) for f in SUMMARY_FIELDS]
    assert counted[:3] == [2, 2, "second"]


def test_the_stored_message_has_every_field_the_orm_would_give_it(client):
    """On PostgreSQL the webhook writes rows by hand (services.intake); they must not differ
    from what the ORM writes for the same SMS."""
    post_sms(client, "Hi", sid="inb_fields_webhook")
    stored = Message.objects.get(sid="inb_fields_webhook")
    by_orm = Message.objects.create(
        conversation=stored.conversation,
        direction=Direction.INBOUND,
        body="Hi",
        status=MessageStatus.RECEIVED,
        sid="inb_fields_orm",
        exophone=stored.exophone,
        source=MessageSource.EXOTEL,
        sent_at=stored.sent_at,
    )
    by_orm.refresh_from_db()
    differ = {"id", "sid", "created_at", "updated_at"}
    fields = [f.attname for f in Message._meta.concrete_fields if f.name not in differ]
    assert {f: getattr(stored, f) for f in fields} == {f: getattr(by_orm, f) for f in fields}
    event = WebhookEvent.objects.get(sid="inb_fields_webhook")
    assert (event.attempts, event.outcome, event.processed_at) == (0, "", None)
