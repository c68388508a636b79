"""Retention (issue 8): old bodies are masked, counts and statuses stay, the dashboard agrees."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import (
    Conversation,
    Message,
    MessageStatus,
    RetentionRun,
    WebhookEvent,
    WebhookKind,
)
from conversations.services import analytics, retention

from .factories import (
    ConversationFactory,
    DltTemplateFactory,
    InboundMessageFactory,
    MessageFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def history():
    """Six messages 100 days old and three 10 days old, across outcomes and directions."""
    now = timezone.now()
    template = DltTemplateFactory()
    conversation = ConversationFactory()
    statuses = [MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.SENT]
    old, new = [], []
    for age, bucket in ((100, old), (10, new)):
        for status in statuses:
            bucket.append(
                MessageFactory(
                    conversation=conversation,
                    template=template,
                    status=status,
                    segments=2,
                    variables=["20 Jan", "3 PM"],
                    body=f"secret {age} {status}",
                )
            )
        if age == 100:
            bucket.append(InboundMessageFactory(conversation=conversation, body="my address"))
            bucket.append(InboundMessageFactory(conversation=conversation, body="my pan"))
            bucket.append(InboundMessageFactory(conversation=conversation, body="my dob"))
        Message.objects.filter(pk__in=[m.pk for m in bucket]).update(
            created_at=now - timedelta(days=age)
        )
    return {"old": old, "new": new, "conversation": conversation}


def whole_range():
    today = analytics.today_ist()
    return analytics.DateRange(today - timedelta(days=200), today)


def test_masks_exactly_the_bodies_older_than_the_setting(history, settings):
    settings.MESSAGE_BODY_RETENTION_DAYS = 30
    run = retention.mask_old_bodies()
    assert run.messages_masked == 6
    masked = set(Message.objects.filter(body=retention.MASKED_BODY).values_list("pk", flat=True))
    assert masked == {m.pk for m in history["old"]}
    for message in history["new"]:
        message.refresh_from_db()
        assert message.body.startswith("secret 10")
        assert message.variables == ["20 Jan", "3 PM"]


def test_masking_keeps_counts_statuses_segments(history, settings):
    settings.MESSAGE_BODY_RETENTION_DAYS = 30
    before = list(Message.objects.order_by("pk").values_list("status", "segments", "direction"))
    retention.mask_old_bodies()
    after = list(Message.objects.order_by("pk").values_list("status", "segments", "direction"))
    assert before == after
    assert Message.objects.filter(variables=[]).count() >= 3


def test_dashboard_numbers_are_the_same_after_masking(history, settings):
    settings.MESSAGE_BODY_RETENTION_DAYS = 30
    r = whole_range()
    keys = [key for key in analytics.PANELS if key != "stuck"]
    before = {key: analytics.panel_rows(key, r) for key in keys}
    assert sum(row["sent"] for row in before["outbound"]) == 6
    retention.mask_old_bodies()
    assert {key: analytics.panel_rows(key, r) for key in keys} == before


def test_zero_or_unset_keeps_everything(history, settings):
    settings.MESSAGE_BODY_RETENTION_DAYS = 0
    assert retention.mask_old_bodies() is None
    assert not Message.objects.filter(body=retention.MASKED_BODY).exists()
    assert RetentionRun.objects.count() == 0


def test_a_second_run_masks_nothing_more_and_is_recorded(history, settings):
    settings.MESSAGE_BODY_RETENTION_DAYS = 30
    retention.mask_old_bodies()
    second = retention.mask_old_bodies()
    assert second.messages_masked == 0
    assert RetentionRun.objects.count() == 2
    assert second.retention_days == 30


def test_old_previews_and_inbound_payloads_are_masked_too(history, settings):
    settings.MESSAGE_BODY_RETENTION_DAYS = 30
    conversation = history["conversation"]
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_body="my address", last_activity_at=timezone.now() - timedelta(days=90)
    )
    event = WebhookEvent.objects.create(kind=WebhookKind.SMS_INCOMING, payload={"Body": "my pan"})
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(days=90))
    retention.mask_old_bodies()
    conversation.refresh_from_db()
    event.refresh_from_db()
    assert conversation.last_message_body == retention.MASKED_BODY
    assert event.payload == {"masked": True}


def test_the_beat_task_reads_the_setting(history, settings):
    from conversations.tasks import mask_old_message_bodies_task

    settings.MESSAGE_BODY_RETENTION_DAYS = 50
    mask_old_message_bodies_task()
    assert Message.objects.filter(body=retention.MASKED_BODY).count() == 6


def test_batches_cover_more_rows_than_one_batch(history, settings, monkeypatch):
    monkeypatch.setattr(retention, "BATCH_SIZE", 2)
    settings.MESSAGE_BODY_RETENTION_DAYS = 30
    assert retention.mask_old_bodies().messages_masked == 6
