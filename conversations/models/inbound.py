"""Inbound handling: keyword rules, flows and their sessions, the consent ledger, outcomes."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from ..fields import PhoneNumberField
from .messaging import Conversation, Message, OptOutSource


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
    answers_within_hours = models.PositiveIntegerField(
        "only within (hours) of our message",
        default=0,
        help_text="The rule applies only when we texted this number within this many hours "
        "(0: at any time). Outside that window the message is left for an agent: a YES with "
        "nothing to confirm gets no confirmation.",
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
