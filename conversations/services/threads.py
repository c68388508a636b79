"""Keeping a conversation's denormalised summary (last message, counts) true to its messages."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..models import Conversation, Direction, MessageStatus
from ..phone import normalise_phone
from .outcomes import REOPENED


def get_or_create_conversation(phone_number, *, contact_name="") -> Conversation:
    conversation, _ = Conversation.objects.get_or_create(
        phone_number=normalise_phone(phone_number), defaults={"contact_name": contact_name}
    )
    return conversation


def refresh_conversation_summary(conversation_id) -> Conversation | None:
    """Recompute last message, counts and unread from the messages (the source of truth)."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().filter(id=conversation_id).first()
        if conversation is None:
            return None
        messages = conversation.messages.all()
        last = messages.order_by("-created_at", "-id").first()
        conversation.message_count = messages.count()
        conversation.unread_count = messages.filter(
            direction=Direction.INBOUND, status=MessageStatus.RECEIVED, read_at__isnull=True
        ).count()
        if last is not None:
            conversation.last_message_body = last.body
            conversation.last_message_direction = last.direction
            conversation.last_message_status = last.status
            conversation.last_activity_at = last.created_at
        conversation.save(
            update_fields=[
                "message_count",
                "unread_count",
                "last_message_body",
                "last_message_direction",
                "last_message_status",
                "last_activity_at",
                "updated_at",
            ]
        )
        return conversation


def note_new_message(message) -> None:
    """Move the conversation's summary forward for a message just created (one UPDATE, no race)."""
    changes = {
        "message_count": F("message_count") + 1,
        "last_message_body": message.body,
        "last_message_direction": message.direction,
        "last_message_status": message.status,
        "last_activity_at": message.created_at,
        "updated_at": timezone.now(),
    }
    if message.direction == Direction.INBOUND:
        # The customer wrote: unread, and reopened if an agent had closed it with an outcome.
        changes["unread_count"] = F("unread_count") + 1
        changes.update(REOPENED)
    Conversation.objects.filter(pk=message.conversation_id).update(**changes)


def note_status_change(message) -> None:
    """Keep `last_message_status` true when the conversation's last message changes status."""
    Conversation.objects.filter(
        pk=message.conversation_id, last_activity_at=message.created_at
    ).update(last_message_status=message.status)
