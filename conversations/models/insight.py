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
