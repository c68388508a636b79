"""Multi-step flows: each shipped flow played line by line through the webhook, as a customer
would, plus expiry, retries, hand-over and precedence."""

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from conversations.models import (
    AuditLog,
    ConsentEvent,
    ConsentKind,
    Conversation,
    Flow,
    FlowSession,
    FlowSessionStatus,
    MessageSource,
)
from conversations.services import consent, flows
from conversations.services.replies import ReplyImpossible

from .factories import (
    ConversationFactory,
    DltTemplateFactory,
    FlowChoiceFactory,
    FlowStepFactory,
)
from .sms import CUSTOMER, text_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(db):
    return ConversationFactory(phone_number=CUSTOMER, contact_name="Ravi Kumar")


def start(conversation, slug, **context):
    _, message = flows.start_flow(conversation, Flow.objects.get(slug=slug), context=context)
    return message.body


def session_of(conversation):
    return FlowSession.objects.filter(conversation=conversation).latest("pk")


def answers(conversation):
    conversation.refresh_from_db()
    return conversation.flow_answers


def test_order_flow_is_played_line_by_line(client, conversation, reply_templates):
    assert text_in(client, "ORDER") == "Please reply with your order ID."
    assert text_in(client, "12345") == (
        "Thank you. We will SMS you the status of order 12345 shortly."
    )
    assert answers(conversation) == {"order_id": "12345"}
    assert session_of(conversation).status == FlowSessionStatus.COMPLETED
    conversation.refresh_from_db()
    assert conversation.needs_attention  # an agent looks the order up


def test_order_flow_asks_again_for_something_that_is_not_an_order_id(
    client, conversation, reply_templates
):
    text_in(client, "order")
    assert text_in(client, "I don't know") == (
        "That does not look like an order ID. Please reply with the order ID from your receipt."
    )
    assert text_in(client, "AB-2041") == (
        "Thank you. We will SMS you the status of order AB-2041 shortly."
    )


def test_survey_is_played_line_by_line(client, conversation, reply_templates):
    assert start(conversation, "survey") == (
        "How was your experience? Reply 1 for Great, 2 for Good, 3 for Poor."
    )
    assert text_in(client, "1") == (
        "Thank you for your feedback! We are glad you had a great experience."
    )
    assert answers(conversation) == {"rating": "great"}


@pytest.mark.parametrize(
    ("answer", "stored", "reply"),
    [
        ("2", "good", "Thank you for your feedback!"),
        ("3", "poor", "We are sorry to hear that. Someone from our team will call you."),
        ("३", "poor", "We are sorry to hear that. Someone from our team will call you."),
        ("Great!", "great", "Thank you for your feedback! We are glad you had a great experience."),
    ],
)
def test_survey_understands_each_answer(
    client, conversation, reply_templates, answer, stored, reply
):
    start(conversation, "survey")
    assert text_in(client, answer) == reply
    assert answers(conversation) == {"rating": stored}


def test_a_poor_rating_is_routed_to_an_agent(client, conversation, reply_templates):
    start(conversation, "survey")
    text_in(client, "3")
    conversation.refresh_from_db()
    assert conversation.needs_attention


def test_appointment_is_played_line_by_line(client, conversation, reply_templates):
    prompt = start(conversation, "appointment", date="Jan 20", time="3 PM")
    assert (
        prompt
        == "Your appointment is scheduled for Jan 20 at 3 PM. Reply C to confirm, R to reschedule."
    )
    assert text_in(client, "C") == "Your appointment on Jan 20 at 3 PM is confirmed. See you then!"
    assert answers(conversation) == {"appointment": "confirmed"}


def test_appointment_reschedule_goes_to_an_agent(client, conversation, reply_templates):
    start(conversation, "appointment", date="Jan 20", time="3 PM")
    assert text_in(client, "r") == "We will call you to find a new time for your appointment."
    assert answers(conversation) == {"appointment": "reschedule requested"}
    conversation.refresh_from_db()
    assert conversation.needs_attention


def test_opt_in_flow_records_consent_in_the_ledger(client, conversation, reply_templates):
    assert start(conversation, "opt-in") == (
        "Reply YES to receive order updates. Reply STOP to unsubscribe."
    )
    assert text_in(client, "YES") == "You are now subscribed to order updates."
    assert answers(conversation) == {"order_updates": "yes"}
    event = ConsentEvent.objects.get(kind=ConsentKind.OPT_IN)
    assert event.message.body == "YES"


def test_opt_in_flow_no_is_stored_without_consent(client, conversation, reply_templates):
    start(conversation, "opt-in")
    assert text_in(client, "no") == "OK, you will not receive order updates."
    assert answers(conversation) == {"order_updates": "no"}
    assert not ConsentEvent.objects.exists()


def test_otp_flow_is_played_line_by_line(client, conversation, reply_templates):
    assert start(conversation, "otp-verify", otp="456789") == (
        "Your verification code is 456789. Reply with the code to verify your account."
    )
    assert text_in(client, "456789") == "Your account has been verified successfully."
    assert answers(conversation) == {"verified": "yes"}


def test_otp_flow_retries_a_wrong_code_then_hands_over(client, conversation, reply_templates):
    start(conversation, "otp-verify", otp="456789")
    retry = "That code does not match. Please reply with the code we sent."
    assert text_in(client, "111111") == retry
    assert text_in(client, "222222") == retry
    assert text_in(client, "333333") == (
        "We could not verify your account. Our team will contact you."
    )
    assert session_of(conversation).status == FlowSessionStatus.HANDED_OVER
    conversation.refresh_from_db()
    assert conversation.needs_attention
    assert "verified" not in conversation.flow_answers


def test_otp_with_spaces_still_matches(client, conversation, reply_templates):
    start(conversation, "otp-verify", otp="456789")
    assert text_in(client, "456 789") == "Your account has been verified successfully."


def test_an_expired_flow_restarts_cleanly(client, conversation, reply_templates):
    text_in(client, "ORDER")
    FlowSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert text_in(client, "ORDER") == "Please reply with your order ID."
    sessions = FlowSession.objects.order_by("pk")
    assert [s.status for s in sessions] == [FlowSessionStatus.EXPIRED, FlowSessionStatus.ACTIVE]
    assert sessions.last().attempts == 0


def test_an_answer_after_expiry_is_not_taken_as_the_flows_answer(
    client, conversation, reply_templates
):
    text_in(client, "ORDER")
    FlowSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert text_in(client, "12345") is None
    assert "order_id" not in answers(conversation)
    conversation.refresh_from_db()
    assert conversation.needs_attention


def test_stop_wins_over_an_active_flow(client, conversation, reply_templates):
    start(conversation, "survey")
    assert text_in(client, "STOP").startswith("You have been unsubscribed")
    assert consent.is_opted_out(CUSTOMER)
    assert session_of(conversation).status == FlowSessionStatus.CANCELLED


def test_start_wins_over_an_active_flow(client, conversation, reply_templates):
    start(conversation, "opt-in")
    assert text_in(client, "START").startswith("You are subscribed again")
    assert session_of(conversation).status == FlowSessionStatus.CANCELLED


def test_a_flow_answer_wins_over_a_keyword(client, conversation, reply_templates):
    start(conversation, "appointment", date="Jan 20", time="3 PM")
    # YES is also the global confirm keyword; inside the flow it is the flow's answer.
    assert (
        text_in(client, "yes") == "Your appointment on Jan 20 at 3 PM is confirmed. See you then!"
    )
    assert session_of(conversation).status == FlowSessionStatus.COMPLETED


def test_a_new_flow_replaces_the_running_one(conversation, reply_templates):
    start(conversation, "survey")
    start(conversation, "opt-in")
    statuses = list(FlowSession.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == [FlowSessionStatus.CANCELLED, FlowSessionStatus.ACTIVE]


def test_a_flow_is_not_started_for_an_opted_out_number(conversation, reply_templates):
    consent.opt_out(CUSTOMER, source="staff")
    with pytest.raises(ReplyImpossible, match="opted_out"):
        start(conversation, "survey")
    assert not FlowSession.objects.exists()


def test_a_flow_refused_for_an_opted_out_number_stays_in_the_audit_log(
    conversation, reply_templates
):
    consent.opt_out(CUSTOMER, source="staff")
    with pytest.raises(ReplyImpossible):
        start(conversation, "survey")
    entry = AuditLog.objects.get(action="send_refused_opted_out")
    assert (entry.target, entry.detail["source"]) == (CUSTOMER, MessageSource.FLOW)


def test_a_flow_whose_prompt_fills_no_dlt_template_does_not_start(conversation):
    with pytest.raises(ReplyImpossible, match="dlt_mismatch"):
        start(conversation, "survey")
    assert not FlowSession.objects.exists()


def test_a_flow_keyword_whose_prompt_cannot_be_sent_starts_nothing(client, conversation):
    text_in(client, "ORDER")  # no DLT templates registered
    assert session_of(conversation).status == FlowSessionStatus.CANCELLED
    assert text_in(client, "12345") is None
    assert "order_id" not in answers(conversation)


def test_a_missing_context_value_refuses_to_start(conversation, reply_templates):
    with pytest.raises(ReplyImpossible, match="missing_value"):
        start(conversation, "appointment", date="Jan 20")


def test_one_active_session_per_conversation_is_a_database_rule(conversation):
    flow = Flow.objects.get(slug="survey")
    expires = timezone.now() + timedelta(hours=1)
    FlowSession.objects.create(conversation=conversation, flow=flow, expires_at=expires)
    with pytest.raises(IntegrityError):
        FlowSession.objects.create(conversation=conversation, flow=flow, expires_at=expires)


def test_a_flow_defined_in_admin_runs_without_code(client, conversation):
    step = FlowStepFactory(flow__slug="colour", prompt="Red or blue?", store_as="colour")
    thanks = FlowStepFactory(flow=step.flow, prompt="Thanks {name}!", position=step.position + 1)
    FlowChoiceFactory(step=step, answers="red, laal", value="red", next_step=thanks)
    DltTemplateFactory(body="Red or blue?")
    DltTemplateFactory(body="Thanks {#var#}!")
    flows.start_flow(conversation, step.flow)
    assert text_in(client, "Laal") == "Thanks Ravi Kumar!"
    assert answers(conversation) == {"colour": "red"}
    assert session_of(conversation).step == thanks


def test_expire_stale_sessions_closes_only_expired_ones(conversation):
    flow = Flow.objects.get(slug="survey")
    old = FlowSession.objects.create(
        conversation=conversation, flow=flow, expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert flows.expire_stale_sessions() == 1
    old.refresh_from_db()
    assert old.status == FlowSessionStatus.EXPIRED


def test_answers_are_kept_per_key_across_flows(client, conversation, reply_templates):
    start(conversation, "survey")
    text_in(client, "2")
    text_in(client, "ORDER")
    text_in(client, "98765")
    assert answers(conversation) == {"rating": "good", "order_id": "98765"}
    assert Conversation.objects.get().flow_answers["rating"] == "good"


@pytest.mark.parametrize(
    "url",
    [
        "/admin/conversations/flow/",
        "/admin/conversations/flow/?q=order",
        "/admin/conversations/flowstep/",
        "/admin/conversations/flowsession/?status__exact=active",
    ],
)
def test_flow_admin_pages_render(client, staff_user, conversation, reply_templates, url):
    flows.start_flow(conversation, Flow.objects.get(slug="survey"))
    client.force_login(staff_user)
    assert client.get(url).status_code == 200


def test_flow_and_step_change_pages_render(client, staff_user):
    client.force_login(staff_user)
    flow = Flow.objects.get(slug="order-status")
    assert client.get(f"/admin/conversations/flow/{flow.pk}/change/").status_code == 200
    step = flow.steps.get()
    assert client.get(f"/admin/conversations/flowstep/{step.pk}/change/").status_code == 200


def test_admin_refuses_a_choice_pattern_that_does_not_compile(client, staff_user):
    client.force_login(staff_user)
    step = Flow.objects.get(slug="survey").steps.get()
    url = f"/admin/conversations/flowstep/{step.pk}/change/"
    page = client.get(url)
    form = page.context["adminform"].form
    data = {field: form.initial.get(field, "") for field in form.fields}
    data.update(flow=step.flow_id, position=0, max_attempts=3)
    inline = page.context["inline_admin_formsets"][0].formset
    data.update(
        {
            f"{inline.prefix}-TOTAL_FORMS": 1,
            f"{inline.prefix}-INITIAL_FORMS": 0,
            f"{inline.prefix}-0-position": 9,
            f"{inline.prefix}-0-pattern": "([unclosed",
            f"{inline.prefix}-0-reply": "x",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Not a valid regular expression" in response.content.decode()


def test_admin_cancels_a_running_session(client, staff_user, conversation, reply_templates):
    session, _ = flows.start_flow(conversation, Flow.objects.get(slug="survey"))
    client.force_login(staff_user)
    client.post(
        "/admin/conversations/flowsession/",
        {"action": "cancel_sessions", "_selected_action": [session.pk]},
    )
    session.refresh_from_db()
    assert session.status == FlowSessionStatus.CANCELLED


def test_the_expiry_task_closes_stale_sessions(conversation):
    from conversations.tasks import expire_flow_sessions_task

    flow = Flow.objects.get(slug="survey")
    FlowSession.objects.create(
        conversation=conversation, flow=flow, expires_at=timezone.now() - timedelta(minutes=1)
    )
    expire_flow_sessions_task.apply()
    assert FlowSession.objects.get().status == FlowSessionStatus.EXPIRED
