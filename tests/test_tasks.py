"""A real Celery worker on the configured broker (Redis in CI, the filesystem by default)."""

import pytest
from django.db import transaction

from conversations.models import Conversation
from conversations.tasks import refresh_conversation_summary_task
from smsdesk.celery import enqueue_on_commit

from .factories import ConversationFactory, InboundMessageFactory, MessageFactory


@pytest.mark.worker
def test_worker_runs_a_task_whose_effect_is_seen_in_the_database(live_worker):
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, body="Your appointment is confirmed")
    InboundMessageFactory(conversation=conversation, body="YES")

    refresh_conversation_summary_task.delay(conversation.pk)
    live_worker.wait_for(refresh_conversation_summary_task.name)

    conversation.refresh_from_db()
    assert conversation.message_count == 2
    assert conversation.unread_count == 1
    assert conversation.last_message_body == "YES"


@pytest.mark.worker
def test_task_enqueued_on_commit_runs_only_after_the_commit(live_worker):
    with transaction.atomic():
        conversation = ConversationFactory()
        InboundMessageFactory(conversation=conversation, body="HELP")
        enqueue_on_commit(refresh_conversation_summary_task, conversation.pk)

    live_worker.wait_for(refresh_conversation_summary_task.name)
    assert Conversation.objects.get(pk=conversation.pk).last_message_body == "HELP"


def test_task_enqueued_in_a_rolled_back_transaction_is_never_sent(db, monkeypatch):
    sent = []
    monkeypatch.setattr(
        refresh_conversation_summary_task, "apply_async", lambda **kw: sent.append(kw)
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit(refresh_conversation_summary_task, 1)
        raise RuntimeError("rolled back")
    assert sent == []


def test_broker_down_at_commit_is_logged_not_raised(
    db, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    def broker_down(**kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(refresh_conversation_summary_task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit(refresh_conversation_summary_task, 1)
    assert "the sweep will pick it up" in caplog.text
