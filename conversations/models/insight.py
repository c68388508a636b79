"""Insight for supervisors (issue 8): alert rules and the alerts they open, the workers'
heartbeat, and the record of retention runs.

An `AlertRule` is evaluated by a beat task (`services/alerts.py`); each subject that breaks it
(a template, a sender id, or the whole system) gets one open `Alert` with its evidence, which
resolves itself when the condition clears. At most one open alert per rule and subject.
"""

from django.db import models
from django.db.models import Q


class AlertKind(models.TextChoices):
    TEMPLATE_DELIVERY = "template_delivery", "Delivery rate of a template below X%"
    SENDER_DELIVERY = "sender_delivery", "Delivery rate of a sender id below X%"
    DLT_SPIKE = "dlt_spike", "DLT rejections in the window at least X"
    CALLBACKS_MISSING = "callbacks_missing", "Messages without a final status after N minutes"
    WEBHOOK_ERRORS = "webhook_errors", "Inbound webhooks that failed processing"
    BROKER_BACKLOG = "broker_backlog", "Tasks waiting in the broker at least X"


class AlertRule(models.Model):
    """A threshold staff can edit in admin. What `threshold` and `window` mean depends on kind:

    - delivery (template / sender): threshold = lowest acceptable rate in %, window = the last N
      messages with a final status of each template or sender (fewer: not judged);
    - DLT spike: threshold = rejections, window = minutes;
    - callbacks missing: threshold = messages, window = minutes without a final status;
    - webhook errors: threshold = failed events, window = minutes;
    - broker backlog: threshold = queued tasks (window unused).
    """

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=24, choices=AlertKind.choices)
    threshold = models.FloatField()
    window = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    email = models.BooleanField(default=True, help_text="E-mail staff when an alert opens.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self):
        return self.name


class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    # What broke the rule: "template:<id>", "sender:<id>", or "" for system-wide kinds.
    subject = models.CharField(max_length=120, blank=True)
    summary = models.CharField(max_length=255)
    evidence = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject"],
                condition=Q(resolved_at__isnull=True),
                name="alert_one_open_per_subject",
            ),
        ]
        indexes = [
            models.Index(
                fields=["-opened_at"], condition=Q(resolved_at__isnull=True), name="alert_open_idx"
            ),
        ]

    def __str__(self):
        return self.summary

    @property
    def is_open(self):
        return self.resolved_at is None


class Heartbeat(models.Model):
    """The last time a process proved it runs: the worker stamps "worker" from a beat task."""

    name = models.CharField(max_length=40, unique=True)
    at = models.DateTimeField()
    detail = models.CharField(max_length=255, blank=True)

    def __str__(self):
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"


class RetentionRun(models.Model):
    """One pass of the retention task: which bodies it masked (older than `cutoff`) and when."""

    ran_at = models.DateTimeField(auto_now_add=True)
    cutoff = models.DateTimeField()
    retention_days = models.PositiveIntegerField()
    messages_masked = models.PositiveIntegerField(default=0)
    conversations_masked = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-ran_at", "-id"]

    def __str__(self):
        return f"{self.messages_masked} bodies before {self.cutoff:%Y-%m-%d}"


class MessageDayStat(models.Model):
    """The dashboard's rollup: messages created on one IST day, counted per direction, hour of
    the day (inbound only), template, sender id, status and Exotel code. Rebuilt per day by
    `services/rollups.py` (beat: today and yesterday every minute; missing days on demand)."""

    day = models.DateField()
    direction = models.CharField(max_length=8)
    hour = models.PositiveSmallIntegerField(null=True, blank=True)
    template_id = models.BigIntegerField(null=True, blank=True)  # plain id: history outlives it
    sender = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=12, blank=True)
    detailed_status_code = models.PositiveIntegerField(null=True, blank=True)
    detailed_status = models.CharField(max_length=64, blank=True)
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="messagedaystat_day_idx")]

    def __str__(self):
        return f"{self.day} {self.direction} {self.status}: {self.count}"


class AgentDayStat(models.Model):
    """The dashboard's rollup per IST day and person: first replies (with the total wait) and
    resolutions (closes, with the total time from the customer's first message)."""

    FIRST_REPLY = "first_reply"
    RESOLUTION = "resolution"

    day = models.DateField()
    kind = models.CharField(max_length=12)
    user_id = models.BigIntegerField()
    username = models.CharField(max_length=150)
    count = models.PositiveIntegerField()
    total_seconds = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day", "kind"], name="agentdaystat_day_idx")]

    def __str__(self):
        return f"{self.day} {self.kind} {self.username}: {self.count}"


class RollupDay(models.Model):
    """When each IST day's rollup rows were last rebuilt."""

    day = models.DateField(unique=True)
    refreshed_at = models.DateTimeField()

    def __str__(self):
        return f"{self.day} at {self.refreshed_at:%H:%M:%S}"
