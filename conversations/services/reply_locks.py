"""Who is replying to a conversation now: "Asha is replying", and nobody sends over her.

The lock lives in the database (two fields on Conversation), so every web process sees it
whatever the cache. The reply box renews it with a heartbeat while an agent writes; it expires
`INBOX_REPLY_LOCK_SECONDS` after the last heartbeat, and sending releases it. Taking it is one
conditional UPDATE, so two agents can never both hold it.
"""

from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from ..models import Conversation
from ..phone import normalise_phone

LOCKED_CODE = "conversation_locked"


def lock_seconds() -> int:
    return settings.INBOX_REPLY_LOCK_SECONDS


def display_name(user) -> str:
    return (user.get_short_name() or user.get_username()) if user is not None else "Someone"


def _free_or_mine(user, now):
    free = Q(replying_user__isnull=True) | Q(replying_until__isnull=True)
    free |= Q(replying_until__lte=now)
    return free | Q(replying_user=user) if _is_person(user) else free


def _is_person(user) -> bool:
    return getattr(user, "is_authenticated", False) and user.pk is not None


def claim(phone_number, user, *, now=None):
    """Take or renew the lock for `user`. Returns None when they hold it now, else the user
    who does (the lock is theirs and not expired)."""
    now = now or timezone.now()
    conversations = Conversation.objects.filter(phone_number=phone_number)
    if _is_person(user):
        taken = conversations.filter(_free_or_mine(user, now)).update(
            replying_user=user, replying_until=now + timedelta(seconds=lock_seconds())
        )
        if taken:
            return None
    return holder(phone_number, user, now=now)


def holder(phone_number, user, *, now=None):
    """The other person replying to this number now, or None."""
    now = now or timezone.now()
    locked = (
        Conversation.objects.filter(phone_number=phone_number)
        .exclude(_free_or_mine(user, now))
        .select_related("replying_user")
        .only("replying_user")
        .first()
    )
    return locked.replying_user if locked is not None else None


def holder_of(conversation, user, *, now=None):
    """The same, from a conversation already loaded (with `replying_user`): no query."""
    now = now or timezone.now()
    if conversation.replying_user_id is None or conversation.replying_until is None:
        return None
    if conversation.replying_until <= now or conversation.replying_user_id == getattr(
        user, "pk", None
    ):
        return None
    return conversation.replying_user


def release(phone_number, user) -> None:
    """Let go of the lock if `user` holds it (after sending, or when they leave the box)."""
    if _is_person(user):
        Conversation.objects.filter(phone_number=phone_number, replying_user=user).update(
            replying_user=None, replying_until=None
        )


def release_number(to, user) -> None:
    """`release` for a number as given to a send (any format)."""
    try:
        release(normalise_phone(to), user)
    except ValidationError:
        return


def refusal_message(other) -> str:
    return (
        f"{display_name(other)} is replying to this conversation. "
        "Wait until they have sent their reply (or stopped writing) before sending yours."
    )


def ensure_may_send(to, user):
    """Claim the lock for this send, or raise SendRefused (field non_field_errors, code
    `conversation_locked`) when someone else is replying. A number that is no conversation yet
    (or no number at all: the send refuses it itself) has no lock."""
    from .sending import SendRefused

    try:
        phone = normalise_phone(to)
    except ValidationError:
        return
    other = claim(phone, user)
    if other is not None:
        raise SendRefused(refusal_message(other), code=LOCKED_CODE)


@contextmanager
def held_for_send(to, user):
    """Around one send by `user` to `to`: refused (SendRefused) while someone else is replying
    to the number, and the lock is free again afterwards, whether the send worked or not."""
    ensure_may_send(to, user)
    try:
        yield
    finally:
        release_number(to, user)
