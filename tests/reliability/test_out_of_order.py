"""Issue 10, item 3: status callbacks in any order, repeated, with intermediate statuses and
interleaved across several messages, never regress a final state.

Each message gets one final report (delivered, failed, failed-dnd), some of them repeated, plus
any intermediate reports; hypothesis shuffles all of them together and posts them to
`/webhook/sms-status` as Exotel would, then the stored events are applied in arrival order.
"""

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.models import MessageStatus, MessageStatusEvent, WebhookEvent
from conversations.services.webhook_events import process_webhook_event

from ..factories import MessageFactory
from .traffic import status_form

INTERMEDIATE = [
    ("queued", 21010, "PENDING_TO_OPERATOR"),
    ("sending", 21015, "SENDING_TO_OPERATOR"),
    ("submitted", 21020, "PENDING_ON_OPERATOR"),
    ("sent", 20006, "DELIVERED_TO_OPERATOR"),
]
FINAL = {
    MessageStatus.DELIVERED: ("sent", 20005, "DELIVERED_TO_HANDSET"),
    MessageStatus.FAILED_DND: ("failed-dnd", 23005, "FAILED_REJECTED_DND"),
    MessageStatus.FAILED: ("failed", 23010, "FAILED_INVALID_DESTINATION_NUMBER"),
}
FINAL_STATES = set(FINAL)


@st.composite
def callbacks_of_several_messages(draw):
    """[(final state per message)], and every (message index, report) in arrival order."""
    finals = draw(st.lists(st.sampled_from(sorted(FINAL)), min_size=1, max_size=4))
    reports = []
    for index, final in enumerate(finals):
        reports += [(index, FINAL[final])] * draw(st.integers(1, 3))
        reports += [(index, r) for r in draw(st.lists(st.sampled_from(INTERMEDIATE), max_size=6))]
    return finals, draw(st.permutations(reports))


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=callbacks_of_several_messages())
def test_no_ordering_of_callbacks_regresses_a_final_state(case):
    finals, arrivals = case
    client = Client()
    messages = [MessageFactory(status=MessageStatus.DISPATCHING) for _ in finals]
    for message in messages:
        message.sid = f"ooo_{message.pk}"
        message.save(update_fields=["sid"])

    for index, (status, code, detailed) in arrivals:
        message = messages[index]
        path = f"/webhook/sms-status?token={_token(message)}"
        response = client.post(path, status_form(message.sid, status, code, detailed))
        assert response.status_code == 200, response.content
    for event_id in (
        WebhookEvent.objects.filter(processed_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        process_webhook_event(event_id)

    for message, final in zip(messages, finals, strict=True):
        message.refresh_from_db()
        assert message.status == final
        history = list(
            MessageStatusEvent.objects.filter(message=message)
            .order_by("pk")
            .values_list("status", flat=True)
        )
        reached = [i for i, status in enumerate(history) if status in FINAL_STATES]
        assert len(reached) == 1, history  # the final state is entered once, and never left
        assert reached[0] == len(history) - 1, history


def _token(message):
    from conversations.services.sending import status_callback_url

    return status_callback_url(message).rsplit("token=", 1)[1]
