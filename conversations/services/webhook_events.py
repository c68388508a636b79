"""Storing webhook events cheaply, and applying them once each, whatever the broker does.

A webhook view stores a `WebhookEvent` (`insert_event`: one INSERT, committed before the 200)
and, once that commits, calls `kick_drain`. Kicks are coalesced per process: the first one
publishes `drain_webhook_events_task` at once, later ones within `WEBHOOK_DRAIN_KICK_SECONDS`
share one trailing publish at the window's end (a background thread publishes, so no request
waits for the broker). The drain task applies every event nobody has tried yet, in id order,
each under its own row lock (`SKIP LOCKED` on PostgreSQL, so parallel drains share the work).
A beat sweep re-enqueues events the broker dropped (and events that waited or failed).

A handler returns a short outcome text, or raises `EventWaiting` when the event cannot be
applied yet (a status callback for a sid we do not know yet): it then stays unprocessed until
whatever it waits for arrives.
"""

import atexit
import hashlib
import itertools
import json
import logging
import os
import re
import sys
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from uuid import UUID

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from psycopg import pq
from psycopg.types.json import Jsonb

from ..models import WebhookEvent, WebhookKind

logger = logging.getLogger(__name__)

HANDLERS = {
    WebhookKind.SMS_STATUS: "conversations.services.status_callbacks.apply_status_event",
    WebhookKind.SMS_INCOMING: "conversations.services.inbound.process_inbound_event",
    WebhookKind.SMS_REPLY_APPLET: "conversations.services.inbound.process_inbound_event",
    # Applied in the request (the answer depends on it); replayed from admin through here.
    WebhookKind.CALL_EVENT: "conversations.services.calls.process_call_webhook_event",
}
WAITING = "waiting"
MAX_ATTEMPTS = 5


class EventWaiting(Exception):
    """The event cannot be applied yet; keep it for later."""


def process_webhook_event(event_id, *, skip_locked=False) -> str | None:
    """Apply one event under a row lock; a processed event is never applied twice.

    With `skip_locked`, an event another worker holds is left to it (None is returned)."""
    with transaction.atomic():
        locked = WebhookEvent.objects.select_for_update(skip_locked=skip_locked)
        event = locked.filter(pk=event_id).first()
        if event is None or event.processed_at is not None:
            return None
        event.attempts += 1
        try:
            with transaction.atomic():
                outcome = import_string(HANDLERS[event.kind])(event)
        except EventWaiting as waiting:
            event.outcome = f"{WAITING}: {waiting}"[:255]
            event.save(update_fields=["attempts", "outcome"])
            return event.outcome
        except Exception as exc:
            logger.exception("webhook event %s failed", event.pk)
            event.outcome = f"error: {exc}"[:255]
            event.save(update_fields=["attempts", "outcome"])
            return event.outcome
        event.processed_at = timezone.now()
        event.outcome = (outcome or "applied")[:255]
        event.save(update_fields=["attempts", "outcome", "processed_at"])
        return event.outcome


def replay_webhook_event(event) -> str | None:
    """Apply an event again from admin (e.g. after a fix); handlers are idempotent."""
    WebhookEvent.objects.filter(pk=event.pk).update(processed_at=None, outcome="")
    return process_webhook_event(event.pk)


def unprocessed_event_ids(older_than=timedelta(seconds=30)):
    """Events the broker may have dropped (or that waited), with attempts left."""
    return list(
        WebhookEvent.objects.filter(
            processed_at__isnull=True,
            received_at__lt=timezone.now() - older_than,
            attempts__lt=MAX_ATTEMPTS,
        ).values_list("pk", flat=True)[:1000]
    )


def release_waiting_events(sid):
    """Re-apply events that waited for this sid, now that it is known."""
    waiting = WebhookEvent.objects.filter(
        sid=sid, processed_at__isnull=True, outcome__startswith=WAITING
    ).values_list("pk", flat=True)
    for event_id in list(waiting):
        process_webhook_event(event_id)


# --- Storing an event in the request ----------------------------------------------------------


class InsertPlan:
    """The values of one model row for a raw INSERT, without a model instance: fields the
    caller gives (DB-ready values), `auto_now(_add)` fields get `now`, every other field its
    default as the ORM would write it (constant defaults prepared once, callable ones per row).
    Building a Message and preparing its 30 fields through the ORM cost more than the rest of
    an inbound webhook together."""

    def __init__(self, model, skip=()):
        self.fields = [
            f for f in model._meta.concrete_fields if not f.primary_key and f.name not in skip
        ]
        self._steps = []
        for field in self.fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                self._steps.append((field.name, "now", None))
            elif field.has_default() and callable(field.default):
                self._steps.append((field.name, "call", field))
            else:
                default = field.get_db_prep_save(field.get_default(), connection)
                self._steps.append((field.name, "constant", default))

    def values(self, given, now) -> list:
        row = []
        for name, how, extra in self._steps:
            if name in given:
                row.append(given[name])
            elif how == "now":
                row.append(now)
            elif how == "call":
                row.append(extra.get_db_prep_save(extra.get_default(), connection))
            else:
                row.append(extra)
        return row

    def columns(self) -> str:
        return ", ".join(connection.ops.quote_name(f.column) for f in self.fields)

    def placeholders(self) -> str:
        # Typed: in INSERT ... SELECT, PostgreSQL does not infer parameter types.
        return ", ".join(f"%s::{f.cast_db_type(connection)}" for f in self.fields)


def insert_event(kind, payload, *, sid="", remote_addr=None) -> int:
    """Store one raw event and return its id. On PostgreSQL one INSERT built once from the
    model's fields (no model instance, no ORM save: this runs in every webhook request)."""
    db = connections[DEFAULT_DB_ALIAS]  # one lookup: each `connection.x` is a thread-local one
    if db.vendor != "postgresql":
        event = WebhookEvent.objects.create(
            kind=kind, payload=payload, sid=sid[:64], remote_addr=remote_addr
        )
        return event.pk
    _, plan = _insert_statement()
    given = {
        "kind": kind,
        "payload": Jsonb(payload),  # what JSONField.get_db_prep_save makes of it on psycopg 3
        "sid": sid[:64],
        "remote_addr": remote_addr,
    }
    row = plan.values(given, timezone.now())
    if db.in_atomic_block:  # the caller's transaction decides when it commits
        return _insert_rows([row])[0]
    return _group_commit.insert(row)


def _insert_rows(rows) -> list[int]:
    """One INSERT (and, in autocommit, one commit) for all `rows`; their ids, in the order
    PostgreSQL returns them for a multi-row VALUES list (the rows' order)."""
    sql, _ = _insert_statement(len(rows))
    return [int(row[0]) for row in run_prepared(sql, [value for row in rows for value in row])]


class _Waiting:
    """One request's row in the group commit. `wait()` blocks on a lock held from the start,
    which `wake()` releases once, when the row is written (or the request must lead): the
    cheapest hand-off between threads CPython has (a `threading.Event` builds a Condition per
    request and notifies through it)."""

    __slots__ = ("_done", "error", "event_id", "lead", "row")

    def __init__(self, row):
        self.row = row
        self._done = threading.Lock()
        self._done.acquire()
        self.lead = False
        self.event_id = None
        self.error = None

    def wait(self):
        self._done.acquire()

    def wake(self):
        self._done.release()


class GroupCommit:
    """Group commit inside one process (gunicorn gthread workers run many requests at once):
    events that arrive while another request's INSERT is on its way to the disk are written
    together by the next one, in one INSERT and one commit, on that request's connection. Each
    request still answers only after its own row is committed; a batch that fails is retried
    row by row, so one bad row fails only its own request."""

    MAX_BATCH = 64

    def __init__(self):
        self._guard = threading.Lock()
        self._queue = []
        self._writing = False

    def insert(self, row) -> int:
        waiting = _Waiting(row)
        with self._guard:
            self._queue.append(waiting)
            lead = not self._writing
            self._writing = True
        if not lead:
            waiting.wait()
            if not waiting.lead:
                if waiting.error is not None:
                    raise waiting.error
                return waiting.event_id
        self._write_batches(waiting)
        if waiting.error is not None:
            raise waiting.error
        return waiting.event_id

    def _write_batches(self, mine):
        """Write what is queued (this request's row among it), then hand the writing over to
        the oldest request that queued meanwhile, or stop."""
        with self._guard:
            batch, self._queue = self._queue[: self.MAX_BATCH], self._queue[self.MAX_BATCH :]
        try:
            self._write(batch)
        finally:
            with self._guard:
                successor = self._queue[0] if self._queue else None
                self._writing = successor is not None
            for waiting in batch:
                if waiting.event_id is None and waiting.error is None:
                    waiting.error = RuntimeError("the webhook event was not written")
                if waiting is not mine:
                    waiting.wake()
            if successor is not None:
                successor.lead = True
                successor.wake()

    @staticmethod
    def _write(batch):
        try:
            ids = _insert_rows([w.row for w in batch])
        except Exception:
            if len(batch) == 1:
                batch[0].error = sys.exc_info()[1]
                return
            ids = None
        if ids is not None:
            for waiting, event_id in zip(batch, ids, strict=True):
                waiting.event_id = event_id
            return
        for waiting in batch:  # one row spoiled the batch: each on its own
            try:
                waiting.event_id = _insert_rows([waiting.row])[0]
            except Exception as exc:
                waiting.error = exc


_group_commit = GroupCommit()


def fetch_one_prepared(sql, params):
    """Run one statement on Django's PostgreSQL connection and return its one row, as a
    server-side prepared statement (see `run_prepared`)."""
    return run_prepared(sql, params)[0]


def run_prepared(sql, params) -> list[tuple]:
    """Run a statement (`%s` placeholders) on Django's PostgreSQL connection as a server-side
    prepared statement and return its rows. Values come back as text from libpq and typed from
    psycopg: callers convert what they read (`int()` takes both).

    In autocommit (a webhook request) it goes straight to libpq: prepared once per connection,
    then one `PQexecPrepared` with the values as text. psycopg's cursor costs about 90 µs more
    CPU per statement (adapting, its query cache, its generator-driven wait), which was a third
    of a status callback's own work. Inside a transaction psycopg's cursor runs it, so that
    psycopg opens the transaction as it does for every other statement."""
    db = connections[DEFAULT_DB_ALIAS]
    if not db.get_autocommit():
        with server_bound_cursor(db) as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchall()
    db.ensure_connection()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors:
        return _exec_prepared(db.connection, sql, [_as_text(v) for v in params])


@contextmanager
def server_bound_cursor(db):
    """A psycopg cursor on Django's PostgreSQL connection `db` that sends values as parameters
    (Django's own cursors interpolate them into the text on the client), in the current
    transaction, with errors raised as Django's."""
    db.ensure_connection()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        yield cursor


def _exec_prepared(psycopg_connection, sql, values) -> list[tuple]:
    name = _statement_name(sql)
    pgconn = psycopg_connection.pgconn
    prepared = psycopg_connection.__dict__.setdefault("_smsdesk_prepared", set())
    if name not in prepared:
        _check(pgconn.prepare(name, _numbered(sql).encode()))
        prepared.add(name)
    result = pgconn.exec_prepared(name, values)
    _check(result)
    return [
        tuple(
            None if result.get_value(row, col) is None else result.get_value(row, col).decode()
            for col in range(result.nfields)
        )
        for row in range(result.ntuples)
    ]


def _check(result):
    """Raise what psycopg would have raised for a failed statement (Django then maps it)."""
    if result.status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
        return
    sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
    error = psycopg.errors.lookup(sqlstate.decode()) if sqlstate else psycopg.DatabaseError
    raise error(result.error_message.decode(errors="replace").strip())


@cache
def _statement_name(sql) -> bytes:
    return f"smsdesk_{hashlib.blake2b(sql.encode(), digest_size=10).hexdigest()}".encode()


@cache
def _numbered(sql) -> str:
    """psycopg's `%s` placeholders as libpq's `$1, $2, ...` (the texts hold no other `%`)."""
    numbers = itertools.count(1)
    return re.sub(r"%s", lambda _: f"${next(numbers)}", sql)


def _as_text(value) -> bytes | None:
    """A DB-ready value (what `get_db_prep_save` gives) in PostgreSQL's text input format.
    A message row has ~30 of them per request: the common types are looked up by type."""
    convert = _TEXT_FORMS.get(type(value))
    if convert is not None:
        return convert(value)
    if isinstance(value, datetime | date):
        return value.isoformat().encode()
    if isinstance(value, str | int | Decimal | UUID):  # e.g. psycopg's Int2 for a small int
        return str(value).encode()
    raise TypeError(f"no text form for {type(value).__name__}")


def _json_text(value: Jsonb) -> bytes:
    obj = value.obj
    if not obj and type(obj) in (list, dict):
        return b"[]" if type(obj) is list else b"{}"
    return json.dumps(obj).encode()


_TEXT_FORMS = {
    str: str.encode,
    type(None): lambda _: None,
    bool: lambda value: b"true" if value else b"false",
    int: lambda value: str(value).encode(),
    datetime: lambda value: value.isoformat().encode(),
    date: lambda value: value.isoformat().encode(),
    Jsonb: _json_text,
}


@cache
def _insert_statement(rows=1):
    plan = InsertPlan(WebhookEvent)
    table = WebhookEvent._meta.db_table
    values = ", ".join([f"({plan.placeholders()})"] * rows)
    # Only table and column names from the model go into the text; every value is a parameter.
    sql = f"INSERT INTO {table} ({plan.columns()}) VALUES {values} RETURNING id"  # noqa: S608
    return sql, plan


# --- Draining: apply every event nobody has tried yet ------------------------------------------

DRAIN_BATCH = 100
DRAIN_MAX_EVENTS = 2000  # per task run; a busier queue hands over to a fresh task


def undrained_event_ids(after_id=0, limit=DRAIN_BATCH):
    """Unprocessed events never tried yet, oldest first (waiting and failed ones were tried:
    `release_waiting_events` and the sweep retry those)."""
    return list(
        WebhookEvent.objects.filter(processed_at__isnull=True, attempts=0, pk__gt=after_id)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def drain_webhook_events(max_events=DRAIN_MAX_EVENTS) -> int:
    """Apply undrained events in id order, each under its own row lock, skipping those another
    drain holds. Returns how many were looked at; kicks a fresh drain if it stopped early."""
    seen = 0
    last_id = 0
    while seen < max_events:
        batch = undrained_event_ids(last_id, min(DRAIN_BATCH, max_events - seen))
        if not batch:
            return seen
        for event_id in batch:
            process_webhook_event(event_id, skip_locked=True)
        seen += len(batch)
        last_id = batch[-1]
    if undrained_event_ids(last_id, 1):
        publish_drain()
    return seen


# --- Kicking the drain task, coalesced per process --------------------------------------------


def publish_drain():
    """Send one `drain_webhook_events_task`; a broker that is down is logged, not raised (the
    sweep re-enqueues what is left)."""
    from ..tasks import drain_webhook_events_task

    try:
        drain_webhook_events_task.apply_async()
    except Exception:
        logger.exception("Could not enqueue the webhook drain; the sweep will pick events up")


class DrainKicker:
    """At most one drain publish per `window` seconds per process, and always one that starts
    after the latest kick: the first kick publishes at once, kicks during the window that
    follows are served by one publish at its end. Publishing happens on a daemon thread (made
    again after a fork, e.g. in each gunicorn worker), so no request waits for the broker."""

    def __init__(self, window, publish=None):
        self.window = window
        self.publish = publish or (lambda: publish_drain())
        self._guard = threading.Lock()
        self._pid = None
        self._wanted = None
        self._thread = None

    def kick(self):
        wanted = self._wanted
        if wanted is not None and wanted.is_set() and self._pid is not None:
            # A publish is due and starts after this kick: it covers it (no lock taken). A
            # forked child has `_pid` None (`forget_after_fork`), so it never lands here.
            return
        try:
            self._wanted_event().set()
        except Exception:  # e.g. no thread could start: the sweep will pick the event up
            logger.exception("Could not kick the webhook drain")

    def _wanted_event(self) -> threading.Event:
        with self._guard:
            if self._pid != os.getpid() or not self._thread.is_alive():
                self._wanted = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(self._wanted,), name="webhook-drain-kicker", daemon=True
                )
                self._thread.start()
                self._pid = os.getpid()
            return self._wanted

    def _run(self, wanted):
        while True:
            wanted.wait()
            wanted.clear()  # a kick from now on is served by the next round
            self.publish()
            time.sleep(self.window)

    def flush(self):
        """At exit: publish a kick still waiting for its window (else the sweep would)."""
        if self._pid == os.getpid() and self._wanted is not None and self._wanted.is_set():
            self._wanted.clear()
            self.publish()

    def forget_after_fork(self):
        """In a forked child the parent's thread does not exist and its lock may be held."""
        self._guard = threading.Lock()
        self._pid = None


_kicker = DrainKicker(getattr(settings, "WEBHOOK_DRAIN_KICK_SECONDS", 0.1))
atexit.register(_kicker.flush)
os.register_at_fork(after_in_child=_kicker.forget_after_fork)


def kick_drain_on_commit():
    """Once the current transaction commits (at once in autocommit), make sure a drain runs."""
    if connections[DEFAULT_DB_ALIAS].get_autocommit():
        _kicker.kick()
    else:
        transaction.on_commit(_kicker.kick)
