"""Consent: whether a number may be sent to, and the ledger of how that came to be.

`OptOut` holds the current state (at most one open row per number, a database constraint), which
every send path checks. `ConsentEvent` is the append-only ledger: each opt-out and opt-in
statement with its source (keyword, agent, staff, import, API, Exotel blacklist 23020), the
message that caused it, who and when. Only an explicit START keyword, staff, an agent or the API
opt a number back in; nothing else a customer writes does.
"""

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import ConsentEvent, ConsentKind, OptOut, OptOutSource
from ..phone import normalise_phone
from .audit import record_action

MAX_IMPORT_BYTES = 5 * 1024 * 1024
PHONE_HEADERS = {"phone", "phone_number", "number", "mobile", "msisdn"}


def active_opt_out(phone_number):
    """The open opt-out of this number, or None."""
    return OptOut.objects.filter(
        phone_number=normalise_phone(phone_number), revoked_at__isnull=True
    ).first()


def is_opted_out(phone_number) -> bool:
    return active_opt_out(phone_number) is not None


def opt_out(
    phone_number, *, source, keyword="", message=None, user=None, reply_message=None, note=""
) -> OptOut:
    """Record an opt-out; a number already opted out keeps its first record (idempotent).

    Every call is written to the ledger, a repeated one with `changed=False`.
    """
    phone_number = normalise_phone(phone_number)
    with transaction.atomic():
        opt_out_row, changed = _open_opt_out(phone_number, source, keyword, message, user)
        record_action(
            "opt_out", actor=_person(user), target=phone_number, source=source, changed=changed
        )
        _record(
            phone_number,
            ConsentKind.OPT_OUT,
            source=source,
            changed=changed,
            keyword=keyword,
            message=message,
            reply_message=reply_message,
            user=user,
            note=note,
        )
    return opt_out_row


def _open_opt_out(phone_number, source, keyword, message, user) -> tuple[OptOut, bool]:
    existing = active_opt_out(phone_number)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            created = OptOut.objects.create(
                phone_number=phone_number,
                source=source,
                keyword=(keyword or "")[:40],
                message=message,
                created_by=_person(user),
            )
            return created, True
    except IntegrityError:
        # Another request opted the number out at the same moment: theirs stands.
        return active_opt_out(phone_number), False


def opt_in(
    phone_number, *, source, user=None, keyword="", message=None, reply_message=None, note=""
) -> int:
    """Close the open opt-out of this number, keeping it as history. Returns 1 if one was open.

    Also the ledger's record of explicit consent, so it is written even when nothing was open.
    """
    phone_number = normalise_phone(phone_number)
    with transaction.atomic():
        closed = OptOut.objects.filter(phone_number=phone_number, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=_person(user), revoked_source=source
        )
        record_action(
            "opt_in", actor=_person(user), target=phone_number, source=source, changed=bool(closed)
        )
        _record(
            phone_number,
            ConsentKind.OPT_IN,
            source=source,
            changed=bool(closed),
            keyword=keyword,
            message=message,
            reply_message=reply_message,
            user=user,
            note=note,
        )
    return closed


def record_consent_given(phone_number, *, message=None, keyword="", note="") -> bool:
    """A customer's "yes" to receiving messages (e.g. the opt-in flow): evidence of consent, but
    never a way back from an opt-out (only START is). Returns False for an opted-out number."""
    if is_opted_out(phone_number):
        return False
    _record(
        normalise_phone(phone_number),
        ConsentKind.OPT_IN,
        source=OptOutSource.KEYWORD,
        changed=False,
        keyword=keyword,
        message=message,
        note=note,
    )
    return True


def blocks_message(message) -> bool:
    """True when the message's number is opted out and the message is not the single
    confirmation of that opt-out: for a last check before a pending message leaves."""
    opt_out_row = active_opt_out(message.conversation.phone_number)
    if opt_out_row is None:
        return False
    return not ConsentEvent.objects.filter(
        reply_message=message, kind=ConsentKind.OPT_OUT, created_at__gte=opt_out_row.created_at
    ).exists()


def consent_history(phone_number):
    return ConsentEvent.objects.filter(phone_number=normalise_phone(phone_number))


def _record(phone_number, kind, *, source, changed, keyword="", message=None, **extra):
    user = extra.get("user")
    return ConsentEvent.objects.create(
        phone_number=phone_number,
        kind=kind,
        source=source,
        changed=changed,
        keyword=(keyword or "")[:40],
        message=message,
        reply_message=extra.get("reply_message"),
        note=(extra.get("note") or "")[:255],
        created_by=_person(user),
    )


def _person(user):
    return user if getattr(user, "is_authenticated", False) else None


# --- CSV import and export (admin) ----------------------------------------------------------


@dataclass
class ImportReport:
    added: int = 0
    already: int = 0
    errors: list[str] = field(default_factory=list)


def import_opt_outs(uploaded, *, user, filename="") -> ImportReport:
    """Opt out every number in a CSV (first column, or a column named phone/phone_number/...).

    Each row is its own ledger event (source "import"); bad rows are reported by line number
    and skipped, so one typo does not lose the rest of the file.
    """
    raw = uploaded.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        raise ValidationError(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError("The file is not UTF-8 text (save it as CSV UTF-8).") from exc
    report = ImportReport()
    rows = csv.reader(io.StringIO(text))
    column = 0
    for line_number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if line_number == 1 and _header_column(cells) is not None:
            column = _header_column(cells)
            continue
        if not any(cells):
            continue
        _import_row(cells, column, line_number, report, user=user, filename=filename)
    return report


def _header_column(cells):
    names = [cell.lower().replace(" ", "_") for cell in cells]
    return next((index for index, name in enumerate(names) if name in PHONE_HEADERS), None)


def _import_row(cells, column, line_number, report, *, user, filename):
    value = cells[column] if column < len(cells) else ""
    try:
        phone = normalise_phone(value)
    except ValidationError as exc:
        report.errors.append(f"line {line_number}: {value[:40]!r}: {exc.messages[0]}")
        return
    if is_opted_out(phone):
        report.already += 1
        return
    opt_out(phone, source=OptOutSource.IMPORT, user=user, note=f"import {filename}".strip())
    report.added += 1


def opt_out_rows(queryset=None):
    """Rows for the CSV export: the open opt-outs unless a queryset says otherwise."""
    queryset = OptOut.objects.filter(revoked_at__isnull=True) if queryset is None else queryset
    return queryset.order_by("phone_number").values_list(
        "phone_number", "source", "keyword", "created_at", "revoked_at"
    )


EXPORT_HEADER = ["phone_number", "source", "keyword", "created_at", "revoked_at"]
