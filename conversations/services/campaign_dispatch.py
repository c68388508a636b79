"""Sending a running campaign: claim a batch, send it as one Exotel bulk request, record it.

Exactly once, whatever dies when:

1. **Claim** (one transaction): the next pending recipients (`SELECT ... FOR UPDATE SKIP LOCKED`
   on PostgreSQL; on SQLite every write transaction is `BEGIN IMMEDIATE`, so claims are
   serialised) become `sending` in a new `CampaignBatch`, after the send-time checks (campaign
   still running, opt-outs, the promotional window). This commits *before* the request.
2. **Send**: one bulk request of at most 100 (static when every body is the same, else
   dynamic), paced by `rate_limit` (the wait happens before the claim, so a batch never sits
   in `sending` while waiting).
3. **Record** (one transaction): each recipient gets its `Message` (accepted with its sid,
   or failed with Exotel's reason), the batch becomes `done`. Rows Exotel did not take and
   may take later (429, 503, connection refused) go back to `pending`, and the campaign backs
   off and slows down.

A batch still `sending` after its lease (`CAMPAIGN_BATCH_LEASE_SECONDS`, well above the
request timeout) belonged to a worker that died between 1 and 3: Exotel may or may not have
the messages, so they are never resent; each recipient gets a message in status `unknown`. If
the worker was only slow, its answer still lands: the sids are attached to those messages.
"""

import json
import logging
import math
import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Avg
from django.utils import timezone

from exotel_client import BulkMessage, ExotelValidationError
from exotel_client.encoding import GSM7_BASIC, GSM7_EXTENSION, is_gsm7

from ..models import (
    AuditLog,
    Campaign,
    CampaignBatch,
    CampaignRecipient,
    CampaignStatus,
    Conversation,
    Direction,
    Encoding,
    Message,
    MessageSource,
    MessageStatus,
    MessageStatusEvent,
    OptOut,
    PauseReason,
    RateUnit,
    RecipientState,
    SkipReason,
    StatusEventSource,
)
from . import campaign_callbacks, dlt, rate_limit
from .exotel import get_exotel_client
from .schedule import next_promotional_window
from .sending import campaign_callback_url, retry_delay
from .status_callbacks import ExotelStatus, apply_status
from .webhook_events import server_bound_cursor

logger = logging.getLogger(__name__)

BULK_LIMIT = 100
THROTTLE_CODES = frozenset({40402, 40405})
NUMBERS_INVALID = 40203
MIN_RATE_FACTOR = 0.1
HEARTBEAT_SECONDS = 5.0
UNKNOWN_NOTE = "The worker stopped mid-request: Exotel may have sent it. Not resent."


@dataclass
class Claimed:
    campaign: Campaign
    batch: CampaignBatch
    recipients: list  # CampaignRecipient, each with `.body`


class _Stop:
    """Claim answers: the campaign is not running, or it has no pending recipient."""

    def __init__(self, reason):
        self.reason = reason


STOPPED = _Stop("stopped")
EMPTY = _Stop("empty")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def effective_rate(campaign) -> float | None:
    """The campaign's rate (in its unit) after any slow-down for 429/503."""
    return campaign.rate * campaign.rate_factor if campaign.rate else None


def counts_segments(campaign) -> bool:
    return bool(campaign.rate) and campaign.rate_unit == RateUnit.SEGMENTS


def batch_size(campaign, segments_per_message=1.0) -> int:
    """About CAMPAIGN_BATCH_SECONDS worth of messages at the rate, 1 to 100. A rate in
    segments counts each message as its (average) number of segments; so does the account-wide
    cap, when it is slower than the campaign."""
    per_message = max(segments_per_message, 1.0)
    rates = []  # messages per second
    rate = effective_rate(campaign)
    if rate:
        rates.append(rate / per_message if counts_segments(campaign) else rate)
    if rate_limit.account_capped():
        rates.append(settings.EXOTEL_MAX_SEND_RATE / per_message)
    if not rates:
        return BULK_LIMIT
    return max(1, min(BULK_LIMIT, round(min(rates) * settings.CAMPAIGN_BATCH_SECONDS)))


def average_segments(campaign_id) -> float:
    """Segments per message of the recipients still to send (for the batch size)."""
    average = CampaignRecipient.objects.filter(
        campaign_id=campaign_id, state=RecipientState.PENDING
    ).aggregate(average=Avg("segments"))["average"]
    return float(average or 1.0)


def _pace(campaign, count, segments=None) -> None:
    """Wait for this send's slot on the shared clocks: `count` in the campaign's unit,
    `segments` (default `count`) on the account-wide cap, which always counts segments."""
    if not campaign.rate and not rate_limit.account_capped():
        return  # no clock to keep
    # A dispatcher late by up to a batch (busy with other tasks) makes the time up.
    tolerance = settings.CAMPAIGN_BATCH_SECONDS
    wait = rate_limit.reserve(
        campaign.pk, effective_rate(campaign), count, tolerance, segments=segments
    )
    _wait(campaign, wait)


def _pace_account(campaign, segments) -> None:
    """Top up the account-wide reservation when the claimed rows cost more than estimated."""
    _wait(campaign, rate_limit.reserve_account(segments))


def _wait(campaign, wait) -> None:
    if wait > HEARTBEAT_SECONDS:
        # A slow rate: tell the beat tick this dispatcher is alive, not stalled.
        Campaign.objects.filter(pk=campaign.pk).update(last_dispatch_at=timezone.now())
    if wait > 0:
        time.sleep(wait)


def _segments(claimed) -> int:
    return sum(r.segments or 1 for r in claimed.recipients)


# --- The loop one dispatcher task runs -----------------------------------------------------


def run(campaign_id, generation=None, *, budget=None) -> float | None:
    """Send batches for up to `budget` seconds. Returns None when this dispatcher should stop,
    else the seconds after which it should run again (its task re-enqueues itself)."""
    deadline = time.monotonic() + (budget or settings.CAMPAIGN_DISPATCH_SLICE_SECONDS)
    per_message = None  # segments per message, once per slice (for a rate in segments)
    while True:
        campaign = Campaign.objects.select_related("template").filter(pk=campaign_id).first()
        if not _may_dispatch(campaign, generation):
            return None
        if _outside_promotional_window(campaign):
            return None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return 0.0
        hold = _throttle_hold(campaign)
        if hold > 0:
            if hold > remaining:
                return hold
            time.sleep(hold)
            continue
        by_segments = counts_segments(campaign)
        capped = rate_limit.account_capped()
        if (by_segments or capped) and per_message is None:
            per_message = average_segments(campaign_id)
        size = batch_size(campaign, per_message or 1.0)
        estimate = 0  # segments already reserved on the account-wide cap
        if not by_segments:
            # Messages wait before the claim (no batch waits in `sending`); the account cap
            # gets the batch's estimated segments now and any shortfall after the claim.
            estimate = math.ceil(size * (per_message or 1.0)) if capped else size
            _pace(campaign, size, segments=estimate)
        claimed = claim_batch(campaign_id, size)
        if claimed is STOPPED:
            return None
        if claimed is EMPTY:
            return finish_or_wait(campaign_id)
        if claimed.recipients:
            segments = _segments(claimed)
            if by_segments:
                # Segments are known once the rows are claimed: both clocks wait here.
                _pace(campaign, segments)
            elif capped and segments > estimate:
                _pace_account(campaign, segments - estimate)
            send_batch(claimed)


def _may_dispatch(campaign, generation) -> bool:
    if campaign is None or campaign.status != CampaignStatus.RUNNING:
        return False
    return generation is None or generation == campaign.generation


def _throttle_hold(campaign) -> float:
    if campaign.throttled_until is None:
        return 0.0
    return (campaign.throttled_until - timezone.now()).total_seconds()


def _outside_promotional_window(campaign) -> bool:
    """Promotional SMS go 10:00-21:00 IST only: outside it the campaign pauses until the next
    window, and the beat tick resumes it then."""
    if not campaign.is_promotional:
        return False
    window = next_promotional_window()
    if window is None:
        return False
    from .campaigns import pause_campaign

    pause_campaign(campaign, reason=PauseReason.WINDOW, resume_at=window)
    return True


# --- Claim -------------------------------------------------------------------------------


def claim_batch(campaign_id, size):
    """Claim up to `size` pending recipients into a new batch (committed before any request)."""
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_related("template")
            .filter(pk=campaign_id, status=CampaignStatus.RUNNING)
            .first()
        )
        if campaign is None:
            return STOPPED
        if campaign.template is None or not campaign.template.active:
            _pause_in_claim(campaign, PauseReason.TEMPLATE, "The DLT template is not active.")
            return STOPPED
        now = timezone.now()
        batch = CampaignBatch.objects.create(
            campaign=campaign, claimed_at=now, size=size, worker=worker_name()
        )
        recipients = _claim_rows(campaign_id, batch.pk, size)
        if not recipients:
            CampaignBatch.objects.filter(pk=batch.pk).delete()
            return EMPTY
        if len(recipients) < size:
            batch.size = len(recipients)
            CampaignBatch.objects.filter(pk=batch.pk).update(size=batch.size)
        recipients = _send_time_checks(campaign, batch, recipients)
        Campaign.objects.filter(pk=campaign_id).update(last_dispatch_at=now)
    return Claimed(campaign, batch, recipients)


class Recipient:
    """What sending needs of a CampaignRecipient row (model instances cost more to build than
    the rest of a batch's work)."""

    __slots__ = ("body", "detail", "name", "phone_number", "pk", "segments", "state", "variables")

    def __init__(self, pk, phone_number, name, variables, segments):
        self.pk, self.phone_number, self.name = pk, phone_number, name
        self.variables, self.segments = variables, segments
        self.body = None
        self.state, self.detail = RecipientState.SENDING, ""


# Only the table name (from the model) and the lock clause are formatted in; values are params.
_CLAIM_SQL = (
    "UPDATE {table} SET state = %s, batch_id = %s WHERE id IN (SELECT id FROM {table} "
    "WHERE campaign_id = %s AND state = %s ORDER BY id LIMIT %s{lock}) "
    "RETURNING id, phone_number, name, variables, segments"
)


def _claim_rows(campaign_id, batch_id, size) -> list[Recipient]:
    """The next `size` pending recipients become `sending` in the batch: one statement
    (UPDATE ... RETURNING; SKIP LOCKED on PostgreSQL, so workers never wait on each other)."""
    if connection.vendor not in ("postgresql", "sqlite") or sqlite_too_old():
        return _claim_rows_portably(campaign_id, batch_id, size)
    table = connection.ops.quote_name(CampaignRecipient._meta.db_table)
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = _CLAIM_SQL.format(table=table, lock=lock)
    params = [RecipientState.SENDING, batch_id, campaign_id, RecipientState.PENDING, size]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    rows.sort()
    return [
        Recipient(
            pk,
            phone,
            name,
            json.loads(variables) if isinstance(variables, str) else variables,
            segments,
        )
        for pk, phone, name, variables, segments in rows
    ]


def sqlite_too_old() -> bool:
    import sqlite3

    return connection.vendor == "sqlite" and sqlite3.sqlite_version_info < (3, 35)


def _claim_rows_portably(campaign_id, batch_id, size) -> list[Recipient]:
    pending = CampaignRecipient.objects.filter(
        campaign_id=campaign_id, state=RecipientState.PENDING
    ).order_by("id")
    if connection.features.has_select_for_update_skip_locked:
        pending = pending.select_for_update(skip_locked=True)
    ids = list(pending.values_list("id", flat=True)[:size])
    CampaignRecipient.objects.filter(id__in=ids, state=RecipientState.PENDING).update(
        state=RecipientState.SENDING, batch_id=batch_id
    )
    return load_recipients(batch_id)


def load_recipients(batch_id) -> list[Recipient]:
    """The recipients a batch holds (still `sending`), in order."""
    rows = (
        CampaignRecipient.objects.filter(batch_id=batch_id, state=RecipientState.SENDING)
        .order_by("id")
        .values_list("id", "phone_number", "name", "variables", "segments")
    )
    return [Recipient(*row) for row in rows]


def _pause_in_claim(campaign, reason, error):
    Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.RUNNING).update(
        status=CampaignStatus.PAUSED, pause_reason=reason, last_error=error[:255]
    )


def _send_time_checks(campaign, batch, recipients):
    """Opt-outs recorded since the import, and the body each recipient gets."""
    phones = [r.phone_number for r in recipients]
    opted_out = set(
        OptOut.objects.filter(phone_number__in=phones, revoked_at__isnull=True).values_list(
            "phone_number", flat=True
        )
    )
    ready, skipped = [], []
    for recipient in recipients:
        if recipient.phone_number in opted_out:
            skipped.append(
                (
                    RecipientState.SKIPPED,
                    SkipReason.OPTED_OUT,
                    "Opted out before it was sent.",
                    recipient.pk,
                )
            )
            continue
        try:
            recipient.body = body_for(campaign, recipient)
        except ValueError as exc:
            skipped.append(
                (RecipientState.SKIPPED, SkipReason.BAD_VARIABLES, str(exc)[:255], recipient.pk)
            )
            continue
        ready.append(recipient)
    if skipped:
        _execute_many(
            CampaignRecipient,
            "UPDATE {table} SET state = %s, reason = %s, detail = %s, batch_id = NULL "
            "WHERE id = %s",
            skipped,
        )
        CampaignBatch.objects.filter(pk=batch.pk).update(size=len(ready))
        if not ready:
            CampaignBatch.objects.filter(pk=batch.pk).update(
                state=CampaignBatch.State.DONE, finished_at=timezone.now()
            )
    batch.size = len(ready)
    return ready


def body_for(campaign, recipient) -> str:
    if campaign.body:
        return campaign.body
    return dlt.render_template(campaign.template, recipient.variables)


# --- Send --------------------------------------------------------------------------------


def send_batch(claimed):
    """One bulk request for the claimed recipients, then record what Exotel answered."""
    campaign, recipients = claimed.campaign, claimed.recipients
    template = campaign.template
    common = {
        "sender": template.sender_id or settings.EXOTEL_SENDER_ID,
        "dlt_entity_id": template.entity_id or settings.EXOTEL_DLT_ENTITY_ID,
        "status_callback": campaign_callback_url(campaign.pk),
        "custom_field": campaign_callbacks.custom_field_for(campaign.pk, claimed.batch.pk),
        "sms_type": campaign.sms_type or None,
    }
    bodies = {r.body for r in recipients}
    kind = CampaignBatch.Kind.STATIC if len(bodies) == 1 else CampaignBatch.Kind.DYNAMIC
    client = get_exotel_client()
    started = time.monotonic()
    try:
        if kind == CampaignBatch.Kind.STATIC:
            numbers = [r.phone_number for r in recipients]
            result = client.send_static_bulk(
                numbers, bodies.pop(), dlt_template_id=template.template_id, **common
            )
        else:
            messages = [
                BulkMessage(r.phone_number, r.body, dlt_template_id=template.template_id)
                for r in recipients
            ]
            result = client.send_dynamic_bulk(messages, **common)
    except ExotelValidationError as exc:
        # Refused before anything left (e.g. no sender id): the same would happen to every batch.
        release_batch(claimed, f"Not sent: {exc}")
        from .campaigns import pause_campaign

        pause_campaign(campaign, reason=PauseReason.ERROR, error=f"Not sent: {exc}")
        return
    except Exception as exc:
        # We cannot tell whether the request left: never resend blindly.
        logger.exception("campaign %s: batch %s failed mid-request", campaign.pk, claimed.batch.pk)
        expire_batch(claimed.batch.pk, note=f"Unexpected error mid-request: {exc}"[:255])
        return
    duration_ms = int((time.monotonic() - started) * 1000)
    record_batch(claimed, result.items, kind, duration_ms)


def release_batch(claimed, error):
    """Nothing was sent: the batch's recipients go back to pending."""
    with transaction.atomic():
        CampaignRecipient.objects.filter(batch=claimed.batch, state=RecipientState.SENDING).update(
            state=RecipientState.PENDING, batch=None
        )
        CampaignBatch.objects.filter(pk=claimed.batch.pk).update(
            state=CampaignBatch.State.RELEASED, finished_at=timezone.now(), error=error[:255]
        )


# --- Record ------------------------------------------------------------------------------


def _classify(recipients, items):
    accepted, failed, retry, unknown = [], [], [], []
    for recipient, item in zip(recipients, items, strict=True):
        if item.accepted:
            accepted.append((recipient, item))
        elif item.outcome_unknown:
            unknown.append((recipient, item))
        elif item.retryable:
            retry.append((recipient, item))
        else:
            failed.append((recipient, item))
    return accepted, failed, retry, unknown


def _refused_whole_request(accepted, failed, retry, unknown):
    """A request refused for a reason that is not about its numbers (auth, balance, sender,
    DLT entity): every batch would fail the same way, so the campaign pauses instead."""
    if accepted or retry or unknown or not failed:
        return None
    errors = {(item.code, item.error) for _, item in failed}
    if len(errors) != 1:
        return None
    code, error = errors.pop()
    if code == NUMBERS_INVALID or (error or "").startswith("not sent:"):
        return None
    return f"Exotel refused the request: {error}"


def record_batch(claimed, items, kind, duration_ms):
    campaign, batch = claimed.campaign, claimed.batch
    accepted, failed, retry, unknown = _classify(claimed.recipients, items)
    refusal = _refused_whole_request(accepted, failed, retry, unknown)
    if refusal:
        release_batch(claimed, refusal)
        from .campaigns import pause_campaign

        pause_campaign(campaign, reason=PauseReason.ERROR, error=refusal)
        return
    problem = next((item.error for _, item in failed + retry + unknown if item.error), "")
    with transaction.atomic():
        answered = CampaignBatch.objects.filter(pk=batch.pk, state=CampaignBatch.State.SENDING)
        nothing_taken = not (accepted or failed or unknown)
        late = not answered.update(
            state=CampaignBatch.State.RELEASED if nothing_taken else CampaignBatch.State.DONE,
            kind=kind,
            accepted=len(accepted),
            finished_at=timezone.now(),
            duration_ms=duration_ms,
            error=problem[:255],
        )
        if not late:
            rows = [(r, _accepted_outcome(item)) for r, item in accepted]
            rows += [(r, _failed_outcome(item)) for r, item in failed]
            rows += [(r, _unknown_outcome(item)) for r, item in unknown]
            create_messages(campaign, rows)
            _requeue(retry)
            _adjust_pace(campaign, accepted, retry)
    if late:
        _attach_late_answer(campaign, accepted)
    _release_waiting_callbacks([item.message.sid for _, item in accepted])
    if unknown and not late:
        campaign_callbacks.release_batch_callbacks(campaign.pk, batch.pk)


@dataclass
class Outcome:
    status: str
    recipient_state: str
    answer: object = None
    error_code: int | None = None
    error_message: str = ""
    note: str = ""


def _accepted_outcome(item):
    answer = item.message
    try:
        status = _report(answer).our_status
    except ValueError:
        status = MessageStatus.QUEUED
    return Outcome(status, RecipientState.SENT, answer=answer)


def _failed_outcome(item):
    return Outcome(
        MessageStatus.FAILED,
        RecipientState.FAILED,
        error_code=item.code,
        error_message=(item.error or "")[:255],
        note=(item.error or "")[:255],
    )


def _unknown_outcome(item):
    note = f"Exotel did not answer in time: {item.error}"[:255]
    return Outcome(MessageStatus.UNKNOWN, RecipientState.UNKNOWN, note=note)


def _report(answer):
    return ExotelStatus(
        status=answer.status or "queued",
        detailed_status=answer.detailed_status or "",
        code=answer.detailed_status_code,
        sms_units=answer.sms_units,
        price=answer.price,
        occurred_at=answer.date_created,
    )


def _conversation_ids(recipients) -> dict:
    """Get or create the conversation of every number (E.164 already), in three queries."""
    names = {r.phone_number: r.name for r in recipients}
    found = dict(
        Conversation.objects.filter(phone_number__in=names).values_list("phone_number", "id")
    )
    missing = [phone for phone in names if phone not in found]
    if missing:
        returning = "phone_number" if connection.features.can_return_rows_from_bulk_insert else None
        found.update(
            insert_rows(
                Conversation,
                [{"phone_number": p, "contact_name": names[p]} for p in missing],
                ignore_conflicts=True,
                returning=returning,
            )
        )
        raced = [phone for phone in missing if phone not in found]  # created meanwhile
        if raced:
            found.update(
                Conversation.objects.filter(phone_number__in=raced).values_list(
                    "phone_number", "id"
                )
            )
    return found


def fast_insert(model, objects, *, ignore_conflicts=False, returning=None):
    """`insert_rows` for model instances (their fields as Django would save them)."""
    attnames = [f.attname for f in _insert_fields(model)]
    rows = [{name: getattr(o, name) for name in attnames} for o in objects]
    return insert_rows(model, rows, ignore_conflicts=ignore_conflicts, returning=returning)


def _insert_fields(model):
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def insert_rows(model, rows, *, ignore_conflicts=False, returning=None):
    """One INSERT of all `rows` (dicts of attname -> value; a missing field gets its default,
    `auto_now` fields the time now), without the per-row machinery of model instances and
    `bulk_create`, which cost more than the database at 100 rows: a VALUES list, or on
    PostgreSQL one array per column (`_insert_unnested`).

    `returning` names a column to read back with each new id: {column value: id}.
    """
    if not rows:
        return {}
    now = timezone.now()
    fields = _insert_fields(model)
    database = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the proxy costs per call
    preps = [_preparer(field, database) for field in fields]
    position = {field.attname: i for i, field in enumerate(fields)}
    # Every row starts as the prepared defaults; only the values a row gives are prepared.
    base = []
    for field, prep in zip(fields, preps, strict=True):
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            default = now
        elif field.has_default() or not field.null:
            default = field.get_default()
        else:
            default = None
        base.append(None if default is None else prep(default))
    prepared_rows = []
    for row in rows:
        values = base.copy()
        for name, value in row.items():
            i = position[name]
            values[i] = None if value is None else preps[i](value)
        prepared_rows.append(values)
    if database.vendor == "postgresql":
        return _insert_unnested(database, model, fields, prepared_rows, ignore_conflicts, returning)
    params = [value for values in prepared_rows for value in values]
    quote = connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in fields)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    verb, suffix = "INSERT INTO", ""
    if ignore_conflicts:
        if connection.vendor == "sqlite":
            verb = "INSERT OR IGNORE INTO"
        else:
            suffix = " ON CONFLICT DO NOTHING"
    if returning:
        suffix += f" RETURNING {quote('id')}, {quote(returning)}"
    values = ", ".join([placeholders] * len(rows))
    sql = f"{verb} {quote(model._meta.db_table)} ({names}) VALUES {values}{suffix}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {value: pk for pk, value in cursor.fetchall()} if returning else {}


def _insert_unnested(database, model, fields, rows, ignore_conflicts, returning):
    """PostgreSQL: `INSERT ... SELECT * FROM unnest(<one array per column>)`, bound on the
    server. The statement's text is the same for any number of rows (psycopg caches its
    parsing; a VALUES list of 100 rows x 30 columns was parsed again on every batch, and
    Django's client-side binding quoted its 3,000 values into the text: together three
    quarters of a campaign worker's CPU)."""
    quote = database.ops.quote_name
    names = ", ".join(quote(f.column) for f in fields)
    arrays = ", ".join(f"%b::{f.cast_db_type(database)}[]" for f in fields)  # binary: no escaping
    suffix = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    if returning:
        suffix += f" RETURNING {quote('id')}, {quote(returning)}"
    # Only table and column names from the model go into the text; the values are parameters.
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) SELECT * FROM unnest({arrays}){suffix}"  # noqa: E501, S608
    columns = [list(column) for column in zip(*rows, strict=True)]
    with server_bound_cursor(database) as cursor:
        cursor.execute(sql, columns)
        return {value: pk for pk, value in cursor.fetchall()} if returning else {}


# Field types whose Python values the database drivers take as they are.
_PLAIN_TYPES = frozenset(
    {
        "CharField",
        "TextField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "PositiveBigIntegerField",
        "ForeignKey",
        "OneToOneField",
        "BooleanField",
    }
)
# Types whose values repeat within a batch (the same "now" in every row): prepared once each.
_MEMO_TYPES = frozenset({"DateTimeField", "DecimalField", "DateField"})


def _preparer(field, database):
    kind = field.get_internal_type()
    if kind in _PLAIN_TYPES:
        return _same
    if kind in _MEMO_TYPES:
        memo = {}

        def prepare(value):
            try:
                return memo[value]
            except KeyError:
                memo[value] = prepared = field.get_db_prep_save(value, database)
                return prepared

        return prepare
    return lambda value: field.get_db_prep_save(value, database)


def _same(value):
    return value


class MessageRow:
    """An outbound Message as written by a batch: its column values, and its id once stored."""

    def __init__(self, values):
        self.values = values
        self.pk = None

    def __getattr__(self, name):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None


def _insert_messages(messages):
    """Messages of one batch (one per conversation), ids set from INSERT ... RETURNING."""
    rows = [m.values for m in messages]
    if connection.features.can_return_rows_from_bulk_insert:
        ids = insert_rows(Message, rows, returning="conversation_id")
        for message in messages:
            message.pk = ids[message.values["conversation_id"]]
        return
    created = Message.objects.bulk_create([Message(**row) for row in rows])
    for message, obj in zip(messages, created, strict=True):
        message.pk = obj.pk


def create_messages(campaign, rows):
    """One outbound Message per (recipient, Outcome), its first status event, the
    conversation's summary, and the recipient's new state: a handful of bulk queries."""
    if not rows:
        return []
    template = campaign.template
    conversations = _conversation_ids([r for r, _ in rows])
    now = timezone.now()
    common = {
        "direction": Direction.OUTBOUND,
        "template_id": template.pk if template else None,
        "sender": (template.sender_id if template else "") or settings.EXOTEL_SENDER_ID,
        "sms_type": campaign.sms_type,
        "source": MessageSource.CAMPAIGN,
        "campaign_id": campaign.pk,
        "attempts": 1,
        "last_attempt_at": now,
        "created_by_id": campaign.created_by_id,
        "created_at": now,
        "updated_at": now,
    }
    messages = [_message(campaign, common, conversations, r, o, now) for r, o in rows]
    _insert_messages(messages)
    # The rest are plain statements run with executemany: the ORM's per-row work (building
    # CASE expressions for bulk_update, one UPDATE per conversation) cost more than the
    # database did, at 100 rows a batch.
    _insert_events(messages, [o for _, o in rows], now)
    _note_new_messages(messages, now)
    _execute_many(
        CampaignRecipient,
        "UPDATE {table} SET message_id = %s, state = %s, detail = %s WHERE id = %s",
        [
            (
                message.pk,
                outcome.recipient_state,
                outcome.note if outcome.recipient_state != RecipientState.SENT else "",
                recipient.pk,
            )
            for message, (recipient, outcome) in zip(messages, rows, strict=True)
        ],
    )
    return messages


def _execute_many(model, sql, params):
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(sql.format(table=table), params)


def _db_time(value):
    return connection.ops.adapt_datetimefield_value(value)


def _db_price(value):
    return connection.ops.adapt_decimalfield_value(value, 10, 6) if value is not None else None


def _insert_events(messages, outcomes, now):
    """Each message's first status event (what `status_callbacks.record_transition` writes)."""
    times = {}

    def db_time(value):
        if value not in times:
            times[value] = _db_time(value)
        return times[value]

    rows = []
    for message, outcome in zip(messages, outcomes, strict=True):
        answer = outcome.answer
        occurred = (answer.date_created if answer is not None else None) or now
        source = StatusEventSource.SEND if answer is not None else StatusEventSource.INTERNAL
        values = message.values
        rows.append(
            (
                message.pk,
                values["status"],
                values.get("detailed_status", ""),
                values.get("detailed_status_code"),
                values.get("sms_units"),
                _db_price(values.get("price")),
                source,
                outcome.note,
                db_time(occurred),
                db_time(now),
            )
        )
    _execute_many(
        MessageStatusEvent,
        "INSERT INTO {table} (message_id, status, detailed_status, detailed_status_code, "
        "sms_units, price, source, note, occurred_at, recorded_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        rows,
    )


def _note_new_messages(messages, now):
    """`threads.note_new_message` for a batch of outbound messages, one conversation each."""
    at = _db_time(now)
    _execute_many(
        Conversation,
        "UPDATE {table} SET message_count = message_count + 1, last_message_body = %s, "
        "last_message_direction = %s, last_message_status = %s, last_activity_at = %s, "
        "updated_at = %s WHERE id = %s",
        [
            (
                m.values["body"],
                Direction.OUTBOUND,
                m.values["status"],
                at,
                at,
                m.values["conversation_id"],
            )
            for m in messages
        ],
    )


_ASCII_NOT_GSM7 = frozenset(map(chr, range(128))) - GSM7_BASIC - GSM7_EXTENSION


def _encoding(body):
    if body.isascii():
        return Encoding.PLAIN if _ASCII_NOT_GSM7.isdisjoint(body) else Encoding.UNICODE
    return Encoding.PLAIN if is_gsm7(body) else Encoding.UNICODE


def _message(campaign, common, conversations, recipient, outcome, now):
    answer = outcome.answer
    body = recipient.body or body_for(campaign, recipient)
    values = {
        **common,
        "conversation_id": conversations[recipient.phone_number],
        "body": body,
        "status": outcome.status,
        "variables": list(recipient.variables or []),
        "encoding": _encoding(body),
        "segments": recipient.segments,
        "error_code": outcome.error_code,
        "error_message": outcome.error_message,
    }
    if answer is not None:
        report = _report(answer)
        values.update(
            sid=answer.sid,
            sent_at=now,
            detailed_status=report.detailed_status,
            detailed_status_code=report.code,
            sms_units=report.sms_units,
            price=report.price,
        )
        if outcome.status == MessageStatus.DELIVERED:
            values["delivered_at"] = report.occurred_at or now
    return MessageRow(values)


def _requeue(retry):
    if not retry:
        return
    ids = [r.pk for r, _ in retry]
    CampaignRecipient.objects.filter(id__in=ids, state=RecipientState.SENDING).update(
        state=RecipientState.PENDING, batch=None
    )


def _adjust_pace(campaign, accepted, retry):
    """429/503 or a refused connection: back off (growing, capped) and halve the rate; each
    clean batch after that wins back a tenth of it."""
    now = timezone.now()
    if retry:
        count = campaign.throttle_count + 1
        throttled = any(item.code in THROTTLE_CODES for _, item in retry)
        Campaign.objects.filter(pk=campaign.pk).update(
            throttle_count=count,
            throttled_until=now + timedelta(seconds=retry_delay(count)),
            rate_factor=max(MIN_RATE_FACTOR, campaign.rate_factor / 2)
            if throttled
            else campaign.rate_factor,
            last_error=f"Retrying {len(retry)} recipient(s): {retry[0][1].error}"[:255],
            last_dispatch_at=now,
        )
        return
    if campaign.throttle_count or campaign.rate_factor < 1:
        Campaign.objects.filter(pk=campaign.pk).update(
            throttle_count=0,
            throttled_until=None,
            rate_factor=min(1.0, campaign.rate_factor + 0.1),
            last_dispatch_at=now,
        )


def _attach_late_answer(campaign, accepted):
    """The batch was declared unknown while its request was still out; it has answered now."""
    for recipient, item in accepted:
        message_id = (
            CampaignRecipient.objects.filter(pk=recipient.pk)
            .values_list("message_id", flat=True)
            .first()
        )
        if message_id is None:
            continue
        with transaction.atomic():
            Message.objects.filter(pk=message_id, sid__isnull=True).update(
                sid=item.message.sid, sent_at=timezone.now()
            )
            apply_status(message_id, _report(item.message), source=StatusEventSource.SEND)
            CampaignRecipient.objects.filter(pk=recipient.pk).update(
                state=RecipientState.SENT, detail=""
            )
    logger.warning(
        "campaign %s: a late answer was attached to %d message(s)", campaign.pk, len(accepted)
    )


def _release_waiting_callbacks(sids):
    """Callbacks that arrived before we stored their sids can be applied now."""
    if not sids:
        return
    from ..models import WebhookEvent
    from .webhook_events import WAITING, process_webhook_event

    waiting = WebhookEvent.objects.filter(
        sid__in=sids, processed_at__isnull=True, outcome__startswith=WAITING
    ).values_list("pk", flat=True)
    for event_id in list(waiting):
        process_webhook_event(event_id)


# --- Crash recovery and completion ---------------------------------------------------------


def expire_batch(batch_id, note=UNKNOWN_NOTE) -> int:
    """Declare an in-flight batch's outcome unknown: each recipient gets an `unknown` message,
    never a second send. Returns how many recipients it had."""
    with transaction.atomic():
        if not CampaignBatch.objects.filter(pk=batch_id, state=CampaignBatch.State.SENDING).update(
            state=CampaignBatch.State.UNKNOWN, finished_at=timezone.now(), error=note[:255]
        ):
            return 0
        batch = CampaignBatch.objects.select_related("campaign__template").get(pk=batch_id)
        recipients = load_recipients(batch_id)
        outcome = Outcome(MessageStatus.UNKNOWN, RecipientState.UNKNOWN, note=note[:255])
        create_messages(batch.campaign, [(r, outcome) for r in recipients])
        AuditLog.objects.create(
            action="campaign_batch_unknown",
            target=f"campaign {batch.campaign_id}",
            detail={"batch": batch_id, "recipients": len(recipients), "worker": batch.worker},
        )
    logger.warning("campaign batch %s: outcome unknown (%d recipients)", batch_id, len(recipients))
    campaign_callbacks.release_batch_callbacks(batch.campaign_id, batch_id)
    return len(recipients)


def recover_stale_batches(campaign_id=None) -> int:
    """Batches whose worker died mid-request (older than the lease): outcome unknown."""
    cutoff = timezone.now() - timedelta(seconds=settings.CAMPAIGN_BATCH_LEASE_SECONDS)
    stale = CampaignBatch.objects.filter(state=CampaignBatch.State.SENDING, claimed_at__lt=cutoff)
    if campaign_id is not None:
        stale = stale.filter(campaign_id=campaign_id)
    return sum(expire_batch(batch_id) for batch_id in list(stale.values_list("pk", flat=True)))


def finish_or_wait(campaign_id) -> float | None:
    """No pending row was left to claim: complete the campaign, or wait for in-flight batches
    (returns the seconds to wait), or go on if rows came back (throttled retries)."""
    recover_stale_batches(campaign_id)
    recipients = CampaignRecipient.objects.filter(campaign_id=campaign_id)
    if recipients.filter(state=RecipientState.PENDING).exists():
        return 0.0
    oldest = (
        CampaignBatch.objects.filter(campaign_id=campaign_id, state=CampaignBatch.State.SENDING)
        .order_by("claimed_at")
        .values_list("claimed_at", flat=True)
        .first()
    )
    if oldest is not None:
        expires = oldest + timedelta(seconds=settings.CAMPAIGN_BATCH_LEASE_SECONDS)
        return min(max((expires - timezone.now()).total_seconds(), 1.0), 5.0)
    from .campaigns import complete_campaign

    complete_campaign(campaign_id)
    return None
