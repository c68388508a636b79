"""Reads and small helpers for the agents' inbox: which conversations a person sees, how a
row summarises its conversation, and the rows of the CSV export."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Exists, F, Lookup, OuterRef
from django.utils import timezone

from ..models import Conversation, Direction, Message, MessageStatus, OptOut

AGENTS_GROUP = "Agents"
# (value, label) of the list's filters; "" shows everything.
FILTER_CHOICES = [
    ("", "All"),
    ("unread", "Unread"),
    ("attention", "Needs attention"),
    ("mine", "Mine"),
    ("open", "Open"),
    ("closed", "Closed"),
    ("opted_out", "Opted out"),
    ("leads", "Leads (missed calls)"),
]
FILTERS = tuple(value for value, _ in FILTER_CHOICES if value)
MAX_SEARCH = 100
MAX_LISTED_IDS = 2000

# What the list shows when the last message is ours: its delivery, not our own words.
OUTBOUND_SUMMARY = {
    MessageStatus.DELIVERED: "Delivered (no reply)",
    MessageStatus.SENT: "Sent (no reply)",
    MessageStatus.FAILED: "Failed",
    MessageStatus.FAILED_DND: "Failed (DND)",
    MessageStatus.SCHEDULED: "Scheduled",
}


def visible_conversations(user):
    """The conversations this person may open: all, unless agents are limited to their own."""
    conversations = Conversation.objects.all()
    if settings.INBOX_ASSIGNED_ONLY and not user.is_staff:
        conversations = conversations.filter(assignee=user)
    return conversations


def with_opt_out(conversations):
    open_opt_outs = OptOut.objects.filter(
        phone_number=OuterRef("phone_number"), revoked_at__isnull=True
    )
    return conversations.annotate(opted_out=Exists(open_opt_outs))


def _open_opt_out_numbers():
    return OptOut.objects.filter(revoked_at__isnull=True).order_by().values("phone_number")


def search_conversations(user, *, query="", filter_name=""):
    """The inbox list: newest first, searched by phone, name or message text, and filtered."""
    conversations = with_opt_out(visible_conversations(user)).select_related("assignee")
    conversations = matching_conversations(conversations, query)
    if filter_name == "unread":
        conversations = conversations.filter(unread_count__gt=0)
    elif filter_name == "attention":
        conversations = conversations.filter(needs_attention=True)
    elif filter_name == "mine":
        conversations = conversations.filter(assignee=user)
    elif filter_name == "opted_out":
        # The few open opt-outs lead (their numbers are unique in conversations), rather than
        # an EXISTS tried on every conversation.
        conversations = conversations.filter(phone_number__in=_open_opt_out_numbers())
    elif filter_name == "open":
        conversations = conversations.filter(closed_at__isnull=True)
    elif filter_name == "closed":
        conversations = conversations.filter(closed_at__isnull=False)
    elif filter_name == "leads":
        conversations = conversations.filter(is_lead=True)
    return conversations.order_by("-last_activity_at", "-id")


class AnyOf(Lookup):
    """`lhs = ANY(array)` with integer values as one array literal (PostgreSQL). `__in` binds
    a placeholder per value, and psycopg quotes a list value by value: for 50,000 ids that was
    0.4 s and 0.05 s per query; one string is quoted at once."""

    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        array = "{" + ",".join(str(int(value)) for value in self.rhs) + "}"
        return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, array]


def matching_conversations(conversations, query):
    """`conversations` whose name, number or any message contains `query` (the inbox's and
    the API's search); all of them for an empty query.

    The matching ids are read once, then handed to the list, its count and its page as values:
    a word found in many messages (a tenth of them, say) costs one pass over those messages
    instead of one per query, and a name or a number (a few ids) is fetched by primary key,
    where the planner, guessing from trigram statistics, would often hash-join a subquery
    against every conversation."""
    query = " ".join((query or "").split())[:MAX_SEARCH]
    if not query:
        return conversations
    ids = list(_matching_ids(query))
    if len(ids) <= MAX_LISTED_IDS:
        return conversations.filter(pk__in=ids)
    if connection.vendor == "postgresql":
        return conversations.filter(AnyOf(F("pk"), ids))
    return conversations.filter(pk__in=_matching_ids(query))  # SQLite: few bound variables


def _matching_ids(query):
    """Ids of the conversations whose name, number or any message contains `query`: a UNION
    of three searches that each have their own (trigram, on PostgreSQL) index, rather than an
    OR that would read every conversation."""
    by_name = Conversation.objects.filter(contact_name__icontains=query)
    ids = by_name.order_by().values_list("pk", flat=True)
    by_text = Message.objects.filter(body__icontains=query).order_by()
    ids = ids.union(by_text.values_list("conversation_id", flat=True))
    digits = "".join(ch for ch in query if ch.isdigit())
    if len(digits) >= 3:
        by_number = Conversation.objects.filter(phone_number__contains=digits[-10:])
        ids = ids.union(by_number.order_by().values_list("pk", flat=True))
    return ids


THREAD_LIMIT = 50


def recent_messages(conversation, *, limit=THREAD_LIMIT):
    """The thread's newest `limit` messages (all when None) in time order, and how many
    earlier ones are left out."""
    messages = conversation.messages.select_related("created_by")
    if limit is None:
        return list(messages.order_by("created_at", "id")), 0
    newest = list(messages.order_by("-created_at", "-id")[:limit])
    newest.reverse()
    return newest, max(0, conversation.message_count - len(newest))


def last_message_summary(conversation) -> str:
    if not conversation.message_count:
        return "No messages yet"
    if conversation.last_message_direction == Direction.OUTBOUND:
        status = conversation.last_message_status
        return OUTBOUND_SUMMARY.get(status, f"{MessageStatus(status).label} (no reply)")
    return conversation.last_message_body


def relative_time(moment: datetime, now: datetime | None = None) -> str:
    """`just now`, `2m ago`, `1h ago`, `3d ago`, then the date."""
    seconds = int(((now or timezone.now()) - moment).total_seconds())
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size and (unit != "d" or seconds < 30 * 86400):
            return f"{seconds // size}{unit} ago"
    return timezone.localtime(moment).strftime("%d %b %Y")


@dataclass(frozen=True)
class InboxRow:
    conversation: Conversation
    summary: str
    summary_is_ours: bool
    ago: str


def inbox_rows(conversations) -> list[InboxRow]:
    now = timezone.now()
    return [
        InboxRow(
            conversation=conversation,
            summary=last_message_summary(conversation),
            summary_is_ours=conversation.last_message_direction == Direction.OUTBOUND,
            ago=relative_time(conversation.last_activity_at, now),
        )
        for conversation in conversations
    ]


EXPORT_HEADER = [
    "phone_number",
    "name",
    "assignee",
    "outcome",
    "closed_at_ist",
    "message_id",
    "direction",
    "status",
    "detailed_status",
    "body",
    "created_at_ist",
]


def export_rows(conversations, chunk_size=2000):
    """One row per message of these conversations, read in chunks (never all in memory)."""
    messages = (
        Message.objects.filter(conversation__in=conversations.values("pk"))
        .select_related("conversation", "conversation__assignee")
        .order_by("conversation__last_activity_at", "conversation_id", "created_at", "id")
    )
    for message in messages.iterator(chunk_size=chunk_size):
        conversation = message.conversation
        yield [
            conversation.phone_number,
            conversation.contact_name,
            conversation.assignee.get_username() if conversation.assignee else "",
            conversation.outcome,
            _ist(conversation.closed_at),
            message.pk,
            message.direction,
            message.status,
            message.detailed_status,
            message.body,
            _ist(message.created_at),
        ]


def _ist(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""
