"""`seed_demo` gives a sandbox install templates for what it sends by itself."""

import re

import pytest
from django.core.management import call_command

from conversations.models import DltTemplate, FlowChoice, FlowStep, KeywordRule
from conversations.services.dlt import match_template

pytestmark = pytest.mark.django_db


def shipped_reply_texts():
    texts = [rule.reply for rule in KeywordRule.objects.exclude(reply="")]
    texts += [step.prompt for step in FlowStep.objects.all()]
    texts += [choice.reply for choice in FlowChoice.objects.exclude(reply="")]
    return [re.sub(r"\{[a-z_]+\}", "A1234", text) for text in texts]


def test_every_shipped_auto_reply_matches_a_demo_template(settings):
    settings.EXOTEL_USES_SANDBOX = True

    call_command("seed_demo")

    texts = shipped_reply_texts()
    assert texts
    assert [text for text in texts if match_template(text) is None] == []


def test_seed_demo_adds_nothing_when_templates_exist(settings):
    settings.EXOTEL_USES_SANDBOX = True
    call_command("seed_demo")
    count = DltTemplate.objects.count()

    call_command("seed_demo")

    assert DltTemplate.objects.count() == count


def test_seed_demo_adds_nothing_with_real_exotel_credentials(settings):
    settings.EXOTEL_USES_SANDBOX = False

    call_command("seed_demo")

    assert not DltTemplate.objects.exists()
