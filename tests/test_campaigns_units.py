"""Campaign services without a worker: the dispatcher runs in the test against the sandbox."""

import io
import time
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as settings_hypothesis
from hypothesis import strategies as st

from conversations.models import (
    AuditLog,
    Campaign,
    CampaignBatch,
    CampaignRecipient,
    CampaignStatus,
    Direction,
    Message,
    MessageSource,
    MessageStatus,
    PauseReason,
    RecipientState,
    SkipReason,
    SmsType,
    WebhookEvent,
)
from conversations.services import (
    campaign_audience,
    campaign_dispatch,
    campaign_reports,
    campaigns,
    rate_limit,
    webhook_events,
)
from conversations.services.sending import SendRefused, campaign_callback_url
from conversations.services.status_callbacks import ExotelStatus, apply_status
from conversations.services.threads import get_or_create_conversation
from exotel_client.sandbox import Fault, SandboxServer

from .factories import DltTemplateFactory, InboundMessageFactory, OptOutFactory

pytestmark = pytest.mark.django_db
IST = ZoneInfo("Asia/Kolkata")
REMINDER = "Hi {#var#}, your appointment is on {#var#}. Reply YES to confirm or NO to cancel."
NOTICE = "Our store in {#var#} is closed on Sunday."


@pytest.fixture
def sandbox(settings):
    with SandboxServer(callback_delay=3600) as server:
        settings.EXOTEL_BASE_URL = server.base_url
        yield server


@pytest.fixture
def enqueued(monkeypatch):
    """Dispatcher tasks the services enqueue (tests run the dispatcher themselves)."""
    tasks = []
    monkeypatch.setattr(campaigns, "enqueue_on_commit", lambda task, *args: tasks.append(args))
    return tasks


def numbers(count, start=0):
    return [f"+9198765{n:05d}" for n in range(start, start + count)]


def reminder(count=0, **options):
    campaign = campaigns.create_campaign(
        "Reminders", template=DltTemplateFactory(body=REMINDER), **options
    )
    if count:
        rows = "\n".join(f"{n},Guest {i},2{i % 8} Feb" for i, n in enumerate(numbers(count)))
        campaign_audience.import_pasted(campaign, rows)
    return campaign


def notice(count=0, **options):
    template = DltTemplateFactory(body=NOTICE)
    campaign = campaigns.create_campaign(
        "Notice", template=template, body="Our store in Pune is closed on Sunday.", **options
    )
    if count:
        campaign_audience.import_pasted(campaign, "\n".join(numbers(count)))
    return campaign


def send_all(campaign):
    assert campaign_dispatch.run(campaign.pk, budget=30) is None
    campaign.refresh_from_db()
    return campaign


def paths(sandbox):
    return [r["path"].rsplit("/", 1)[-1] for r in sandbox.state.requests()]


# --- Content and audience ----------------------------------------------------------------


def test_a_body_must_fill_an_active_template():
    DltTemplateFactory(body=NOTICE)
    with pytest.raises(SendRefused) as refused:
        campaigns.create_campaign("x", body="Buy now!")
    assert refused.value.code == "dlt_mismatch"


def test_a_body_picks_its_template_and_sms_type():
    template = DltTemplateFactory(body=NOTICE, sms_type=SmsType.TRANSACTIONAL)
    campaign = campaigns.create_campaign("x", body="Our store in Pune is closed on Sunday.")
    assert (campaign.template, campaign.sms_type) == (template, SmsType.TRANSACTIONAL)


def test_the_variables_spec_must_have_one_entry_per_slot():
    with pytest.raises(SendRefused) as refused:
        campaigns.create_campaign(
            "x", template=DltTemplateFactory(body=REMINDER), variables=["{name}"]
        )
    assert refused.value.field == "variables"


def test_csv_import_normalises_merges_and_keeps_exclusions_with_reasons():
    campaign = reminder(variables=["{name}", "{Day}"])
    OptOutFactory(phone_number="+919876500003")
    csv_text = (
        "Mobile,Name,Day\n"
        "98765 00001,Asha,20 Jan\n"
        "+91-98765-00001,Asha again,21 Jan\n"
        "12345,Nobody,20 Jan\n"
        "9876500003,Opted,20 Jan\n"
        f"9876500004,Long,{'x' * 31}\n"
        "09876500005,Ravi,22 Jan\n"
    )

    report = campaign_audience.import_csv(campaign, io.BytesIO(csv_text.encode()))

    assert (report.rows, report.duplicates, report.invalid, report.opted_out) == (6, 1, 1, 1)
    assert (report.bad_variables, report.sendable) == (1, 2)
    rows = {r.phone_number: r for r in CampaignRecipient.objects.filter(campaign=campaign)}
    assert rows["+919876500001"].variables == ["Asha", "20 Jan"]
    assert rows["+919876500005"].state == RecipientState.PENDING
    assert rows["12345"].reason == SkipReason.INVALID
    assert rows["+919876500003"].reason == SkipReason.OPTED_OUT
    assert "30 characters" in rows["+919876500004"].detail
    campaign.refresh_from_db()
    assert campaign.duplicates_merged == 1


def test_csv_variables_can_name_columns():
    campaign = reminder(variables=["{name}", "{day} at 3 PM"])
    csv_text = "phone,name,city,day\n9876500001,Asha,Pune,20 Jan\n"
    campaign_audience.import_csv(campaign, io.BytesIO(csv_text.encode()))
    (recipient,) = CampaignRecipient.objects.filter(campaign=campaign)
    assert recipient.variables == ["Asha", "20 Jan at 3 PM"]


def test_a_csv_without_a_phone_column_is_refused():
    with pytest.raises(campaign_audience.AudienceError):
        campaign_audience.import_csv(reminder(), io.BytesIO(b"email,name\na@b.c,A\n"))


def test_conversations_audience_fills_name_placeholders():
    get_or_create_conversation("+919876500001", contact_name="Asha")
    get_or_create_conversation("+919876500002", contact_name="Ravi")
    campaign = reminder(variables=["{name}", "20 Jan"])
    report = campaign_audience.import_conversations(campaign, {"search": "asha"})
    assert report.sendable == 1
    assert CampaignRecipient.objects.get(campaign=campaign).variables == ["Asha", "20 Jan"]


# --- Dispatch ----------------------------------------------------------------------------


def test_one_body_for_everyone_goes_as_static_bulk(sandbox, enqueued):
    campaign = notice(150)
    campaigns.start_campaign(campaign)

    send_all(campaign)

    assert campaign.status == CampaignStatus.COMPLETED
    assert paths(sandbox) == ["send.json", "send.json"]
    message = Message.objects.filter(campaign=campaign).first()
    assert (message.source, message.direction, message.status) == (
        MessageSource.CAMPAIGN,
        Direction.OUTBOUND,
        MessageStatus.QUEUED,
    )
    assert message.sid and message.template == campaign.template
    assert message.conversation.message_count == 1
    assert message.status_events.get().status == MessageStatus.QUEUED


def test_bodies_that_differ_go_as_dynamic_bulk(sandbox, enqueued):
    campaign = reminder(120)
    campaigns.start_campaign(campaign)

    send_all(campaign)

    assert paths(sandbox) == ["bulksend.json", "bulksend.json"]
    bodies = {m.to: m.body for m in sandbox.state.messages()}
    assert bodies["09876500001"].startswith("Hi Guest 1, your appointment is on 21 Feb.")


def test_a_number_opted_out_after_the_import_is_skipped_at_send_time(sandbox, enqueued):
    campaign = notice(5)
    campaigns.start_campaign(campaign)
    OptOutFactory(phone_number=numbers(5)[2])

    send_all(campaign)

    skipped = CampaignRecipient.objects.get(campaign=campaign, phone_number=numbers(5)[2])
    assert (skipped.state, skipped.reason) == (RecipientState.SKIPPED, SkipReason.OPTED_OUT)
    assert len(sandbox.state.messages()) == 4


def test_a_throttled_batch_is_retried_once_slower(sandbox, enqueued, settings):
    campaign = notice(10, rate=10)
    campaigns.start_campaign(campaign)
    sandbox.add_fault(Fault(status=429, code=40402))

    send_all(campaign)

    # After the 429 the rate is halved: 5 a second, so batches of 5.
    assert [r["status"] for r in sandbox.state.requests()] == [429, 200, 200]
    assert len(sandbox.state.messages()) == 10
    assert CampaignBatch.objects.filter(state=CampaignBatch.State.DONE).count() == 2
    campaign.refresh_from_db()
    assert campaign.throttle_count == 0  # a clean batch after the throttle resets it
    assert campaign.rate_factor == pytest.approx(0.7)


def test_an_account_refusal_pauses_the_campaign_without_failing_anyone(sandbox, enqueued):
    campaign = notice(10)
    campaigns.start_campaign(campaign)
    sandbox.add_fault(Fault(status=403, code=40001, message="Insufficient balance to send 10 sms."))

    assert campaign_dispatch.run(campaign.pk, budget=5) is None

    campaign.refresh_from_db()
    assert (campaign.status, campaign.pause_reason) == (CampaignStatus.PAUSED, PauseReason.ERROR)
    assert "Insufficient balance" in campaign.last_error
    assert CampaignRecipient.objects.filter(state=RecipientState.PENDING).count() == 10
    assert not Message.objects.exists()


def test_a_batch_left_in_flight_becomes_unknown_and_is_never_resent(sandbox, enqueued, settings):
    settings.CAMPAIGN_BATCH_LEASE_SECONDS = 0
    campaign = notice(150)
    campaigns.start_campaign(campaign)
    claimed = campaign_dispatch.claim_batch(campaign.pk, 100)  # then the worker "dies"

    send_all(campaign)

    assert len(sandbox.state.messages()) == 50
    unknown = CampaignRecipient.objects.filter(state=RecipientState.UNKNOWN)
    assert unknown.count() == 100
    assert set(unknown.values_list("message__status", flat=True)) == {MessageStatus.UNKNOWN}
    assert CampaignBatch.objects.get(pk=claimed.batch.pk).state == CampaignBatch.State.UNKNOWN
    assert AuditLog.objects.filter(action="campaign_batch_unknown").count() == 1
    assert campaign.status == CampaignStatus.COMPLETED


def test_a_late_answer_attaches_its_sids_to_the_unknown_messages(sandbox, enqueued, settings):
    settings.CAMPAIGN_BATCH_LEASE_SECONDS = 0
    campaign = notice(3)
    campaigns.start_campaign(campaign)
    claimed = campaign_dispatch.claim_batch(campaign.pk, 100)
    campaign_dispatch.recover_stale_batches()

    campaign_dispatch.send_batch(claimed)  # the slow worker's answer arrives after all

    messages = Message.objects.filter(campaign=campaign)
    assert messages.count() == 3
    assert set(messages.values_list("status", flat=True)) == {MessageStatus.QUEUED}
    assert all(messages.values_list("sid", flat=True))


def test_the_campaign_callback_token_applies_only_to_its_own_messages(sandbox, enqueued, client):
    campaign = notice(1)
    other = notice(0)
    campaigns.start_campaign(campaign)
    send_all(campaign)
    message = Message.objects.get(campaign=campaign)
    data = {"SmsSid": message.sid, "Status": "sent", "DetailedStatusCode": "20005"}

    wrong = client.post(campaign_callback_url(other.pk), data)
    right = client.post(campaign_callback_url(campaign.pk), data)

    assert (wrong.status_code, right.status_code) == (200, 200)
    outcomes = [
        webhook_events.process_webhook_event(e.pk) for e in WebhookEvent.objects.order_by("id")
    ]
    assert outcomes[0] == "ignored: token belongs to another campaign"
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_pause_stops_the_dispatcher_before_the_next_batch(sandbox, enqueued):
    campaign = notice(250)
    campaigns.start_campaign(campaign)
    claimed = campaign_dispatch.claim_batch(campaign.pk, 100)
    campaigns.pause_campaign(campaign)

    campaign_dispatch.send_batch(claimed)  # the batch in flight still lands
    assert campaign_dispatch.run(campaign.pk, budget=5) is None

    assert len(sandbox.state.messages()) == 100
    assert campaigns.resume_campaign(campaign)
    send_all(campaign)
    assert len(sandbox.state.messages()) == 250


def test_an_old_generation_of_dispatchers_stops(sandbox, enqueued):
    campaign = notice(10)
    campaigns.start_campaign(campaign)
    campaign.refresh_from_db()
    assert campaign_dispatch.run(campaign.pk, campaign.generation - 1, budget=5) is None
    assert not sandbox.state.requests()


def test_cancel_cancels_pending_recipients(enqueued):
    campaign = notice(5)
    campaigns.start_campaign(campaign)
    assert campaigns.cancel_campaign(campaign) == 5
    assert campaign_dispatch.run(campaign.pk, budget=1) is None
    assert CampaignRecipient.objects.filter(state=RecipientState.CANCELLED).count() == 5


def test_a_scheduled_campaign_starts_on_the_tick(enqueued):
    campaign = notice(3, scheduled_at=timezone.now() + timedelta(hours=1))
    campaigns.start_campaign(campaign)
    assert campaign.status == CampaignStatus.SCHEDULED
    campaigns.tick()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SCHEDULED

    campaigns.tick(now=timezone.now() + timedelta(hours=1, seconds=1))

    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING
    assert len(enqueued) == 2  # CAMPAIGN_DISPATCHERS


def test_a_recurring_campaign_spawns_a_run_and_moves_its_next_time(enqueued):
    series = notice(3, recurrence="daily")
    campaigns.start_campaign(series)
    assert series.status == CampaignStatus.SCHEDULED

    campaigns.tick(now=timezone.now() + timedelta(seconds=1))

    run = Campaign.objects.get(series=series)
    assert run.status == CampaignStatus.RUNNING
    assert run.recipients.count() == 3
    series.refresh_from_db()
    assert series.next_run_at > timezone.now() + timedelta(hours=23)


def test_a_stalled_campaign_gets_new_dispatchers(enqueued, settings):
    campaign = notice(3)
    campaigns.start_campaign(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(
        last_dispatch_at=timezone.now() - timedelta(minutes=5)
    )
    generation = Campaign.objects.get(pk=campaign.pk).generation

    assert campaigns.tick()["kicked"] == 1
    assert Campaign.objects.get(pk=campaign.pk).generation == generation + 1


# --- Copies, replies, reports --------------------------------------------------------------


def _failed_campaign(sandbox):
    campaign = notice(0)
    phones = [*numbers(3), "+919812323010", "+919812323005"]  # sandbox: 23010 fails, 23005 DND
    campaign_audience.import_pasted(campaign, "\n".join(phones))
    campaigns.start_campaign(campaign)
    send_all(campaign)
    for message in Message.objects.filter(campaign=campaign):
        code = int(message.conversation.phone_number[-5:])
        status = {23010: "failed", 23005: "failed-dnd"}.get(code, "sent")
        apply_status(
            message.pk,
            ExotelStatus(status, code=code if status != "sent" else 20005),
            source="callback",
        )
    return campaign


def test_retarget_failed_makes_a_draft_of_the_failed_recipients_not_dnd(sandbox, enqueued):
    campaign = _failed_campaign(sandbox)

    retry = campaigns.retarget_failed(campaign)

    assert retry.status == CampaignStatus.DRAFT
    assert list(retry.recipients.values_list("phone_number", flat=True)) == ["+919812323010"]
    assert retry.source_campaign == campaign


def test_duplicate_copies_content_and_recipients(sandbox, enqueued):
    campaign = reminder(4)
    copy = campaigns.duplicate_campaign(campaign)
    assert (copy.template, copy.status, copy.recipients.count()) == (
        campaign.template,
        CampaignStatus.DRAFT,
        4,
    )
    assert copy.recipients.first().variables == ["Guest 0", "20 Feb"]


def test_progress_counts_by_status_and_failure_reason(sandbox, enqueued):
    campaign = _failed_campaign(sandbox)
    report = campaign_reports.progress(campaign)
    assert (report["total"], report["sent"], report["delivered"], report["failed"]) == (5, 3, 3, 2)
    assert report["failed_dnd"] == 1
    assert {r["code"] for r in report["failure_reasons"]} == {23010, 23005}


@pytest.mark.parametrize(
    ("body", "answer"),
    [("yes!", "YES"), ("  Haan ji", "YES"), ("2 please", "2"), ("🙂", ""), ("no.", "NO")],
)
def test_answers_are_normalised(body, answer):
    assert campaigns.normalise_answer(body) == answer


def test_a_reply_within_the_window_is_linked_and_tallied_once(sandbox, enqueued):
    campaign = notice(2)
    campaigns.start_campaign(campaign)
    send_all(campaign)
    conversation = get_or_create_conversation(numbers(2)[0])
    reply = InboundMessageFactory(conversation=conversation, body="Yes!")

    recipient = campaigns.link_inbound_reply(reply)
    assert campaigns.link_inbound_reply(reply) is None  # replayed: counted once

    assert (recipient.answer, recipient.reply_count, recipient.reply_message) == ("YES", 1, reply)
    reply.refresh_from_db()
    assert reply.campaign == campaign
    report = campaign_reports.progress(campaign)
    assert (report["replies"], report["reply_rate"], report["answers"]) == (1, 0.5, {"YES": 1})


def test_a_reply_after_the_window_is_not_linked(sandbox, enqueued):
    campaign = notice(1, reply_window_hours=1)
    campaigns.start_campaign(campaign)
    send_all(campaign)
    conversation = get_or_create_conversation(numbers(1)[0])
    reply = InboundMessageFactory(conversation=conversation, body="YES")
    Message.objects.filter(pk=reply.pk).update(created_at=timezone.now() + timedelta(hours=2))
    reply.refresh_from_db()
    assert campaigns.link_inbound_reply(reply) is None


def test_preflight_counts_segments_cost_and_finish_time():
    campaign = reminder(10, rate=2)
    OptOutFactory(phone_number=numbers(10)[0])  # after the import: still excluded
    now = datetime(2026, 3, 2, 12, 0, tzinfo=IST)

    report = campaign_reports.preflight(campaign, now=now)

    assert (report.sendable, report.opted_out, report.segments) == (9, 1, 9)
    assert report.estimated_cost == Decimal("1.62")
    assert report.finishes_at == now + timedelta(seconds=4.5)
    assert len(report.samples) == 3


def test_a_promotional_finish_time_skips_the_night():
    start = datetime(2026, 3, 2, 20, 0, tzinfo=IST)
    finish = campaign_reports.estimate_finish(start, 2 * 3600, promotional=True)
    assert finish == datetime(2026, 3, 3, 11, 0, tzinfo=IST)


def test_export_is_formula_safe(sandbox, enqueued, admin_client):
    campaign = reminder(0)
    campaign_audience.import_pasted(campaign, "9876500001,=HYPERLINK(1),20 Jan")
    response = admin_client.get(reverse("admin:conversations_campaign_export", args=[campaign.pk]))
    text = b"".join(response.streaming_content).decode()
    assert "'=HYPERLINK(1)" not in text  # the variables are not a column; the state is
    assert text.splitlines()[0].startswith("row,phone_number")
    assert "+919876500001" in text


# --- Rate limiter ------------------------------------------------------------------------


def test_the_database_clock_gives_consecutive_slots(settings):
    settings.CAMPAIGN_RATE_LIMIT_URL = "database"
    campaign = notice(0)
    first = rate_limit.reserve(campaign.pk, 10, 10)
    second = rate_limit.reserve(campaign.pk, 10, 10)
    third = rate_limit.reserve(campaign.pk, 10, 5)
    assert first == pytest.approx(0, abs=0.05)
    assert second == pytest.approx(1.0, abs=0.05)
    assert third == pytest.approx(2.0, abs=0.05)


def test_the_clock_keeps_a_late_workers_slot_but_never_bursts_after_a_pause(settings):
    settings.CAMPAIGN_RATE_LIMIT_URL = "database"
    campaign = notice(0)
    assert rate_limit.reserve(campaign.pk, 10, 10, tolerance=1.0) == pytest.approx(0, abs=0.15)
    assert rate_limit.reserve(campaign.pk, 10, 10, tolerance=1.0) == pytest.approx(1, abs=0.15)
    # A worker 0.5 s late keeps its slot: the next one starts 0.5 s from now, not 1 s.
    Campaign.objects.filter(pk=campaign.pk).update(rate_tat=time.time() - 0.5)
    assert rate_limit.reserve(campaign.pk, 10, 10, tolerance=1.0) == 0
    assert rate_limit.reserve(campaign.pk, 10, 10, tolerance=1.0) == pytest.approx(0.5, abs=0.15)
    # Idle for longer than the tolerance (a pause): it starts again from now, no burst.
    Campaign.objects.filter(pk=campaign.pk).update(rate_tat=time.time() - 5)
    assert rate_limit.reserve(campaign.pk, 10, 10, tolerance=1.0) == 0
    assert rate_limit.reserve(campaign.pk, 10, 10, tolerance=1.0) == pytest.approx(1, abs=0.15)


def test_the_redis_clock_gives_consecutive_slots(settings):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs Redis: run with CELERY_BROKER_URL=redis://... (the PostgreSQL CI run)")
    settings.CAMPAIGN_RATE_LIMIT_URL = ""
    key = f"test-{time.time_ns()}"
    waits = [rate_limit._reserve_redis(key, 20, 20) for _ in range(3)]
    assert waits[0] == pytest.approx(0, abs=0.05)
    assert waits[1] == pytest.approx(1.0, abs=0.05)
    assert waits[2] == pytest.approx(2.0, abs=0.05)
    late = f"{key}-late"  # a fresh bucket does not burst
    assert rate_limit._reserve_redis(late, 20, 20, 1.0) == pytest.approx(0, abs=0.05)
    assert rate_limit._reserve_redis(late, 20, 20, 1.0) == pytest.approx(1.0, abs=0.05)
    assert rate_limit.backend_name() == "redis"


def test_a_reservation_bigger_than_a_second_goes_at_once_and_pushes_the_next_back(settings):
    settings.CAMPAIGN_RATE_LIMIT_URL = "database"
    campaign = notice(0)
    # 250 units at 10 a second: no burst ceiling to wait for, so it never deadlocks.
    assert rate_limit.reserve(campaign.pk, 10, 250) == pytest.approx(0, abs=0.05)
    assert rate_limit.reserve(campaign.pk, 10, 10) == pytest.approx(25.0, abs=0.05)


def test_without_redis_the_account_cap_is_not_applied(settings):
    """The zero-setup default: campaigns keep their own database clock; the account cap needs
    a clock every worker shares, so it is off rather than kept per process."""
    settings.CAMPAIGN_RATE_LIMIT_URL = "database"
    settings.EXOTEL_MAX_SEND_RATE = 1
    campaign = notice(0)
    assert not rate_limit.account_capped()
    assert rate_limit.reserve_account(1000) == 0
    assert rate_limit.reserve(campaign.pk, 10, 10) == pytest.approx(0, abs=0.05)
    assert rate_limit.reserve(campaign.pk, 10, 10) == pytest.approx(1.0, abs=0.05)


@pytest.fixture
def redis_account(settings, monkeypatch):
    """The account-wide bucket in Redis, on a key of its own."""
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs Redis: run with CELERY_BROKER_URL=redis://... (the PostgreSQL CI run)")
    settings.CAMPAIGN_RATE_LIMIT_URL = ""
    monkeypatch.setattr(rate_limit, "ACCOUNT_KEY", f"test-account-{time.time_ns()}")


def test_the_account_bucket_counts_segments(settings, redis_account):
    settings.EXOTEL_MAX_SEND_RATE = 100  # segments a second
    campaign = notice(0)
    # A batch of 100 two-part messages takes 200: bigger than a second's worth, it still goes.
    assert rate_limit.reserve(campaign.pk, None, 100, segments=200) == pytest.approx(0, abs=0.05)
    assert rate_limit.reserve_account(50) == pytest.approx(2.0, abs=0.05)
    assert rate_limit.reserve(campaign.pk, None, 10) == pytest.approx(2.5, abs=0.05)


def test_a_single_send_is_charged_on_the_account_cap_without_waiting(
    settings, redis_account, sandbox
):
    from conversations.services import sending

    settings.EXOTEL_MAX_SEND_RATE = 10
    DltTemplateFactory(body=TWO_PARTS)
    two_part = sending.send_message("9876500001", TWO_PARTS)
    assert two_part.segments == 2
    # Campaign batches hold the next 10 seconds of the account.
    assert rate_limit.reserve_account(100) == pytest.approx(0, abs=0.05)

    started = time.monotonic()
    sending.dispatch_message(two_part.pk)
    elapsed = time.monotonic() - started

    assert elapsed < 5  # a reply never waits behind campaigns
    # ...but it counts: the next slot starts after 100 + its 2 segments.
    assert rate_limit.reserve_account(1) == pytest.approx(10.2 - elapsed, abs=0.1)


def test_a_campaign_of_two_part_messages_is_paced_by_segments_on_the_account_cap(
    sandbox, enqueued, settings, redis_account
):
    settings.EXOTEL_MAX_SEND_RATE = 40  # segments a second
    settings.CAMPAIGN_BATCH_SECONDS = 0.5
    campaign = two_part_notice(40)  # no rate of its own: only the account cap paces it
    campaigns.start_campaign(campaign)

    started = time.monotonic()
    send_all(campaign)
    elapsed = time.monotonic() - started

    # 80 segments at 40 a second: 4 batches of 10 messages, 0.5 s apart (by messages: 0.25 s).
    assert sorted(CampaignBatch.objects.values_list("size", flat=True)) == [10, 10, 10, 10]
    assert 1.4 <= elapsed < 10
    assert len(sandbox.state.messages()) == 40


# --- Queues ----------------------------------------------------------------------------------


def test_campaign_dispatchers_have_a_queue_of_their_own():
    from smsdesk.celery import app

    def queue(task):
        return app.amqp.router.route({}, f"conversations.tasks.{task}")["queue"].name

    assert queue("dispatch_campaign_task") == "campaigns"
    for task in (
        "drain_webhook_events_task",
        "process_webhook_event_task",
        "send_message_task",
        "campaign_tick_task",
    ):
        assert queue(task) == "celery", task
    # A worker started without -Q consumes both, so campaigns never sit unconsumed.
    assert set(app.amqp.queues) == {"celery", "campaigns"}


def test_make_run_starts_a_campaign_worker():
    from conversations.management.commands.rundesk import procfile_lines

    lines = dict(line.split(": ", 1) for line in procfile_lines("/venv/bin/python", False, 1))
    assert " -Q celery " in lines["worker"]
    assert " -Q campaigns " in lines["campaign-worker"]


# --- API, admin, pages, command -------------------------------------------------------------


def test_bulk_api_refuses_bad_content_and_changes_nothing(staff_api):
    DltTemplateFactory(body=NOTICE)
    response = staff_api.post(
        "/api/sms/bulk", {"recipients": ["9876500001"], "body": "Buy now!"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "dlt_mismatch"
    assert not Campaign.objects.exists()


def test_bulk_api_needs_recipients_and_content(staff_api):
    response = staff_api.post("/api/sms/bulk/", {"recipients": []}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"recipients"}


def test_bulk_api_answers_each_recipient_and_merges_repeats(staff_api, enqueued):
    DltTemplateFactory(body=NOTICE)
    response = staff_api.post(
        "/api/sms/bulk",
        {
            "recipients": ["9876500001", "+919876500001", "abc"],
            "body": "Our store in Pune is closed on Sunday.",
        },
        format="json",
    )
    answer = response.json()
    assert response.status_code == 202
    assert (answer["total"], answer["sent"], answer["failed"]) == (3, 1, 2)
    assert [r.get("code") for r in answer["results"]] == [None, "duplicate", "invalid"]
    assert answer["campaign"]["status"] == "running"
    assert answer["campaign"]["url"] == f"/api/campaigns/{answer['campaign']['id']}"


def test_only_staff_or_the_creator_may_pause(agent_api, enqueued):
    campaign = notice(1)
    campaigns.start_campaign(campaign)
    response = agent_api.post(f"/api/campaigns/{campaign.pk}/pause")
    assert response.status_code == 403
    assert agent_api.get(f"/api/campaigns/{campaign.pk}").status_code == 200


def test_preflight_api(staff_api):
    campaign = reminder(3)
    data = staff_api.get(f"/api/campaigns/{campaign.pk}/preflight").json()
    assert (data["sendable"], data["segments"]) == (3, 3)


def test_admin_creates_a_campaign_with_a_csv_and_starts_it_from_preflight(admin_client, enqueued):
    template = DltTemplateFactory(body=REMINDER)
    upload = io.BytesIO(b"phone,name,day\n9876500001,Asha,20 Jan\n9876500002,Ravi,21 Jan\n")
    upload.name = "list.csv"
    response = admin_client.post(
        reverse("admin:conversations_campaign_add"),
        {
            "name": "From admin",
            "template": template.pk,
            "body": "",
            "variables": '["{name}", "{day}"]',
            "reply_window_hours": 48,
            "rate_unit": "messages",
            "audience_csv": upload,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get(name="From admin")
    assert campaign.recipients.count() == 2
    preflight_url = reverse("admin:conversations_campaign_preflight", args=[campaign.pk])
    page = admin_client.get(preflight_url)
    assert b"To send" in page.content

    started = admin_client.post(preflight_url)

    assert started.status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING


def test_admin_pages_render(admin_client, sandbox, enqueued):
    campaign = _failed_campaign(sandbox)
    for url in (
        reverse("admin:conversations_campaign_changelist"),
        reverse("admin:conversations_campaign_change", args=[campaign.pk]),
        reverse("admin:conversations_campaignrecipient_changelist"),
        reverse("campaign-list"),
        reverse("campaign-progress", args=[campaign.pk]),
        reverse("campaign-panel", args=[campaign.pk]),
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    page = admin_client.get(reverse("campaign-progress", args=[campaign.pk])).content.decode()
    assert "<svg" in page
    assert "Failures and exclusions by reason" in page


def test_admin_actions_pause_resume_cancel_duplicate(admin_client, enqueued):
    campaign = notice(2)
    changelist = reverse("admin:conversations_campaign_changelist")
    for action, status in [
        ("start_selected", CampaignStatus.RUNNING),
        ("pause_selected", CampaignStatus.PAUSED),
        ("resume_selected", CampaignStatus.RUNNING),
        ("cancel_selected", CampaignStatus.CANCELLED),
    ]:
        admin_client.post(changelist, {"action": action, "_selected_action": [campaign.pk]})
        assert Campaign.objects.get(pk=campaign.pk).status == status, action
    admin_client.post(
        changelist, {"action": "duplicate_selected", "_selected_action": [campaign.pk]}
    )
    assert Campaign.objects.filter(source_campaign=campaign).count() == 1
    entries = AuditLog.objects.filter(action__startswith="campaign_").order_by("id")
    assert [e.action for e in entries] == [
        "campaign_start",
        "campaign_pause",
        "campaign_resume",
        "campaign_cancel",
        "campaign_duplicate",
    ]
    assert {(e.actor.username, e.remote_addr) for e in entries} == {("admin", "127.0.0.1")}


def test_progress_pages_need_a_login(client):
    assert client.get(reverse("campaign-list")).status_code == 302


def test_send_campaign_command_sends_inline(sandbox, tmp_path, capsys):
    template = DltTemplateFactory(body=REMINDER)
    path = tmp_path / "list.csv"
    path.write_text("phone,who,day\n" + "".join(f"{n},A,2 Feb\n" for n in numbers(30)))

    call_command("send_campaign", csv=str(path), template=template.template_id, inline=True)

    campaign = Campaign.objects.get()
    assert campaign.status == CampaignStatus.COMPLETED
    assert len(sandbox.state.messages()) == 30
    assert "30 sent" in capsys.readouterr().out


def test_send_campaign_command_takes_a_rate_in_segments(tmp_path):
    template = DltTemplateFactory(body=REMINDER)
    path = tmp_path / "list.csv"
    path.write_text("phone,who,day\n" + "".join(f"{n},A,2 Feb\n" for n in numbers(3)))

    call_command(
        "send_campaign",
        csv=str(path),
        template=template.template_id,
        rate=5,
        rate_unit="segments",
        dry_run=True,
    )

    campaign = Campaign.objects.get()
    assert (campaign.rate, campaign.rate_unit, campaign.status) == (5, "segments", "draft")


@settings_hypothesis(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=170) | st.text(max_size=80))
def test_the_fast_segment_count_agrees_with_the_full_analysis(body):
    from exotel_client import analyse_body

    campaign_audience.segments_of.cache_clear()
    assert campaign_audience.segments_of(body) == analyse_body(body).segments


def test_the_inbound_pipeline_links_a_reply_to_its_campaign(sandbox, enqueued):
    from conversations.models import ReplyChannel
    from conversations.services.inbound import answer_inbound_message

    campaign = notice(1)
    campaigns.start_campaign(campaign)
    send_all(campaign)
    conversation = get_or_create_conversation(numbers(1)[0])
    reply = InboundMessageFactory(conversation=conversation, body="YES")

    answer_inbound_message(reply, channel=ReplyChannel.API)

    reply.refresh_from_db()
    assert reply.campaign == campaign


# --- Pacing by segments --------------------------------------------------------------------

LONG_NOTICE = "Notice for {#var#}: " + "Please read the revised terms of your account. " * 7


def long_notice(count, **options):
    template = DltTemplateFactory(body=LONG_NOTICE)
    body = LONG_NOTICE.replace("{#var#}", "Pune")
    campaign = campaigns.create_campaign("Terms", template=template, body=body, **options)
    campaign_audience.import_pasted(campaign, "\n".join(numbers(count)))
    return campaign


@pytest.fixture
def reservations(monkeypatch):
    """What the dispatcher reserves on the shared clock (no waiting)."""
    counts = []

    def reserve(campaign_id, rate, count, tolerance=0.0, *, segments=None):
        counts.append((rate, count))
        return 0.0

    monkeypatch.setattr(rate_limit, "reserve", reserve)
    return counts


def test_a_rate_in_segments_reserves_each_batch_by_its_segments(sandbox, enqueued, reservations):
    campaign = long_notice(25, rate=30, rate_unit="segments")
    assert set(campaign.recipients.values_list("segments", flat=True)) == {3}
    campaigns.start_campaign(campaign)

    send_all(campaign)

    # 30 segments a second, 1 s batches: 10 three-part messages a batch, each costing 30.
    sizes = sorted(CampaignBatch.objects.values_list("size", flat=True))
    assert sizes == [5, 10, 10]
    assert sorted(count for _, count in reservations) == [15, 30, 30]
    assert len(sandbox.state.messages()) == 25


def test_a_rate_in_messages_reserves_messages(sandbox, enqueued, reservations):
    campaign = long_notice(25, rate=10)
    campaigns.start_campaign(campaign)

    send_all(campaign)

    assert sorted(CampaignBatch.objects.values_list("size", flat=True)) == [5, 10, 10]
    assert [count for _, count in reservations] == [10, 10, 10, 10]  # the last finds 0 left


@pytest.fixture
def account_cap(settings, monkeypatch):
    """EXOTEL_MAX_SEND_RATE in force (as with Redis), recording what each call reserves on it:
    ("reserve", count, segments) and ("top-up", segments). Nobody waits."""
    settings.EXOTEL_MAX_SEND_RATE = 1000
    monkeypatch.setattr(rate_limit, "account_capped", lambda: True)
    charged = []

    def reserve(campaign_id, rate, count, tolerance=0.0, *, segments=None):
        charged.append(("reserve", count, count if segments is None else segments))
        return 0.0

    def reserve_account(segments):
        charged.append(("top-up", segments))
        return 0.0

    monkeypatch.setattr(rate_limit, "reserve", reserve)
    monkeypatch.setattr(rate_limit, "reserve_account", reserve_account)
    return charged


TWO_PARTS = "Our store in Pune is closed on Sunday; " * 4 + "see you on Monday."  # 2 segments


def two_part_notice(count, **options):
    template = DltTemplateFactory(body=TWO_PARTS)
    campaign = campaigns.create_campaign("Long", template=template, body=TWO_PARTS, **options)
    if count:
        campaign_audience.import_pasted(campaign, "\n".join(numbers(count)))
        assert set(campaign.recipients.values_list("segments", flat=True)) == {2}
    return campaign


def test_the_account_cap_is_charged_segments_for_a_rate_in_messages(sandbox, enqueued, account_cap):
    campaign = two_part_notice(25, rate=10)
    campaigns.start_campaign(campaign)

    send_all(campaign)

    # Batches of 10 messages on the campaign's clock, 20 segments each on the account's.
    assert account_cap == [("reserve", 10, 20)] * 4  # the last finds nobody left
    assert len(sandbox.state.messages()) == 25


def test_the_account_cap_gets_a_top_up_when_the_claimed_rows_cost_more(
    sandbox, enqueued, account_cap, monkeypatch
):
    monkeypatch.setattr(campaign_dispatch, "average_segments", lambda campaign_id: 1.0)
    campaign = two_part_notice(10, rate=10)
    campaigns.start_campaign(campaign)

    send_all(campaign)

    # Estimated at 1 segment a message before the claim; the 10 claimed cost 20.
    assert account_cap[:2] == [("reserve", 10, 10), ("top-up", 10)]


def test_the_account_cap_sizes_batches_by_segments(sandbox, enqueued, account_cap, settings):
    settings.EXOTEL_MAX_SEND_RATE = 40  # segments a second: 20 two-part messages
    campaign = two_part_notice(50)  # no rate of its own

    assert campaign_dispatch.batch_size(campaign, 2.0) == 20
    assert campaign_dispatch.batch_size(two_part_notice(0, rate=5), 2.0) == 5


def test_the_preflight_finish_time_counts_segments_on_the_account_cap(enqueued, settings):
    settings.EXOTEL_MAX_SEND_RATE = 20
    assert campaign_reports.preflight(two_part_notice(20)).duration_seconds == pytest.approx(2.0)
    by_messages = two_part_notice(0, rate=100)
    campaign_audience.import_pasted(by_messages, "\n".join(numbers(20)))
    assert campaign_reports.preflight(by_messages).duration_seconds == pytest.approx(2.0)


def test_the_preflight_finish_time_counts_segments_when_the_rate_does(enqueued):
    by_segments = long_notice(20, rate=10, rate_unit="segments")
    by_messages = long_notice(0, rate=10)
    campaign_audience.import_pasted(by_messages, "\n".join(numbers(20)))

    assert campaign_reports.preflight(by_segments).duration_seconds == pytest.approx(6.0)
    assert campaign_reports.preflight(by_messages).duration_seconds == pytest.approx(2.0)


# --- Unknown outcomes: found again through CustomField ----------------------------------------


@pytest.fixture
def impatient_client(monkeypatch, sandbox):
    """The app's Exotel client, giving up on an answer after 0.3 s."""
    from conversations.services.exotel import get_exotel_client

    client = get_exotel_client()
    monkeypatch.setattr(client, "timeout", (2, 0.3))
    monkeypatch.setattr(campaign_dispatch, "get_exotel_client", lambda: client)
    return client


def _timed_out_batch(sandbox, count):
    """A bulk request that reached the sandbox but whose answer came too late."""
    campaign = notice(count)
    campaigns.start_campaign(campaign)
    sandbox.add_fault(Fault(delay=1.0))
    claimed = campaign_dispatch.claim_batch(campaign.pk, 100)
    campaign_dispatch.send_batch(claimed)
    assert sandbox.state.wait_for(lambda: len(sandbox.state.messages()) == count, timeout=10)
    return campaign, claimed.batch


def _callback(client, campaign, sandbox_message, status="sent", code="20005"):
    with_fields = {
        "SmsSid": sandbox_message.sid,
        "To": sandbox_message.to,
        "Status": status,
        "DetailedStatusCode": code,
        "CustomField": sandbox_message.custom_field,
    }
    assert client.post(campaign_callback_url(campaign.pk), with_fields).status_code == 200
    event = WebhookEvent.objects.order_by("-id").first()
    return webhook_events.process_webhook_event(event.pk)


def test_a_timed_out_batch_carries_its_campaign_and_batch_in_custom_field(
    sandbox, enqueued, impatient_client
):
    campaign, batch = _timed_out_batch(sandbox, 3)

    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    assert set(recipients.values_list("state", flat=True)) == {RecipientState.UNKNOWN}
    assert not Message.objects.filter(campaign=campaign, sid__isnull=False).exists()
    assert {m.custom_field for m in sandbox.state.messages()} == {
        f"campaign-{campaign.pk}-batch-{batch.pk}"
    }


def test_a_status_callback_links_an_unknown_message_by_custom_field(
    sandbox, enqueued, impatient_client, client
):
    campaign, _ = _timed_out_batch(sandbox, 3)
    first = sandbox.state.messages()[0]

    outcome = _callback(client, campaign, first)

    assert outcome == "delivered applied"
    message = Message.objects.get(sid=first.sid)
    assert message.status == MessageStatus.DELIVERED
    assert message.conversation.phone_number == "+91" + first.to[1:]
    recipient = message.campaign_recipient
    assert recipient.state == RecipientState.SENT
    others = CampaignRecipient.objects.filter(campaign=campaign).exclude(pk=recipient.pk)
    assert set(others.values_list("state", flat=True)) == {RecipientState.UNKNOWN}
    assert campaign_reports.progress(campaign)["unknown"] == 2


def test_another_campaigns_callback_url_cannot_link_an_unknown_message(
    sandbox, enqueued, impatient_client, client
):
    _timed_out_batch(sandbox, 1)
    other = notice(0)

    outcome = _callback(client, other, sandbox.state.messages()[0])

    assert outcome.startswith(webhook_events.WAITING)
    assert not Message.objects.filter(sid__isnull=False).exists()


def test_a_callback_that_waited_for_its_batch_is_applied_once_the_batch_is_unknown(
    sandbox, enqueued, client, settings
):
    settings.CAMPAIGN_BATCH_LEASE_SECONDS = 0
    campaign = notice(2)
    campaigns.start_campaign(campaign)
    claimed = campaign_dispatch.claim_batch(campaign.pk, 100)  # the worker dies mid-request
    early = {
        "SmsSid": "f" * 32,
        "To": "0" + claimed.recipients[0].phone_number[3:],
        "Status": "sent",
        "DetailedStatusCode": "20005",
        "CustomField": f"campaign-{campaign.pk}-batch-{claimed.batch.pk}",
    }
    client.post(campaign_callback_url(campaign.pk), early)
    event = WebhookEvent.objects.get()
    assert webhook_events.process_webhook_event(event.pk).startswith(webhook_events.WAITING)

    assert campaign_dispatch.recover_stale_batches() == 2

    event.refresh_from_db()
    assert event.processed_at is not None
    message = Message.objects.get(sid="f" * 32)
    assert (message.status, message.campaign_recipient.state) == (
        MessageStatus.DELIVERED,
        RecipientState.SENT,
    )


def test_messages_unknown_past_the_review_time_are_marked_for_review_not_resent(
    sandbox, enqueued, impatient_client, settings
):
    settings.CAMPAIGN_UNKNOWN_REVIEW_HOURS = 6
    campaign, _ = _timed_out_batch(sandbox, 3)

    assert campaigns.tick(now=timezone.now() + timedelta(hours=5))["review"] == 0
    assert campaigns.tick(now=timezone.now() + timedelta(hours=6, minutes=1))["review"] == 3

    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    assert set(recipients.values_list("state", flat=True)) == {RecipientState.REVIEW}
    report = campaign_reports.progress(campaign)
    assert (report["needs_review"], report["pending"]) == (3, 0)
    send_all(campaign)
    assert len(sandbox.state.messages()) == 3  # nothing resent


# --- Recurring schedules: editable in admin, each occurrence started by the beat tick -------


def _admin_schedule(admin_client, campaign, when, recurrence):
    local = timezone.localtime(when, IST)
    response = admin_client.post(
        reverse("admin:conversations_campaign_change", args=[campaign.pk]),
        {
            "name": campaign.name,
            "scheduled_at_0": local.strftime("%Y-%m-%d"),
            "scheduled_at_1": local.strftime("%H:%M:%S"),
            "recurrence": recurrence,
            "rate": "",
            "rate_unit": "messages",
            "reply_window_hours": 48,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors


def test_a_daily_series_edited_in_admin_starts_each_occurrence_on_the_tick(admin_client, enqueued):
    def at(day, hour, minute=0, second=0):
        return datetime(2026, 3, day, hour, minute, second, tzinfo=IST)

    def runs():
        return list(Campaign.objects.filter(series=series).order_by("id"))

    with time_machine.travel(at(1, 12), tick=False):
        series = notice(3, recurrence="daily", scheduled_at=at(2, 9))
        campaigns.start_campaign(series)
        assert (series.status, series.next_run_at) == (CampaignStatus.SCHEDULED, at(2, 9))
    with time_machine.travel(at(2, 8, 59, 50), tick=False):
        campaigns.tick()
        assert runs() == []
    with time_machine.travel(at(2, 9, 0, 5), tick=False):
        campaigns.tick()
        campaigns.tick()  # beat may tick twice: still one run
        assert [r.status for r in runs()] == [CampaignStatus.RUNNING]
        series.refresh_from_db()
        assert series.next_run_at == at(3, 9)

    with time_machine.travel(at(2, 12), tick=False):
        _admin_schedule(admin_client, series, at(2, 18), "daily")  # from today, 18:00
        series.refresh_from_db()
        assert series.next_run_at == at(2, 18)
        assert series.status == CampaignStatus.SCHEDULED
    with time_machine.travel(at(2, 18, 0, 5), tick=False):
        campaigns.tick()
        assert len(runs()) == 2
    with time_machine.travel(at(3, 9, 0, 5), tick=False):
        campaigns.tick()
        assert len(runs()) == 2  # the 09:00 slot is gone
    with time_machine.travel(at(3, 18, 0, 5), tick=False):
        campaigns.tick()
        assert len(runs()) == 3
    assert [r.recipients.count() for r in runs()] == [3, 3, 3]
    assert AuditLog.objects.filter(action="campaign_reschedule").count() == 1


def test_a_scheduled_one_off_moved_in_admin_starts_at_its_new_time(admin_client, enqueued):
    start = datetime(2026, 3, 2, 10, 0, tzinfo=IST)
    with time_machine.travel(start, tick=False):
        campaign = notice(2, scheduled_at=start + timedelta(hours=1))
        campaigns.start_campaign(campaign)
        _admin_schedule(admin_client, campaign, start + timedelta(hours=3), "")
    with time_machine.travel(start + timedelta(hours=1, seconds=5), tick=False):
        campaigns.tick()
        assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SCHEDULED
    with time_machine.travel(start + timedelta(hours=3, seconds=5), tick=False):
        campaigns.tick()
        assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING


def test_insert_rows_stores_what_the_orm_would_and_returns_the_new_ids():
    template = DltTemplateFactory(body=REMINDER)
    conversation = get_or_create_conversation("+919876543210")
    values = {
        "conversation_id": conversation.pk,
        "direction": Direction.OUTBOUND,
        "body": 'Hi "Asha", it\'s on 1/2 {x} \\ ok — ठीक है',
        "status": MessageStatus.QUEUED,
        "sid": "sid-insert-rows",
        "template_id": template.pk,
        "sms_units": 2,
        "price": Decimal("0.125000"),
        "variables": ["Asha", "1/2"],
        "sent_at": datetime(2026, 1, 15, 8, 45, tzinfo=IST),
    }
    ids = campaign_dispatch.insert_rows(Message, [values], returning="sid")
    stored = Message.objects.get(pk=ids["sid-insert-rows"])
    by_orm = Message.objects.create(**{**values, "sid": "sid-by-orm"})
    by_orm.refresh_from_db()
    skip = {"id", "sid", "created_at", "updated_at"}
    fields = [f.attname for f in Message._meta.concrete_fields if f.attname not in skip]
    assert {f: getattr(stored, f) for f in fields} == {f: getattr(by_orm, f) for f in fields}


def test_insert_rows_ignoring_conflicts_returns_only_the_rows_it_wrote():
    existing = get_or_create_conversation("+919876543210")
    rows = [{"phone_number": "+919876543210"}, {"phone_number": "+919876543211"}]
    ids = campaign_dispatch.insert_rows(
        type(existing), rows, ignore_conflicts=True, returning="phone_number"
    )
    assert list(ids) == ["+919876543211"]
    assert type(existing).objects.get(phone_number="+919876543211").pk == ids["+919876543211"]
