"""Issue 10, item 1: with the broker down, webhooks are still answered 200 and stored; once it
is back, the sweep and a real worker apply every one, exactly once.

The broker is a throwaway `redis-server` of this test (never the machine's shared one), the app
runs under gunicorn and the worker is a real `celery -A smsdesk worker` process.
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from conversations.models import (
    Direction,
    InboundOutcome,
    Message,
    MessageStatus,
    MessageStatusEvent,
    WebhookEvent,
)
from conversations.tasks import sweep_webhook_events_task
from smsdesk.celery import app as celery_app

from ..conftest import wait_until
from .traffic import inbound_form, make_sent_messages, post_all, status_form

COUNT = 1000


def run_the_sweep(broker_url):
    """What beat does every minute: ask a worker (through `broker_url`) to sweep."""
    with celery_app.connection_for_write(broker_url) as connection:
        sweep_webhook_events_task.apply_async(connection=connection)


@pytest.mark.worker
@pytest.mark.timeout(400)  # 2,000 webhooks through gunicorn and workers: about a minute idle
def test_webhooks_taken_while_the_broker_is_down_are_processed_once_when_it_is_back(
    throwaway_redis, app_server, worker_process
):
    sent = make_sent_messages(COUNT)
    server = app_server(CELERY_BROKER_URL=throwaway_redis.url, threads=16)
    throwaway_redis.stop()

    jobs = [("/webhook/sms-incoming", inbound_form(i)) for i in range(COUNT)]
    jobs += [(path, status_form(sid)) for _, sid, path in sent]
    answers = post_all(server.url, jobs, threads=32)

    assert answers == Counter({200: 2 * COUNT}), answers
    assert Message.objects.filter(direction=Direction.INBOUND).count() == COUNT
    assert WebhookEvent.objects.count() == 2 * COUNT
    assert not WebhookEvent.objects.filter(processed_at__isnull=False).exists()
    assert "Could not enqueue" in server.log()  # the broker really was down

    throwaway_redis.start()
    # Beat's sweep leaves events younger than 30 s to their own task: let that time pass.
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    for _ in range(2):  # one per core
        worker_process(CELERY_BROKER_URL=throwaway_redis.url, EXOTEL_BASE_URL="http://127.0.0.1:9")
    unprocessed = WebhookEvent.objects.filter(processed_at__isnull=True)
    for _ in range(2 * COUNT // 1000 + 1):  # a sweep takes at most 1,000 events
        if not unprocessed.exists():
            break
        before = unprocessed.count()
        run_the_sweep(throwaway_redis.url)
        wait_until(
            lambda before=before: unprocessed.count() <= max(0, before - 1000),
            timeout=90,
            what="the worker applying the swept events",
        )

    assert not unprocessed.exists()
    assert set(WebhookEvent.objects.values_list("attempts", flat=True)) == {1}
    assert InboundOutcome.objects.count() == COUNT
    per_message = Counter(InboundOutcome.objects.values_list("message_id", flat=True))
    assert set(per_message.values()) == {1}
    ids = [message_id for message_id, _, _ in sent]
    statuses = Counter(Message.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == Counter({MessageStatus.DELIVERED: COUNT})
    delivered_events = (
        MessageStatusEvent.objects.filter(message_id__in=ids, status=MessageStatus.DELIVERED)
        .values("message_id")
        .annotate(n=Count("pk"))
    )
    assert sorted(row["n"] for row in delivered_events) == [1] * COUNT
