"""Calls in the agents' inbox (issue 9): call events in the thread, in time order, and the
list's filter for leads opened by missed calls."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import CallEvent, Message

from .factories import CallEventFactory, ConversationFactory, MessageFactory, StaffFactory

pytestmark = pytest.mark.django_db

CALLER = "+919876543210"


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory(username="supervisor"))
    return client


def at(minutes_ago, model, pk):
    model.objects.filter(pk=pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))


def test_the_thread_shows_call_events_among_messages_in_time_order(staff_client):
    conversation = ConversationFactory(phone_number=CALLER)
    before = MessageFactory(conversation=conversation, body="Message before the call")
    call = CallEventFactory(conversation=conversation, call_type="incomplete", call_sid="c-1")
    after = MessageFactory(conversation=conversation, body="SMS after the call")
    at(30, Message, before.pk)
    at(20, CallEvent, call.pk)
    at(10, Message, after.pk)

    response = staff_client.get(f"/inbox/c/{CALLER}/messages/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="call-{call.pk}"' in html and "Missed call" in html
    assert html.index("Message before the call") < html.index(f'id="call-{call.pk}"')
    assert html.index(f'id="call-{call.pk}"') < html.index("SMS after the call")


def test_the_leads_filter_lists_only_conversations_opened_by_missed_calls(staff_client):
    ConversationFactory(phone_number=CALLER, is_lead=True)
    ConversationFactory(phone_number="+919876543211")

    response = staff_client.get("/inbox/", {"filter": "leads"})

    html = response.content.decode()
    assert CALLER in html and "+919876543211" not in html
    assert "Lead" in html


def test_a_thread_showing_only_its_newest_messages_leaves_out_older_calls(staff_client):
    from conversations.services.calls import thread_with_calls

    conversation = ConversationFactory(phone_number=CALLER)
    old_call = CallEventFactory(conversation=conversation, call_sid="old")
    first, second = (MessageFactory(conversation=conversation) for _ in range(2))
    at(30, CallEvent, old_call.pk)
    at(20, Message, first.pk)
    at(10, Message, second.pk)
    conversation.message_count = 2

    newest_only = thread_with_calls(conversation, Message.objects.filter(pk=second.pk))
    everything = thread_with_calls(conversation, Message.objects.order_by("created_at"))

    assert [item.pk for item in newest_only] == [second.pk]
    assert [getattr(item, "call_sid", None) for item in everything] == ["old", None, None]
