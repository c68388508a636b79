"""POST /webhook/sms-status: token, validation, storage, and forward-only application."""

from itertools import permutations

import pytest

from conversations.models import Message, MessageStatus, OptOut, WebhookEvent
from conversations.services import sending
from conversations.services.status_callbacks import ExotelStatus, apply_status
from conversations.services.webhook_events import process_webhook_event

from .factories import MessageFactory

pytestmark = pytest.mark.django_db

QUEUED = {
    "Status": "queued",
    "DetailedStatus": "PENDING_TO_OPERATOR",
    "DetailedStatusCode": "21010",
}
SENDING = {
    "Status": "sending",
    "DetailedStatus": "SENDING_TO_OPERATOR",
    "DetailedStatusCode": 21015,
}
SUBMITTED = {
    "Status": "submitted",
    "DetailedStatus": "PENDING_ON_OPERATOR",
    "DetailedStatusCode": "21020",
}
DELIVERED = {
    "Status": "sent",
    "DetailedStatus": "DELIVERED_TO_HANDSET",
    "DetailedStatusCode": "20005",
    "SmsUnits": "1",
    "Price": "0.180000",
    "DateSent": "2026-01-15 14:15:02",
}
TO_OPERATOR = {
    "Status": "sent",
    "DetailedStatus": "DELIVERED_TO_OPERATOR",
    "DetailedStatusCode": "20006",
}
DND = {
    "Status": "failed_dnd",
    "DetailedStatus": "FAILED_REJECTED_DND",
    "DetailedStatusCode": "23005",
}
BLACKLIST = {
    "Status": "failed",
    "DetailedStatus": "FAILED_REJECTED_BLACKLIST",
    "DetailedStatusCode": 23020,
}


@pytest.fixture
def message():
    return MessageFactory(
        sid="sid-abc", status=MessageStatus.QUEUED, conversation__phone_number="+919876543210"
    )


def post_callback(client, message, fields, token=None):
    token = token if token is not None else sending.status_callback_url(message).split("token=")[1]
    payload = {"SmsSid": message.sid, "To": "09876543210", **fields}
    return client.post(f"/webhook/sms-status?token={token}", payload)


def deliver(client, message, fields):
    """Post a callback and apply the stored event, as the worker would."""
    response = post_callback(client, message, fields)
    assert response.status_code == 200, response.content
    process_webhook_event(WebhookEvent.objects.latest("id").pk)
    message.refresh_from_db()
    return message


def test_callback_is_stored_and_acknowledged_at_once(client, message):
    response = post_callback(client, message, DELIVERED)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.kind, event.sid, event.processed_at) == ("sms_status", "sid-abc", None)
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED  # applied later, by the task


def test_delivered_to_handset_shows_as_delivered_with_its_cost(client, message):
    message = deliver(client, message, DELIVERED)
    assert message.status == MessageStatus.DELIVERED
    assert (message.sms_units, str(message.price)) == (1, "0.180000")
    assert message.delivered_at is not None


def test_delivered_to_operator_shows_as_sent(client, message):
    assert deliver(client, message, TO_OPERATOR).status == MessageStatus.SENT


@pytest.mark.parametrize("spelling", ["failed_dnd", "failed-dnd", "FAILED_DND"])
def test_both_spellings_of_the_dnd_status_are_accepted(client, message, spelling):
    message = deliver(client, message, {**DND, "Status": spelling})
    assert message.status == MessageStatus.FAILED_DND
    assert message.error_code == 23005
    assert message.error_message == "Customer is on DND"


def test_a_late_intermediate_callback_never_regresses_a_final_state(client, message):
    deliver(client, message, DELIVERED)
    message = deliver(client, message, SUBMITTED)
    assert message.status == MessageStatus.DELIVERED


def test_a_repeated_callback_changes_nothing(client, message):
    deliver(client, message, DELIVERED)
    events_before = message.status_events.count()
    deliver(client, message, DELIVERED)
    assert message.status_events.count() == events_before


def test_blacklist_failure_records_an_opt_out(client, message):
    deliver(client, message, BLACKLIST)
    opt_out = OptOut.objects.get(phone_number="+919876543210")
    assert (opt_out.source, opt_out.message_id) == ("exotel_blacklist", message.pk)


def test_a_wrong_token_is_refused_even_when_the_sid_exists(client, message):
    response = post_callback(client, message, DELIVERED, token="m1:forged")
    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()


def test_a_missing_token_is_refused(client, message):
    response = client.post("/webhook/sms-status", {"SmsSid": message.sid, **DELIVERED})
    assert response.status_code == 403


def test_a_token_for_another_message_changes_nothing(client, message):
    other = MessageFactory(sid="sid-other", status=MessageStatus.QUEUED)
    token = sending.status_callback_url(other).split("token=")[1]
    assert post_callback(client, message, DELIVERED, token=token).status_code == 200
    outcome = process_webhook_event(WebhookEvent.objects.get().pk)
    assert outcome == "ignored: token belongs to another message"
    for untouched in (message, other):
        untouched.refresh_from_db()
        assert untouched.status == MessageStatus.QUEUED


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"SmsSid": ""}, "SmsSid"),
        ({"SmsSid": "x" * 65}, "SmsSid"),
        ({"Status": ""}, "Status"),
        ({"Status": "exploded"}, "Status"),
        ({"DetailedStatusCode": "abc"}, "DetailedStatusCode"),
        ({"DetailedStatusCode": "99999999999"}, "DetailedStatusCode"),
        ({"SmsUnits": "1; DROP TABLE"}, "SmsUnits"),
        ({"Price": "NaN"}, "Price"),
    ],
)
def test_malformed_callbacks_get_a_400_naming_the_field(client, message, fields, bad_field):
    token = sending.status_callback_url(message).split("token=")[1]
    payload = {"SmsSid": message.sid, **DELIVERED, **fields}
    response = client.post(f"/webhook/sms-status?token={token}", payload)
    assert response.status_code == 400
    assert bad_field in response.json()["fields"]
    assert not WebhookEvent.objects.exists()


def test_get_is_not_allowed(client, message):
    assert client.get("/webhook/sms-status").status_code == 405


def test_a_huge_body_is_refused(client, message):
    token = sending.status_callback_url(message).split("token=")[1]
    response = client.post(
        f"/webhook/sms-status?token={token}", {"SmsSid": "x", "Body": "y" * 70000}
    )
    assert response.status_code == 413


def test_a_callback_before_the_sid_is_known_waits_and_is_applied_when_it_appears(client):
    message = MessageFactory(sid=None, status=MessageStatus.DISPATCHING)
    token = sending.status_callback_url(message).split("token=")[1]
    response = client.post(
        f"/webhook/sms-status?token={token}", {"SmsSid": "sid-late", **DELIVERED}
    )
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert process_webhook_event(event.pk).startswith("waiting")

    Message.objects.filter(pk=message.pk).update(sid="sid-late")
    from conversations.services.webhook_events import release_waiting_events

    release_waiting_events("sid-late")
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_a_processed_event_is_never_applied_twice(client, message):
    post_callback(client, message, DELIVERED)
    event = WebhookEvent.objects.get()
    assert process_webhook_event(event.pk)
    assert process_webhook_event(event.pk) is None


def report(fields):
    return ExotelStatus(
        status=fields["Status"],
        detailed_status=fields["DetailedStatus"],
        code=int(fields["DetailedStatusCode"]),
    )


@pytest.mark.parametrize(
    ("reports", "final"),
    [
        ([QUEUED, SENDING, SUBMITTED, DELIVERED, DELIVERED], MessageStatus.DELIVERED),
        ([QUEUED, SUBMITTED, DND, DND], MessageStatus.FAILED_DND),
        ([QUEUED, SUBMITTED, TO_OPERATOR, DELIVERED], MessageStatus.DELIVERED),
    ],
)
def test_every_ordering_of_a_messages_callbacks_ends_in_the_same_state(reports, final):
    outcomes = set()
    for order in set(permutations(range(len(reports)))):
        message = MessageFactory(status=MessageStatus.DISPATCHING)
        for index in order:
            apply_status(message.pk, report(reports[index]), source="callback")
        message.refresh_from_db()
        outcomes.add((message.status, message.detailed_status_code))
    assert len(outcomes) == 1
    assert outcomes.pop()[0] == final
