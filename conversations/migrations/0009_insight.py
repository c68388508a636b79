"""Insight (issue 8): alert rules, alerts, worker heartbeat, retention runs; default rules."""

import django.db.models.deletion
from django.db import migrations, models

# name, kind, threshold, window (see AlertRule for what they mean per kind)
DEFAULT_RULES = [
    ("Template delivery rate below 80% (last 100)", "template_delivery", 80, 100),
    ("Sender delivery rate below 80% (last 100)", "sender_delivery", 80, 100),
    ("DLT rejections: 10 or more in 60 minutes", "dlt_spike", 10, 60),
    ("Status callbacks missing after 60 minutes", "callbacks_missing", 1, 60),
    ("Inbound webhook errors in 60 minutes", "webhook_errors", 1, 60),
    ("Broker backlog of 1000 tasks", "broker_backlog", 1000, 0),
]


# The dashboard's "stuck" panel and the callbacks-missing alert read non-final outbound messages
# by age; a partial index keeps that to the few rows concerned. Raw SQL (the same on PostgreSQL
# and SQLite) because the Message model belongs to another area; nothing in the model state.
STUCK_INDEX = (
    "CREATE INDEX IF NOT EXISTS message_stuck_idx ON conversations_message "
    "(status, direction, created_at, id) WHERE status IN "
    "('pending', 'dispatching', 'queued', 'sending', 'submitted', 'unknown')"
)


def add_default_rules(apps, schema_editor):
    AlertRule = apps.get_model("conversations", "AlertRule")
    for name, kind, threshold, window in DEFAULT_RULES:
        AlertRule.objects.get_or_create(
            kind=kind, defaults={"name": name, "threshold": threshold, "window": window}
        )


class Migration(migrations.Migration):
    dependencies = [("conversations", "0008_inbox_team")]

    operations = [
        migrations.CreateModel(
            name="AlertRule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=120)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("template_delivery", "Delivery rate of a template below X%"),
                            ("sender_delivery", "Delivery rate of a sender id below X%"),
                            ("dlt_spike", "DLT rejections in the window at least X"),
                            (
                                "callbacks_missing",
                                "Messages without a final status after N minutes",
                            ),
                            ("webhook_errors", "Inbound webhooks that failed processing"),
                            ("broker_backlog", "Tasks waiting in the broker at least X"),
                        ],
                        max_length=24,
                    ),
                ),
                ("threshold", models.FloatField()),
                ("window", models.PositiveIntegerField(default=100)),
                ("active", models.BooleanField(default=True)),
                (
                    "email",
                    models.BooleanField(
                        default=True, help_text="E-mail staff when an alert opens."
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"ordering": ["kind", "name"]},
        ),
        migrations.CreateModel(
            name="Heartbeat",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=40, unique=True)),
                ("at", models.DateTimeField()),
                ("detail", models.CharField(blank=True, max_length=255)),
            ],
        ),
        migrations.CreateModel(
            name="RetentionRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("ran_at", models.DateTimeField(auto_now_add=True)),
                ("cutoff", models.DateTimeField()),
                ("retention_days", models.PositiveIntegerField()),
                ("messages_masked", models.PositiveIntegerField(default=0)),
                ("conversations_masked", models.PositiveIntegerField(default=0)),
            ],
            options={"ordering": ["-ran_at", "-id"]},
        ),
        migrations.CreateModel(
            name="Alert",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("subject", models.CharField(blank=True, max_length=120)),
                ("summary", models.CharField(max_length=255)),
                ("evidence", models.JSONField(blank=True, default=dict)),
                ("opened_at", models.DateTimeField()),
                ("last_seen_at", models.DateTimeField()),
                ("resolved_at", models.DateTimeField(blank=True, null=True)),
                ("emailed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="alerts",
                        to="conversations.alertrule",
                    ),
                ),
            ],
            options={
                "ordering": ["-opened_at", "-id"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("resolved_at__isnull", True)),
                        fields=["-opened_at"],
                        name="alert_open_idx",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("resolved_at__isnull", True)),
                        fields=("rule", "subject"),
                        name="alert_one_open_per_subject",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="RollupDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField(unique=True)),
                ("refreshed_at", models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name="AgentDayStat",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("kind", models.CharField(max_length=12)),
                ("user_id", models.BigIntegerField()),
                ("username", models.CharField(max_length=150)),
                ("count", models.PositiveIntegerField()),
                ("total_seconds", models.BigIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["day", "kind"], name="agentdaystat_day_idx")]
            },
        ),
        migrations.CreateModel(
            name="MessageDayStat",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("direction", models.CharField(max_length=8)),
                ("hour", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("template_id", models.BigIntegerField(blank=True, null=True)),
                ("sender", models.CharField(blank=True, max_length=32)),
                ("status", models.CharField(blank=True, max_length=12)),
                ("detailed_status_code", models.PositiveIntegerField(blank=True, null=True)),
                ("detailed_status", models.CharField(blank=True, max_length=64)),
                ("count", models.PositiveIntegerField()),
            ],
            options={"indexes": [models.Index(fields=["day"], name="messagedaystat_day_idx")]},
        ),
        migrations.RunSQL(STUCK_INDEX, "DROP INDEX IF EXISTS message_stuck_idx"),
        migrations.RunPython(add_default_rules, migrations.RunPython.noop),
    ]
