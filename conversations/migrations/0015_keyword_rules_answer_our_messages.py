"""Keyword rules can be limited to answers to our own messages (`answers_within_hours`).

The shipped YES/CONFIRM and NO/CANCEL rules (migration 0004) answer an appointment reminder:
they now apply only within 72 hours of a message from us, so a customer who writes "yes" out
of the blue is not told their appointment is confirmed; the message goes to an agent.
"""

from django.db import migrations, models

SHIPPED_ANSWER_RULES = ("Confirm (YES)", "Cancel (NO)")
SHIPPED_ANSWER_WINDOW_HOURS = 72


def limit_shipped_answer_rules(apps, schema_editor):
    KeywordRule = apps.get_model("conversations", "KeywordRule")
    KeywordRule.objects.filter(
        name__in=SHIPPED_ANSWER_RULES, action__in=("confirm", "cancel"), answers_within_hours=0
    ).update(answers_within_hours=SHIPPED_ANSWER_WINDOW_HOURS)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0014_conversation_trigram_indexes_without_pending_list"),
    ]

    operations = [
        migrations.AddField(
            model_name="keywordrule",
            name="answers_within_hours",
            field=models.PositiveIntegerField(
                default=0,
                help_text="The rule applies only when we texted this number within this many "
                "hours (0: at any time). Outside that window the message is left for an agent: "
                "a YES with nothing to confirm gets no confirmation.",
                verbose_name="only within (hours) of our message",
            ),
        ),
        migrations.RunPython(limit_shipped_answer_rules, migrations.RunPython.noop),
    ]
