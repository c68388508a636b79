"""Opt-out and opt-in: the consent history of a number. Honoured by every send path."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import OptOut
from ..phone import normalise_phone


def active_opt_out(phone_number):
    """The open opt-out of this number, or None."""
    return OptOut.objects.filter(
        phone_number=normalise_phone(phone_number), revoked_at__isnull=True
    ).first()


def is_opted_out(phone_number) -> bool:
    return active_opt_out(phone_number) is not None


def opt_out(phone_number, *, source, keyword="", message=None, user=None) -> OptOut:
    """Record an opt-out; a number already opted out keeps its first record (idempotent)."""
    phone_number = normalise_phone(phone_number)
    existing = active_opt_out(phone_number)
    if existing:
        return existing
    try:
        with transaction.atomic():
            return OptOut.objects.create(
                phone_number=phone_number,
                source=source,
                keyword=keyword,
                message=message,
                created_by=user,
            )
    except IntegrityError:
        # Another request opted the number out at the same moment: theirs stands.
        return active_opt_out(phone_number)


def opt_in(phone_number, *, source, user=None) -> int:
    """Close the open opt-out of this number, keeping it as history. Returns 1 if one was open."""
    return OptOut.objects.filter(
        phone_number=normalise_phone(phone_number), revoked_at__isnull=True
    ).update(revoked_at=timezone.now(), revoked_by=user, revoked_source=source)
