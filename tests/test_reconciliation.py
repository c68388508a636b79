"""Beat jobs: re-enqueue lost sends, expire dead claims, ask Exotel about stuck messages."""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from conversations.models import Message, MessageStatus
from conversations.services import reconciliation, sending

from .factories import MessageFactory

pytestmark = pytest.mark.django_db
DETAILS_URL = "http://127.0.0.1:8025/v1/Accounts/sandbox/SMS/Messages/{}.json"


def age(message, **delta):
    past = timezone.now() - timedelta(**delta)
    Message.objects.filter(pk=message.pk).update(updated_at=past, last_attempt_at=past)


def test_a_pending_message_nobody_picked_up_is_enqueued_again(monkeypatch):
    enqueued = []
    monkeypatch.setattr(sending, "enqueue_send", lambda m: enqueued.append(m.pk))
    stale = MessageFactory(status=MessageStatus.PENDING)
    fresh = MessageFactory(status=MessageStatus.PENDING)
    age(stale, minutes=5)
    assert reconciliation.requeue_pending_messages() == 1
    assert enqueued == [stale.pk]
    assert fresh.pk not in enqueued


def test_a_claim_left_by_a_dead_worker_becomes_unknown_not_resent():
    message = MessageFactory(status=MessageStatus.DISPATCHING)
    age(message, minutes=11)
    assert reconciliation.expire_stuck_dispatching() == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.UNKNOWN
    assert sending.claim_for_sending(message.pk) is None


@responses.activate
def test_a_message_stuck_without_a_final_status_is_reconciled_from_exotel():
    message = MessageFactory(sid="sid-stuck", status=MessageStatus.SUBMITTED)
    age(message, hours=1)
    responses.get(
        DETAILS_URL.format("sid-stuck"),
        json={
            "SMSMessage": {
                "Sid": "sid-stuck",
                "Status": "sent",
                "DetailedStatusCode": 20005,
                "DetailedStatus": "DELIVERED_TO_HANDSET",
                "SmsUnits": 2,
                "Price": "0.360000",
                "To": "09876543210",
            }
        },
    )
    assert reconciliation.reconcile_stuck_messages() == 1
    message.refresh_from_db()
    assert (message.status, message.sms_units) == (MessageStatus.DELIVERED, 2)
    assert message.status_events.get().source == "reconcile"


@responses.activate
def test_recent_messages_are_left_to_their_callbacks():
    MessageFactory(sid="sid-new", status=MessageStatus.SUBMITTED)
    assert reconciliation.reconcile_stuck_messages() == 0
    assert len(responses.calls) == 0
