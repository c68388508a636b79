"""factory-boy factories for the models; one place to build valid test data."""

import factory
from django.contrib.auth import get_user_model

from conversations.models import (
    Conversation,
    Direction,
    DltTemplate,
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
