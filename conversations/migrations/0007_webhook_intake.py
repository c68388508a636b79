"""Webhook intake (issues 4 and 5): an index for the drain task's queue of untried events."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("conversations", "0006_campaigns")]

    operations = [
        migrations.AddIndex(
            model_name="webhookevent",
            index=models.Index(
                condition=models.Q(("attempts", 0), ("processed_at__isnull", True)),
                fields=["id"],
                name="webhook_undrained_idx",
            ),
        ),
    ]
