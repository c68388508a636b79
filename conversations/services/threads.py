"""Keeping a conversation's denormalised summary (last message, counts) true to its messages."""

from django.db import transaction

from ..models import Conversation, Direction, MessageStatus
from ..phone import normalise_phone


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
