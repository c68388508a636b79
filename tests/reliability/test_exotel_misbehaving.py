"""Issue 10, item 4: Exotel answers 503, 429 and 500 for a stretch and once holds a request
past the client's timeout. Every message ends sent exactly once (the sandbox's own log) or
failed with a reason; none is left pending, dispatching or unknown once the sweeps and the
reconciliation have run.

Real `celery -A smsdesk worker` processes send; the sandbox is a real HTTP server; status
callbacks come back to the app on a live server.
"""

from collections import Counter

import pytest

from conversations.models import Message, MessageStatus
from conversations.services import reconciliation
from conversations.services.sending import send_message
from conversations.tasks import sweep_webhook_events_task
from exotel_client.sandbox import Fault, SandboxServer

from ..conftest import wait_until
from ..factories import DltTemplateFactory

COUNT = 40
BODY = "Your appointment is confirmed for {day} at 3 PM. Reply YES to confirm or NO to cancel."
SETTLED = (MessageStatus.DELIVERED, MessageStatus.FAILED)


@pytest.fixture
def sandbox(settings, live_server):
    with SandboxServer(callback_delay=0.0) as server:
        settings.EXOTEL_BASE_URL = server.base_url
        settings.PUBLIC_BASE_URL = live_server.url
        settings.RECONCILE_AFTER_MINUTES = 0
        yield server


def national(phone):
    return "0" + phone[3:]


@pytest.mark.worker
@pytest.mark.timeout(300)
def test_every_message_is_sent_once_or_failed_with_a_reason_when_exotel_misbehaves(
    worker_process, sandbox, live_server
):
    DltTemplateFactory(
        body="Your appointment is confirmed for {#var#} at {#var#}. "
        "Reply YES to confirm or NO to cancel."
    )
    sandbox.add_fault(Fault(status=503, count=12))
    sandbox.add_fault(Fault(status=429, count=8))
    sandbox.add_fault(Fault(delay=16.0, count=1))  # past the client's 15 s read timeout
    sandbox.add_fault(Fault(status=503, count=4))
    sandbox.add_fault(Fault(status=500, count=2))
    for _ in range(2):
        worker_process(EXOTEL_BASE_URL=sandbox.base_url, PUBLIC_BASE_URL=live_server.url)
    phones = [f"+9198700{n:05d}" for n in range(COUNT)]
    messages = [
        send_message(phone, BODY.format(day=f"{n % 28 + 1} Jan")) for n, phone in enumerate(phones)
    ]
    ids = [m.pk for m in messages]
    outbox = Message.objects.filter(pk__in=ids)

    def settled():
        # What beat does: re-enqueue lost sends and waiting events, ask Exotel about the rest.
        reconciliation.requeue_pending_messages()
        reconciliation.reconcile_stuck_messages()
        sweep_webhook_events_task()
        return outbox.filter(status__in=SETTLED).count() == COUNT

    try:
        wait_until(settled, timeout=200, what="every message delivered or failed")
    except AssertionError as exc:
        left = Counter(outbox.exclude(status__in=SETTLED).values_list("status", flat=True))
        raise AssertionError(f"{exc}; unsettled: {dict(left)}") from None

    accepted = Counter(
        national(m.to) if m.to.startswith("+") else m.to for m in sandbox.state.messages()
    )
    accepted = Counter(m.to for m in sandbox.state.messages())
    for message in outbox.select_related("conversation"):
        copies = accepted[national(message.conversation.phone_number)]
        if message.status == MessageStatus.DELIVERED:
            assert copies == 1, (message.pk, copies)
        else:
            assert message.error_message, message.pk  # failed with a reason
            assert copies <= 1, (message.pk, copies)
    assert set(accepted.values()) == {1}, "a number received two messages"
    statuses = [r["status"] for r in sandbox.state.requests() if r["method"] == "POST"]
    assert {503, 429, 500} <= set(statuses)  # the faults really were served
    assert outbox.filter(status=MessageStatus.DELIVERED).count() >= COUNT - 10


def test_the_callback_of_a_send_that_timed_out_tells_its_sid_and_status(db, client):
    from conversations.models import WebhookEvent
    from conversations.services.sending import status_callback_url
    from conversations.services.webhook_events import process_webhook_event

    from ..factories import MessageFactory
    from .traffic import status_form

    message = MessageFactory(status=MessageStatus.UNKNOWN)  # the request timed out: no sid
    token = status_callback_url(message).rsplit("token=", 1)[1]
    client.post(f"/webhook/sms-status?token={token}", status_form("sb_timed_out_1"))
    process_webhook_event(WebhookEvent.objects.get().pk)

    message.refresh_from_db()
    assert (message.sid, message.status) == ("sb_timed_out_1", MessageStatus.DELIVERED)
