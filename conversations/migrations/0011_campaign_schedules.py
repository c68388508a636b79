"""Campaigns: the rate's unit (messages or segments), the "needs review" recipient state and an
index for the recipients whose outcome is still unknown."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("conversations", "0010_calls")]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="rate_unit",
            field=models.CharField(
                choices=[
                    ("messages", "Messages per second"),
                    ("segments", "SMS segments (units) per second"),
                ],
                default="messages",
                help_text="What the rate counts. Segments: a message of 3 SMS parts costs 3 "
                "(Exotel bills and may throttle by parts), so long or Unicode messages go slower.",
                max_length=8,
            ),
        ),
        migrations.AlterField(
            model_name="campaign",
            name="rate",
            field=models.FloatField(
                blank=True,
                help_text="How fast to send, across all workers together, in the unit below. "
                "Blank: as fast as Exotel allows.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="campaignrecipient",
            name="state",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sending", "Sending"),
                    ("sent", "Accepted by Exotel"),
                    ("failed", "Refused by Exotel"),
                    ("skipped", "Skipped"),
                    ("unknown", "Outcome unknown"),
                    ("review", "Outcome unknown: needs review"),
                    ("cancelled", "Cancelled"),
                ],
                default="pending",
                max_length=10,
            ),
        ),
        migrations.RemoveConstraint(
            model_name="campaignrecipient", name="campaignrecipient_state_valid"
        ),
        migrations.AddConstraint(
            model_name="campaignrecipient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "state__in",
                        [
                            "pending",
                            "sending",
                            "sent",
                            "failed",
                            "skipped",
                            "unknown",
                            "review",
                            "cancelled",
                        ],
                    )
                ),
                name="campaignrecipient_state_valid",
            ),
        ),
        migrations.AddIndex(
            model_name="campaignrecipient",
            index=models.Index(
                condition=models.Q(("state", "unknown")),
                fields=["id"],
                name="campaignrecipient_unknown_idx",
            ),
        ),
    ]
