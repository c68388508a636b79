"""`manage.py generate_dataset` (issue 6): the large dataset of the inbox benchmark, small here."""

import pytest
from django.core.management import CommandError, call_command

from conversations.models import Conversation, Message, OptOut
from conversations.services.threads import refresh_conversation_summary

pytestmark = pytest.mark.django_db


@pytest.fixture
def generated(db):
    call_command(
        "generate_dataset", conversations=300, messages=3000, chunk=120, no_progress=True, seed=3
    )


def test_it_makes_exactly_the_counts_asked_for(generated):
    assert Conversation.objects.count() == 300
    assert Message.objects.count() == 3000


def test_each_conversation_summary_equals_a_recount(generated):
    for conversation in Conversation.objects.order_by("id")[:60]:
        stored = (
            conversation.message_count,
            conversation.unread_count,
            conversation.last_message_body,
            conversation.last_activity_at,
        )
        fresh = refresh_conversation_summary(conversation.pk)
        assert stored == (
            fresh.message_count,
            fresh.unread_count,
            fresh.last_message_body,
            fresh.last_activity_at,
        )


def test_outbound_failures_carry_exotel_detailed_codes_and_reasons(generated):
    failed = Message.objects.filter(status="failed")
    assert failed.exists()
    assert not failed.filter(detailed_status="").exists()
    assert not failed.filter(error_message="").exists()
    assert failed.filter(detailed_status_code__gte=23000).count() == failed.count()


def test_the_mix_is_realistic(generated):
    messages = Message.objects
    inbound = messages.filter(direction="inbound").count()
    assert 0.3 < inbound / 3000 < 0.6
    assert messages.filter(status="delivered").count() > messages.filter(status="failed").count()
    assert messages.filter(template__isnull=False, direction="outbound").count() == (
        messages.filter(direction="outbound").count()
    )
    assert Conversation.objects.filter(assignee__isnull=False).exists()
    assert Conversation.objects.filter(closed_at__isnull=False).exists()
    assert set(OptOut.objects.values_list("phone_number", flat=True)) == set(
        Conversation.objects.filter(last_message_body="STOP").values_list("phone_number", flat=True)
    )


def test_a_second_run_adds_new_numbers(generated):
    call_command("generate_dataset", conversations=10, messages=20, no_progress=True)
    assert Conversation.objects.count() == 310
    assert Message.objects.count() == 3020


def test_fewer_messages_than_conversations_is_refused(db):
    with pytest.raises(CommandError, match="one message per conversation"):
        call_command("generate_dataset", conversations=10, messages=5, no_progress=True)
