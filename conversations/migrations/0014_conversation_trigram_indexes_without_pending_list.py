"""The conversation search indexes (trigrams of the name and the number, migration 0008) take
new entries straight into the index instead of GIN's pending list.

Every message rewrites its conversation's row (counters, last activity), and the new row
version needs entries in both trigram indexes. Through the pending list, whose clean-up
merges thousands of entries into the posting trees of keys every number shares ("+91",
"919"), that cost about 1 ms of PostgreSQL CPU per campaign message; written directly,
0.3 ms (`bench/bench_campaign.py` on PostgreSQL, 30,000 recipients). Searches read the same
index either way.
"""

from django.db import migrations

INDEXES = ("conversation_name_trgm_idx", "conversation_phone_trgm_idx")


def without_pending_list(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"ALTER INDEX IF EXISTS {name} SET (fastupdate = off)")


def with_pending_list(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"ALTER INDEX IF EXISTS {name} RESET (fastupdate)")


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0013_partial_indexes_for_unset_links"),
    ]

    operations = [
        migrations.RunPython(without_pending_list, with_pending_list, elidable=True),
    ]
