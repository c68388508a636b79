"""Applying stored webhook events: coalesced kicks, the drain task, and the sweep as safety net."""

import os
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from conversations.models import Message, MessageStatus, WebhookEvent, WebhookKind
from conversations.services import sending, webhook_events
from conversations.services.webhook_events import (
    DrainKicker,
    drain_webhook_events,
    insert_event,
    process_webhook_event,
)
from conversations.tasks import sweep_webhook_events_task

from .conftest import wait_until
from .factories import MessageFactory

pytestmark = pytest.mark.django_db

DELIVERED = {
    "Status": "sent",
    "DetailedStatus": "DELIVERED_TO_HANDSET",
    "DetailedStatusCode": "20005",
    "SmsUnits": "1",
}

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises writers and has no row locks; PostgreSQL drains in parallel.",
)


def post_delivered(client, message):
    token = sending.status_callback_url(message).split("token=")[1]
    payload = {"SmsSid": message.sid, "To": "09876543210", **DELIVERED}
    response = client.post(f"/webhook/sms-status?token={token}", payload)
    assert response.status_code == 200, response.content


def queued_messages(count, prefix="sid-drain"):
    return [MessageFactory(sid=f"{prefix}-{n}", status=MessageStatus.QUEUED) for n in range(count)]


def unprocessed():
    return WebhookEvent.objects.filter(processed_at__isnull=True).count()


@pytest.fixture
def lost_kicks(monkeypatch):
    """The broker loses every drain the webhooks ask for."""
    monkeypatch.setattr(webhook_events._kicker, "kick", lambda: None)


# --- Coalescing ---------------------------------------------------------------------------------


class CountingKicker(DrainKicker):
    """The real kicker, counting its publishes instead of sending them."""

    def __init__(self, window):
        self.published = []
        super().__init__(window, publish=lambda: self.published.append(time.monotonic()))


def test_kicks_during_the_window_share_one_publish_at_its_end():
    kicker = CountingKicker(window=0.2)
    kicker.kick()
    wait_until(lambda: len(kicker.published) == 1, timeout=5, what="the first publish")
    for _ in range(500):
        kicker.kick()
    wait_until(lambda: len(kicker.published) >= 2, timeout=5, what="the trailing publish")
    first, trailing = kicker.published[:2]
    assert trailing - first >= 0.2
    time.sleep(0.5)  # nothing more comes: the 500 kicks are served by that one publish
    assert len(kicker.published) == 2


def test_a_kick_after_the_last_publish_always_gets_a_publish_of_its_own():
    kicker = CountingKicker(window=0.05)
    kicker.kick()
    wait_until(lambda: len(kicker.published) == 1, timeout=5, what="the first publish")
    kicker.kick()
    wait_until(lambda: len(kicker.published) == 2, timeout=5, what="a publish for the new kick")


def test_a_forked_worker_publishes_its_own_kick_while_its_parent_has_one_due():
    kicker = CountingKicker(window=30)
    kicker.kick()
    wait_until(lambda: len(kicker.published) == 1, timeout=5, what="the parent's publish")
    kicker.kick()  # the parent now has a publish due in 30 s, on a thread the child lacks
    os.register_at_fork(after_in_child=kicker.forget_after_fork)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child, as a gunicorn worker is made
        try:
            kicker.published.clear()
            kicker.kick()
            wait_until(lambda: kicker.published, timeout=5, what="the child's publish")
            os.write(write_end, b"published")
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 100)
    os.waitpid(pid, 0)
    assert answer == b"published"


def test_a_webhook_kicks_the_drain_once_its_event_is_committed(
    client, django_capture_on_commit_callbacks, monkeypatch
):
    kicks = []
    monkeypatch.setattr(webhook_events._kicker, "kick", lambda: kicks.append(unprocessed()))
    (message,) = queued_messages(1)
    with django_capture_on_commit_callbacks(execute=True):
        post_delivered(client, message)
    assert kicks == [1]  # the event was stored (and visible) when the kick went out


# --- The request's write ------------------------------------------------------------------------


def test_insert_event_stores_every_field_as_the_orm_would():
    event_id = insert_event(
        WebhookKind.SMS_STATUS, {"SmsSid": "s1", "Body": "नमस्ते"}, sid="s1", remote_addr="10.0.0.7"
    )
    event = WebhookEvent.objects.get(pk=event_id)
    assert (event.kind, event.sid, event.remote_addr) == (WebhookKind.SMS_STATUS, "s1", "10.0.0.7")
    assert event.payload == {"SmsSid": "s1", "Body": "नमस्ते"}
    assert (event.processed_at, event.attempts, event.outcome) == (None, 0, "")
    assert abs(event.received_at - timezone.now()) < timedelta(minutes=1)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_insert_event_in_autocommit_goes_through_libpq_and_stores_what_the_orm_would():
    payload = {"SmsSid": "s2", "Body": 'नमस्ते "quoted" \\ back', "n": 5, "ok": True}
    event_id = insert_event(WebhookKind.SMS_STATUS, payload, sid="s2", remote_addr="::1")
    event = WebhookEvent.objects.get(pk=event_id)
    assert event.payload == payload
    assert (event.sid, event.remote_addr, event.attempts, event.outcome) == ("s2", "::1", 0, "")
    assert abs(event.received_at - timezone.now()) < timedelta(minutes=1)
    assert connection.connection.__dict__["_smsdesk_prepared"]  # prepared once, kept


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_failed_libpq_statement_raises_djangos_error_and_leaves_the_connection_usable():
    from django.db import DataError

    with pytest.raises(DataError):
        insert_event(WebhookKind.SMS_STATUS, {}, sid="bad", remote_addr="not an address")
    assert insert_event(WebhookKind.SMS_STATUS, {}, sid="good", remote_addr=None) > 0
    assert list(WebhookEvent.objects.values_list("sid", flat=True)) == ["good"]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_run_prepared_reads_the_same_values_in_autocommit_and_in_a_transaction():
    from django.db import transaction

    sql = "SELECT %s::int + 1, %s::text, %s::date, %s::boolean, %s::numeric, %s::timestamptz"
    now = timezone.now()
    params = [41, "x", now.date(), False, Decimal("1.50"), now]
    in_autocommit = webhook_events.run_prepared(sql, params)
    with transaction.atomic():
        in_transaction = webhook_events.run_prepared(sql, params)
    assert int(in_autocommit[0][0]) == int(in_transaction[0][0]) == 42
    assert in_autocommit[0][1:5] == ("x", now.date().isoformat(), "f", "1.50")
    assert in_transaction[0][1:5] == ("x", now.date(), False, Decimal("1.50"))


def post_status_form(client, message, body):
    token = sending.status_callback_url(message).split("token=")[1]
    return client.post(
        f"/webhook/sms-status?token={token}",
        body,
        content_type="application/x-www-form-urlencoded",
    )


def test_a_nul_in_a_callback_field_is_dropped_not_a_500(client, lost_kicks):
    (message,) = queued_messages(1)
    body = f"SmsSid={message.sid}&Status=sent&DetailedStatus=DELIVERED%00_TO_HANDSET"
    assert post_status_form(client, message, body).status_code == 200
    assert WebhookEvent.objects.get().payload["DetailedStatus"] == "DELIVERED_TO_HANDSET"


def test_a_callback_with_too_many_fields_gets_a_400(client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    (message,) = queued_messages(1)
    body = f"SmsSid={message.sid}&Status=sent&" + "&".join(f"x{n}=1" for n in range(20))
    response = post_status_form(client, message, body)
    assert response.status_code == 400
    assert "body" in response.json()["fields"]
    assert not WebhookEvent.objects.exists()


def test_a_repeated_form_field_counts_with_its_last_value_as_django_reads_it(client, lost_kicks):
    (message,) = queued_messages(1)
    body = f"SmsSid={message.sid}&Status=queued&Status=sent&DetailedStatusCode=20005"
    assert post_status_form(client, message, body).status_code == 200
    assert WebhookEvent.objects.get().payload["Status"] == "sent"


def test_the_token_is_read_from_the_query_string_among_other_parameters(client, lost_kicks):
    (message,) = queued_messages(1)
    token = sending.status_callback_url(message).split("token=")[1]
    url = f"/webhook/sms-status?utm=x&token={token}&mytoken=nope"
    assert client.post(url, {"SmsSid": message.sid, **DELIVERED}).status_code == 200


class HeldFirstInsert:
    """The first INSERT waits until `behind` other events are queued behind it."""

    def __init__(self, behind):
        self.behind = behind
        self.sizes = []
        self.holding = threading.Event()
        self.real = webhook_events._insert_rows

    def __call__(self, rows):
        if not self.sizes:
            self.holding.set()
            queued = webhook_events._group_commit._queue
            wait_until(lambda: len(queued) >= self.behind, timeout=10, what="the others to queue")
        self.sizes.append(len(rows))
        return self.real(rows)


def insert_concurrently(count, insert, monkeypatch):
    """Request 0 starts writing and is held there; requests 1..count-1 arrive meanwhile. Each
    runs on its own thread and connection, as in a gthread worker. Returns (results, sizes)."""
    held = HeldFirstInsert(behind=count - 1)
    monkeypatch.setattr(webhook_events, "_insert_rows", held)
    results = [None] * count

    def run(n):
        try:
            results[n] = insert(n)
        except Exception as exc:
            results[n] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    threads[0].start()
    assert held.holding.wait(timeout=10)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, held.sizes


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_events_arriving_during_a_commit_are_written_together_each_once(monkeypatch):
    def insert(n):
        return insert_event(WebhookKind.SMS_STATUS, {"n": n}, sid=f"gc-{n}")

    results, sizes = insert_concurrently(10, insert, monkeypatch)
    assert all(isinstance(r, int) for r in results), results
    assert sizes == [1, 9]
    stored = dict(WebhookEvent.objects.values_list("pk", "sid"))
    assert stored == {event_id: f"gc-{n}" for n, event_id in enumerate(results)}


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_bad_row_in_a_batch_fails_only_its_own_request(monkeypatch):
    def insert(n):
        address = "not an address" if n == 3 else "10.0.0.1"
        return insert_event(WebhookKind.SMS_STATUS, {"n": n}, sid=f"b-{n}", remote_addr=address)

    results, sizes = insert_concurrently(5, insert, monkeypatch)
    assert isinstance(results[3], Exception)
    assert all(isinstance(r, int) for n, r in enumerate(results) if n != 3), results
    assert sizes[:2] == [1, 4]  # the batch of four failed, then each row went in on its own
    assert sorted(WebhookEvent.objects.values_list("sid", flat=True)) == [
        "b-0",
        "b-1",
        "b-2",
        "b-4",
    ]


# --- Draining -----------------------------------------------------------------------------------


def test_drain_applies_every_untried_event(client, lost_kicks):
    messages = queued_messages(5)
    for message in messages:
        post_delivered(client, message)
    assert drain_webhook_events() == 5
    assert unprocessed() == 0
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.DELIVERED}


def test_drain_leaves_a_waiting_event_to_the_sweep(client, lost_kicks):
    message = MessageFactory(sid=None, status=MessageStatus.DISPATCHING)
    token = sending.status_callback_url(message).split("token=")[1]
    client.post(f"/webhook/sms-status?token={token}", {"SmsSid": "sid-unknown", **DELIVERED})
    drain_webhook_events()
    drain_webhook_events()
    event = WebhookEvent.objects.get()
    assert event.outcome.startswith("waiting")
    assert event.attempts == 1


def test_a_drain_that_stops_early_hands_over_to_a_fresh_drain(client, lost_kicks, monkeypatch):
    handed_over = []
    monkeypatch.setattr(webhook_events, "publish_drain", lambda: handed_over.append(True))
    for message in queued_messages(3):
        post_delivered(client, message)
    assert drain_webhook_events(max_events=2) == 2
    assert unprocessed() == 1
    assert handed_over == [True]


def test_process_with_skip_locked_leaves_a_processed_event_alone(client, lost_kicks):
    (message,) = queued_messages(1)
    post_delivered(client, message)
    event = WebhookEvent.objects.get()
    assert process_webhook_event(event.pk, skip_locked=True) == "delivered applied"
    assert process_webhook_event(event.pk, skip_locked=True) is None


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_drains_at_once_apply_each_event_exactly_once(lost_kicks):
    client = Client()
    for message in queued_messages(40):
        post_delivered(client, message)
    barrier = threading.Barrier(2)

    def drain():
        try:
            barrier.wait(timeout=5)
            drain_webhook_events()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert unprocessed() == 0
    assert set(WebhookEvent.objects.values_list("attempts", flat=True)) == {1}


# --- With a real worker -------------------------------------------------------------------------


@pytest.mark.worker
def test_many_webhooks_are_all_applied_by_a_real_worker_without_the_sweep(worker_process):
    worker_process()
    client = Client()
    messages = queued_messages(30, prefix="sid-live")
    for message in messages:
        post_delivered(client, message)
    wait_until(lambda: unprocessed() == 0, timeout=60, what="the worker to drain every event")
    delivered = Message.objects.filter(status=MessageStatus.DELIVERED).count()
    assert delivered == len(messages)


@pytest.mark.worker
def test_an_event_whose_kick_was_lost_is_applied_by_the_sweep(worker_process, lost_kicks):
    worker_process()
    (message,) = queued_messages(1, prefix="sid-lost")
    post_delivered(Client(), message)
    # The sweep takes events that have waited a while; pretend this one has.
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    assert unprocessed() == 1
    sweep_webhook_events_task.delay()
    wait_until(lambda: unprocessed() == 0, timeout=60, what="the sweep to apply the event")
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
