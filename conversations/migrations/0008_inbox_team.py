"""The inbox's team features (issue 6): outcomes that close a conversation, and the lock that
shows "Asha is replying"; indexes for the inbox's filters and (PostgreSQL only) its search."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# Search uses icontains (UPPER(col) LIKE '%...%') and contains on the number: trigram GIN indexes
# on exactly those expressions let PostgreSQL answer it without reading every row. pg_trgm is a
# trusted extension (PostgreSQL 13+): the database owner may create it.
TRIGRAM_INDEXES = [
    ("message_body_trgm_idx", "conversations_message", "UPPER(body) gin_trgm_ops"),
    (
        "conversation_name_trgm_idx",
        "conversations_conversation",
        "UPPER(contact_name) gin_trgm_ops",
    ),
    ("conversation_phone_trgm_idx", "conversations_conversation", "phone_number gin_trgm_ops"),
]


def add_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, expression in TRIGRAM_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression})"
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0007_webhook_intake"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="outcome",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="conversation",
            name="closed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="conversation",
            name="closed_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="replying_user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="replying_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("unread_count__gt", 0)),
                fields=["-last_activity_at", "-id"],
                name="conversation_unread_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("closed_at__isnull", False)),
                fields=["-last_activity_at", "-id"],
                name="conversation_closed_idx",
            ),
        ),
        migrations.RunPython(add_trigram_indexes, drop_trigram_indexes, elidable=True),
    ]
