"""Send → Exotel (the sandbox, a real HTTP server) → status callback → delivered, with real
`celery -A smsdesk worker` processes on the configured broker and the app on a live server."""

import pytest

from conversations.models import Message, MessageStatus
from conversations.services.sending import send_message
from exotel_client.sandbox import Fault, SandboxServer

from .conftest import wait_until
from .factories import DltTemplateFactory

BODY = "Your appointment is confirmed for 20 Jan at 3 PM. Reply YES to confirm or NO to cancel."


@pytest.fixture
def sandbox(settings, live_server):
    with SandboxServer(callback_delay=0.0) as server:
        settings.EXOTEL_BASE_URL = server.base_url
        settings.PUBLIC_BASE_URL = live_server.url
        yield server


@pytest.fixture
def worker(worker_process, sandbox, live_server):
    return worker_process(EXOTEL_BASE_URL=sandbox.base_url, PUBLIC_BASE_URL=live_server.url)


def status_of(message):
    return Message.objects.values_list("status", flat=True).get(pk=message.pk)


@pytest.mark.worker
def test_send_is_delivered_through_the_sandbox_and_its_callback(worker, sandbox):
    DltTemplateFactory()
    message = send_message("9876543210", BODY)

    wait_until(lambda: status_of(message) == MessageStatus.DELIVERED, what="delivery")

    message.refresh_from_db()
    (received,) = sandbox.state.messages()
    assert (received.sid, received.body) == (message.sid, BODY)
    assert message.sms_units == 1
    history = list(message.status_events.values_list("status", flat=True))
    assert history == ["queued", "delivered"]


@pytest.mark.worker
def test_a_throttled_send_is_retried_by_the_worker_and_sent_once(worker, sandbox):
    DltTemplateFactory()
    sandbox.add_fault(Fault(status=429, code=40402, count=2))
    message = send_message("9876543210", BODY)

    wait_until(lambda: status_of(message) == MessageStatus.DELIVERED, what="delivery")

    message.refresh_from_db()
    assert message.attempts == 3
    assert [r["status"] for r in sandbox.state.requests()] == [429, 429, 200]
    assert len(sandbox.state.messages()) == 1
