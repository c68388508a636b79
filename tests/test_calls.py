"""`GET /webhook/call-event`: Exotel's Passthru from a call flow (issue 9, seed 003)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import (
    AuditLog,
    CallEvent,
    CallOutcome,
    CallRuleSend,
    Conversation,
    Message,
    MessageSource,
    MessageStatus,
    OptOutSource,
    WebhookEvent,
    WebhookKind,
)
from conversations.services import consent

from .factories import CallRuleFactory, ConversationFactory, DltTemplateFactory

pytestmark = pytest.mark.django_db

URL = "/webhook/call-event"
CALLER = "+919876543210"
EXOPHONE = "+918047112345"


def passthru(client, **params):
    """A Passthru GET as Exotel sends it (seed 003 / EXOTEL_NOTES "Call flows")."""
    query = {
        "CallSid": "b6cf6d2d8f1c4a0e9c8a7b6d5e4f3a21",
        "CallFrom": "09876543210",
        "CallTo": "08047112345",
        "Direction": "incoming",
        "CallType": "call-attempt",
        "DialCallDuration": "0",
        "StartTime": "2024-01-15 10:29:40",
        "CurrentTime": "2024-01-15 10:30:05",
        **params,
    }
    return client.get(URL, {k: v for k, v in query.items() if v is not None})


def sent_bodies():
    return list(Message.objects.order_by("id").values_list("body", flat=True))


@pytest.mark.parametrize(
    ("call_type", "expected_rule"),
    [
        ("call-attempt", "missed"),
        ("incomplete", "missed"),
        ("client-hangup", "missed"),
        ("completed", "completed"),
        ("voicemail", "voicemail"),
    ],
)
def test_each_call_type_sends_the_rule_that_covers_it(client, call_type, expected_rule):
    rules = {
        name: CallRuleFactory(
            name=name,
            call_types=[name],
            template=DltTemplateFactory(body=f"Rule {name} for your call. Thank you."),
        )
        for name in ("missed", "completed", "voicemail")
    }

    response = passthru(client, CallType=call_type)

    assert response.status_code == 200
    (send,) = CallRuleSend.objects.all()
    assert send.rule == rules[expected_rule]
    assert sent_bodies() == [f"Rule {expected_rule} for your call. Thank you."]


def test_a_rule_for_one_call_type_ignores_the_other_missed_stages(client):
    CallRuleFactory(call_types=["incomplete"])

    response = passthru(client, CallType="call-attempt")

    assert response.status_code == 302
    assert not Message.objects.exists()


def test_variables_are_filled_from_the_call_and_the_body_matches_the_template(client):
    template = DltTemplateFactory(
        body="Thank you for calling {#var#}. Ref {#var#} at {#var#}. Call us on {#var#}."
    )
    CallRuleFactory(
        template=template, variables=["Acme Corp", "{CallSidShort}", "{DateTime}", "{CallTo}"]
    )

    response = passthru(client)

    assert response.status_code == 200
    message = Message.objects.get()
    assert message.body == (
        "Thank you for calling Acme Corp. Ref 6d5e4f3a21 at 2024-01-15 10:30. "
        "Call us on +918047112345."
    )
    assert message.template == template
    assert message.variables == ["Acme Corp", "6d5e4f3a21", "2024-01-15 10:30", EXOPHONE]
    assert (message.source, message.status) == (MessageSource.CALL, MessageStatus.PENDING)
    assert message.conversation.phone_number == CALLER


def test_call_from_and_call_sid_fill_variables(client):
    template = DltTemplateFactory(body="Call from {#var#} noted, reference {#var#}.")
    CallRuleFactory(template=template, variables=["{CallFrom}", "{CallSid}"])

    passthru(client, CallSid="abc123def456")

    assert sent_bodies() == [f"Call from {CALLER} noted, reference abc123def456."]


def test_a_callsid_longer_than_a_dlt_variable_is_refused_with_302(client):
    template = DltTemplateFactory(body="Thanks for contacting us. Ref: {#var#}")
    CallRuleFactory(template=template, variables=["{CallSid}"], call_types=["missed"])

    response = passthru(client)  # Exotel's CallSids are 32 characters; DLT takes 30

    assert response.status_code == 302
    send = CallRuleSend.objects.get()
    assert send.message is None and send.refusal_code == "bad_variables"


def test_a_second_call_event_for_the_same_call_and_stage_sends_nothing_more(client):
    CallRuleFactory()

    first = passthru(client)
    second = passthru(client)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["duplicate"] is True
    assert Message.objects.count() == 1
    assert CallEvent.objects.count() == 1


def test_a_rule_sends_once_per_call_across_stages(client):
    CallRuleFactory(call_types=["call-attempt", "completed"])

    first = passthru(client, CallType="call-attempt")
    later = passthru(client, CallType="completed")

    assert (first.status_code, later.status_code) == (200, 302)
    assert later.json()["outcome"] == CallOutcome.ALREADY_SENT
    assert Message.objects.count() == 1
    assert CallEvent.objects.count() == 2


def test_every_matching_rule_sends_its_own_sms(client):
    CallRuleFactory(template=DltTemplateFactory(body="First rule says hello to you."))
    CallRuleFactory(template=DltTemplateFactory(body="Second rule says hello to you."))

    response = passthru(client)

    assert response.status_code == 200
    assert len(response.json()["messages"]) == 2
    assert Message.objects.count() == 2


def test_an_opted_out_caller_gets_no_sms_and_the_answer_is_302(client):
    CallRuleFactory()
    consent.opt_out(CALLER, source=OptOutSource.KEYWORD, keyword="STOP")

    response = passthru(client)

    assert response.status_code == 302
    assert response.json()["outcome"] == CallOutcome.NOT_SENT
    assert not Message.objects.exists()
    assert CallRuleSend.objects.get().refusal_code == "opted_out"


def test_the_refused_sms_to_an_opted_out_caller_stays_in_the_audit_log(client):
    CallRuleFactory()
    opt_out = consent.opt_out(CALLER, source=OptOutSource.KEYWORD, keyword="STOP")

    passthru(client)

    entry = AuditLog.objects.get(action="send_refused_opted_out")
    assert entry.target == CALLER
    assert entry.detail == {"source": MessageSource.CALL, "opt_out_id": opt_out.pk}


def test_no_matching_rule_answers_302_and_still_records_the_call(client):
    response = passthru(client)

    assert response.status_code == 302
    event = CallEvent.objects.get()
    assert (event.outcome, event.from_number) == (CallOutcome.NO_RULE, CALLER)


def test_an_inactive_template_sends_nothing(client):
    rule = CallRuleFactory()
    rule.template.active = False
    rule.template.save()

    response = passthru(client)

    assert response.status_code == 302
    assert CallRuleSend.objects.get().refusal_code == "unknown_template"


def test_async_mode_answers_200_even_when_nothing_was_sent(client):
    response = passthru(client, CallType="completed", mode="async")

    assert response.status_code == 200
    assert response.json()["sms_queued"] is False


def test_inactive_rules_send_nothing(client):
    CallRuleFactory(active=False)

    assert passthru(client).status_code == 302


def test_a_rule_for_an_exophone_ignores_calls_to_other_numbers(client):
    CallRuleFactory(exophone="08047112345", template=DltTemplateFactory(body="For this line only."))
    CallRuleFactory(exophone="+911140000000", template=DltTemplateFactory(body="Other line."))

    passthru(client)

    assert sent_bodies() == ["For this line only."]


def test_digits_arrive_in_double_quotes_and_are_trimmed(client):
    CallRuleFactory(digits="12", call_types=["call-attempt"])

    response = passthru(client, digits='"12"')

    assert response.status_code == 200
    assert CallEvent.objects.get().digits == "12"


def test_a_rule_for_other_digits_sends_nothing(client):
    CallRuleFactory(digits="2")

    assert passthru(client, digits='"1"').status_code == 302


def test_a_missed_call_from_a_new_number_opens_a_lead(client):
    passthru(client, CallType="incomplete")

    conversation = Conversation.objects.get(phone_number=CALLER)
    assert conversation.is_lead is True
    assert list(conversation.call_events.values_list("call_type", flat=True)) == ["incomplete"]


def test_a_completed_call_from_a_new_number_is_not_a_lead(client):
    passthru(client, CallType="completed")

    assert Conversation.objects.get(phone_number=CALLER).is_lead is False


def test_a_missed_call_from_a_known_number_is_not_a_lead(client):
    ConversationFactory(phone_number=CALLER)

    passthru(client)

    assert Conversation.objects.get(phone_number=CALLER).is_lead is False


def test_the_call_is_recorded_with_its_details(client):
    passthru(
        client,
        CallType="completed",
        DialCallDuration="42",
        RecordingUrl="https://recordings.exotel.com/exotelrecordings/acme/b6cf.mp3",
    )

    event = CallEvent.objects.get()
    assert (event.call_type, event.direction, event.duration) == ("completed", "incoming", 42)
    assert (event.exophone, event.to_number) == (EXOPHONE, "08047112345")
    assert event.recording_url.endswith("b6cf.mp3")
    assert timezone.localtime(event.start_time).strftime("%H:%M:%S") == "10:29:40"
    assert event.params["CallFrom"] == "09876543210"


def test_a_call_brings_its_conversation_to_the_top(client):
    conversation = ConversationFactory(phone_number=CALLER)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_activity_at=timezone.now() - timedelta(days=2)
    )

    passthru(client)

    conversation.refresh_from_db()
    assert timezone.now() - conversation.last_activity_at < timedelta(minutes=1)


def test_from_is_accepted_when_callfrom_is_missing(client):
    response = passthru(client, CallFrom=None, From="9876543210")

    assert response.status_code == 302
    assert CallEvent.objects.get().from_number == CALLER


def test_a_delayed_rule_holds_the_sms_until_the_sweep_releases_it(client):
    from conversations.services.reconciliation import release_held_messages

    CallRuleFactory(delay_seconds=120)

    response = passthru(client)

    message = Message.objects.get()
    assert response.status_code == 200
    assert message.status == MessageStatus.SCHEDULED
    assert timedelta(seconds=110) < message.send_after - timezone.now() <= timedelta(seconds=120)
    assert release_held_messages() == 0
    assert release_held_messages(now=timezone.now() + timedelta(seconds=121)) == 1


def test_the_raw_request_is_kept_in_the_webhook_log_without_the_token(client, settings):
    settings.EXOTEL_WEBHOOK_TOKEN = "s3cret"

    passthru(client, token="s3cret")

    event = WebhookEvent.objects.get(kind=WebhookKind.CALL_EVENT)
    assert event.processed_at is not None
    assert event.payload["CallType"] == "call-attempt"
    assert "token" not in event.payload


# --- Refusals ---------------------------------------------------------------------------------


def test_a_wrong_token_is_refused_with_403(client, settings):
    settings.EXOTEL_WEBHOOK_TOKEN = "s3cret"
    CallRuleFactory()

    response = passthru(client, token="wrong")

    assert response.status_code == 403
    assert not CallEvent.objects.exists() and not Message.objects.exists()


def test_a_missing_token_is_refused_with_403(client, settings):
    settings.EXOTEL_WEBHOOK_TOKEN = "s3cret"

    assert passthru(client).status_code == 403


def test_the_right_token_is_accepted(client, settings):
    settings.EXOTEL_WEBHOOK_TOKEN = "s3cret"

    assert passthru(client, token="s3cret").status_code == 302


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"CallSid": None}, "CallSid"),
        ({"CallSid": "x" * 65}, "CallSid"),
        ({"CallSid": "<script>"}, "CallSid"),
        ({"CallFrom": None}, "CallFrom"),
        ({"CallFrom": "not-a-number"}, "CallFrom"),
        ({"CallFrom": "12"}, "CallFrom"),
        ({"CallType": None}, "CallType"),
        ({"CallType": "ringing"}, "CallType"),
        ({"DialCallDuration": "-3"}, "DialCallDuration"),
        ({"DialCallDuration": "1e9"}, "DialCallDuration"),
        ({"StartTime": "yesterday"}, "StartTime"),
        ({"CurrentTime": "2024-13-45 99:00:00"}, "CurrentTime"),
        ({"RecordingUrl": "javascript:alert(1)"}, "RecordingUrl"),
        ({"digits": '"' + "1" * 70 + '"'}, "digits"),
        ({"CallTo": "9" * 40}, "CallTo"),
    ],
)
def test_junk_is_refused_with_400_and_the_field(client, params, field):
    CallRuleFactory()

    response = passthru(client, **params)

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not CallEvent.objects.exists() and not Message.objects.exists()


def test_a_request_with_no_parameters_is_refused_with_400(client):
    response = client.get(URL)

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"CallSid", "CallFrom", "CallType"}


def test_post_is_not_allowed(client):
    assert client.post(URL, {"CallSid": "x"}).status_code == 405


def test_head_checks_the_request_and_records_nothing(client):
    CallRuleFactory()

    response = client.head(URL, {"CallSid": "h1", "CallFrom": CALLER, "CallType": "completed"})

    assert response.status_code == 200
    assert not CallEvent.objects.exists()


def test_the_path_answers_with_a_trailing_slash(client):
    response = client.get(f"{URL}/", {"CallSid": "s1", "CallFrom": CALLER, "CallType": "completed"})

    assert response.status_code == 302


def test_a_stored_call_event_replayed_from_admin_sends_nothing_twice(client):
    from conversations.services.webhook_events import replay_webhook_event

    CallRuleFactory()
    passthru(client)
    stored = WebhookEvent.objects.get(kind=WebhookKind.CALL_EVENT)

    outcome = replay_webhook_event(stored)

    assert outcome == "duplicate: sms_queued"
    assert Message.objects.count() == 1


def test_a_duplicate_racing_past_the_first_lookup_is_stopped_by_the_constraint(monkeypatch):
    from conversations.services import calls

    CallRuleFactory()
    details = calls.parse_call_event(
        {"CallSid": "r1", "CallFrom": CALLER, "CallType": "incomplete"}
    )
    first = calls.receive_call_event(details)
    # The second request looked before the first committed: it saw no event.
    monkeypatch.setattr(CallEvent.objects, "filter", lambda **kw: CallEvent.objects.none())

    second = calls.receive_call_event(details)

    assert (first.duplicate, second.duplicate) == (False, True)
    assert second.event.pk == first.event.pk and second.sms_queued
    assert Message.objects.count() == 1


def test_a_numbers_calls_are_exported_and_erased_on_request(client, staff_user):
    from conversations.services import privacy

    passthru(client, digits='"1234"', RecordingUrl="https://recordings.example.com/r.mp3")

    exported = privacy.collect(CALLER)["call_events"]
    privacy.erase_number(CALLER, user=staff_user)

    assert [(e["digits"], e["recording_url"]) for e in exported] == [
        ("1234", "https://recordings.example.com/r.mp3")
    ]
    event = CallEvent.objects.get()
    assert (event.digits, event.recording_url, event.params) == ("", "", {})
    assert WebhookEvent.objects.get(kind=WebhookKind.CALL_EVENT).payload == {"erased": True}
