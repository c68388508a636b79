"""Reserved so that work on several areas can add migrations side by side; filled in by its area."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("conversations", "0007_webhook_intake")]

    operations = []
