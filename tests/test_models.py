import pytest
from django.db import IntegrityError, transaction

from conversations.models import Conversation, MessageStatus, OptOut

from .factories import ConversationFactory, MessageFactory, OptOutFactory

pytestmark = pytest.mark.django_db


def test_duplicate_sid_is_rejected_by_the_database():
    MessageFactory(sid="0f477d60517e6e6a0f6d9a7e9af8630e")
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageFactory(sid="0f477d60517e6e6a0f6d9a7e9af8630e")


def test_messages_without_a_sid_do_not_collide():
    MessageFactory(sid=None)
    MessageFactory(sid=None)


def test_one_conversation_per_number_whatever_its_format():
    ConversationFactory(phone_number="+919876543210")
    with pytest.raises(IntegrityError), transaction.atomic():
        ConversationFactory(phone_number="09876543210")


def test_conversation_number_is_stored_in_e164():
    conversation = ConversationFactory(phone_number="+91 98765 43210")
    conversation.refresh_from_db()
    assert conversation.phone_number == "+919876543210"


def test_unknown_status_is_rejected_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        MessageFactory(status="exploded")


@pytest.mark.parametrize("status", ["failed-dnd", "queued", "sending", "submitted", "delivered"])
def test_every_exotel_status_is_a_valid_choice(status):
    message = MessageFactory(status=status)
    message.refresh_from_db()
    assert message.status == MessageStatus(status)


def test_only_one_active_opt_out_per_number():
    OptOutFactory(phone_number="+919876543210")
    with pytest.raises(IntegrityError), transaction.atomic():
        OptOutFactory(phone_number="9876543210")


def test_revoked_opt_outs_stay_as_history():
    from django.utils import timezone

    OptOutFactory(phone_number="+919876543210", revoked_at=timezone.now())
    OptOutFactory(phone_number="+919876543210")
    assert OptOut.objects.filter(phone_number="+919876543210").count() == 2


def test_inbox_ordering_is_newest_activity_first():
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    old = ConversationFactory(last_activity_at=now - timedelta(hours=1))
    new = ConversationFactory(last_activity_at=now)
    assert list(Conversation.objects.all()) == [new, old]


@pytest.mark.django_db(transaction=True)
def test_indexes_added_on_the_hot_tables_are_built_concurrently_on_postgresql():
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    if connection.vendor != "postgresql":
        pytest.skip("CREATE INDEX CONCURRENTLY is PostgreSQL's; SQLite builds a plain index")
    loader = MigrationLoader(connection)
    migration = loader.get_migration("conversations", "0013_partial_indexes_for_unset_links")
    state = loader.project_state(("conversations", "0012_fewer_indexes_on_hot_writes"))
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        migration.apply(state, editor, collect_sql=True)
    creates = [sql for sql in editor.collected_sql if sql.startswith("CREATE INDEX")]
    assert len(creates) == 8
    assert all(sql.startswith("CREATE INDEX CONCURRENTLY") for sql in creates)


@pytest.mark.django_db
def test_conversation_search_indexes_write_straight_into_the_index_on_postgresql():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("trigram indexes exist on PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN "
            "('conversation_name_trgm_idx', 'conversation_phone_trgm_idx')"
        )
        options = dict(cursor.fetchall())
    assert options == {
        "conversation_name_trgm_idx": ["fastupdate=off"],
        "conversation_phone_trgm_idx": ["fastupdate=off"],
    }


@pytest.mark.django_db
def test_a_conversation_row_has_one_btree_index_on_its_number_on_postgresql():
    """Unique by constraint, without the LIKE index Django adds to a unique CharField: every
    inbound SMS rewrites its conversation's row and would write that index again."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the varchar_pattern_ops index is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s "
            "AND indexdef LIKE '%%btree (phone_number%%'",
            [Conversation._meta.db_table],
        )
        assert [name for (name,) in cursor.fetchall()] == ["conversation_phone_unique"]
