"""Issue 10, item 5: a worker killed with SIGKILL in the middle of single sends; a new worker
finishes the work and every recipient receives exactly one message (the sandbox's log).

The campaign case (SIGKILL mid bulk request, a new worker finishes, everyone exactly once) is
`tests/test_campaigns.py::test_sigkill_mid_request_then_a_new_worker_sends_everyone_exactly_once`.
"""

import os
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest

from conversations.models import Message, MessageStatus
from conversations.services import reconciliation, webhook_events
from conversations.services.sending import send_message
from exotel_client.sandbox import Fault, SandboxServer

from ..conftest import wait_until
from ..factories import DltTemplateFactory

BODY = "Your appointment is confirmed for {day} at 3 PM. Reply YES to confirm or NO to cancel."
TEMPLATE = (
    "Your appointment is confirmed for {#var#} at {#var#}. Reply YES to confirm or NO to cancel."
)


@pytest.fixture
def sandbox(settings, live_server):
    with SandboxServer(callback_delay=0.0) as server:
        settings.EXOTEL_BASE_URL = server.base_url
        settings.PUBLIC_BASE_URL = live_server.url
        yield server


def send(count, start):
    return [
        send_message(f"+9198710{n:05d}", BODY.format(day=f"{n % 28 + 1} Jan")).pk
        for n in range(start, start + count)
    ]


@pytest.mark.worker
@pytest.mark.timeout(240)
def test_a_worker_killed_mid_send_leaves_every_recipient_exactly_one_message(
    worker_process, sandbox, live_server
):
    DltTemplateFactory(body=TEMPLATE)
    env = {"EXOTEL_BASE_URL": sandbox.base_url, "PUBLIC_BASE_URL": live_server.url}
    first = worker_process(**env)
    before = send(10, 0)
    outbox = Message.objects.filter(direction="outbound")
    wait_until(
        lambda: outbox.filter(pk__in=before, status=MessageStatus.DELIVERED).count() == 10,
        what="the first ten delivered",
    )
    sandbox.add_fault(Fault(delay=5.0))  # "Exotel" holds the next request; the worker dies in it
    after = send(20, 10)
    wait_until(lambda: outbox.filter(status=MessageStatus.DISPATCHING).exists(), what="a send")
    in_flight = outbox.get(status=MessageStatus.DISPATCHING).pk
    time.sleep(0.5)
    assert outbox.get(pk=in_flight).status == MessageStatus.DISPATCHING
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)

    worker_process(**env)

    def finished():
        # What beat does: dead claims become unknown (never resent), lost sends are re-enqueued,
        # waiting callbacks are applied again.
        reconciliation.expire_stuck_dispatching(older_than=timedelta(seconds=2))
        reconciliation.requeue_pending_messages(older_than=timedelta(seconds=10))
        for event_id in webhook_events.unprocessed_event_ids(older_than=timedelta(0)):
            webhook_events.process_webhook_event(event_id)
        return outbox.filter(status=MessageStatus.DELIVERED).count() == 30

    try:
        wait_until(finished, timeout=150, what="all 30 delivered")
    except AssertionError as exc:
        left = Counter(outbox.exclude(status="delivered").values_list("status", flat=True))
        raise AssertionError(f"{exc}; not delivered: {dict(left)}") from None

    received = Counter(m.to for m in sandbox.state.messages())
    assert len(received) == 30 and set(received.values()) == {1}, received
    killed = outbox.get(pk=in_flight)
    notes = list(killed.status_events.values_list("note", flat=True))
    assert "worker stopped mid-send" in notes  # it was never sent again, only reconciled
    assert killed.attempts == 1
    assert set(outbox.filter(pk__in=after).values_list("attempts", flat=True)) == {1}
