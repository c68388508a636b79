"""SMS from calls (issue 9): call events, call rules and what each rule sent for each call;
`Conversation.is_lead`; and the five use cases of seed 003 as example rules (inactive until a
DLT template is chosen for them)."""

import django.db.models.deletion
from django.db import migrations, models

import conversations.fields

# Seed 003 "Use Cases". Each example names the calls it answers and the variables its template
# will most likely need; staff pick the registered template (and usually the ExoPhone of the
# flow), then activate it.
EXAMPLE_RULES = [
    {
        "name": "Post-call confirmation (seed 003, use case 1)",
        "call_types": ["completed"],
        "digits": "",
        # "Thanks for contacting us. Ref: {#var#}"; Exotel's 32-character CallSid does not fit
        # a DLT variable (30 at most), its last 10 characters do.
        "variables": ["{CallSidShort}"],
    },
    {
        "name": "Missed call alert (seed 003, use case 2)",
        "call_types": ["incomplete", "client-hangup"],
        "digits": "",
        "variables": [],  # "We missed your call. We'll call back soon."
    },
    {
        "name": "Appointment confirmation after the IVR (seed 003, use case 3)",
        "call_types": ["call-attempt", "completed"],
        "digits": "1",
        "variables": ["{DateTime}"],  # "Your appointment is confirmed for {#var#}..."
    },
    {
        "name": "Lead capture from a missed call (seed 003, use case 4)",
        "call_types": ["call-attempt"],
        "digits": "",
        "variables": [],  # "Thanks for your interest! Visit acme.com/offer"
    },
    {
        "name": "Thank you after the IVR survey (seed 003, use case 5)",
        "call_types": ["call-attempt", "completed"],
        "digits": "",
        "variables": [],  # "Thank you for your feedback!"
    },
]


def add_example_rules(apps, schema_editor):
    CallRule = apps.get_model("conversations", "CallRule")
    for example in EXAMPLE_RULES:
        if not CallRule.objects.filter(name=example["name"]).exists():
            CallRule.objects.create(active=False, template=None, **example)


def remove_example_rules(apps, schema_editor):
    CallRule = apps.get_model("conversations", "CallRule")
    names = [example["name"] for example in EXAMPLE_RULES]
    CallRule.objects.filter(name__in=names, sends__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("conversations", "0009_insight")]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="is_lead",
            field=models.BooleanField(default=False),
        ),
        migrations.CreateModel(
            name="CallEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("call_sid", models.CharField(max_length=64, verbose_name="CallSid")),
                (
                    "call_type",
                    models.CharField(
                        choices=[
                            ("call-attempt", "Call attempt (IVR only, no agent)"),
                            ("completed", "Completed"),
                            ("client-hangup", "Caller hung up"),
                            ("incomplete", "Incomplete (no agent answered)"),
                            ("voicemail", "Voicemail"),
                        ],
                        max_length=16,
                    ),
                ),
                ("direction", models.CharField(blank=True, max_length=24)),
                ("from_number", conversations.fields.PhoneNumberField(verbose_name="caller")),
                (
                    "to_number",
                    models.CharField(blank=True, max_length=32, verbose_name="called number"),
                ),
                ("exophone", models.CharField(blank=True, max_length=32, verbose_name="ExoPhone")),
                (
                    "duration",
                    models.PositiveIntegerField(
                        blank=True, null=True, verbose_name="DialCallDuration (s)"
                    ),
                ),
                ("start_time", models.DateTimeField(blank=True, null=True)),
                ("current_time", models.DateTimeField(blank=True, null=True)),
                ("digits", models.CharField(blank=True, max_length=64)),
                ("recording_url", models.URLField(blank=True, max_length=500)),
                ("params", models.JSONField(default=dict, verbose_name="raw query parameters")),
                (
                    "outcome",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("sms_queued", "SMS queued"),
                            ("no_rule", "No active rule matched"),
                            ("not_sent", "Rules matched; no SMS could be sent"),
                            ("already_sent", "Rules had already sent for this call"),
                        ],
                        max_length=16,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="call_events",
                        to="conversations.conversation",
                    ),
                ),
            ],
            options={"ordering": ["created_at", "id"]},
        ),
        migrations.CreateModel(
            name="CallRule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=80)),
                (
                    "call_types",
                    models.JSONField(
                        default=list,
                        help_text='e.g. ["missed"], ["completed"], ["voicemail", "incomplete"].',
                    ),
                ),
                (
                    "exophone",
                    models.CharField(
                        blank=True,
                        help_text="Only calls to this number (blank: any).",
                        max_length=32,
                        verbose_name="ExoPhone",
                    ),
                ),
                (
                    "digits",
                    models.CharField(
                        blank=True,
                        help_text="Only when the caller keyed these digits (blank: any).",
                        max_length=32,
                    ),
                ),
                (
                    "variables",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="One value per template slot: {CallFrom}, {CallTo}, {CallSid}, "
                        "{CallSidShort}, {DateTime} (IST) or fixed text.",
                    ),
                ),
                (
                    "delay_seconds",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="Hold the SMS this long after the call (released by the beat "
                        "sweep).",
                    ),
                ),
                ("active", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "template",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="call_rules",
                        to="conversations.dlttemplate",
                    ),
                ),
            ],
            options={"ordering": ["name", "id"]},
        ),
        migrations.CreateModel(
            name="CallRuleSend",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("call_sid", models.CharField(max_length=64, verbose_name="CallSid")),
                ("refusal_code", models.CharField(blank=True, max_length=32)),
                ("refusal", models.CharField(blank=True, max_length=255)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "call_event",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rule_sends",
                        to="conversations.callevent",
                    ),
                ),
                (
                    "message",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="conversations.message",
                    ),
                ),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="sends",
                        to="conversations.callrule",
                    ),
                ),
            ],
            options={"verbose_name": "call rule send", "ordering": ["-created_at", "-id"]},
        ),
        migrations.AddIndex(
            model_name="callevent",
            index=models.Index(fields=["conversation", "created_at"], name="callevent_thread_idx"),
        ),
        migrations.AddConstraint(
            model_name="callevent",
            constraint=models.UniqueConstraint(
                fields=("call_sid", "call_type"), name="callevent_sid_stage"
            ),
        ),
        migrations.AddConstraint(
            model_name="callrule",
            constraint=models.CheckConstraint(
                condition=models.Q(("active", False), ("template__isnull", False), _connector="OR"),
                name="callrule_active_has_template",
            ),
        ),
        migrations.AddConstraint(
            model_name="callrulesend",
            constraint=models.UniqueConstraint(
                fields=("rule", "call_sid"), name="callrulesend_once_per_call"
            ),
        ),
        migrations.RunPython(add_example_rules, remove_example_rules),
    ]
