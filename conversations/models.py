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

from .fields import PhoneNumberField


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


class Conversation(models.Model):
    phone_number = PhoneNumberField(unique=True)
    contact_name = models.CharField(max_length=120, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        indexes = [
            models.Index(fields=["-last_activity_at", "-id"], name="conversation_inbox_idx"),
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
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
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
        DltTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
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
    resent_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resends"
    )
    # Campaign messages (outbound) and the replies linked to them (inbound).
    campaign = models.ForeignKey(
        "Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
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
            models.Index(fields=["status", "updated_at"], name="message_status_idx"),
            models.Index(fields=["template", "status"], name="message_template_status_idx"),
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
    sid = models.CharField(max_length=64, blank=True, db_index=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    outcome = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(processed_at__isnull=True),
                name="webhook_unprocessed_idx",
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


class KeywordAction(models.TextChoices):
    OPT_OUT = "opt_out", "Opt out (STOP)"
    OPT_IN = "opt_in", "Opt back in (START)"
    HELP = "help", "Help"
    CONFIRM = "confirm", "Confirm"
    CANCEL = "cancel", "Cancel"
    REPLY = "reply", "Reply only"
    START_FLOW = "start_flow", "Start a flow"
    ROUTE = "route", "Route to an agent"


class KeywordMatch(models.TextChoices):
    EXACT = "exact", "The whole message is a keyword"
    FIRST_WORD = "first_word", "The message starts with a keyword"
    FALLBACK = "fallback", "Any message nothing else understood"


class KeywordRule(models.Model):
    """A reply to a word. Matching ignores case, spaces, punctuation and emoji, so "Stop!" and
    " STOP " are STOP, while "please don't stop" is not (EXACT compares the whole message)."""

    name = models.CharField(max_length=80)
    keywords = models.TextField(
        blank=True, help_text="One per line or separated by commas, e.g. STOP, band karo, रोकें."
    )
    match = models.CharField(
        max_length=12, choices=KeywordMatch.choices, default=KeywordMatch.EXACT
    )
    action = models.CharField(max_length=12, choices=KeywordAction.choices)
    reply = models.TextField(
        blank=True,
        help_text="Sent back through the outbound pipeline, so it must fill an active DLT "
        "template. {name}, {phone} and stored answers such as {order_id} are filled in.",
    )
    flow = models.ForeignKey(
        "Flow", null=True, blank=True, on_delete=models.PROTECT, related_name="keyword_rules"
    )
    store_as = models.SlugField(
        max_length=40,
        blank=True,
        help_text="Confirm/cancel: the answer key set on the conversation.",
    )
    reply_cooldown_minutes = models.PositiveIntegerField(
        default=0, help_text="Do not repeat this reply to a number within this time (0: always)."
    )
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower runs first.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["match"],
                condition=Q(match="fallback", active=True),
                name="keywordrule_one_active_fallback",
            ),
            models.CheckConstraint(
                condition=~Q(action="start_flow") | Q(flow__isnull=False),
                name="keywordrule_start_flow_has_flow",
            ),
        ]

    def __str__(self):
        return self.name


class Flow(models.Model):
    """A multi-step conversation defined as data: steps, each with the answers it expects."""

    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=40, unique=True)
    description = models.TextField(blank=True)
    expires_after_minutes = models.PositiveIntegerField(
        default=24 * 60, help_text="A session with no answer for this long ends."
    )
    handover_reply = models.TextField(
        blank=True, help_text="Sent when a step's attempts run out and an agent takes over."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class FlowStep(models.Model):
    """One question. The flow starts at the step with the lowest position."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="steps")
    key = models.SlugField(max_length=40)
    position = models.PositiveSmallIntegerField(default=0)
    prompt = models.TextField(help_text="Sent when the flow reaches this step.")
    retry_prompt = models.TextField(
        blank=True, help_text="Sent when the answer is not understood (blank: the prompt again)."
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=3, help_text="Answers not understood before an agent takes over."
    )
    store_as = models.SlugField(
        max_length=40, blank=True, help_text="Answer key on the conversation (blank: not stored)."
    )

    class Meta:
        ordering = ["flow", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["flow", "key"], name="flowstep_key_unique_in_flow"),
        ]

    def __str__(self):
        return f"{self.flow.name}: {self.key}"


class FlowChoiceAction(models.TextChoices):
    NONE = "", "Nothing else"
    RECORD_OPT_IN = "record_opt_in", "Record consent (opt-in)"
    ROUTE = "route", "Route to an agent"


class FlowChoice(models.Model):
    """An answer a step understands: listed words, a pattern, or (both blank) any text."""

    step = models.ForeignKey(FlowStep, on_delete=models.CASCADE, related_name="choices")
    position = models.PositiveSmallIntegerField(default=0)
    answers = models.CharField(
        max_length=200,
        blank=True,
        help_text='Comma-separated, e.g. "1, great"; {otp} is filled in.',
    )
    pattern = models.CharField(
        max_length=200, blank=True, help_text=r"A regular expression the whole answer must match."
    )
    value = models.CharField(
        max_length=100, blank=True, help_text="What is stored (blank: the answer as sent)."
    )
    reply = models.TextField(blank=True, help_text="Sent after this answer (blank: next prompt).")
    next_step = models.ForeignKey(
        FlowStep,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Blank ends the flow.",
    )
    action = models.CharField(
        max_length=16, choices=FlowChoiceAction.choices, default=FlowChoiceAction.NONE, blank=True
    )

    class Meta:
        ordering = ["step", "position", "id"]

    def __str__(self):
        return self.answers or self.pattern or "any answer"


class FlowSessionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"
    HANDED_OVER = "handed_over", "Handed to an agent"


class FlowSession(models.Model):
    """One run of a flow in one conversation; at most one is active per conversation.

    active --(last answer)--> completed; --(no answer in time)--> expired;
    --(STOP, another flow, staff)--> cancelled; --(attempts run out)--> handed_over.
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="flow_sessions"
    )
    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="sessions")
    step = models.ForeignKey(
        FlowStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=12, choices=FlowSessionStatus.choices, default=FlowSessionStatus.ACTIVE
    )
    context = models.JSONField(default=dict, blank=True, help_text="Values given at the start.")
    answers = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status="active"),
                name="flowsession_one_active_per_conversation",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="active"), name="flowsession_expiry_idx"
            ),
        ]

    def __str__(self):
        return f"{self.flow.name} ({self.get_status_display()})"


class ConsentKind(models.TextChoices):
    OPT_OUT = "opt_out", "Opted out"
    OPT_IN = "opt_in", "Opted in"


class ConsentEvent(models.Model):
    """The consent ledger: every opt-out and opt-in statement, append-only. `OptOut` holds the
    current state (fast to check); this table is the evidence of how it came to be."""

    phone_number = PhoneNumberField(db_index=True)
    kind = models.CharField(max_length=8, choices=ConsentKind.choices)
    source = models.CharField(max_length=20, choices=OptOutSource.choices)
    changed = models.BooleanField(
        help_text="False when the number was already in this state (e.g. a second STOP)."
    )
    keyword = models.CharField(max_length=40, blank=True)
    message = models.ForeignKey(
        Message,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The customer's message that caused it.",
    )
    reply_message = models.ForeignKey(
        Message,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Our confirmation, the one message a number may get after opting out.",
    )
    note = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ConsentKind.values), name="consentevent_kind_valid"
            ),
        ]

    def __str__(self):
        return f"{self.phone_number} {self.get_kind_display().lower()} ({self.source})"


class InboundAction(models.TextChoices):
    OPT_OUT = "opt_out", "Opted out"
    OPT_IN = "opt_in", "Opted back in"
    HELP = "help", "Help"
    CONFIRM = "confirm", "Confirmed"
    CANCEL = "cancel", "Cancelled"
    REPLY = "reply", "Keyword reply"
    START_FLOW = "start_flow", "Started a flow"
    ROUTE = "route", "Routed to an agent"
    FLOW_ANSWER = "flow_answer", "Answered a flow step"
    FLOW_RETRY = "flow_retry", "Flow did not understand"
    FLOW_HANDOVER = "flow_handover", "Flow handed to an agent"
    UNRECOGNISED = "unrecognised", "Left for an agent"
    OPTED_OUT_SENDER = "opted_out", "From an opted-out number: no reply"


class ReplyChannel(models.TextChoices):
    API = "api", "Send SMS API"
    APPLET = "applet", "Send a Reply applet (HTTP answer)"


class InboundOutcome(models.Model):
    """What SMS Desk did with one inbound message. One row per message (the database refuses a
    second), so a replayed event, a HEAD before a GET, or the same SMS arriving by POST and GET
    is answered once."""

    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="inbound_outcome"
    )
    action = models.CharField(max_length=16, choices=InboundAction.choices)
    rule = models.ForeignKey(
        KeywordRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="outcomes"
    )
    flow_session = models.ForeignKey(
        FlowSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="outcomes"
    )
    reply_body = models.TextField(blank=True)
    reply_channel = models.CharField(max_length=8, choices=ReplyChannel.choices)
    reply_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reply_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.get_action_display()} ({self.message_id})"


# Campaigns ------------------------------------------------------------------------------------
#
# A campaign sends one DLT template to many recipients, each a row (unique per campaign and
# number). Dispatchers claim pending rows in batches and send each batch as one Exotel bulk
# request; every recipient sent gets an ordinary outbound `Message` (source "campaign"), so the
# inbox, status callbacks and reconciliation treat it like any other.
#
#     draft --start--> scheduled --(time)--> running <--pause/resume--> paused
#     running --(no pending rows)--> completed;  any but completed --cancel--> cancelled
#
# A recipient moves pending -> sending (claimed into a batch, committed before the request)
# -> sent | failed; or pending -> skipped (opted out, invalid number, bad variables) or
# cancelled. A batch still `sending` when its worker died has an unknown outcome: its
# recipients become `unknown` and are never sent again automatically.


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class PauseReason(models.TextChoices):
    NONE = "", "—"
    STAFF = "staff", "Paused by staff"
    WINDOW = "window", "Promotional: outside 10:00-21:00 IST"
    ERROR = "error", "Exotel refused the campaign's requests"
    TEMPLATE = "template", "The DLT template is no longer active"


class Recurrence(models.TextChoices):
    NONE = "", "Once"
    DAILY = "daily", "Every day"
    WEEKLY = "weekly", "Every week"
    MONTHLY = "monthly", "Every month"


class AudienceSource(models.TextChoices):
    CSV = "csv", "CSV upload"
    LIST = "list", "Pasted list"
    CONVERSATIONS = "conversations", "Existing conversations"
    API = "api", "API"
    COPY = "copy", "Copied from another campaign"
    RETARGET = "retarget", "Failed recipients of another campaign"


class Campaign(models.Model):
    """One send of a DLT template to many numbers; see the lifecycle above."""

    name = models.CharField(max_length=120)
    template = models.ForeignKey(
        DltTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns"
    )
    body = models.TextField(
        blank=True,
        max_length=2000,
        help_text="One text for everyone (it must fill the template). Leave blank to fill the "
        "template per recipient from the variables.",
    )
    variables = models.JSONField(
        default=list,
        blank=True,
        help_text='One value per {#var#} slot; "{column}" takes it from the recipient\'s row, '
        'e.g. ["{name}", "{date}", "3 PM"]. Empty: the row\'s extra columns in order.',
    )
    sms_type = models.CharField(max_length=24, choices=SmsType.choices, blank=True)
    audience_source = models.CharField(max_length=16, choices=AudienceSource.choices, blank=True)
    audience_filter = models.JSONField(default=dict, blank=True)
    rate = models.FloatField(
        null=True,
        blank=True,
        help_text="Messages per second across all workers. Blank: as fast as Exotel allows.",
    )
    status = models.CharField(
        max_length=12, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    pause_reason = models.CharField(
        max_length=12, choices=PauseReason.choices, default=PauseReason.NONE, blank=True
    )
    resume_at = models.DateTimeField(null=True, blank=True)
    scheduled_at = models.DateTimeField(
        null=True, blank=True, help_text="When to start (IST). Blank: when started."
    )
    recurrence = models.CharField(
        max_length=8, choices=Recurrence.choices, default=Recurrence.NONE, blank=True
    )
    next_run_at = models.DateTimeField(null=True, blank=True)
    series = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        help_text="The recurring campaign this run belongs to.",
    )
    source_campaign = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="copies",
        help_text="Duplicated or re-targeted from.",
    )
    reply_window_hours = models.PositiveIntegerField(
        default=48, help_text="An inbound SMS this long after a campaign message is its reply."
    )
    # Dispatcher state: shared by every worker through this row.
    generation = models.PositiveIntegerField(default=0)
    throttled_until = models.DateTimeField(null=True, blank=True)
    throttle_count = models.PositiveIntegerField(default=0)
    rate_factor = models.FloatField(default=1.0)
    rate_tat = models.FloatField(default=0.0)
    last_dispatch_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    duplicates_merged = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(rate__isnull=True) | Q(rate__gt=0), name="campaign_rate_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_at"], name="campaign_status_idx"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_promotional(self):
        return self.sms_type == SmsType.PROMOTIONAL


class RecipientState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Accepted by Exotel"
    FAILED = "failed", "Refused by Exotel"
    SKIPPED = "skipped", "Skipped"
    UNKNOWN = "unknown", "Outcome unknown"
    CANCELLED = "cancelled", "Cancelled"


class SkipReason(models.TextChoices):
    INVALID = "invalid", "Invalid number"
    OPTED_OUT = "opted_out", "Opted out"
    BAD_VARIABLES = "bad_variables", "Does not fill the DLT template"


class CampaignBatch(models.Model):
    """One Exotel bulk request of a campaign (at most 100 numbers)."""

    class State(models.TextChoices):
        SENDING = "sending", "Sending"
        DONE = "done", "Answered"
        RELEASED = "released", "Refused before sending; recipients retried"
        UNKNOWN = "unknown", "Worker stopped mid-request"

    class Kind(models.TextChoices):
        STATIC = "static", "Static (one body)"
        DYNAMIC = "dynamic", "Dynamic (a body each)"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="batches")
    state = models.CharField(max_length=10, choices=State.choices, default=State.SENDING)
    kind = models.CharField(max_length=8, choices=Kind.choices, blank=True)
    size = models.PositiveSmallIntegerField(default=0)
    accepted = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=120, blank=True)
    claimed_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-claimed_at", "-id"]
        verbose_name_plural = "campaign batches"
        indexes = [
            models.Index(
                fields=["campaign", "claimed_at"],
                condition=Q(state="sending"),
                name="campaignbatch_inflight_idx",
            ),
        ]

    def __str__(self):
        return f"batch {self.pk} of {self.campaign_id} ({self.state}, {self.size})"


class CampaignRecipient(models.Model):
    """One number of a campaign: what to send it, and what happened."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    # E.164; for an invalid number, the text as given (so it can be listed with its reason).
    phone_number = models.CharField(max_length=40)
    name = models.CharField(max_length=120, blank=True)
    variables = models.JSONField(default=list, blank=True)
    row_number = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(
        max_length=10, choices=RecipientState.choices, default=RecipientState.PENDING
    )
    reason = models.CharField(max_length=16, choices=SkipReason.choices, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    segments = models.PositiveSmallIntegerField(default=1)
    batch = models.ForeignKey(
        CampaignBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="recipients"
    )
    message = models.OneToOneField(
        Message,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaign_recipient",
    )
    reply_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replied_at = models.DateTimeField(null=True, blank=True)
    answer = models.CharField(max_length=24, blank=True)
    reply_count = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["campaign", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "phone_number"], name="campaignrecipient_one_per_number"
            ),
            models.CheckConstraint(
                condition=Q(state__in=RecipientState.values), name="campaignrecipient_state_valid"
            ),
        ]
        indexes = [
            # The dispatcher's claim: the next pending rows of a campaign, in order.
            models.Index(fields=["campaign", "state", "id"], name="campaignrecipient_claim_idx"),
        ]

    def __str__(self):
        return f"{self.phone_number} ({self.get_state_display()})"
