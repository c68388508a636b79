"""Keyword rules: which rule, if any, a customer's message is.

Customers write "Stop!", " stop ", "S.T.O.P", "STOP 🙏", "band karo", "बंद करो", "१". All of them
are compared in one folded form: Unicode NFKC, case-folded, digits of any script as ASCII, and
only letters, combining marks and digits kept (spaces, punctuation, symbols and emoji dropped).
Devanagari vowel signs are combining marks, so Hindi words survive folding intact.

An EXACT rule matches only when the whole message folds to one of its keywords, which is what
tells "STOP" apart from "please don't stop my deliveries".
"""

import re
import unicodedata
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from ..models import (
    Direction,
    KeywordAction,
    KeywordMatch,
    KeywordRule,
    Message,
    MessageSource,
    MessageStatus,
)

KEPT_CATEGORIES = ("L", "M", "N")
_KEYWORD_SEPARATORS = re.compile(r"[,\n\r]+")
CONSENT_ACTIONS = (KeywordAction.OPT_OUT, KeywordAction.OPT_IN)
# Our messages that never reached the customer: nothing to answer.
NOT_SENT = (MessageStatus.SCHEDULED, MessageStatus.FAILED, MessageStatus.FAILED_DND)


def fold(text) -> str:
    """The form two texts are compared in; "" for text with no letters or digits."""
    folded = []
    for char in unicodedata.normalize("NFKC", text or "").casefold():
        category = unicodedata.category(char)
        if category == "Nd":
            folded.append(str(unicodedata.digit(char)))
        elif category[0] in KEPT_CATEGORIES:
            folded.append(char)
    return "".join(folded)


def first_word(text) -> str:
    words = (text or "").split(maxsplit=1)
    return fold(words[0]) if words else ""


def split_keywords(keywords_text) -> list[str]:
    """The keywords of a rule as written, in order, without blanks."""
    return [k.strip() for k in _KEYWORD_SEPARATORS.split(keywords_text or "") if k.strip()]


def folded_keywords(rule) -> set[str]:
    return {fold(keyword) for keyword in split_keywords(rule.keywords)} - {""}


def rule_matches(rule, text) -> bool:
    if rule.match == KeywordMatch.EXACT:
        return fold(text) in folded_keywords(rule)
    if rule.match == KeywordMatch.FIRST_WORD:
        return first_word(text) in folded_keywords(rule)
    return False


def find_keyword_rule(text, *, conversation=None) -> KeywordRule | None:
    """The first active rule (by priority) the text is a keyword of, fallback rules excluded,
    skipping rules that answer only our recent messages when `conversation` (None: a number
    we never texted) has none."""
    rules = (
        KeywordRule.objects.filter(active=True)
        .exclude(match=KeywordMatch.FALLBACK)
        .select_related("flow")
    )
    for rule in rules:
        if rule_matches(rule, text) and _answers_in_window(rule, conversation):
            return rule
    return None


def _answers_in_window(rule, conversation) -> bool:
    if not rule.answers_within_hours:
        return True
    if conversation is None:
        return False
    return we_texted_recently(conversation, timedelta(hours=rule.answers_within_hours))


def we_texted_recently(conversation, window) -> bool:
    """True when we sent this conversation a message within `window` that could have reached
    the customer: held or failed messages and our own keyword auto-replies do not count (a YES after
    the confirmation of an earlier YES confirms nothing new)."""
    return (
        Message.objects.filter(
            conversation=conversation,
            direction=Direction.OUTBOUND,
            created_at__gte=timezone.now() - window,
        )
        .exclude(source=MessageSource.KEYWORD)
        .exclude(status__in=NOT_SENT)
        .exists()
    )


def find_fallback_rule() -> KeywordRule | None:
    return KeywordRule.objects.filter(active=True, match=KeywordMatch.FALLBACK).first()


def is_consent_rule(rule) -> bool:
    return rule is not None and rule.action in CONSENT_ACTIONS


def mentions_opt_out(text) -> bool:
    """True when a word of the text is an opt-out keyword (e.g. "stop sending these"): not an
    opt-out by itself, but worth an agent's eyes."""
    words = {fold(word) for word in (text or "").split()} - {""}
    rules = KeywordRule.objects.filter(active=True, action=KeywordAction.OPT_OUT)
    return any(words & folded_keywords(rule) for rule in rules)


def validate_keyword_rule(rule) -> None:
    """Admin-time checks: a keyword must not belong to two active rules of the same kind."""
    errors = {}
    if rule.match != KeywordMatch.FALLBACK and not folded_keywords(rule):
        errors["keywords"] = "Give at least one keyword with a letter or digit in it."
    if rule.match == KeywordMatch.FIRST_WORD and any(
        " " in keyword for keyword in split_keywords(rule.keywords)
    ):
        errors["keywords"] = "A first-word rule's keywords are single words."
    if rule.action == KeywordAction.START_FLOW and rule.flow_id is None:
        errors["flow"] = "Choose the flow this keyword starts."
    if rule.action in CONSENT_ACTIONS and rule.answers_within_hours:
        errors["answers_within_hours"] = (
            "Opt-out and opt-in keywords are honoured at any time: leave this at 0."
        )
    if rule.active and rule.match != KeywordMatch.FALLBACK and "keywords" not in errors:
        clash = _clashing_keywords(rule)
        if clash:
            errors["keywords"] = f"Already used by an active rule: {clash}."
    if errors:
        raise ValidationError(errors)


def _clashing_keywords(rule) -> str:
    mine = folded_keywords(rule)
    others = KeywordRule.objects.filter(active=True, match=rule.match).exclude(pk=rule.pk)
    clashes = [
        f"{', '.join(sorted(mine & folded_keywords(other)))} ({other.name})"
        for other in others
        if mine & folded_keywords(other)
    ]
    return "; ".join(clashes)
