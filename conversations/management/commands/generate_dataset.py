"""Generate a large, realistic dataset for benchmarks: conversations, their messages, opt-outs.

    python manage.py generate_dataset --conversations 100000 --messages 1000000

What it makes (reproducible with --seed): numbers +91 6xxxxxxxxx (new ones after any earlier
run); dates spread over --days (90) up to now; threads of skewed length (most short, a few
long) that usually start with our template message and alternate with the customer's replies;
outbound statuses as Exotel reports them (mostly delivered; sent to operator; failed with real
DetailedStatus codes and reasons; DND; a few still in flight when recent); inbound read except
the newest ones; about a third assigned to agents (created as `dataset-agentNN` in the Agents
group if missing); some closed with an outcome; about 2% opted out by STOP.

On PostgreSQL rows go in with COPY, in chunks of conversations (each chunk's conversations
first, then their messages), and the tables are VACUUMed and ANALYZEd at the end; elsewhere with
bulk_create. The progress bar counts messages.
"""

import json
import math
import random
import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from conversations.models import (
    Conversation,
    Direction,
    DltTemplate,
    Encoding,
    Message,
    MessageSource,
    MessageStatus,
    OptOut,
    OptOutSource,
)
from conversations.services.inbox import AGENTS_GROUP
from exotel_client.statuses import STATUS_CODES

PHONE_BASE = 6_000_000_000  # +91 6000000000 upwards: valid Indian mobile numbers, unused by tests
EXOPHONE = "+911140000000"
SENDER = "EXOTEL"
ENTITY = "1101234567890123456"

TEMPLATES = [
    ("Dataset: appointment confirmed", "1107170000000000001",
     "Your appointment is confirmed for {#var#} at {#var#}. Reply YES to confirm or NO to cancel."),
    ("Dataset: appointment reminder", "1107170000000000002",
     "Reminder: your appointment with {#var#} is tomorrow at {#var#}. Reply R to reschedule."),
    ("Dataset: order shipped", "1107170000000000003",
     "Your order {#var#} has been shipped and will arrive by {#var#}. Track: {#var#}"),
    ("Dataset: payment due", "1107170000000000004",
     "Dear {#var#}, your payment of Rs {#var#} is due on {#var#}. Ignore if already paid."),
    ("Dataset: OTP", "1107170000000000005",
     "{#var#} is your verification code. It is valid for 10 minutes. Do not share it."),
    ("Dataset: feedback", "1107170000000000006",
     "Thank you for visiting {#var#}. How was your experience? Reply 1 to 5."),
]  # fmt: skip

FIRST_NAMES = [
    "Ravi",
    "Priya",
    "Amit",
    "Asha",
    "Rahul",
    "Sneha",
    "Vikram",
    "Anjali",
    "Arjun",
    "Kavya",
    "Rohan",
    "Pooja",
    "Sanjay",
    "Neha",
    "Karan",
    "Divya",
    "Manish",
    "Meera",
    "Suresh",
    "Lakshmi",
    "Arun",
    "Deepa",
    "Nikhil",
    "Shreya",
    "Rajesh",
    "Ananya",
    "Vivek",
    "Isha",
]
LAST_NAMES = [
    "Kumar",
    "Sharma",
    "Patel",
    "Singh",
    "Reddy",
    "Iyer",
    "Nair",
    "Gupta",
    "Das",
    "Mehta",
    "Rao",
    "Joshi",
    "Menon",
    "Verma",
    "Pillai",
    "Shah",
]
VARIABLE_POOL = {
    "date": ["20 Jan", "21 Jan", "3 Feb", "14 Feb", "2 Mar", "11 Mar", "25 Mar", "6 Apr"],
    "time": ["10 AM", "11:30 AM", "1 PM", "3 PM", "4 PM", "5:30 PM", "6 PM"],
    "who": ["Dr Rao", "Dr Mehta", "the clinic", "our branch", "Sunrise Dental"],
}
INBOUND_TEXTS = [
    "YES", "Yes", "yes please", "NO", "Confirmed, thanks", "Can you reschedule to 4 PM?",
    "What time is it again?", "I will be 10 minutes late", "Ok", "Thank you!", "Who is this?",
    "Please call me", "Not received yet", "When will it arrive?", "Already paid", "5", "4",
    "Can I come tomorrow instead?", "R", "Need to cancel", "Is parking available?",
]  # fmt: skip
# (status, DetailedStatusCode or None, weight) for outbound messages older than a few minutes.
OUTBOUND_OUTCOMES = [
    (MessageStatus.DELIVERED, 20005, 800),
    (MessageStatus.SENT, 20006, 55),
    (MessageStatus.FAILED_DND, 23005, 30),
    (MessageStatus.FAILED, 23010, 18),
    (MessageStatus.FAILED, 23035, 18),
    (MessageStatus.FAILED, 23040, 10),
    (MessageStatus.FAILED, 23050, 10),
    (MessageStatus.FAILED, 24990, 8),
    (MessageStatus.FAILED, 23083, 8),
    (MessageStatus.FAILED, 23185, 6),
    (MessageStatus.FAILED, 23020, 5),
    (MessageStatus.FAILED, 24110, 4),
    (MessageStatus.SUBMITTED, 21020, 15),
    (MessageStatus.UNKNOWN, None, 3),
]
IN_FLIGHT = [
    (MessageStatus.PENDING, None, 2),
    (MessageStatus.QUEUED, 21010, 3),
    (MessageStatus.SENDING, 21015, 2),
    (MessageStatus.SUBMITTED, 21020, 3),
    (MessageStatus.DELIVERED, 20005, 10),
]
OUTBOUND_SOURCES = [
    (MessageSource.API, 45),
    (MessageSource.INBOX, 35),
    (MessageSource.FLOW, 8),
    (MessageSource.KEYWORD, 8),
    (MessageSource.ADMIN, 4),
]
FINAL = {MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED}
FINAL |= {MessageStatus.FAILED_DND}


class Command(BaseCommand):
    help = "Generate a large realistic dataset (conversations, messages, opt-outs) for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--conversations", type=int, default=100_000)
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--days", type=int, default=90, help="spread over this many days")
        parser.add_argument("--agents", type=int, default=10, help="agents to assign to")
        parser.add_argument("--seed", type=int, default=6)
        parser.add_argument("--chunk", type=int, default=2_000, help="conversations per batch")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        conversations, messages = options["conversations"], options["messages"]
        if conversations < 1 or messages < conversations:
            raise CommandError("Give at least one conversation and one message per conversation.")
        generator = DatasetGenerator(
            conversations=conversations,
            messages=messages,
            days=options["days"],
            agents=ensure_agents(options["agents"]),
            templates=ensure_templates(),
            seed=options["seed"],
        )
        started = timezone.now()
        with tqdm(
            total=messages,
            unit="msg",
            unit_scale=True,
            disable=options["no_progress"],
            desc="generate_dataset",
        ) as progress:
            generator.run(chunk=options["chunk"], progress=progress.update)
        seconds = (timezone.now() - started).total_seconds()
        self.stdout.write(
            f"Generated {conversations} conversations, {messages} messages and "
            f"{generator.opt_outs} opt-outs in {seconds:.1f} s ({connection.vendor})."
        )


def ensure_agents(count):
    group, _ = Group.objects.get_or_create(name=AGENTS_GROUP)
    users = get_user_model().objects
    agents = []
    for n in range(1, count + 1):
        user, created = users.get_or_create(
            username=f"dataset-agent{n:02d}", defaults={"first_name": FIRST_NAMES[n % 28]}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            user.groups.add(group)
        agents.append(user.pk)
    return agents


def ensure_templates():
    templates = []
    for name, template_id, body in TEMPLATES:
        template, _ = DltTemplate.objects.get_or_create(
            template_id=template_id,
            defaults={"name": name, "entity_id": ENTITY, "sender_id": SENDER, "body": body},
        )
        templates.append(template)
    return templates


class DatasetGenerator:
    def __init__(self, *, conversations, messages, days, agents, templates, seed):
        self.total_conversations = conversations
        self.total_messages = messages
        self.days = days
        self.agents = agents
        self.templates = templates
        self.random = random.Random(seed)
        self.now = timezone.now()
        self.token = secrets.token_hex(3)  # keeps sids unique across runs
        self.opt_outs = 0
        self.first_phone = (
            PHONE_BASE
            + Conversation.objects.filter(
                phone_number__gte=f"+91{PHONE_BASE}", phone_number__lt=f"+91{PHONE_BASE + 10**9}"
            ).count()
        )
        self.conversation_fields = _fields(Conversation)
        self.message_fields = _fields(Message)
        self.outcomes = list(settings.INBOX_OUTCOMES)
        self.outbound_weights = _cumulative(OUTBOUND_OUTCOMES)
        self.in_flight_weights = _cumulative(IN_FLIGHT)
        self.source_weights = _cumulative(OUTBOUND_SOURCES)

    # --- Shapes ------------------------------------------------------------------------------

    def thread_lengths(self):
        """One or more messages per conversation, skewed (log-normal), summing exactly."""
        rng = self.random
        weights = [rng.lognormvariate(0, 1.0) for _ in range(self.total_conversations)]
        extra = self.total_messages - self.total_conversations
        scale = extra / sum(weights)
        lengths = [1 + int(w * scale) for w in weights]
        short = self.total_messages - sum(lengths)
        for index in rng.sample(range(self.total_conversations), short):
            lengths[index] += 1
        return lengths

    def _pick(self, table, cumulative):
        return table[_bisect(cumulative, self.random.random() * cumulative[-1])]

    def _times(self, count):
        rng = self.random
        start = self.now - timedelta(days=rng.random() * self.days)
        available = (self.now - start).total_seconds()
        span = min(available, rng.expovariate(1 / (3 * 86400)) + 60 * count)
        offsets = sorted(rng.random() * span for _ in range(count))
        return [start + timedelta(seconds=offset) for offset in offsets]

    def _outbound(self, moment):
        rng = self.random
        template = rng.choice(self.templates)
        variables = [self._variable(template, n) for n in range(template.body.count("{#var#}"))]
        body = template.body
        for value in variables:
            body = body.replace("{#var#}", value, 1)
        recent = (self.now - moment).total_seconds() < 600
        table, weights = (
            (IN_FLIGHT, self.in_flight_weights)
            if recent
            else (OUTBOUND_OUTCOMES, self.outbound_weights)
        )
        status, code, _ = self._pick(table, weights)
        source = self._pick(OUTBOUND_SOURCES, self.source_weights)[0]
        info = STATUS_CODES.get(code) if code else None
        segments = 1 if len(body) <= 160 else math.ceil(len(body) / 153)
        row = {
            "direction": Direction.OUTBOUND,
            "body": body,
            "status": status,
            "template_id": template.pk,
            "variables": json.dumps(variables),
            "sender": SENDER,
            "sms_type": template.sms_type,
            "encoding": Encoding.PLAIN,
            "segments": segments,
            "source": source,
            "attempts": 0 if status == MessageStatus.PENDING else 1,
            "created_at": moment,
            "updated_at": moment + timedelta(seconds=rng.randint(2, 90)),
        }
        if status != MessageStatus.PENDING:
            row["last_attempt_at"] = moment
        if info is not None:
            row["detailed_status"] = info.detailed_status
            row["detailed_status_code"] = code
        if status in FINAL or status in (MessageStatus.SUBMITTED, MessageStatus.SENDING):
            row["sid"] = f"ds{self.token}{rng.getrandbits(64):016x}"
            row["sent_at"] = moment + timedelta(seconds=1)
            row["sms_units"] = segments
            row["price"] = Decimal("0.180000") * segments
        if status == MessageStatus.DELIVERED:
            row["delivered_at"] = row["updated_at"]
        if status in (MessageStatus.FAILED, MessageStatus.FAILED_DND):
            row["error_code"] = code
            row["error_message"] = info.agent_text[:255]
        return row

    def _variable(self, template, index):
        rng = self.random
        if "verification" in template.body:
            return f"{rng.randint(100000, 999999)}"
        if "Rs" in template.body and index == 1:
            return f"{rng.randint(2, 400) * 50}"
        if "order" in template.body and index != 1:
            return f"A{rng.randint(10000, 99999)}" if index == 0 else "exo.tl/t"
        if "Dear" in template.body and index == 0:
            return rng.choice(FIRST_NAMES)
        if "{#var#} at {#var#}" in template.body or "tomorrow at" in template.body:
            pool = "time" if index == 1 else ("who" if "with" in template.body else "date")
            return rng.choice(VARIABLE_POOL[pool])
        return rng.choice(VARIABLE_POOL["date"] + VARIABLE_POOL["who"])

    def _inbound(self, moment, body):
        return {
            "direction": Direction.INBOUND,
            "body": body,
            "status": MessageStatus.RECEIVED,
            "sid": f"di{self.token}{self.random.getrandbits(64):016x}",
            "exophone": EXOPHONE,
            "source": MessageSource.EXOTEL,
            "sent_at": moment,
            "created_at": moment,
            "updated_at": moment,
        }

    def conversation(self, conversation_id, number, length):
        """One conversation row and its message rows, with its summary true to them."""
        rng = self.random
        times = self._times(length)
        stops = rng.random() < 0.02 and length >= 2
        outbound = rng.random() < 0.8
        messages = []
        for index, moment in enumerate(times):
            if index and rng.random() < 0.65:
                outbound = not outbound
            if stops and index == length - 1:
                row = self._inbound(moment, "STOP")
            elif outbound:
                row = self._outbound(moment)
            else:
                row = self._inbound(moment, rng.choice(INBOUND_TEXTS))
            row["conversation_id"] = conversation_id
            messages.append(row)
        # The newest customer messages (after our last one, within 3 days) are still unread.
        unread = 0
        for row in reversed(messages):
            if row["direction"] == Direction.OUTBOUND:
                break
            if (self.now - row["created_at"]).days < 3:
                unread += 1
        for row in messages[: len(messages) - unread]:
            if row["direction"] == Direction.INBOUND:
                row["read_at"] = row["created_at"] + timedelta(minutes=rng.randint(1, 240))
        for row in messages:
            if row["direction"] == Direction.OUTBOUND and row["source"] == MessageSource.INBOX:
                row["created_by_id"] = rng.choice(self.agents)
        last = messages[-1]
        named = rng.random() < 0.7
        conversation = {
            "id": conversation_id,
            "phone_number": f"+91{number}",
            "contact_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" if named else "",
            "assignee_id": rng.choice(self.agents) if self.agents and rng.random() < 0.35 else None,
            "last_message_body": last["body"],
            "last_message_direction": last["direction"],
            "last_message_status": last["status"],
            "last_activity_at": last["created_at"],
            "message_count": length,
            "unread_count": unread,
            "needs_attention": bool(unread) and rng.random() < 0.3,
            "flow_answers": "{}",
            "created_at": times[0],
            "updated_at": last["created_at"],
        }
        idle_days = (self.now - last["created_at"]).days
        if not unread and idle_days >= 1 and rng.random() < 0.25 and self.outcomes:
            conversation["outcome"] = rng.choice(self.outcomes)
            conversation["closed_at"] = last["created_at"] + timedelta(hours=rng.randint(1, 20))
            conversation["closed_by_id"] = rng.choice(self.agents) if self.agents else None
        opt_out = None
        if stops:
            opt_out = OptOut(
                phone_number=conversation["phone_number"],
                source=OptOutSource.KEYWORD,
                keyword="STOP",
            )
        return conversation, messages, opt_out

    # --- Writing ----------------------------------------------------------------------------

    def run(self, *, chunk, progress):
        lengths = self.thread_lengths()
        writer = CopyWriter() if connection.vendor == "postgresql" else BulkWriter()
        writer.start(self.total_messages)
        try:
            self._write_chunks(writer, lengths, chunk, progress)
        finally:
            writer.finish()

    def _write_chunks(self, writer, lengths, chunk, progress):
        for first in range(0, self.total_conversations, chunk):
            count = min(chunk, self.total_conversations - first)
            with transaction.atomic():
                ids = writer.reserve_ids(Conversation, count)
                conversations, messages, opt_outs = [], [], []
                for offset, conversation_id in enumerate(ids):
                    number = self.first_phone + first + offset
                    row, thread, opt_out = self.conversation(
                        conversation_id, number, lengths[first + offset]
                    )
                    conversations.append(row)
                    messages.extend(thread)
                    if opt_out is not None:
                        opt_outs.append(opt_out)
                writer.write(Conversation, self.conversation_fields, conversations)
                writer.write(Message, self.message_fields, messages)
                OptOut.objects.bulk_create(opt_outs)
                self.opt_outs += len(opt_outs)
            progress(len(messages))


def _fields(model):
    """(attname, column, default) of every concrete column but the id; a field added later
    by another area is written with its default."""
    return [
        (field.attname, field.column, field)
        for field in model._meta.concrete_fields
        if not field.primary_key
    ]


def _default(field):
    value = field.get_default()
    if field.get_internal_type() == "JSONField":
        return json.dumps(value)
    return value


def _cumulative(table):
    total, out = 0, []
    for row in table:
        total += row[-1]
        out.append(total)
    return out


def _bisect(cumulative, value):
    low, high = 0, len(cumulative) - 1
    while low < high:
        middle = (low + high) // 2
        if cumulative[middle] <= value:
            low = middle + 1
        else:
            high = middle
    return low


class CopyWriter:
    """PostgreSQL: COPY ... FROM STDIN, ids from the tables' own sequences.

    For a large load the GIN (trigram search) indexes are dropped first and built again at the
    end: maintaining them row by row doubles the time of the COPY."""

    REBUILD_FROM = 200_000  # messages
    dropped = ()

    def start(self, total_messages):
        if total_messages < self.REBUILD_FROM or connection.in_atomic_block:
            return
        tables = [model._meta.db_table for model in (Conversation, Message)]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
                "AND indexdef LIKE %s",
                [tables, "% USING gin %"],
            )
            self.dropped = cursor.fetchall()
            for name, _ in self.dropped:
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")

    def reserve_ids(self, model, count):
        table = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]

    def write(self, model, fields, rows):
        with_id = "id" in rows[0]
        names = (["id"] if with_id else []) + [column for _, column, _ in fields]
        quoted = ", ".join(connection.ops.quote_name(name) for name in names)
        defaults = {attname: _default(field) for attname, _, field in fields}
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor, for COPY
            with raw.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    values = [row["id"]] if with_id else []
                    values += [row.get(attname, defaults[attname]) for attname, _, _ in fields]
                    copy.write_row(values)

    def finish(self):
        # VACUUM too (not only ANALYZE): it sets the visibility map, so counts can read indexes
        # only, as they would after autovacuum on a live database.
        # Inside a transaction (a test) VACUUM cannot run: ANALYZE alone.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        with connection.cursor() as cursor:
            if self.dropped:
                cursor.execute("SET maintenance_work_mem = '256MB'")
            for _, definition in self.dropped:
                cursor.execute(definition)
            for model in (Conversation, Message, OptOut):
                cursor.execute(f"{command} {connection.ops.quote_name(model._meta.db_table)}")


class BulkWriter:
    """Any other database (SQLite): INSERT with executemany, ids chosen here. (Not bulk_create:
    it would stamp the generated dates with now.)"""

    def start(self, total_messages):
        pass

    def reserve_ids(self, model, count):
        last = model.objects.order_by("-id").values_list("id", flat=True).first() or 0
        return list(range(last + 1, last + 1 + count))

    def write(self, model, fields, rows):
        with_id = "id" in rows[0]
        names = (["id"] if with_id else []) + [column for _, column, _ in fields]
        quoted = ", ".join(connection.ops.quote_name(name) for name in names)
        table = connection.ops.quote_name(model._meta.db_table)
        marks = ", ".join(["%s"] * len(names))
        defaults = {attname: _default(field) for attname, _, field in fields}
        values = []
        for row in rows:
            line = [row["id"]] if with_id else []
            for attname, _, field in fields:
                value = row.get(attname, defaults[attname])
                if field.get_internal_type() == "JSONField":
                    value = json.loads(value)
                line.append(field.get_db_prep_save(value, connection))
            values.append(line)
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({marks})", values)  # noqa: S608

    def finish(self):
        pass
