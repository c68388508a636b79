"""The outbound pipeline: local checks in send_message, then one Exotel call per message."""

from urllib.parse import parse_qsl

import pytest
import requests
import responses
from django.core import signing
from urllib3.exceptions import MaxRetryError, NewConnectionError

from conversations.models import AuditLog, Message, MessageStatus
from conversations.services import sending
from conversations.services.sending import SendRefused, dispatch_message, send_message

from .factories import DltTemplateFactory, OptOutFactory

pytestmark = pytest.mark.django_db

SEND_URL = "http://127.0.0.1:8025/v1/Accounts/sandbox/Sms/send.json"
BODY = "Your appointment is confirmed for 20 Jan at 3 PM. Reply YES to confirm or NO to cancel."


def exotel_answer(sid="sid-1", status="queued", code="21010", to="09876543210"):
    return {
        "SMSMessage": {
            "Sid": sid,
            "AccountSid": "sandbox",
            "From": "0XXXXXX4890/EXOTEL",
            "To": to,
            "DateCreated": "2026-01-15 14:14:20",
            "Body": BODY,
            "Status": status,
            "DetailedStatusCode": code,
            "DetailedStatus": "PENDING_TO_OPERATOR",
            "SmsUnits": None,
            "Price": None,
        }
    }


def exotel_error(http_status, code, message):
    return {"RestException": {"Status": http_status, "Code": code, "Message": message}}


@pytest.fixture
def template():
    return DltTemplateFactory(template_id="1107160000000000001")


@pytest.fixture
def exotel():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """These tests drive dispatch_message directly; the enqueue itself is tested elsewhere."""
    monkeypatch.setattr(sending, "enqueue_send", lambda message: None)


def test_send_creates_a_pending_message_with_its_template_and_segments(template):
    message = send_message("09876543210", BODY)
    assert message.status == MessageStatus.PENDING
    assert message.template == template
    assert message.variables == ["20 Jan", "3 PM"]
    assert (message.encoding, message.segments) == ("plain", 1)
    assert message.conversation.phone_number == "+919876543210"


def test_send_updates_the_conversation_summary(template):
    message = send_message("9876543210", BODY)
    conversation = message.conversation
    conversation.refresh_from_db()
    assert conversation.message_count == 1
    assert conversation.last_message_body == BODY
    assert conversation.unread_count == 0


def test_template_and_variables_render_the_body(template):
    message = send_message("9876543210", template=template.template_id, variables=["1 Feb", "4 PM"])
    assert message.body == BODY.replace("20 Jan", "1 Feb").replace("3 PM", "4 PM")


def test_unicode_body_is_counted_in_unicode_segments():
    DltTemplateFactory(body="आपका कोड {#var#} है")
    message = send_message("9876543210", "आपका कोड 123456 है")
    assert (message.encoding, message.segments) == ("unicode", 1)


@pytest.mark.parametrize("to", ["", "hello", "12345", "+1 202"])
def test_an_invalid_number_is_refused(template, to):
    with pytest.raises(SendRefused) as refused:
        send_message(to, BODY)
    assert refused.value.code == "invalid_phone"
    assert refused.value.field == "to"
    assert not Message.objects.exists()


def test_an_opted_out_number_is_refused_naming_the_opt_out(template):
    OptOutFactory(phone_number="+919876543210")
    with pytest.raises(SendRefused) as refused:
        send_message("9876543210", BODY)
    assert refused.value.code == "opted_out"
    assert "opted out on" in refused.value.reason
    assert not Message.objects.exists()
    assert AuditLog.objects.get().action == "send_refused_opted_out"


def test_an_opted_out_number_makes_no_exotel_request(template, exotel):
    OptOutFactory(phone_number="+919876543210")
    with pytest.raises(SendRefused):
        send_message("9876543210", BODY)
    assert len(exotel.calls) == 0


def test_a_body_matching_no_template_is_refused_naming_the_closest(template):
    with pytest.raises(SendRefused) as refused:
        send_message("9876543210", BODY.replace("Reply YES", "Reply Y"))
    assert refused.value.code == "dlt_mismatch"
    assert template.name in refused.value.reason


def test_a_body_over_2000_characters_is_refused(template):
    with pytest.raises(SendRefused) as refused:
        send_message("9876543210", "x" * 2001)
    assert refused.value.code == "body_too_long"


def test_an_unknown_template_id_is_refused(template):
    with pytest.raises(SendRefused) as refused:
        send_message("9876543210", template="1107169999999999999", variables=["a", "b"])
    assert refused.value.field == "dlt_template_id"


def test_an_inactive_template_is_not_matched(template):
    template.active = False
    template.save()
    with pytest.raises(SendRefused):
        send_message("9876543210", BODY)


def test_dispatch_posts_the_dlt_parameters_and_stores_exotels_answer(template, exotel):
    exotel.post(SEND_URL, json=exotel_answer())
    message = send_message("9876543210", BODY)
    outcome = dispatch_message(message.pk)
    sent = dict(parse_qsl(exotel.calls[0].request.body))
    assert sent["To"] == "+919876543210"
    assert sent["From"] == template.sender_id
    assert sent["DltTemplateId"] == template.template_id
    assert sent["DltEntityId"] == template.entity_id
    assert sent["SmsType"] == "transactional"
    assert sent["CustomField"] == str(message.pk)
    assert "token=" in sent["StatusCallback"]
    message.refresh_from_db()
    assert outcome.status == MessageStatus.QUEUED
    assert (message.sid, message.status, message.detailed_status_code) == ("sid-1", "queued", 21010)


def test_a_message_is_claimed_once_so_a_second_dispatch_sends_nothing(template, exotel):
    exotel.post(SEND_URL, json=exotel_answer())
    message = send_message("9876543210", BODY)
    dispatch_message(message.pk)
    assert dispatch_message(message.pk) is None
    assert len(exotel.calls) == 1


def test_429_twice_then_success_is_exactly_one_accepted_send(template, exotel):
    throttled = exotel_error(429, 40402, "Too many POST requests.")
    exotel.post(SEND_URL, json=throttled, status=429)
    exotel.post(SEND_URL, json=throttled, status=429)
    exotel.post(SEND_URL, json=exotel_answer())
    message = send_message("9876543210", BODY)
    first, second, third = (dispatch_message(message.pk) for _ in range(3))
    assert first.retry_in is not None and first.retry_in <= 2
    assert second.retry_in is not None and second.retry_in <= 4
    assert third.status == MessageStatus.QUEUED
    message.refresh_from_db()
    assert message.sid == "sid-1"
    assert message.attempts == 3
    assert len(exotel.calls) == 3


def test_a_permanent_error_fails_the_message_with_exotels_code_and_text(template, exotel):
    exotel.post(
        SEND_URL, json=exotel_error(400, 40200, "Message body cannot be empty."), status=400
    )
    message = send_message("9876543210", BODY)
    outcome = dispatch_message(message.pk)
    message.refresh_from_db()
    assert outcome.status == MessageStatus.FAILED
    assert (message.status, message.error_code) == ("failed", 40200)
    assert message.error_message == "Message body cannot be empty."
    assert outcome.retry_in is None


def test_retryable_errors_give_up_after_the_last_attempt(template, exotel):
    for _ in range(sending.MAX_SEND_ATTEMPTS):
        exotel.post(SEND_URL, json=exotel_error(503, 40405, "Service Unavailable"), status=503)
    message = send_message("9876543210", BODY)
    outcomes = [dispatch_message(message.pk) for _ in range(sending.MAX_SEND_ATTEMPTS)]
    assert outcomes[-1].status == MessageStatus.FAILED
    assert all(o.retry_in for o in outcomes[:-1])


def test_a_timeout_after_the_request_left_is_unknown_and_not_resent(template, exotel):
    exotel.post(SEND_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    message = send_message("9876543210", BODY)
    outcome = dispatch_message(message.pk)
    assert outcome.status == MessageStatus.UNKNOWN
    assert dispatch_message(message.pk) is None
    assert len(exotel.calls) == 1


def test_a_refused_connection_is_retried(template, exotel):
    refused = NewConnectionError(None, "Connection refused")
    exotel.post(
        SEND_URL, body=requests.exceptions.ConnectionError(MaxRetryError(None, SEND_URL, refused))
    )
    message = send_message("9876543210", BODY)
    outcome = dispatch_message(message.pk)
    message.refresh_from_db()
    assert outcome.retry_in is not None
    assert message.status == MessageStatus.PENDING


def test_every_transition_is_kept_in_the_history(template, exotel):
    exotel.post(SEND_URL, json=exotel_error(503, 40405, "Service Unavailable"), status=503)
    exotel.post(SEND_URL, json=exotel_answer())
    message = send_message("9876543210", BODY)
    dispatch_message(message.pk)
    dispatch_message(message.pk)
    history = list(message.status_events.values_list("status", "source"))
    assert history == [("pending", "internal"), ("queued", "send")]


def test_status_callback_token_is_signed_for_the_message(template):
    message = send_message("9876543210", BODY)
    url = sending.status_callback_url(message)
    token = url.split("token=")[1]
    assert sending.message_id_from_callback_token(token) == message.pk
    assert sending.message_id_from_callback_token(token + "x") is None
    forged = signing.Signer(salt="something-else").sign(f"m{message.pk}")
    assert sending.message_id_from_callback_token(forged) is None


def test_resend_creates_a_new_message_linked_to_the_failed_one(template):
    failed = send_message("9876543210", BODY)
    Message.objects.filter(pk=failed.pk).update(status=MessageStatus.FAILED)
    failed.refresh_from_db()
    again = sending.resend_message(failed)
    assert again.pk != failed.pk
    assert again.resent_from == failed
    assert again.status == MessageStatus.PENDING


def test_a_message_stored_before_an_opt_out_is_not_sent(template, exotel):
    message = send_message("9876543210", BODY)
    from conversations.models import OptOutSource
    from conversations.services import consent

    consent.opt_out("9876543210", source=OptOutSource.KEYWORD, keyword="STOP")
    assert dispatch_message(message.pk) is None
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert "opted out" in message.error_message
    assert len(exotel.calls) == 0
