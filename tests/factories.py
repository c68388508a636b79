"""factory-boy factories for the models; one place to build valid test data."""

import factory
from django.contrib.auth import get_user_model

from conversations.models import (
    ConsentEvent,
    ConsentKind,
    Conversation,
    Direction,
    DltTemplate,
    Flow,
    FlowChoice,
    FlowStep,
    KeywordAction,
    KeywordMatch,
    KeywordRule,
    Message,
    MessageStatus,
    OptOut,
    OptOutSource,
    SmsType,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pass-for-tests-1")


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    phone_number = factory.Sequence(lambda n: f"+9198{n:08d}")
    contact_name = factory.Faker("name", locale="en_IN")


class DltTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DltTemplate

    name = factory.Sequence(lambda n: f"Appointment {n}")
    template_id = factory.Sequence(lambda n: f"1107{n:015d}")
    entity_id = "1101234567890123456"
    sender_id = "EXOTEL"
    body = (
        "Your appointment is confirmed for {#var#} at {#var#}. "
        "Reply YES to confirm or NO to cancel."
    )
    sms_type = SmsType.TRANSACTIONAL


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    direction = Direction.OUTBOUND
    body = factory.Faker("sentence")
    status = MessageStatus.PENDING


class InboundMessageFactory(MessageFactory):
    direction = Direction.INBOUND
    status = MessageStatus.RECEIVED
    sid = factory.Sequence(lambda n: f"inb_sms_{n:06d}")


class OptOutFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OptOut

    phone_number = factory.Sequence(lambda n: f"+9197{n:08d}")
    source = OptOutSource.KEYWORD
    keyword = "STOP"


# Inbound: keywords, flows, consent (issue 5)


class KeywordRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KeywordRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    keywords = factory.Sequence(lambda n: f"WORD{n}")
    match = KeywordMatch.EXACT
    action = KeywordAction.REPLY
    reply = ""
    priority = 500


class FlowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Flow

    name = factory.Sequence(lambda n: f"Flow {n}")
    slug = factory.Sequence(lambda n: f"flow-{n}")


class FlowStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FlowStep

    flow = factory.SubFactory(FlowFactory)
    key = factory.Sequence(lambda n: f"step-{n}")
    position = factory.Sequence(lambda n: n)
    prompt = "Reply 1 or 2."


class FlowChoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FlowChoice

    step = factory.SubFactory(FlowStepFactory)
    answers = "1"


class ConsentEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentEvent

    phone_number = factory.Sequence(lambda n: f"+9196{n:08d}")
    kind = ConsentKind.OPT_OUT
    source = OptOutSource.KEYWORD
    changed = True
    keyword = "STOP"


def conversation_with_messages(phone, name, *messages, minutes_ago=0):
    """A conversation and its (direction, body, status) messages, with its summary as the
    services keep it and its last activity `minutes_ago`."""
    from datetime import timedelta

    from django.utils import timezone

    conversation = ConversationFactory(phone_number=phone, contact_name=name)
    for direction, body, status in messages:
        factory = InboundMessageFactory if direction == "inbound" else MessageFactory
        factory(conversation=conversation, body=body, status=status)
    last = messages[-1] if messages else ("", "", "")
    Conversation.objects.filter(pk=conversation.pk).update(
        message_count=len(messages),
        unread_count=sum(1 for m in messages if m[0] == "inbound"),
        last_message_direction=last[0],
        last_message_body=last[1],
        last_message_status=last[2],
        last_activity_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    conversation.refresh_from_db()
    return conversation


SEED_CONFIRMATION = (
    "Your appointment is confirmed for 20 Jan at 3 PM. Reply YES to confirm or NO to cancel."
)


def seed_mockup_conversations():
    """The seed's inbox mock-up (shared/seeds/000_*): Ravi, Priya and Amit, newest first."""
    return [
        conversation_with_messages(
            "+919876543210",
            "Ravi Kumar",
            ("outbound", SEED_CONFIRMATION, "delivered"),
            ("inbound", "Yes, I confirm my appointment", "received"),
            minutes_ago=2,
        ),
        conversation_with_messages(
            "+919876543211",
            "Priya Sharma",
            ("outbound", SEED_CONFIRMATION, "delivered"),
            ("inbound", "Hi, it's Priya", "received"),
            ("inbound", "Can you reschedule to 4 PM?", "received"),
            minutes_ago=15,
        ),
        conversation_with_messages(
            "+919876543212",
            "Amit Patel",
            ("outbound", SEED_CONFIRMATION, "delivered"),
            minutes_ago=60,
        ),
    ]


# SMS from calls (issue 9) ---------------------------------------------------------------------


class CallRuleFactory(factory.django.DjangoModelFactory):
    """An active rule for missed calls, sending a template with no variables."""

    class Meta:
        model = "conversations.CallRule"

    name = factory.Sequence(lambda n: f"Call rule {n}")
    call_types = factory.LazyFunction(lambda: ["missed"])
    template = factory.SubFactory(
        DltTemplateFactory, body="We missed your call. We will call you back soon."
    )
    variables = factory.LazyFunction(list)
    active = True


class CallEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "conversations.CallEvent"

    call_sid = factory.Sequence(lambda n: f"call{n:028d}")
    call_type = "call-attempt"
    direction = "incoming"
    conversation = factory.SubFactory(ConversationFactory)
    from_number = factory.SelfAttribute("conversation.phone_number")
    to_number = "+918047112345"
    exophone = "+918047112345"
