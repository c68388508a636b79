"""The data model of SMS Desk.

A `Conversation` is one customer's phone number (E.164, unique); its `Message` rows are the
thread. Outbound messages move through a lifecycle owned partly by us and partly by Exotel:

    pending --(send task claims it)--> dispatching --> queued / sending / submitted
        --> sent | delivered | failed | failed-dnd          (final; never regresses)
    scheduled (held, e.g. promotional outside 10:00-21:00 IST) --(beat releases it)--> pending
    dispatching --(timeout after the request left, or a crash)--> unknown --(reconciled)--> ...

Inbound messages are `received`. Counters on `Conversation` are denormalised so the inbox list
is a single indexed query.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..fields import PhoneNumberField


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class MessageStatus(models.TextChoices):
    # Ours, before Exotel knows of the message.
    PENDING = "pending", "Pending"
    SCHEDULED = "scheduled", "Scheduled"
    DISPATCHING = "dispatching", "Sending to Exotel"
    # Exotel's statuses (shared/seeds/004_*); "delivered" is DELIVERED_TO_HANDSET (20005).
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SUBMITTED = "submitted", "Submitted"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    FAILED_DND = "failed-dnd", "Failed (DND)"
    # Ours again: a request whose outcome we could not learn, and inbound messages.
    UNKNOWN = "unknown", "Unknown (reconciling)"
    RECEIVED = "received", "Received"


FINAL_STATUSES = frozenset(
    {MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.FAILED_DND}
)


class SmsType(models.TextChoices):
    TRANSACTIONAL = "transactional", "Transactional"
    TRANSACTIONAL_OPT_IN = "transactional_opt_in", "Transactional (opt-in)"
    PROMOTIONAL = "promotional", "Promotional"


class MessageSource(models.TextChoices):
    API = "api", "API"
    INBOX = "inbox", "Inbox"
    ADMIN = "admin", "Admin"
    KEYWORD = "keyword", "Keyword auto-reply"
    FLOW = "flow", "Flow"
    CAMPAIGN = "campaign", "Campaign"
    CALL = "call", "Call event"
    EXOTEL = "exotel", "Exotel (inbound)"


class Encoding(models.TextChoices):
    PLAIN = "plain", "GSM-7"
    UNICODE = "unicode", "Unicode"


def optional_user_link(related_name="+"):
    """A link to a user that is usually unset, left out of indexes unless `set_links_index`
    names it (the model's Meta): kept when the user is deleted, set to NULL."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name=related_name,
        db_index=False,
    )


def set_links_index(prefix, *fields):
    """An index per nullable link, holding only the rows where it is set: lookups by a given
    id (and the deletes that cascade or set NULL) use it, and a row written with the link
    unset costs no index entry."""
    return [
        models.Index(
            fields=[name], condition=Q(**{f"{name}__isnull": False}), name=f"{prefix}_{name}_idx"
        )
        for name in fields
    ]


class Conversation(models.Model):
    # Unique through Meta's constraint, not unique=True: on PostgreSQL Django adds a second,
    # varchar_pattern_ops index to a unique CharField, which nothing reads (searches use the
    # trigram index) and every inbound SMS or campaign message would write again.
    phone_number = PhoneNumberField()
    contact_name = models.CharField(max_length=120, blank=True)
    # The user links are indexed only where set (see Meta): every inbound SMS rewrites its
    # conversation's row, and an index entry for each NULL link would be written each time.
    assignee = optional_user_link(related_name="assigned_conversations")
    # Denormalised from the messages so the inbox list needs no aggregation.
    last_message_body = models.TextField(blank=True)
    last_message_direction = models.CharField(max_length=8, choices=Direction.choices, blank=True)
    last_message_status = models.CharField(max_length=12, choices=MessageStatus.choices, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    message_count = models.PositiveIntegerField(default=0)
    unread_count = models.PositiveIntegerField(default=0)
    # Inbound (issue 5): what the customer told our flows, and whether a person must look.
    flow_answers = models.JSONField(default=dict, blank=True)
    needs_attention = models.BooleanField(default=False)
    # The inbox's team features (issue 6): the outcome that closed the conversation (a new
    # inbound message reopens it), and who is writing a reply now (a lock that expires).
    outcome = models.CharField(max_length=40, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = optional_user_link()
    replying_user = optional_user_link()
    replying_until = models.DateTimeField(null=True, blank=True)
    # SMS from calls (issue 9): opened by a missed call from a number we had never heard from.
    is_lead = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        indexes = [
            models.Index(fields=["-last_activity_at", "-id"], name="conversation_inbox_idx"),
            # The inbox's unread, closed and needs-attention filters (and their counts) read
            # only their rows. Searches use trigram indexes, created on PostgreSQL only (0008).
            models.Index(
                fields=["-last_activity_at", "-id"],
                condition=Q(unread_count__gt=0),
                name="conversation_unread_idx",
            ),
            models.Index(
                fields=["-last_activity_at", "-id"],
                condition=Q(closed_at__isnull=False),
                name="conversation_closed_idx",
            ),
            models.Index(
                fields=["-last_activity_at", "-id"],
                condition=Q(needs_attention=True),
                name="conversation_attention_idx",
            ),
            *set_links_index("conversation", "assignee", "closed_by", "replying_user"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["phone_number"], name="conversation_phone_unique"),
        ]

    def __str__(self):
        return (
            f"{self.phone_number} — {self.contact_name}" if self.contact_name else self.phone_number
        )

    @property
    def has_unread(self):
        return self.unread_count > 0


class DltTemplate(models.Model):
    """A template registered on a DLT portal; outbound bodies must match one (`{#var#}` slots)."""

    name = models.CharField(max_length=120)
    template_id = models.CharField("DLT template id", max_length=32, unique=True)
    entity_id = models.CharField("DLT entity id", max_length=32)
    sender_id = models.CharField("sender id (header)", max_length=11)
    body = models.TextField(max_length=2000)
    sms_type = models.CharField(
        max_length=24, choices=SmsType.choices, default=SmsType.TRANSACTIONAL
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "DLT template"

    def __str__(self):
        return f"{self.name} ({self.template_id})"


class Message(models.Model):
    # Indexed by message_thread_idx (conversation, created_at) and message_template_status_idx
    # (template, status), which serve lookups by either alone: a second index on each would
    # only cost every insert (an inbound webhook writes a message per request).
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    body = models.TextField()
    status = models.CharField(max_length=12, choices=MessageStatus.choices)
    # Exotel-owned fields: set from API answers and status callbacks only. The sid is NULL (not
    # "") until Exotel gives one, so the unique constraint ignores unsent messages.
    sid = models.CharField("Exotel SmsSid", max_length=64, null=True, blank=True)  # noqa: DJ001
    detailed_status = models.CharField(max_length=64, blank=True)
    detailed_status_code = models.PositiveIntegerField(null=True, blank=True)
    sms_units = models.PositiveSmallIntegerField(null=True, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=6, null=True, blank=True)
    # What we sent (or, for inbound, our number that received it).
    template = models.ForeignKey(
        DltTemplate,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        db_index=False,
    )
    sender = models.CharField(max_length=32, blank=True)
    exophone = models.CharField(max_length=32, blank=True)
    sms_type = models.CharField(max_length=24, choices=SmsType.choices, blank=True)
    encoding = models.CharField(max_length=8, choices=Encoding.choices, blank=True)
    segments = models.PositiveSmallIntegerField(default=1)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    error_message = models.CharField(max_length=255, blank=True)
    # Sending bookkeeping.
    source = models.CharField(max_length=10, choices=MessageSource.choices, blank=True)
    variables = models.JSONField(default=list, blank=True)
    send_after = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # These links are indexed only where set (see Meta): an inbound SMS has none of them.
    resent_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="resends",
        db_index=False,
    )
    # Campaign messages (outbound) and the replies linked to them (inbound).
    campaign = models.ForeignKey(
        "Campaign",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        db_index=False,
    )
    created_by = optional_user_link()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One row per Exotel sid: duplicate webhooks and callbacks can never double a message.
            models.UniqueConstraint(
                fields=["sid"], condition=Q(sid__isnull=False), name="message_sid_unique"
            ),
            models.CheckConstraint(
                condition=Q(direction__in=Direction.values), name="message_direction_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=MessageStatus.values), name="message_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="message_thread_idx"),
            # Status queries look for outbound states (pending, scheduled, failed...); received
            # messages, written by every inbound webhook, stay out of this index.
            models.Index(
                fields=["status", "updated_at"],
                condition=~Q(status=MessageStatus.RECEIVED),
                name="message_status_idx",
            ),
            models.Index(
                fields=["template", "status"],
                condition=Q(template__isnull=False),
                name="message_template_status_idx",
            ),
            *set_links_index("message", "resent_from", "campaign", "created_by"),
        ]

    def __str__(self):
        return f"{self.get_direction_display()} {self.conversation.phone_number}: {self.body[:40]}"

    @property
    def is_final(self):
        return self.status in FINAL_STATUSES


class OptOutSource(models.TextChoices):
    KEYWORD = "keyword", "Keyword from the customer"
    AGENT = "agent", "Agent"
    STAFF = "staff", "Staff (admin)"
    IMPORT = "import", "Import"
    API = "api", "API"
    EXOTEL_BLACKLIST = "exotel_blacklist", "Exotel blacklist (23020)"


class OptOut(models.Model):
    """One opt-out of one number. Opting back in closes it (`revoked_at`); rows are never deleted,
    so the table is the number's consent history. At most one open opt-out per number."""

    phone_number = PhoneNumberField(db_index=True)
    source = models.CharField(max_length=20, choices=OptOutSource.choices)
    keyword = models.CharField(max_length=40, blank=True)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_source = models.CharField(max_length=20, choices=OptOutSource.choices, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "opt-out"
        constraints = [
            models.UniqueConstraint(
                fields=["phone_number"],
                condition=Q(revoked_at__isnull=True),
                name="optout_one_active_per_number",
            ),
        ]

    def __str__(self):
        return f"{self.phone_number} ({self.get_source_display()})"

    @property
    def is_active(self):
        return self.revoked_at is None


class StatusEventSource(models.TextChoices):
    SEND = "send", "Send request"
    CALLBACK = "callback", "Status callback"
    RECONCILE = "reconcile", "Reconciliation"
    INTERNAL = "internal", "SMS Desk"


class MessageStatusEvent(models.Model):
    """One transition of a message's status, with its time and cost: the message's history."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="status_events")
    status = models.CharField(max_length=12, choices=MessageStatus.choices)
    detailed_status = models.CharField(max_length=64, blank=True)
    detailed_status_code = models.PositiveIntegerField(null=True, blank=True)
    sms_units = models.PositiveSmallIntegerField(null=True, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=6, null=True, blank=True)
    source = models.CharField(max_length=10, choices=StatusEventSource.choices)
    note = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recorded_at", "id"]

    def __str__(self):
        return f"{self.status} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class WebhookKind(models.TextChoices):
    SMS_STATUS = "sms_status", "SMS status callback"
    SMS_INCOMING = "sms_incoming", "Inbound SMS"
    SMS_REPLY_APPLET = "sms_reply", "Send a Reply applet (GET)"
    CALL_EVENT = "call_event", "Call event (Passthru)"


class WebhookEvent(models.Model):
    """Every webhook as it arrived, stored before it is acknowledged; replayable from admin.

    `processed_at` stays NULL until a task has applied it, so a sweep can find what the broker
    dropped. `sid` (SmsSid or CallSid) lets a status callback that arrived before its message's
    sid was known be applied later.
    """

    kind = models.CharField(max_length=16, choices=WebhookKind.choices)
    payload = models.JSONField()
    sid = models.CharField(max_length=64, blank=True)  # indexed in Meta (no LIKE index)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    outcome = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # Callbacks waiting for their sid look it up by equality: a plain b-tree, without
            # the LIKE index `db_index=True` adds to a CharField on PostgreSQL.
            models.Index(fields=["sid"], name="webhook_sid_idx"),
            models.Index(
                fields=["received_at"],
                condition=Q(processed_at__isnull=True),
                name="webhook_unprocessed_idx",
            ),
            # The drain task's queue: events nobody has tried yet, in id order.
            models.Index(
                fields=["id"],
                condition=Q(processed_at__isnull=True, attempts=0),
                name="webhook_undrained_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.sid} ({self.received_at:%Y-%m-%d %H:%M:%S})"


class AuditLog(models.Model):
    """Append-only record of what people (and the system, on their behalf) did."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40, db_index=True)
    target = models.CharField(max_length=120, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.action} {self.target}"


# Inbound: keywords, flows, consent ------------------------------------------------------------
#
# An inbound message is answered at most once (`InboundOutcome`, one per message): by a consent
# keyword (STOP/START win over everything), else by the conversation's active flow, else by a
# keyword rule, else it is left for an agent (flagged), with an optional fallback reply.
