"""Campaigns: create, start, pause, resume, cancel, duplicate, re-target; the beat tick; replies.

The lifecycle is in `conversations.models` (Campaign). Each state change is one conditional
UPDATE guarded by the current status, so two staff members (or staff and the beat tick) acting
at once cannot both win, and each change is written to the audit log. Sending itself is in
`campaign_dispatch`; who the recipients are, in `campaign_audience`; numbers and charts, in
`campaign_reports`.
"""

import logging
import re
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from smsdesk.celery import enqueue_on_commit

from ..models import (
    AudienceSource,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Direction,
    DltTemplate,
    Message,
    MessageSource,
    MessageStatus,
    OptOut,
    PauseReason,
    RateUnit,
    RecipientState,
    Recurrence,
    SkipReason,
)
from . import campaign_audience, campaign_callbacks, campaign_dispatch, dlt
from .audit import record_action
from .schedule import next_promotional_window
from .sending import SendRefused, prepare_body

logger = logging.getLogger(__name__)

STARTABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
CANCELLABLE = (
    CampaignStatus.DRAFT,
    CampaignStatus.SCHEDULED,
    CampaignStatus.RUNNING,
    CampaignStatus.PAUSED,
)


def _audit(action, campaign, user=None, request=None, **detail):
    """One audit entry per lifecycle action (the system's own, e.g. the promotional window,
    have no actor)."""
    record_action(
        action,
        actor=user if getattr(user, "is_authenticated", False) else None,
        target=f"campaign {campaign.pk}: {campaign.name}",
        request=request,
        **detail,
    )


# --- Content -----------------------------------------------------------------------------


def configure_content(campaign) -> Campaign:
    """Resolve and check what the campaign sends (raises SendRefused with the field and why).

    One body for everyone must fill an active DLT template; otherwise the template is filled
    per recipient and the variables spec, if given, must have one entry per slot.
    """
    if campaign.body:
        prepared = prepare_body(campaign.body, template=campaign.template or None)
        campaign.template, campaign.body = prepared.template, prepared.body
    elif campaign.template is None:
        raise SendRefused(
            "Choose a DLT template or write the message.", code="required", field="template"
        )
    elif not campaign.template.active:
        raise SendRefused(
            f"The DLT template {campaign.template} is not active.",
            code="inactive_template",
            field="template",
        )
    slots = dlt.slot_count(campaign.template.body)
    if not campaign.body and campaign.variables and len(campaign.variables) != slots:
        raise SendRefused(
            f"The template has {slots} variable(s); {len(campaign.variables)} given.",
            code="bad_variables",
            field="variables",
        )
    campaign.sms_type = campaign.template.sms_type
    return campaign


def create_campaign(
    name,
    *,
    template=None,
    body="",
    variables=None,
    rate=None,
    rate_unit=RateUnit.MESSAGES,
    scheduled_at=None,
    recurrence=Recurrence.NONE,
    reply_window_hours=None,
    audience_source="",
    user=None,
) -> Campaign:
    """A draft campaign whose content is checked; add recipients, then start it."""
    if isinstance(template, str | int):
        found = DltTemplate.objects.filter(template_id=str(template).strip(), active=True).first()
        if found is None:
            raise SendRefused(
                f"No active DLT template has the id {template}.",
                code="unknown_template",
                field="dlt_template_id",
            )
        template = found
    if rate is not None and rate <= 0:
        raise SendRefused("The rate must be above 0.", code="invalid", field="rate")
    campaign = Campaign(
        name=name or "Campaign",
        template=template,
        body=body or "",
        variables=list(variables or []),
        rate=rate,
        rate_unit=rate_unit or RateUnit.MESSAGES,
        scheduled_at=scheduled_at,
        recurrence=recurrence or Recurrence.NONE,
        reply_window_hours=reply_window_hours or settings.CAMPAIGN_REPLY_WINDOW_HOURS,
        audience_source=audience_source,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    configure_content(campaign)
    campaign.save()
    return campaign


# --- Lifecycle ---------------------------------------------------------------------------


def exclude_opted_out(campaign) -> int:
    """Pending recipients who opted out since the import become skipped (opted out)."""
    opted_out = OptOut.objects.filter(revoked_at__isnull=True).values("phone_number")
    return CampaignRecipient.objects.filter(
        campaign=campaign, state=RecipientState.PENDING, phone_number__in=opted_out
    ).update(
        state=RecipientState.SKIPPED,
        reason=SkipReason.OPTED_OUT,
        detail="Opted out before the start.",
    )


def start_campaign(campaign, *, user=None, request=None) -> Campaign:
    """Draft -> running (or scheduled, for a later time or a recurring series)."""
    if campaign.status not in STARTABLE:
        raise SendRefused(
            f"A {campaign.get_status_display().lower()} campaign cannot be started.",
            code="invalid_state",
            field="status",
        )
    configure_content(campaign)
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(
            template=campaign.template, body=campaign.body, sms_type=campaign.sms_type
        )
        exclude_opted_out(campaign)
        now = timezone.now()
        if campaign.recurrence:
            _schedule_series(campaign, now)
        elif campaign.scheduled_at and campaign.scheduled_at > now:
            _set_status(campaign, STARTABLE, status=CampaignStatus.SCHEDULED)
        else:
            _run_now(campaign, STARTABLE)
        _audit("campaign_start", campaign, user, request, status=campaign.status)
    campaign.refresh_from_db()
    return campaign


def _set_status(campaign, from_statuses, **changes) -> bool:
    changed = Campaign.objects.filter(pk=campaign.pk, status__in=from_statuses).update(
        **changes, updated_at=timezone.now()
    )
    if changed:
        for name, value in changes.items():
            if not hasattr(value, "resolve_expression"):
                setattr(campaign, name, value)
    return bool(changed)


def _run_now(campaign, from_statuses) -> bool:
    now = timezone.now()
    if not _set_status(
        campaign,
        from_statuses,
        status=CampaignStatus.RUNNING,
        started_at=campaign.started_at or now,
        pause_reason=PauseReason.NONE,
        resume_at=None,
    ):
        return False
    kick(campaign)
    return True


def kick(campaign) -> int:
    """Start a fresh set of dispatchers; older ones see the new generation and stop."""
    from ..tasks import dispatch_campaign_task

    Campaign.objects.filter(pk=campaign.pk).update(
        generation=F("generation") + 1, last_dispatch_at=timezone.now()
    )
    generation = Campaign.objects.values_list("generation", flat=True).get(pk=campaign.pk)
    campaign.generation = generation
    for _ in range(settings.CAMPAIGN_DISPATCHERS):
        enqueue_on_commit(dispatch_campaign_task, campaign.pk, generation)
    return generation


def pause_campaign(
    campaign, *, reason=PauseReason.STAFF, resume_at=None, error="", user=None, request=None
):
    """Running -> paused; batches already in flight finish, no new one is claimed."""
    paused = _set_status(
        campaign,
        (CampaignStatus.RUNNING,),
        status=CampaignStatus.PAUSED,
        pause_reason=reason,
        resume_at=resume_at,
        last_error=error[:255] if error else campaign.last_error,
    )
    if paused:
        _audit("campaign_pause", campaign, user, request, reason=reason, error=error[:255])
    return paused


def resume_campaign(campaign, *, user=None, request=None) -> bool:
    """Paused -> running. A promotional campaign outside 10:00-21:00 IST waits for the window."""
    if campaign.is_promotional and (window := next_promotional_window()):
        _set_status(
            campaign, (CampaignStatus.PAUSED,), pause_reason=PauseReason.WINDOW, resume_at=window
        )
        return False
    with transaction.atomic():
        resumed = _set_status(
            campaign,
            (CampaignStatus.PAUSED,),
            status=CampaignStatus.RUNNING,
            pause_reason=PauseReason.NONE,
            resume_at=None,
            throttled_until=None,
            throttle_count=0,
            last_error="",
        )
        if resumed:
            kick(campaign)
            _audit("campaign_resume", campaign, user, request)
    return resumed


def cancel_campaign(campaign, *, user=None, request=None) -> int:
    """Stop for good: recipients not yet claimed are cancelled. Returns how many."""
    with transaction.atomic():
        if not _set_status(
            campaign, CANCELLABLE, status=CampaignStatus.CANCELLED, finished_at=timezone.now()
        ):
            return 0
        cancelled = CampaignRecipient.objects.filter(
            campaign=campaign, state=RecipientState.PENDING
        ).update(state=RecipientState.CANCELLED)
        _audit("campaign_cancel", campaign, user, request, cancelled=cancelled)
    return cancelled


def complete_campaign(campaign_id) -> bool:
    campaign = Campaign.objects.get(pk=campaign_id)
    done = _set_status(
        campaign,
        (CampaignStatus.RUNNING,),
        status=CampaignStatus.COMPLETED,
        finished_at=timezone.now(),
    )
    if done:
        _audit("campaign_complete", campaign)
    return done


# --- Copies ------------------------------------------------------------------------------


def _copy(campaign, *, name, user, source):
    return create_campaign(
        name,
        template=campaign.template,
        body=campaign.body,
        variables=campaign.variables,
        rate=campaign.rate,
        rate_unit=campaign.rate_unit,
        reply_window_hours=campaign.reply_window_hours,
        audience_source=source,
        user=user,
    )


def duplicate_campaign(campaign, *, user=None, request=None) -> Campaign:
    """A new draft with the same content, settings and recipients (re-checked)."""
    with transaction.atomic():
        copy = _copy(
            campaign, name=f"{campaign.name} (copy)"[:120], user=user, source=AudienceSource.COPY
        )
        copy.source_campaign, copy.audience_filter = campaign, campaign.audience_filter
        copy.save(update_fields=["source_campaign", "audience_filter"])
        campaign_audience.copy_recipients(campaign.recipients.all(), copy)
        _audit("campaign_duplicate", campaign, user, request, copy=copy.pk)
    return copy


def failed_recipients(campaign):
    """Recipients Exotel refused, or whose message failed (not DND: it would fail again)."""
    return campaign.recipients.filter(
        Q(state=RecipientState.FAILED) | Q(message__status=MessageStatus.FAILED)
    )


def retarget_failed(campaign, *, user=None, request=None) -> Campaign:
    """The failed recipients as a new draft campaign (start it after a look at the preflight)."""
    with transaction.atomic():
        copy = _copy(
            campaign,
            name=f"{campaign.name} (failed retry)"[:120],
            user=user,
            source=AudienceSource.RETARGET,
        )
        copy.source_campaign = campaign
        copy.save(update_fields=["source_campaign"])
        campaign_audience.copy_recipients(failed_recipients(campaign), copy)
        _audit("campaign_retarget", campaign, user, request, copy=copy.pk)
    return copy


# --- Recurring series --------------------------------------------------------------------


def next_occurrence(when, recurrence):
    if recurrence == Recurrence.DAILY:
        return when + timedelta(days=1)
    if recurrence == Recurrence.WEEKLY:
        return when + timedelta(weeks=1)
    if recurrence == Recurrence.MONTHLY:
        local = timezone.localtime(when)
        month = local.month % 12 + 1
        year = local.year + (local.month == 12)
        day = min(local.day, 28)
        return local.replace(year=year, month=month, day=day)
    return None


def _schedule_series(campaign, now):
    first = campaign.scheduled_at or now
    _set_status(campaign, STARTABLE, status=CampaignStatus.SCHEDULED, next_run_at=first)


def reschedule_campaign(campaign, *, user=None, request=None, now=None) -> Campaign:
    """A scheduled campaign's time or recurrence was edited (admin): the tick follows the new
    schedule. A series' next run is its first occurrence from `scheduled_at` not yet past."""
    now = now or timezone.now()
    campaign.refresh_from_db()
    if campaign.status != CampaignStatus.SCHEDULED:
        return campaign
    if campaign.recurrence:
        following = campaign.scheduled_at or campaign.next_run_at or now
        while following < now:
            following = next_occurrence(following, campaign.recurrence)
    else:
        following = None  # a one-off starts at `scheduled_at`
    _set_status(campaign, (CampaignStatus.SCHEDULED,), next_run_at=following)
    _audit(
        "campaign_reschedule",
        campaign,
        user,
        request,
        scheduled_at=campaign.scheduled_at.isoformat() if campaign.scheduled_at else None,
        recurrence=campaign.recurrence,
        next_run_at=following.isoformat() if following else None,
    )
    return campaign


def spawn_run(series, now=None) -> Campaign | None:
    """One run of a recurring campaign: a copy with a fresh audience, started now."""
    now = now or timezone.now()
    following = next_occurrence(series.next_run_at or now, series.recurrence)
    while following is not None and following <= now:
        following = next_occurrence(following, series.recurrence)
    moved = Campaign.objects.filter(
        pk=series.pk, status=CampaignStatus.SCHEDULED, next_run_at=series.next_run_at
    ).update(next_run_at=following)
    if not moved:
        return None
    run_name = f"{series.name} — {timezone.localtime(now):%d %b %Y %H:%M}"[:120]
    with transaction.atomic():
        run = _copy(series, name=run_name, user=series.created_by, source=series.audience_source)
        Campaign.objects.filter(pk=run.pk).update(series=series)
        if series.audience_source == AudienceSource.CONVERSATIONS:
            campaign_audience.import_conversations(run, series.audience_filter)
        else:
            campaign_audience.copy_recipients(series.recipients.all(), run)
        run.refresh_from_db()
        start_campaign(run, user=series.created_by)
    return run


# --- The beat tick -----------------------------------------------------------------------


def tick(now=None) -> dict:
    """Everything time-driven, run by beat every few seconds (safe to run anywhere, twice):
    start scheduled campaigns, spawn recurring runs, resume promotional campaigns when the
    window opens, expire batches of dead workers, mark messages whose outcome stayed unknown
    for review, and restart dispatchers that stopped."""
    now = now or timezone.now()
    done = {"started": 0, "runs": 0, "resumed": 0, "expired": 0, "kicked": 0}
    done["expired"] = campaign_dispatch.recover_stale_batches()
    done["review"] = campaign_callbacks.mark_unknown_for_review(now)
    done["kicked"] = _kick_stalled(now)
    due = Campaign.objects.filter(
        status=CampaignStatus.SCHEDULED, recurrence=Recurrence.NONE, scheduled_at__lte=now
    )
    for campaign in due:
        with transaction.atomic():
            done["started"] += _run_now(campaign, (CampaignStatus.SCHEDULED,))
    series = Campaign.objects.filter(status=CampaignStatus.SCHEDULED, next_run_at__lte=now)
    for campaign in series.exclude(recurrence=Recurrence.NONE):
        done["runs"] += spawn_run(campaign, now) is not None
    windows = Campaign.objects.filter(
        status=CampaignStatus.PAUSED, pause_reason=PauseReason.WINDOW, resume_at__lte=now
    )
    for campaign in windows:
        done["resumed"] += resume_campaign(campaign)
    return done


def _kick_stalled(now) -> int:
    """Running campaigns whose dispatchers all died (a killed worker, a lost task)."""
    cutoff = now - timedelta(seconds=settings.CAMPAIGN_STALL_SECONDS)
    stalled = Campaign.objects.filter(status=CampaignStatus.RUNNING).filter(
        Q(last_dispatch_at__lt=cutoff) | Q(last_dispatch_at__isnull=True)
    )
    kicked = 0
    for campaign in stalled:
        if campaign.throttled_until and campaign.throttled_until > now:
            continue
        with transaction.atomic():
            kick(campaign)
        kicked += 1
    return kicked


# --- Replies -----------------------------------------------------------------------------

_NOT_WORD = re.compile(r"[^\w]+")
ANSWER_SYNONYMS = {
    "Y": "YES",
    "YEAH": "YES",
    "YA": "YES",
    "HAAN": "YES",
    "HAN": "YES",
    "HA": "YES",
    "N": "NO",
    "NAHI": "NO",
    "NAHIN": "NO",
    "NA": "NO",
}


def normalise_answer(body) -> str:
    """The first word of a reply, upper-case, without punctuation or emoji: "yes!" -> "YES",
    "2 please" -> "2". Common Hinglish yes/no are folded into YES/NO."""
    text = unicodedata.normalize("NFKC", body or "").strip().upper()
    words = [w for w in _NOT_WORD.split(text) if w]
    if not words:
        return ""
    word = words[0][:24]
    return ANSWER_SYNONYMS.get(word, word)


def link_inbound_reply(message) -> CampaignRecipient | None:
    """Link an inbound SMS to the campaign message it answers, if one was sent to the same
    number within that campaign's reply window. Idempotent (a replayed SMS counts once).

    The inbound pipeline calls this once per new inbound message.
    """
    if message.direction != Direction.INBOUND or message.campaign_id:
        return None
    sent = (
        Message.objects.filter(
            conversation_id=message.conversation_id,
            direction=Direction.OUTBOUND,
            source=MessageSource.CAMPAIGN,
            campaign__isnull=False,
            created_at__lte=message.created_at,
        )
        .select_related("campaign")
        .order_by("-created_at", "-id")
        .first()
    )
    if sent is None:
        return None
    window = timedelta(hours=sent.campaign.reply_window_hours)
    if message.created_at - sent.created_at > window:
        return None
    recipient = CampaignRecipient.objects.filter(message=sent).first()
    if recipient is None:
        return None
    with transaction.atomic():
        if not Message.objects.filter(pk=message.pk, campaign__isnull=True).update(
            campaign=sent.campaign
        ):
            return None
        first = CampaignRecipient.objects.filter(pk=recipient.pk, replied_at__isnull=True).update(
            replied_at=message.created_at,
            reply_message=message,
            answer=normalise_answer(message.body),
            reply_count=1,
        )
        if not first:
            CampaignRecipient.objects.filter(pk=recipient.pk).update(
                reply_count=F("reply_count") + 1
            )
    recipient.refresh_from_db()
    return recipient
