"""SMS from calls (issue 9): Exotel call flows call us through a Passthru applet (seed 003).

A `CallEvent` is one stage of one call as Exotel reported it: a call calls the Passthru URL at
each stage it passes (`call-attempt` while in the IVR, then `completed`, `incomplete`, ...), and
may call twice for the same stage, so (CallSid, CallType) is unique and a repeat stores nothing.

A `CallRule` says which calls send which DLT template, with variables taken from the call. A
`CallRuleSend` records that a rule ran for a call (the SMS it queued, or why none was): unique
per (rule, CallSid), so a rule sends at most one SMS per call, whatever Exotel repeats.
"""

from django.db import models
from django.db.models import Q

from ..fields import PhoneNumberField
from .messaging import Conversation, DltTemplate, Message


class CallType(models.TextChoices):
    """Exotel's `CallType` in a Passthru request (shared/EXOTEL_NOTES.md, "Call flows")."""

    CALL_ATTEMPT = "call-attempt", "Call attempt (IVR only, no agent)"
    COMPLETED = "completed", "Completed"
    CLIENT_HANGUP = "client-hangup", "Caller hung up"
    INCOMPLETE = "incomplete", "Incomplete (no agent answered)"
    VOICEMAIL = "voicemail", "Voicemail"


MISSED = "missed"
MISSED_CALL_TYPES = (CallType.CALL_ATTEMPT, CallType.INCOMPLETE, CallType.CLIENT_HANGUP)
# What a rule's `call_types` may hold: "missed" stands for the three missed stages.
RULE_CALL_TYPE_CHOICES = [
    (MISSED, "Missed (call-attempt, incomplete or client-hangup)"),
    *CallType.choices,
]


class CallOutcome(models.TextChoices):
    """What a call event led to; the Passthru answer follows from it (200 or 302)."""

    SMS_QUEUED = "sms_queued", "SMS queued"
    NO_RULE = "no_rule", "No active rule matched"
    NOT_SENT = "not_sent", "Rules matched; no SMS could be sent"
    ALREADY_SENT = "already_sent", "Rules had already sent for this call"


class CallEvent(models.Model):
    call_sid = models.CharField("CallSid", max_length=64)
    call_type = models.CharField(max_length=16, choices=CallType.choices)
    direction = models.CharField(max_length=24, blank=True)
    from_number = PhoneNumberField("caller")
    to_number = models.CharField("called number", max_length=32, blank=True)
    exophone = models.CharField("ExoPhone", max_length=32, blank=True)
    duration = models.PositiveIntegerField("DialCallDuration (s)", null=True, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    current_time = models.DateTimeField(null=True, blank=True)
    digits = models.CharField(max_length=64, blank=True)
    recording_url = models.URLField(max_length=500, blank=True)
    params = models.JSONField("raw query parameters", default=dict)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="call_events"
    )
    outcome = models.CharField(max_length=16, choices=CallOutcome.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # Exotel may call twice for one stage: the second request stores nothing.
            models.UniqueConstraint(fields=["call_sid", "call_type"], name="callevent_sid_stage"),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="callevent_thread_idx"),
        ]

    # Lets a template that lists messages and calls together tell them apart.
    is_call_event = True

    def __str__(self):
        return f"{self.call_type} {self.from_number} ({self.call_sid})"

    @property
    def is_missed(self):
        return self.call_type in MISSED_CALL_TYPES

    @property
    def sms_queued(self):
        return self.outcome == CallOutcome.SMS_QUEUED

    @property
    def occurred_at(self):
        """When the call stage happened, as Exotel said, else when we heard of it."""
        return self.current_time or self.start_time or self.created_at


class CallRule(models.Model):
    """Which calls send which DLT template. Every active rule that matches a call sends once."""

    name = models.CharField(max_length=80)
    call_types = models.JSONField(
        default=list, help_text='e.g. ["missed"], ["completed"], ["voicemail", "incomplete"].'
    )
    exophone = models.CharField(
        "ExoPhone", max_length=32, blank=True, help_text="Only calls to this number (blank: any)."
    )
    digits = models.CharField(
        max_length=32, blank=True, help_text="Only when the caller keyed these digits (blank: any)."
    )
    template = models.ForeignKey(
        DltTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="call_rules"
    )
    variables = models.JSONField(
        default=list,
        blank=True,
        help_text="One value per template slot: {CallFrom}, {CallTo}, {CallSid}, "
        "{CallSidShort}, {DateTime} (IST) or fixed text.",
    )
    delay_seconds = models.PositiveIntegerField(
        default=0, help_text="Hold the SMS this long after the call (released by the beat sweep)."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(active=False) | Q(template__isnull=False),
                name="callrule_active_has_template",
            ),
        ]

    def __str__(self):
        return self.name


class CallRuleSend(models.Model):
    """One rule run for one call: the SMS it queued, or the reason it sent none."""

    rule = models.ForeignKey(CallRule, on_delete=models.PROTECT, related_name="sends")
    call_sid = models.CharField("CallSid", max_length=64)
    call_event = models.ForeignKey(CallEvent, on_delete=models.CASCADE, related_name="rule_sends")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    refusal_code = models.CharField(max_length=32, blank=True)
    refusal = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "call rule send"
        constraints = [
            # One SMS per rule per call, however often Exotel calls and at whatever stage.
            models.UniqueConstraint(fields=["rule", "call_sid"], name="callrulesend_once_per_call"),
        ]

    def __str__(self):
        return f"{self.rule} for {self.call_sid}"
