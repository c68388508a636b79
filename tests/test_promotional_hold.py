"""Promotional SMS wait for 10:00-21:00 IST in the database; a beat job releases them."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conversations.models import MessageStatus, SmsType
from conversations.services import reconciliation, sending
from conversations.services.schedule import next_promotional_window

from .factories import DltTemplateFactory

pytestmark = pytest.mark.django_db
IST = ZoneInfo("Asia/Kolkata")
OFFER = "Big sale on {#var#}! Visit our store today."


@pytest.fixture
def enqueued(monkeypatch):
    sent = []
    monkeypatch.setattr(sending, "enqueue_send", lambda message: sent.append(message.pk))
    return sent


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        (datetime(2026, 3, 2, 22, 0), datetime(2026, 3, 3, 10, 0)),
        (datetime(2026, 3, 2, 9, 59), datetime(2026, 3, 2, 10, 0)),
        (datetime(2026, 3, 2, 21, 0), datetime(2026, 3, 3, 10, 0)),
        (datetime(2026, 3, 2, 10, 0), None),
        (datetime(2026, 3, 2, 20, 59), None),
    ],
)
def test_next_promotional_window(local_time, expected):
    window = next_promotional_window(local_time.replace(tzinfo=IST))
    assert window == (expected.replace(tzinfo=IST) if expected else None)


def test_promotional_at_22_ist_is_held_then_sent_at_10(enqueued):
    DltTemplateFactory(body=OFFER, sms_type=SmsType.PROMOTIONAL, sender_id="123456")
    with time_machine.travel(datetime(2026, 3, 2, 22, 0, tzinfo=IST), tick=False):
        message = sending.send_message("9876543210", "Big sale on shoes! Visit our store today.")
        assert message.status == MessageStatus.SCHEDULED
        assert message.send_after == datetime(2026, 3, 3, 10, 0, tzinfo=IST)
        assert enqueued == []
        assert reconciliation.release_held_messages() == 0

    with time_machine.travel(datetime(2026, 3, 3, 10, 0, 5, tzinfo=IST), tick=False):
        assert reconciliation.release_held_messages() == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.PENDING
    assert enqueued == [message.pk]


def test_a_held_message_is_not_sent_early_even_if_its_task_runs(enqueued):
    DltTemplateFactory(body=OFFER, sms_type=SmsType.PROMOTIONAL, sender_id="123456")
    with time_machine.travel(datetime(2026, 3, 2, 22, 0, tzinfo=IST), tick=False):
        message = sending.send_message("9876543210", "Big sale on shoes! Visit our store today.")
        assert sending.dispatch_message(message.pk) is None


def test_transactional_messages_are_never_held(enqueued):
    DltTemplateFactory(body="Your OTP is {#var#}.")
    with time_machine.travel(datetime(2026, 3, 2, 23, 30, tzinfo=IST), tick=False):
        message = sending.send_message("9876543210", "Your OTP is 123456.")
    assert message.status == MessageStatus.PENDING
    assert enqueued == [message.pk]
