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
