"""Issue 10, item 2: every inbound and status webhook of a 1,000-message run delivered three
times, all at once (threads against gunicorn on PostgreSQL, a real worker applying events as
they come) → exactly 1,000 inbound messages, each answered once, and the right final statuses.

RELIABILITY_COUNT sets the run's size (1,000 by default) for a quicker local run.
"""

import os
import random
from collections import Counter

import pytest
from django.db.models import Count, Sum

from conversations.models import (
    Conversation,
    Direction,
    InboundOutcome,
    Message,
    MessageStatus,
    MessageStatusEvent,
    WebhookEvent,
)

from ..conftest import wait_until
from .conftest import requires_postgresql, requires_redis_broker
from .traffic import customer, inbound_form, make_sent_messages, post_all, status_form

COUNT = int(os.environ.get("RELIABILITY_COUNT", "1000"))
COPIES = 3
PHONES = 100


@pytest.mark.worker
@pytest.mark.timeout(600)  # 6,000 requests and 4,000 events on 2 cores: about a minute idle
def test_every_webhook_three_times_at_once_stores_and_applies_each_once(app_server, worker_process):
    requires_postgresql()
    requires_redis_broker()
    sent = make_sent_messages(COUNT)
    server = app_server(threads=16)
    for _ in range(2):  # one per core
        worker_process(EXOTEL_BASE_URL="http://127.0.0.1:9")
    jobs = [("/webhook/sms-incoming", inbound_form(i, phones=PHONES)) for i in range(COUNT)]
    jobs += [(path, status_form(sid)) for _, sid, path in sent]
    jobs *= COPIES
    random.Random(10).shuffle(jobs)

    answers = post_all(server.url, jobs, threads=32)

    assert answers == Counter({200: len(jobs)}), answers
    inbound = Message.objects.filter(direction=Direction.INBOUND)
    assert inbound.count() == COUNT
    assert inbound.values("sid").distinct().count() == COUNT
    senders = Conversation.objects.filter(
        phone_number__in=[customer(50_000 + i) for i in range(PHONES)]
    )
    assert senders.aggregate(n=Sum("message_count"))["n"] == COUNT  # counted once each
    unprocessed = WebhookEvent.objects.filter(processed_at__isnull=True)
    wait_until(lambda: not unprocessed.exists(), timeout=300, what="every event applied")

    assert InboundOutcome.objects.count() == COUNT
    assert set(Counter(InboundOutcome.objects.values_list("message_id", flat=True)).values()) == {1}
    ids = [message_id for message_id, _, _ in sent]
    statuses = Counter(Message.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == Counter({MessageStatus.DELIVERED: COUNT})
    transitions = (
        MessageStatusEvent.objects.filter(message_id__in=ids)
        .values("message_id")
        .annotate(n=Count("pk"))
    )
    assert sorted(row["n"] for row in transitions) == [1] * COUNT  # one transition: delivered
