"""Keyword rules: folding, matching, the shipped defaults and each action."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from conversations.models import (
    Conversation,
    InboundOutcome,
    KeywordAction,
    KeywordMatch,
    KeywordRule,
    Message,
    MessageSource,
    MessageStatus,
)
from conversations.services import consent
from conversations.services.keywords import (
    find_keyword_rule,
    fold,
    mentions_opt_out,
    validate_keyword_rule,
)

from .factories import ConversationFactory, DltTemplateFactory, KeywordRuleFactory
from .sms import CUSTOMER, text_in, we_texted

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Stop!", "stop"),
        ("  STOP  ", "stop"),
        ("S.T.O.P.", "stop"),
        ("STOP 🙏", "stop"),
        ("stop\n", "stop"),
        ("Band   karo", "bandkaro"),
        ("बंद करो।", "बंदकरो"),
        ("रोकें", "रोकें"),
        ("\uff11", "1"),  # FULLWIDTH DIGIT ONE
        ("३", "3"),
        ("", ""),
        ("!!!", ""),
    ],
)
def test_fold_ignores_case_spaces_punctuation_and_emoji(text, folded):
    assert fold(text) == folded


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "Stop.",
        "STOP!!",
        "  stop ",
        "Stop all",
        "UNSUBSCRIBE",
        "Band karo",
        "BAND KRO",
        "bandh karo",
        "बंद करो",
        "रोकें",
    ],
)
def test_opt_out_variants_are_recognised(text):
    assert find_keyword_rule(text).action == KeywordAction.OPT_OUT


@pytest.mark.parametrize(
    "text",
    [
        "Please don't stop my deliveries",
        "stop sending me these",
        "stopwatch",
        "Can I unsubscribe later?",
    ],
)
def test_a_sentence_merely_containing_stop_is_not_an_opt_out(text):
    rule = find_keyword_rule(text)
    assert rule is None or rule.action != KeywordAction.OPT_OUT


@pytest.mark.parametrize("text", ["START", "start", "Start!", "shuru karo", "शुरू करें"])
def test_opt_in_variants_are_recognised(text):
    assert find_keyword_rule(text).action == KeywordAction.OPT_IN


def test_a_sentence_with_stop_is_left_for_an_agent(client, reply_templates):
    assert text_in(client, "Please don't stop my deliveries") is None
    assert not consent.is_opted_out(CUSTOMER)
    assert Conversation.objects.get().needs_attention


def test_a_sentence_with_an_opt_out_word_is_noticed(client):
    assert mentions_opt_out("please stop sending these")
    assert not mentions_opt_out("please send the invoice")


def test_stop_opts_out_with_a_confirmation(client, reply_templates):
    reply = text_in(client, "Stop!")
    assert reply.startswith("You have been unsubscribed")
    assert consent.is_opted_out(CUSTOMER)


def test_hinglish_band_karo_opts_out(client, reply_templates):
    text_in(client, "band karo")
    assert consent.is_opted_out(CUSTOMER)


def test_help_gets_the_help_reply(client, reply_templates):
    assert text_in(client, "help").startswith("Reply to this message and our team will help")


def test_yes_confirms_and_stores_the_answer(client, reply_templates):
    we_texted()
    assert text_in(client, "yes") == "Thank you, your appointment is confirmed. See you then!"
    conversation = Conversation.objects.get()
    assert conversation.flow_answers == {"appointment": "confirmed"}
    assert not conversation.needs_attention


def test_no_cancels_stores_the_answer_and_flags_for_an_agent(client, reply_templates):
    we_texted()
    assert text_in(client, "NO").startswith("Your appointment is cancelled.")
    conversation = Conversation.objects.get()
    assert conversation.flow_answers == {"appointment": "cancelled"}
    assert conversation.needs_attention


def test_hindi_haan_confirms(client, reply_templates):
    we_texted()
    text_in(client, "हाँ")
    assert Conversation.objects.get().flow_answers == {"appointment": "confirmed"}


def test_yes_out_of_the_blue_confirms_nothing_and_is_left_for_an_agent(client, reply_templates):
    assert text_in(client, "YES") is None
    conversation = Conversation.objects.get()
    assert conversation.flow_answers in ({}, None)
    assert conversation.needs_attention
    assert InboundOutcome.objects.get().action == "unrecognised"


def test_yes_three_days_after_our_message_confirms_nothing(client, reply_templates):
    reminder = we_texted()
    Message.objects.filter(pk=reminder.pk).update(
        created_at=timezone.now() - timedelta(hours=72, minutes=1)
    )
    assert text_in(client, "YES") is None
    assert Conversation.objects.get().needs_attention


@pytest.mark.parametrize(
    "unheard",
    [
        {"status": MessageStatus.FAILED},
        {"status": MessageStatus.FAILED_DND},
        {"status": MessageStatus.SCHEDULED},
        {"source": MessageSource.KEYWORD},
    ],
    ids=["failed", "failed-dnd", "held", "our-own-auto-reply"],
)
def test_yes_after_a_message_the_customer_never_got_from_us_confirms_nothing(
    client, reply_templates, unheard
):
    we_texted(**unheard)
    assert text_in(client, "YES") is None


def test_a_rule_without_a_window_answers_when_the_windowed_one_does_not_apply(
    client, reply_templates
):
    KeywordRuleFactory(keywords="YES", priority=45, reply="Thanks! Our team will call you.")
    DltTemplateFactory(body="Thanks! Our team will call you.")
    assert text_in(client, "yes") == "Thanks! Our team will call you."


def test_an_opt_out_rule_cannot_be_limited_to_answers(db):
    rule = KeywordRuleFactory.build(
        keywords="QUIT", action=KeywordAction.OPT_OUT, answers_within_hours=24
    )
    with pytest.raises(ValidationError) as error:
        validate_keyword_rule(rule)
    assert "answers_within_hours" in error.value.message_dict


def test_route_flags_the_conversation_without_a_reply(client):
    KeywordRuleFactory(keywords="AGENT, HUMAN", action=KeywordAction.ROUTE)
    assert text_in(client, "human") is None
    assert Conversation.objects.get().needs_attention


def test_a_reply_rule_answers_with_its_text(client):
    KeywordRuleFactory(keywords="HOURS", reply="We are open 10 AM to 7 PM, Monday to Saturday.")
    DltTemplateFactory(body="We are open {#var#} to {#var#}, Monday to Saturday.")
    assert text_in(client, "hours?") == "We are open 10 AM to 7 PM, Monday to Saturday."


def test_the_lower_priority_number_wins(client):
    KeywordRuleFactory(keywords="PRICE", reply="Second.", priority=20, name="second")
    KeywordRuleFactory(keywords="PRICE", reply="First.", priority=10, name="first")
    assert find_keyword_rule("price").name == "first"


def test_an_inactive_rule_is_ignored(client):
    KeywordRuleFactory(keywords="PRICE", active=False)
    assert find_keyword_rule("price") is None


def test_a_first_word_rule_matches_the_start_of_a_message(client):
    KeywordRuleFactory(keywords="TRACK", match=KeywordMatch.FIRST_WORD, name="track")
    assert find_keyword_rule("track 12345").name == "track"
    assert find_keyword_rule("please track 12345") is None


def test_a_rule_added_in_admin_applies_to_the_next_message(client):
    KeywordRuleFactory(keywords="रोकिए", action=KeywordAction.OPT_OUT, priority=5)
    text_in(client, "रोकिए")
    assert consent.is_opted_out(CUSTOMER)


def test_placeholders_are_filled_from_the_conversation(client):
    ConversationFactory(phone_number=CUSTOMER, contact_name="Ravi")
    KeywordRuleFactory(keywords="HI", reply="Hello {name}, how can we help?")
    DltTemplateFactory(body="Hello {#var#}, how can we help?")
    assert text_in(client, "hi") == "Hello Ravi, how can we help?"


def test_a_placeholder_with_no_value_sends_nothing_and_says_why(client):
    ConversationFactory(phone_number=CUSTOMER, contact_name="")
    KeywordRuleFactory(keywords="HI", reply="Hello {name}, how can we help?")
    DltTemplateFactory(body="Hello {#var#}, how can we help?")
    assert text_in(client, "hi") is None
    assert InboundOutcome.objects.get().reply_error.startswith("missing_value")
    assert Conversation.objects.get().needs_attention


def test_a_keyword_already_used_by_an_active_rule_is_refused():
    rule = KeywordRule(name="Dup", keywords="stop, other", action=KeywordAction.REPLY)
    with pytest.raises(ValidationError, match="Already used by an active rule: stop"):
        validate_keyword_rule(rule)


def test_a_first_word_rule_needs_single_words():
    rule = KeywordRule(
        name="x", keywords="TWO WORDS", match=KeywordMatch.FIRST_WORD, action="reply"
    )
    with pytest.raises(ValidationError, match="single words"):
        validate_keyword_rule(rule)


def test_a_start_flow_rule_needs_a_flow():
    rule = KeywordRule(name="x", keywords="BEGIN", action=KeywordAction.START_FLOW)
    with pytest.raises(ValidationError, match="Choose the flow"):
        validate_keyword_rule(rule)


def test_a_rule_needs_a_keyword_with_a_letter():
    rule = KeywordRule(name="x", keywords="!!!, ...", action=KeywordAction.REPLY)
    with pytest.raises(ValidationError, match="at least one keyword"):
        validate_keyword_rule(rule)


def test_the_shipped_defaults_are_there():
    actions = set(KeywordRule.objects.filter(active=True).values_list("action", flat=True))
    assert {"opt_out", "opt_in", "help", "confirm", "cancel", "start_flow"} <= actions
    assert not KeywordRule.objects.get(match=KeywordMatch.FALLBACK).active


def test_admin_lists_rules_with_their_dlt_readiness(client, staff_user, reply_templates):
    client.force_login(staff_user)
    response = client.get("/admin/conversations/keywordrule/?q=STOP")
    assert response.status_code == 200
    assert "Opt out (STOP)" in response.content.decode()


def test_admin_refuses_a_keyword_another_active_rule_has(client, staff_user):
    client.force_login(staff_user)
    data = {
        "name": "Another stop",
        "keywords": "Stop",
        "match": "exact",
        "action": "reply",
        "reply": "",
        "store_as": "",
        "reply_cooldown_minutes": 0,
        "answers_within_hours": 0,
        "priority": 100,
        "active": "on",
    }
    response = client.post("/admin/conversations/keywordrule/add/", data)
    assert response.status_code == 200
    assert "Already used by an active rule: stop" in response.content.decode()
    assert not KeywordRule.objects.filter(name="Another stop").exists()


def test_admin_adds_a_rule(client, staff_user):
    client.force_login(staff_user)
    data = {
        "name": "Hours",
        "keywords": "HOURS, timing, समय",
        "match": "exact",
        "action": "reply",
        "reply": "We are open 10 AM to 7 PM.",
        "store_as": "",
        "reply_cooldown_minutes": 0,
        "answers_within_hours": 0,
        "priority": 100,
        "active": "on",
    }
    response = client.post("/admin/conversations/keywordrule/add/", data)
    assert response.status_code == 302
    assert find_keyword_rule("Timing?").name == "Hours"
