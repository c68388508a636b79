"""Who a campaign goes to: recipients from a CSV, a pasted list, the API or conversations.

Every source goes through one `AudienceImporter`: each number is normalised to E.164, repeats
are merged (one row per campaign and number, also a database constraint), invalid numbers,
opted-out numbers and rows whose variables do not fill the DLT template are kept as `skipped`
rows with their reason (so staff can see them), and the rest are `pending` with their
variables and segment count. Rows are written with `bulk_create` in chunks while the file is
read, so 100,000 rows take seconds and little memory.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from exotel_client import MAX_BODY_LENGTH, analyse_body

from ..models import (
    AudienceSource,
    CampaignRecipient,
    Conversation,
    OptOut,
    RecipientState,
    SkipReason,
)
from ..phone import normalise_phone
from . import dlt
from .campaign_dispatch import fast_insert

PHONE_HEADERS = ("phone", "phone_number", "number", "mobile", "msisdn", "to")
NAME_HEADERS = ("name", "contact_name", "customer", "customer_name")
CHUNK_SIZE = 1000
MAX_LISTED_PROBLEMS = 200
PLACEHOLDER = re.compile(r"\{(\w+)\}")
MAX_PHONE_TEXT = 40


class AudienceError(ValidationError):
    """The audience cannot be read at all (e.g. no phone column); nothing was imported."""


@dataclass
class ImportReport:
    rows: int = 0
    added: int = 0
    duplicates: int = 0
    invalid: int = 0
    opted_out: int = 0
    bad_variables: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def sendable(self):
        return self.added - self.invalid - self.opted_out - self.bad_variables

    def summary(self) -> str:
        return (
            f"{self.rows} row(s): {self.sendable} to send, {self.duplicates} duplicate(s) "
            f"merged, {self.invalid} invalid, {self.opted_out} opted out, "
            f"{self.bad_variables} not fitting the template."
        )


_GSM7_EXTENSION_ASCII = "^{}\\[]~|"
_ASCII_NOT_GSM7 = re.compile(r"[`\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")


@lru_cache(maxsize=4096)
def segments_of(body: str) -> int:
    """Segments of a body; the common case (plain ASCII, one part) without the full analysis."""
    if body and body.isascii() and len(body) <= 160 and not _ASCII_NOT_GSM7.search(body):
        units = len(body) + sum(body.count(char) for char in _GSM7_EXTENSION_ASCII)
        if units <= 160:
            return 1
    return analyse_body(body).segments


def fill_variables(spec, values) -> list[str]:
    """Each entry of `spec` with its {column} placeholders filled from `values`."""

    def replace(match):
        key = match.group(1)
        if key not in values:
            raise ValueError(f"No column named {key!r} for {match.group(0)}.")
        return str(values[key] or "").strip()

    return [PLACEHOLDER.sub(replace, str(entry)) for entry in spec]


class AudienceImporter:
    """Adds recipients to one campaign; call `add` per row, then `finish` (or use `with`)."""

    def __init__(self, campaign, *, on_result=None):
        self.campaign = campaign
        self.template = campaign.template
        self.report = ImportReport()
        self._on_result = on_result
        self._pending: list[tuple[CampaignRecipient, object]] = []
        self._seen = set(
            CampaignRecipient.objects.filter(campaign=campaign).values_list(
                "phone_number", flat=True
            )
        )
        self._fixed_segments = segments_of(campaign.body) if campaign.body else None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.finish()

    def add(
        self,
        raw_phone,
        *,
        name="",
        values=None,
        variables=None,
        literal=False,
        row_number=None,
        key=None,
    ):
        """One row. `values` are its columns (for {column} placeholders); `variables` given
        explicitly win over the campaign's spec (`literal`: taken as they are, no placeholders).
        `key` is passed back to `on_result`."""
        self.report.rows += 1
        row_number = row_number or self.report.rows
        try:
            phone = normalise_phone(str(raw_phone or ""))
        except ValidationError as exc:
            return self._add_invalid(raw_phone, exc.messages[0], row_number, key)
        if phone in self._seen:
            self.report.duplicates += 1
            self._result(key, "duplicate", f"{phone} appears earlier in this campaign.")
            return
        self._seen.add(phone)
        values = {"phone": phone, "name": name, **(values or {})}
        recipient = CampaignRecipient(
            campaign=self.campaign,
            phone_number=phone,
            name=(name or "")[:120],
            row_number=row_number,
        )
        self._fill_body(recipient, values, variables, literal)
        self._queue(recipient, key)

    def _add_invalid(self, raw_phone, reason, row_number, key):
        text = str(raw_phone or "").strip()[:MAX_PHONE_TEXT] or f"(row {row_number}: empty)"
        if text in self._seen:
            self.report.duplicates += 1
            self._result(key, "duplicate", f"{text} appears earlier in this campaign.")
            return
        self._seen.add(text)
        recipient = CampaignRecipient(
            campaign=self.campaign,
            phone_number=text,
            row_number=row_number,
            state=RecipientState.SKIPPED,
            reason=SkipReason.INVALID,
            detail=reason[:255],
        )
        self._queue(recipient, key)

    def _fill_body(self, recipient, values, variables, literal):
        if self._fixed_segments is not None:
            recipient.segments = self._fixed_segments
            return
        try:
            recipient.variables = (
                [str(v) for v in variables] if literal else self._variables_for(values, variables)
            )
            body = dlt.render_template(self.template, recipient.variables)
            if len(body) > MAX_BODY_LENGTH:
                raise ValueError(f"The message would be {len(body)} characters (max 2000).")
        except ValueError as exc:
            recipient.state = RecipientState.SKIPPED
            recipient.reason = SkipReason.BAD_VARIABLES
            recipient.detail = str(exc)[:255]
            return
        recipient.segments = segments_of(body)

    def _variables_for(self, values, variables):
        if variables is not None:
            return fill_variables(variables, values)
        if self.campaign.variables:
            return fill_variables(self.campaign.variables, values)
        extra = [key for key in values if key not in ("phone", "name")]
        return [str(values[key] or "").strip() for key in extra]

    def _queue(self, recipient, key):
        self._pending.append((recipient, key))
        if len(self._pending) >= CHUNK_SIZE:
            self._flush()

    def _flush(self):
        if not self._pending:
            return
        self._skip_opted_out([r for r, _ in self._pending if r.state == RecipientState.PENDING])
        with transaction.atomic():
            fast_insert(CampaignRecipient, [r for r, _ in self._pending])
        for recipient, key in self._pending:
            self._count(recipient)
            self._result(key, recipient.reason or "", recipient.detail, recipient=recipient)
        self._pending = []

    def _skip_opted_out(self, recipients):
        phones = [r.phone_number for r in recipients]
        opted_out = dict(
            OptOut.objects.filter(phone_number__in=phones, revoked_at__isnull=True).values_list(
                "phone_number", "created_at"
            )
        )
        for recipient in recipients:
            if recipient.phone_number in opted_out:
                when = timezone.localtime(opted_out[recipient.phone_number])
                recipient.state = RecipientState.SKIPPED
                recipient.reason = SkipReason.OPTED_OUT
                recipient.detail = f"Opted out on {when:%d %b %Y %H:%M} IST."

    def _count(self, recipient):
        self.report.added += 1
        if recipient.reason == SkipReason.INVALID:
            self.report.invalid += 1
        elif recipient.reason == SkipReason.OPTED_OUT:
            self.report.opted_out += 1
        elif recipient.reason == SkipReason.BAD_VARIABLES:
            self.report.bad_variables += 1
        if recipient.reason and len(self.report.problems) < MAX_LISTED_PROBLEMS:
            where = f"row {recipient.row_number}" if recipient.row_number else ""
            self.report.problems.append(
                f"{where} {recipient.phone_number}: {recipient.detail}".strip()
            )

    def _result(self, key, code, detail, recipient=None):
        if code == "duplicate" and len(self.report.problems) < MAX_LISTED_PROBLEMS:
            self.report.problems.append(f"Merged: {detail}")
        if self._on_result is not None:
            self._on_result(key, code, detail, recipient)

    def finish(self) -> ImportReport:
        self._flush()
        if self.report.duplicates:
            type(self.campaign).objects.filter(pk=self.campaign.pk).update(
                duplicates_merged=self.campaign.duplicates_merged + self.report.duplicates
            )
            self.campaign.duplicates_merged += self.report.duplicates
        return self.report


# --- Sources -----------------------------------------------------------------------------


def _text_stream(fileobj):
    """Lines of text from an upload (bytes), an open text file, or any iterable of lines."""
    if isinstance(fileobj, io.TextIOBase) or not hasattr(fileobj, "read"):
        return fileobj
    raw = getattr(fileobj, "file", fileobj)
    if hasattr(raw, "seek"):
        raw.seek(0)
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="", errors="replace")


def _pick(header, wanted, given):
    lowered = [name.strip().lower() for name in header]
    if given:
        if given.strip().lower() not in lowered:
            raise AudienceError(f"The file has no column named {given!r}.")
        return lowered.index(given.strip().lower())
    return next((lowered.index(name) for name in wanted if name in lowered), None)


def import_csv(campaign, fileobj, *, phone_column=None, name_column=None) -> ImportReport:
    """Recipients from a CSV (UTF-8): a phone column (phone, mobile, ...), an optional name
    column, and variable columns. A file without a header row is read as phone, variables..."""
    reader = csv.reader(_text_stream(fileobj))
    header = next(reader, None)
    if not header:
        raise AudienceError("The file is empty.")
    phone_index = _pick(header, PHONE_HEADERS, phone_column)
    if phone_index is None:
        if _looks_like_phone(header[0]):
            return _import_headerless(campaign, header, reader)
        raise AudienceError(
            "No phone column: name one of " + ", ".join(PHONE_HEADERS) + " in the header."
        )
    name_index = _pick(header, NAME_HEADERS, name_column)
    columns = [name.strip() for name in header]
    limit = settings.CAMPAIGN_MAX_RECIPIENTS
    with AudienceImporter(campaign) as importer:
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if importer.report.rows >= limit:
                raise AudienceError(f"At most {limit} recipients per campaign.")
            values = {
                columns[i]: cell
                for i, cell in enumerate(row[: len(columns)])
                if i not in (phone_index, name_index)
            }
            phone = row[phone_index] if phone_index < len(row) else ""
            name = (
                row[name_index].strip() if name_index is not None and name_index < len(row) else ""
            )
            importer.add(phone, name=name, values=values, row_number=number)
    campaign.audience_source = campaign.audience_source or AudienceSource.CSV
    type(campaign).objects.filter(pk=campaign.pk).update(audience_source=campaign.audience_source)
    return importer.report


def _looks_like_phone(text):
    try:
        normalise_phone(str(text))
    except ValidationError:
        return False
    return True


def _import_headerless(campaign, first_row, reader) -> ImportReport:
    with AudienceImporter(campaign) as importer:
        for number, row in enumerate([first_row], start=1):
            _add_plain_row(importer, row, number)
        for number, row in enumerate(reader, start=2):
            _add_plain_row(importer, row, number)
    return importer.report


def _add_plain_row(importer, row, number):
    cells = [cell.strip() for cell in row]
    if not any(cells):
        return
    values = {f"var{i}": cell for i, cell in enumerate(cells[1:], start=1)}
    importer.add(cells[0], values=values, row_number=number)


def import_pasted(campaign, text) -> ImportReport:
    """A pasted list: one recipient a line, `number` or `number, variable, variable, ...`."""
    rows = csv.reader(io.StringIO(text or ""))
    with AudienceImporter(campaign) as importer:
        for number, row in enumerate(rows, start=1):
            _add_plain_row(importer, row, number)
    return importer.report


def conversations_matching(audience_filter):
    """Conversations chosen by a saved filter: search text, active within N days."""
    audience_filter = audience_filter or {}
    conversations = Conversation.objects.all()
    search = (audience_filter.get("search") or "").strip()
    if search:
        conversations = conversations.filter(
            Q(phone_number__icontains=search) | Q(contact_name__icontains=search)
        )
    days = audience_filter.get("active_within_days")
    if days:
        since = timezone.now() - timedelta(days=int(days))
        conversations = conversations.filter(last_activity_at__gte=since)
    return conversations.order_by("id")


def import_conversations(campaign, audience_filter=None) -> ImportReport:
    """Every conversation the filter matches; {name}, {phone} and stored flow answers (e.g.
    {order_id}) can fill the variables."""
    audience_filter = audience_filter if audience_filter is not None else campaign.audience_filter
    rows = conversations_matching(audience_filter).values_list(
        "phone_number", "contact_name", "flow_answers"
    )
    with AudienceImporter(campaign) as importer:
        for phone, name, answers in rows.iterator(chunk_size=CHUNK_SIZE):
            values = {k: v for k, v in (answers or {}).items() if isinstance(v, str | int)}
            importer.add(phone, name=name, values=values, variables=campaign.variables or [])
    type(campaign).objects.filter(pk=campaign.pk).update(
        audience_source=AudienceSource.CONVERSATIONS, audience_filter=audience_filter or {}
    )
    return importer.report


def copy_recipients(source_queryset, campaign) -> ImportReport:
    """Recipients of another campaign (duplicate, re-target), re-checked as new rows."""
    rows = source_queryset.exclude(reason=SkipReason.INVALID).values_list(
        "phone_number", "name", "variables"
    )
    with AudienceImporter(campaign) as importer:
        for phone, name, variables in rows.iterator(chunk_size=CHUNK_SIZE):
            importer.add(phone, name=name, variables=variables or [], literal=True)
    return importer.report
