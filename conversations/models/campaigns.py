"""Bulk campaigns: the campaign, its batches and its recipients."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from .messaging import DltTemplate, Message, SmsType


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class PauseReason(models.TextChoices):
    NONE = "", "—"
    STAFF = "staff", "Paused by staff"
    WINDOW = "window", "Promotional: outside 10:00-21:00 IST"
    ERROR = "error", "Exotel refused the campaign's requests"
    TEMPLATE = "template", "The DLT template is no longer active"


class Recurrence(models.TextChoices):
    NONE = "", "Once"
    DAILY = "daily", "Every day"
    WEEKLY = "weekly", "Every week"
    MONTHLY = "monthly", "Every month"


class RateUnit(models.TextChoices):
    MESSAGES = "messages", "Messages per second"
    SEGMENTS = "segments", "SMS segments (units) per second"


class AudienceSource(models.TextChoices):
    CSV = "csv", "CSV upload"
    LIST = "list", "Pasted list"
    CONVERSATIONS = "conversations", "Existing conversations"
    API = "api", "API"
    COPY = "copy", "Copied from another campaign"
    RETARGET = "retarget", "Failed recipients of another campaign"


class Campaign(models.Model):
    """One send of a DLT template to many numbers; see the lifecycle above."""

    name = models.CharField(max_length=120)
    template = models.ForeignKey(
        DltTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns"
    )
    body = models.TextField(
        blank=True,
        max_length=2000,
        help_text="One text for everyone (it must fill the template). Leave blank to fill the "
        "template per recipient from the variables.",
    )
    variables = models.JSONField(
        default=list,
        blank=True,
        help_text='One value per {#var#} slot; "{column}" takes it from the recipient\'s row, '
        'e.g. ["{name}", "{date}", "3 PM"]. Empty: the row\'s extra columns in order.',
    )
    sms_type = models.CharField(max_length=24, choices=SmsType.choices, blank=True)
    audience_source = models.CharField(max_length=16, choices=AudienceSource.choices, blank=True)
    audience_filter = models.JSONField(default=dict, blank=True)
    rate = models.FloatField(
        null=True,
        blank=True,
        help_text="How fast to send, across all workers together, in the unit below. "
        "Blank: as fast as Exotel allows.",
    )
    rate_unit = models.CharField(
        max_length=8,
        choices=RateUnit.choices,
        default=RateUnit.MESSAGES,
        help_text="What the rate counts. Segments: a message of 3 SMS parts costs 3 (Exotel "
        "bills and may throttle by parts), so long or Unicode messages go slower.",
    )
    status = models.CharField(
        max_length=12, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    pause_reason = models.CharField(
        max_length=12, choices=PauseReason.choices, default=PauseReason.NONE, blank=True
    )
    resume_at = models.DateTimeField(null=True, blank=True)
    scheduled_at = models.DateTimeField(
        null=True, blank=True, help_text="When to start (IST). Blank: when started."
    )
    recurrence = models.CharField(
        max_length=8, choices=Recurrence.choices, default=Recurrence.NONE, blank=True
    )
    next_run_at = models.DateTimeField(null=True, blank=True)
    series = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        help_text="The recurring campaign this run belongs to.",
    )
    source_campaign = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="copies",
        help_text="Duplicated or re-targeted from.",
    )
    reply_window_hours = models.PositiveIntegerField(
        default=48, help_text="An inbound SMS this long after a campaign message is its reply."
    )
    # Dispatcher state: shared by every worker through this row.
    generation = models.PositiveIntegerField(default=0)
    throttled_until = models.DateTimeField(null=True, blank=True)
    throttle_count = models.PositiveIntegerField(default=0)
    rate_factor = models.FloatField(default=1.0)
    rate_tat = models.FloatField(default=0.0)
    last_dispatch_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    duplicates_merged = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(rate__isnull=True) | Q(rate__gt=0), name="campaign_rate_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_at"], name="campaign_status_idx"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_promotional(self):
        return self.sms_type == SmsType.PROMOTIONAL


class RecipientState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Accepted by Exotel"
    FAILED = "failed", "Refused by Exotel"
    SKIPPED = "skipped", "Skipped"
    UNKNOWN = "unknown", "Outcome unknown"
    REVIEW = "review", "Outcome unknown: needs review"
    CANCELLED = "cancelled", "Cancelled"


class SkipReason(models.TextChoices):
    INVALID = "invalid", "Invalid number"
    OPTED_OUT = "opted_out", "Opted out"
    BAD_VARIABLES = "bad_variables", "Does not fill the DLT template"


class CampaignBatch(models.Model):
    """One Exotel bulk request of a campaign (at most 100 numbers)."""

    class State(models.TextChoices):
        SENDING = "sending", "Sending"
        DONE = "done", "Answered"
        RELEASED = "released", "Refused before sending; recipients retried"
        UNKNOWN = "unknown", "Worker stopped mid-request"

    class Kind(models.TextChoices):
        STATIC = "static", "Static (one body)"
        DYNAMIC = "dynamic", "Dynamic (a body each)"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="batches")
    state = models.CharField(max_length=10, choices=State.choices, default=State.SENDING)
    kind = models.CharField(max_length=8, choices=Kind.choices, blank=True)
    size = models.PositiveSmallIntegerField(default=0)
    accepted = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=120, blank=True)
    claimed_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-claimed_at", "-id"]
        verbose_name_plural = "campaign batches"
        indexes = [
            models.Index(
                fields=["campaign", "claimed_at"],
                condition=Q(state="sending"),
                name="campaignbatch_inflight_idx",
            ),
        ]

    def __str__(self):
        return f"batch {self.pk} of {self.campaign_id} ({self.state}, {self.size})"


class CampaignRecipient(models.Model):
    """One number of a campaign: what to send it, and what happened."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    # E.164; for an invalid number, the text as given (so it can be listed with its reason).
    phone_number = models.CharField(max_length=40)
    name = models.CharField(max_length=120, blank=True)
    variables = models.JSONField(default=list, blank=True)
    row_number = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(
        max_length=10, choices=RecipientState.choices, default=RecipientState.PENDING
    )
    reason = models.CharField(max_length=16, choices=SkipReason.choices, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    segments = models.PositiveSmallIntegerField(default=1)
    batch = models.ForeignKey(
        CampaignBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="recipients"
    )
    message = models.OneToOneField(
        Message,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaign_recipient",
    )
    reply_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replied_at = models.DateTimeField(null=True, blank=True)
    answer = models.CharField(max_length=24, blank=True)
    reply_count = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["campaign", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "phone_number"], name="campaignrecipient_one_per_number"
            ),
            models.CheckConstraint(
                condition=Q(state__in=RecipientState.values), name="campaignrecipient_state_valid"
            ),
        ]
        indexes = [
            # The dispatcher's claim: the next pending rows of a campaign, in order.
            models.Index(fields=["campaign", "state", "id"], name="campaignrecipient_claim_idx"),
            # The beat tick's look for outcomes still unknown (few rows, every tick).
            models.Index(
                fields=["id"], condition=Q(state="unknown"), name="campaignrecipient_unknown_idx"
            ),
        ]

    def __str__(self):
        return f"{self.phone_number} ({self.get_state_display()})"
