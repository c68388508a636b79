"""Campaigns end to end: real `celery -A smsdesk worker` processes on the configured broker,
the sandbox as Exotel (a real HTTP server), the app on a live server for status callbacks.

The promotional-window test runs the dispatcher in the test process instead, because time
travel cannot reach into another process.
"""

import os
import signal
import time
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conversations.models import (
    Campaign,
    CampaignBatch,
    CampaignRecipient,
    CampaignStatus,
    Message,
    MessageStatus,
    PauseReason,
    RecipientState,
    SmsType,
)
from conversations.services import campaign_dispatch, campaigns
from conversations.services.campaign_audience import import_pasted
from conversations.services.campaign_reports import progress
from exotel_client.sandbox import Fault, SandboxServer

from .conftest import wait_until
from .factories import DltTemplateFactory, OptOutFactory

IST = ZoneInfo("Asia/Kolkata")
REMINDER = "Hi {#var#}, your appointment is on {#var#}. Reply YES to confirm or NO to cancel."
OFFER = "Big sale on {#var#}! Visit our store today."
WORKER_ENV = {
    "CAMPAIGN_BATCH_LEASE_SECONDS": 3,
    "CAMPAIGN_STALL_SECONDS": 2,
    "CAMPAIGN_DISPATCH_SLICE_SECONDS": 5,
}


def numbers(count, start=0):
    return [f"+9198765{n:05d}" for n in range(start, start + count)]


@pytest.fixture
def callback_delay():
    """Seconds until the sandbox's status callbacks (0: at once)."""
    return 0.0


@pytest.fixture
def sandbox(settings, live_server, callback_delay):
    with SandboxServer(callback_delay=callback_delay) as server:
        settings.EXOTEL_BASE_URL = server.base_url
        settings.PUBLIC_BASE_URL = live_server.url
        for name, value in WORKER_ENV.items():
            setattr(settings, name, value)
        yield server


@pytest.fixture
def start_worker(worker_process, sandbox, live_server):
    def start():
        return worker_process(
            EXOTEL_BASE_URL=sandbox.base_url, PUBLIC_BASE_URL=live_server.url, **WORKER_ENV
        )

    return start


def reminder_campaign(count, *, rate=None, start=0):
    template = DltTemplateFactory(body=REMINDER)
    campaign = campaigns.create_campaign("Reminders", template=template, rate=rate)
    rows = "\n".join(f"{n},Guest {i},{i % 28 + 1} Feb" for i, n in enumerate(numbers(count, start)))
    import_pasted(campaign, rows)
    return campaign


def sent_numbers(sandbox):
    with sandbox.state.lock:
        return [m.to for m in sandbox.state.messages()]


def bulk_requests(sandbox):
    return [r for r in sandbox.state.requests() if r["method"] == "POST"]


def status_of(campaign):
    return Campaign.objects.values_list("status", flat=True).get(pk=campaign.pk)


def assert_exactly_one_message_per_recipient(campaign):
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    assert not recipients.filter(state=RecipientState.SENDING).exists()
    messages = Message.objects.filter(campaign=campaign, direction="outbound")
    per_number = Counter(messages.values_list("conversation__phone_number", flat=True))
    assert set(per_number.values()) == {1}
    attempted = recipients.exclude(state__in=(RecipientState.SKIPPED, RecipientState.CANCELLED))
    assert sorted(per_number) == sorted(attempted.values_list("phone_number", flat=True))


@pytest.mark.worker
def test_250_recipients_one_opted_out_one_invalid_go_in_3_bulk_requests(
    start_worker, sandbox, staff_api
):
    start_worker()
    DltTemplateFactory(body=REMINDER, template_id="1107000000000000250")
    phones = numbers(249)
    OptOutFactory(phone_number=phones[7])
    recipients = [{"to": p, "variables": [f"Guest {i}", "20 Jan"]} for i, p in enumerate(phones)]
    recipients.insert(100, {"to": "12345", "variables": ["Nobody", "20 Jan"]})

    response = staff_api.post(
        "/api/sms/bulk",
        {"recipients": recipients, "dlt_template_id": "1107000000000000250"},
        format="json",
    )

    assert response.status_code == 202, response.json()
    answer = response.json()
    assert (answer["total"], answer["sent"], answer["failed"]) == (250, 248, 2)
    refused = {r["to"]: r["code"] for r in answer["results"] if not r["success"]}
    assert refused == {phones[7]: "opted_out", "12345": "invalid"}
    assert all(r["success"] for r in answer["results"] if r["to"] not in refused)
    campaign = Campaign.objects.get(pk=answer["campaign"]["id"])
    wait_until(lambda: status_of(campaign) == CampaignStatus.COMPLETED, what="completion")

    requests = bulk_requests(sandbox)
    assert [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in requests] == [
        ("bulksend.json", 200)
    ] * 3
    sizes = sorted(CampaignBatch.objects.filter(campaign=campaign).values_list("size", flat=True))
    assert sizes == [48, 100, 100]
    assert sorted(sent_numbers(sandbox)) == sorted("0" + p[3:] for p in phones if p != phones[7])
    assert Message.objects.filter(campaign=campaign, sid__isnull=False).count() == 248
    assert_exactly_one_message_per_recipient(campaign)
    wait_until(lambda: progress(campaign)["delivered"] == 248, what="248 delivered callbacks")
    report = progress(campaign)
    assert (report["sent"], report["skipped"], report["failed"], report["pending"]) == (
        248,
        2,
        0,
        0,
    )
    assert report["skip_reasons"] == {"opted_out": 1, "invalid": 1}
    detail = staff_api.get(f"/api/campaigns/{campaign.pk}").json()
    assert (detail["status"], detail["total"], detail["delivered"]) == ("completed", 250, 248)


@pytest.mark.worker
def test_pause_takes_effect_within_one_batch_and_resume_finishes_the_rest(
    start_worker, sandbox, staff_api
):
    campaign = reminder_campaign(400, rate=100)
    start_worker()
    campaigns.start_campaign(campaign)
    wait_until(lambda: len(sent_numbers(sandbox)) >= 100, what="the first batch")

    assert staff_api.post(f"/api/campaigns/{campaign.pk}/pause").json()["status"] == "paused"
    at_pause = len(sent_numbers(sandbox))
    time.sleep(2.5)

    after_pause = len(sent_numbers(sandbox))
    assert after_pause <= at_pause + 100  # at most the batch already in flight
    assert after_pause < 400
    time.sleep(1.5)
    assert len(sent_numbers(sandbox)) == after_pause

    assert staff_api.post(f"/api/campaigns/{campaign.pk}/resume").json()["status"] == "running"
    wait_until(lambda: status_of(campaign) == CampaignStatus.COMPLETED, what="completion")
    assert sorted(sent_numbers(sandbox)) == sorted("0" + p[3:] for p in numbers(400))
    assert_exactly_one_message_per_recipient(campaign)


@pytest.mark.worker
def test_cancel_stops_sending_and_cancels_the_rest(start_worker, sandbox, staff_api):
    campaign = reminder_campaign(400, rate=100)
    start_worker()
    campaigns.start_campaign(campaign)
    wait_until(lambda: len(sent_numbers(sandbox)) >= 100, what="the first batch")

    assert staff_api.post(f"/api/campaigns/{campaign.pk}/cancel").json()["status"] == "cancelled"
    time.sleep(2.5)

    sent = len(sent_numbers(sandbox))
    assert 100 <= sent < 400
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    wait_until(
        lambda: not recipients.filter(state=RecipientState.SENDING).exists(), what="in-flight"
    )
    assert recipients.filter(state=RecipientState.SENT).count() == sent
    assert recipients.filter(state=RecipientState.CANCELLED).count() == 400 - sent
    assert Message.objects.filter(campaign=campaign).count() == sent
    time.sleep(1.0)
    assert len(sent_numbers(sandbox)) == sent
    assert status_of(campaign) == CampaignStatus.CANCELLED


@pytest.mark.worker
def test_sigkill_mid_request_then_a_new_worker_sends_everyone_exactly_once(start_worker, sandbox):
    campaign = reminder_campaign(500, rate=100)
    first = start_worker()
    campaigns.start_campaign(campaign)
    wait_until(lambda: len(bulk_requests(sandbox)) >= 1, what="the first bulk request")
    # The next request is held by "Exotel" for 4 s; the worker dies while waiting for it.
    sandbox.add_fault(Fault(delay=4.0))
    wait_until(
        lambda: CampaignBatch.objects.filter(campaign=campaign).count() >= 2
        and CampaignRecipient.objects.filter(
            campaign=campaign, state=RecipientState.SENDING
        ).exists(),
        what="a batch in flight",
    )
    time.sleep(0.5)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)

    start_worker()

    def finished():
        campaigns.tick()  # what beat does every few seconds
        return status_of(campaign) == CampaignStatus.COMPLETED

    wait_until(finished, timeout=60, what="completion after the crash")
    assert_exactly_one_message_per_recipient(campaign)
    sent = Counter(sent_numbers(sandbox))
    assert set(sent.values()) == {1}, "a number was sent twice"
    # The batch in flight when the worker died was declared unknown, never resent ...
    lost = CampaignBatch.objects.get(campaign=campaign, state=CampaignBatch.State.UNKNOWN)
    assert 1 <= lost.size <= 100
    # ... and Exotel's status callbacks (CustomField names the batch) found its messages again.
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    wait_until(
        lambda: recipients.filter(state=RecipientState.SENT).count() == 500,
        what="callbacks linking the unknown batch",
    )
    linked = Message.objects.filter(campaign_recipient__batch=lost)
    assert linked.count() == lost.size
    assert all(linked.values_list("sid", flat=True))
    wait_until(
        lambda: set(linked.values_list("status", flat=True)) == {MessageStatus.DELIVERED},
        what="the linked messages delivered",
    )
    assert_exactly_one_message_per_recipient(campaign)


@pytest.mark.worker
# No status callbacks meanwhile: the workers' slots are the dispatchers' alone, so what is
# measured is the pacing (callbacks queue webhook tasks on the same solo workers).
@pytest.mark.parametrize("callback_delay", [3600.0])
def test_the_rate_holds_across_two_workers(start_worker, sandbox):
    rate = 25
    campaign = reminder_campaign(250, rate=rate)
    start_worker()
    start_worker()
    time.sleep(3)  # both workers up before the first batch
    campaigns.start_campaign(campaign)

    wait_until(lambda: status_of(campaign) == CampaignStatus.COMPLETED, timeout=60, what="done")

    requests = [r for r in bulk_requests(sandbox) if r["status"] == 200]
    sizes = list(
        CampaignBatch.objects.filter(campaign=campaign)
        .order_by("claimed_at")
        .values_list("size", flat=True)
    )
    assert sum(sizes) == 250 and len(requests) == len(sizes)
    span = requests[-1]["at"] - requests[0]["at"]
    measured = (250 - sizes[-1]) / span
    assert abs(measured - rate) <= 0.1 * rate, f"{measured:.2f} msg/s for a rate of {rate}"
    workers = set(CampaignBatch.objects.filter(campaign=campaign).values_list("worker", flat=True))
    assert len(workers) == 2, "both workers should have sent batches"


# --- Promotional window: the dispatcher in this process, so time can travel -----------------


@pytest.fixture
def quiet_sandbox(settings, db):
    with SandboxServer(callback_delay=3600) as server:
        settings.EXOTEL_BASE_URL = server.base_url
        yield server


def test_promotional_campaign_started_at_2059_pauses_at_21_and_resumes_at_10(
    quiet_sandbox, monkeypatch, settings
):
    settings.CAMPAIGN_DISPATCHERS = 1
    kicked = []  # dispatcher tasks enqueued (the test plays the worker)
    monkeypatch.setattr(campaigns, "enqueue_on_commit", lambda task, pk, gen: kicked.append(pk))
    template = DltTemplateFactory(body=OFFER, sms_type=SmsType.PROMOTIONAL, sender_id="123456")
    campaign = campaigns.create_campaign("Sale", template=template, rate=None)
    import_pasted(campaign, "\n".join(f"{n},shoes" for n in numbers(300)))
    monkeypatch.setattr(campaign_dispatch, "batch_size", lambda campaign, *_: 100)

    with time_machine.travel(datetime(2026, 3, 2, 20, 59, 0, tzinfo=IST), tick=False):
        campaigns.start_campaign(campaign)
        assert kicked == [campaign.pk]
        claimed = campaign_dispatch.claim_batch(campaign.pk, 100)
        campaign_dispatch.send_batch(claimed)
    assert len(quiet_sandbox.state.messages()) == 100

    with time_machine.travel(datetime(2026, 3, 2, 21, 0, 0, tzinfo=IST), tick=False):
        assert campaign_dispatch.run(campaign.pk, budget=5) is None
    campaign.refresh_from_db()
    assert (campaign.status, campaign.pause_reason) == (CampaignStatus.PAUSED, PauseReason.WINDOW)
    assert campaign.resume_at == datetime(2026, 3, 3, 10, 0, tzinfo=IST)
    assert len(quiet_sandbox.state.messages()) == 100

    with time_machine.travel(datetime(2026, 3, 3, 9, 59, 50, tzinfo=IST), tick=False):
        campaigns.tick()
        assert status_of(campaign) == CampaignStatus.PAUSED
    with time_machine.travel(datetime(2026, 3, 3, 10, 0, 5, tzinfo=IST), tick=False):
        campaigns.tick()
        assert status_of(campaign) == CampaignStatus.RUNNING
        assert campaign_dispatch.run(campaign.pk, budget=30) is None

    assert status_of(campaign) == CampaignStatus.COMPLETED
    assert len(quiet_sandbox.state.messages()) == 300
    assert kicked == [campaign.pk, campaign.pk]
    assert_exactly_one_message_per_recipient(campaign)
