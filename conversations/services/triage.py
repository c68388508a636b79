"""What agents do with conversations: read them, name the contact, assign, clear the flag.

Every change made by a person is written to the audit log.
"""

import unicodedata

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from ..models import AuditLog, Conversation, Direction, Message

MAX_NAME = 120


def mark_conversation_read(conversation) -> int:
    """Mark its inbound messages read; the unread counter drops by exactly as many, so a
    message arriving meanwhile stays counted."""
    marked = Message.objects.filter(
        conversation=conversation, direction=Direction.INBOUND, read_at__isnull=True
    ).update(read_at=timezone.now())
    if marked:
        Conversation.objects.filter(pk=conversation.pk).update(
            unread_count=Greatest(F("unread_count") - marked, Value(0))
        )
        conversation.refresh_from_db(fields=["unread_count"])
    return marked


def rename_contact(conversation, name, *, user, remote_addr=None) -> Conversation:
    name = " ".join((name or "").split())
    if len(name) > MAX_NAME:
        raise ValidationError(
            {"name": f"Ensure this field has no more than {MAX_NAME} characters."}
        )
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise ValidationError({"name": "A name cannot contain control characters."})
    before = conversation.contact_name
    conversation.contact_name = name
    conversation.save(update_fields=["contact_name", "updated_at"])
    _audit(user, "conversation_renamed", conversation, {"from": before, "to": name}, remote_addr)
    return conversation


def find_assignee(value):
    """A user by id or username; None unassigns. ValidationError for anyone else."""
    if value in (None, ""):
        return None
    users = get_user_model().objects.filter(is_active=True)
    found = (
        users.filter(pk=value).first()
        if isinstance(value, int) or str(value).isdigit()
        else users.filter(username=str(value)).first()
    )
    if found is None:
        raise ValidationError({"assignee": f"No active user {value!r}."})
    return found


def assign_conversation(conversation, assignee, *, user, remote_addr=None) -> Conversation:
    before = conversation.assignee.get_username() if conversation.assignee else None
    conversation.assignee = assignee
    conversation.save(update_fields=["assignee", "updated_at"])
    after = assignee.get_username() if assignee else None
    _audit(user, "conversation_assigned", conversation, {"from": before, "to": after}, remote_addr)
    return conversation


def flag_for_agent(conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(needs_attention=True)
    conversation.needs_attention = True


def clear_attention(conversation, *, user=None, remote_addr=None) -> None:
    """An agent has dealt with it (replied, or said so)."""
    Conversation.objects.filter(pk=conversation.pk).update(needs_attention=False)
    conversation.needs_attention = False
    if user is not None:
        _audit(user, "conversation_attention_cleared", conversation, {}, remote_addr)


def _audit(user, action, conversation, detail, remote_addr):
    AuditLog.objects.create(
        actor=user if getattr(user, "is_authenticated", False) else None,
        action=action,
        target=conversation.phone_number,
        detail=detail,
        remote_addr=remote_addr,
    )
