"""GET/HEAD /webhook/sms-incoming: Exotel's "Send a Reply" applet (shared/seeds/002_*)."""

import pytest

from conversations.models import (
    ConsentEvent,
    Conversation,
    InboundOutcome,
    KeywordAction,
    KeywordMatch,
    KeywordRule,
    Message,
    MessageSource,
    MessageStatus,
    WebhookEvent,
    WebhookKind,
)
from conversations.services import consent

from .factories import DltTemplateFactory, KeywordRuleFactory
from .sms import CUSTOMER, applet_fields, call_applet, post_sms, run_inbound_tasks, we_texted

pytestmark = pytest.mark.django_db

CONFIRMATION = "Thank you, your appointment is confirmed. See you then!"


@pytest.fixture
def reminded(db):
    """We texted the customer an appointment reminder: the shipped YES rule answers it."""
    return we_texted()


def headers(response):
    return {key: value for key, value in response.items() if key.lower() != "date"}


def test_get_answers_yes_with_the_configured_confirmation(client, reply_templates, reminded):
    response = call_applet(client, "YES")
    assert response.status_code == 200
    assert response.content.decode() == CONFIRMATION


def test_the_reply_is_text_plain_and_nothing_else(client, reply_templates, reminded):
    response = call_applet(client, "YES")
    assert response["Content-Type"] == "text/plain"
    assert response["Content-Length"] == str(len(CONFIRMATION.encode()))


def test_head_returns_exactly_the_headers_of_get_and_no_body(client, reply_templates, reminded):
    fields = applet_fields("YES")
    head = client.head("/webhook/sms-incoming", fields)
    get = client.get("/webhook/sms-incoming", fields)
    assert head.status_code == get.status_code == 200
    assert headers(head) == headers(get)
    assert head.content == b""
    assert get.content.decode() == CONFIRMATION


def test_head_then_get_stores_the_message_and_the_event_once(client, reply_templates, reminded):
    fields = applet_fields("YES", sid="app_once")
    client.head("/webhook/sms-incoming", fields)
    client.get("/webhook/sms-incoming", fields)
    assert Message.objects.filter(sid="app_once").count() == 1
    assert WebhookEvent.objects.filter(sid="app_once").count() == 1
    assert Message.objects.filter(source=MessageSource.KEYWORD).count() == 1
    assert Conversation.objects.get().message_count == 2


def test_head_alone_records_no_reply(client, reply_templates, reminded):
    call_applet(client, "YES", method="head")
    assert not Message.objects.filter(source=MessageSource.KEYWORD).exists()


def test_a_repeated_get_answers_the_same_and_records_one_reply(client, reply_templates, reminded):
    fields = applet_fields("YES")
    first = client.get("/webhook/sms-incoming", fields)
    second = client.get("/webhook/sms-incoming", fields)
    assert first.content == second.content
    assert Message.objects.filter(source=MessageSource.KEYWORD).count() == 1


def test_the_reply_is_recorded_as_sent_by_exotel(client, reply_templates, reminded):
    call_applet(client, "YES")
    reply = Message.objects.get(source=MessageSource.KEYWORD)
    assert reply.body == CONFIRMATION
    assert reply.status == MessageStatus.SENT
    assert reply.source == MessageSource.KEYWORD
    assert reply.template is not None
    assert reply.sid is None
    assert "applet" in reply.status_events.get().note


def test_the_stored_event_is_the_applet_kind(client, reply_templates):
    call_applet(client, "YES", sid="app_kind")
    assert WebhookEvent.objects.get(sid="app_kind").kind == WebhookKind.SMS_REPLY_APPLET


def test_an_unknown_word_with_no_default_reply_gets_an_empty_answer(client, reply_templates):
    response = call_applet(client, "What are your opening hours?")
    assert response.status_code == 200
    assert response["Content-Length"] == "0"
    assert response.content == b""


def test_an_unknown_word_is_flagged_for_an_agent(client, reply_templates):
    call_applet(client, "What are your opening hours?")
    conversation = Conversation.objects.get()
    assert conversation.needs_attention
    assert conversation.has_unread


def test_head_of_an_empty_answer_has_content_length_zero(client, reply_templates):
    response = call_applet(client, "Hmm", method="head")
    assert response["Content-Length"] == "0"
    assert response["Content-Type"] == "text/plain"


def test_an_unknown_word_gets_the_fallback_reply_when_one_is_active(client, reply_templates):
    KeywordRule.objects.filter(match=KeywordMatch.FALLBACK).update(active=True)
    response = call_applet(client, "What are your opening hours?")
    assert response.content.decode().startswith("Thank you for your message.")
    assert Conversation.objects.get().needs_attention


def test_the_fallback_reply_is_not_repeated_within_its_cooldown(client, reply_templates):
    KeywordRule.objects.filter(match=KeywordMatch.FALLBACK).update(active=True)
    call_applet(client, "Hello?")
    assert call_applet(client, "Anyone there?").content == b""


def test_a_probe_without_sms_fields_gets_an_empty_text_answer(client):
    for method in ("get", "head"):
        response = getattr(client, method)("/webhook/sms-incoming")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain"
        assert response["Content-Length"] == "0"
    assert not Message.objects.exists()


def test_a_partial_sms_gets_a_400_on_get_and_head_alike(client):
    fields = {**applet_fields("YES"), "From": ""}
    get = client.get("/webhook/sms-incoming", fields)
    head = client.head("/webhook/sms-incoming", fields)
    assert get.status_code == head.status_code == 400
    assert "From" in get.json()["fields"]
    assert headers(head) == headers(get)


def test_the_token_is_required_when_configured(client, settings, reply_templates):
    settings.EXOTEL_WEBHOOK_TOKEN = "s3cret"
    assert call_applet(client, "YES").status_code == 403
    response = client.get("/webhook/sms-incoming", {**applet_fields("YES"), "token": "s3cret"})
    assert response.status_code == 200


def test_an_opted_out_number_gets_no_reply(client, reply_templates):
    consent.opt_out(CUSTOMER, source="staff")
    assert call_applet(client, "HELP").content == b""


def test_stop_is_confirmed_once_and_the_confirmation_is_in_the_ledger(client, reply_templates):
    first = call_applet(client, "STOP")
    second = call_applet(client, "STOP")
    assert first.content.decode().startswith("You have been unsubscribed")
    assert second.content == b""
    assert consent.is_opted_out(CUSTOMER)
    event = ConsentEvent.objects.filter(changed=True).get()
    assert event.reply_message.body == first.content.decode()


def test_a_reply_that_fills_no_dlt_template_is_not_returned(client, reminded):
    DltTemplateFactory(body="Something else entirely {#var#}.")
    response = call_applet(client, "YES")
    assert response.content == b""
    assert InboundOutcome.objects.get().reply_error.startswith("dlt_mismatch")
    assert Conversation.objects.get().needs_attention


def test_a_promotional_template_is_never_used_for_an_applet_answer(client, reminded):
    DltTemplateFactory(body=CONFIRMATION, sms_type="promotional", sender_id="123456")
    assert call_applet(client, "YES").content == b""
    assert InboundOutcome.objects.get().reply_error.startswith("promotional")


def test_a_unicode_reply_counts_bytes_in_content_length(client):
    hindi = "धन्यवाद, आपकी अपॉइंटमेंट पक्की है।"
    KeywordRuleFactory(keywords="PAKKA", action=KeywordAction.CONFIRM, reply=hindi)
    DltTemplateFactory(body=hindi)
    response = call_applet(client, "pakka")
    assert response.content.decode() == hindi
    assert response["Content-Length"] == str(len(hindi.encode()))


def test_a_flow_keyword_answers_with_the_first_prompt(client, reply_templates):
    assert call_applet(client, "order").content.decode() == "Please reply with your order ID."


def test_an_sms_already_answered_by_the_post_webhook_gets_no_second_reply(
    client, reply_templates, reminded
):
    post_sms(client, "YES", sid="both_doors")
    run_inbound_tasks()
    response = client.get("/webhook/sms-incoming", applet_fields("YES", sid="both_doors"))
    assert response.content == b""
    assert Message.objects.filter(source=MessageSource.KEYWORD).count() == 1


def test_an_sms_answered_by_the_applet_is_not_answered_again_by_the_task(
    client, reply_templates, reminded
):
    call_applet(client, "YES", sid="applet_first")
    post_sms(client, "YES", sid="applet_first")
    run_inbound_tasks()
    assert Message.objects.filter(source=MessageSource.KEYWORD).count() == 1


def test_a_failure_while_answering_still_stores_the_message_and_answers_empty(
    client, reply_templates, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("conversations.services.inbound.decide", broken)
    response = call_applet(client, "YES", sid="app_broken")
    assert response.status_code == 200
    assert response.content == b""
    assert Message.objects.filter(sid="app_broken").exists()
    assert not InboundOutcome.objects.exists()
