"""Issue 10, item 8: arbitrary unicode, huge and malformed input to the webhook parsers and the
DLT matcher gets a 4xx or a correct result, never an exception (a 500).

The Django test client re-raises any exception a view lets through, so "never an exception"
is checked for every generated request.
"""

import json
import string
from urllib.parse import urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.models import DltTemplate, Message
from conversations.services import dlt
from conversations.services.sending import status_callback_url

from ..factories import DltTemplateFactory, MessageFactory

PROPERTIES = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
INBOUND_FIELDS = ["SmsSid", "From", "To", "Body", "DateCreated", "AccountSid", "Date", "token"]
STATUS_FIELDS = ["SmsSid", "Status", "DetailedStatus", "DetailedStatusCode", "SmsUnits", "Price"]
STATUS_FIELDS += ["DateSent", "DateUpdated", "To"]

# Text as Exotel could never send it: any code point (surrogates and NUL too), sometimes huge.
any_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec=None), max_size=200),
    st.text(alphabet="0123456789+ -", max_size=20),
    st.integers(0, 5000).map(lambda n: "€" * n),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


def form_of(keys):
    """A form with some of Exotel's fields (any values) and some fields of its own."""
    known = st.dictionaries(st.sampled_from(keys), any_text)
    extra = st.dictionaries(st.text(max_size=20), any_text, max_size=3)
    return st.tuples(known, extra).map(lambda pair: {**pair[1], **pair[0]})


def _safe(form):
    """The test client encodes str as UTF-8; lone surrogates cannot be: send them replaced."""
    return {
        k.encode("utf-8", "replace").decode(): v.encode("utf-8", "replace").decode()
        for k, v in form.items()
    }


def assert_answered(response, *allowed):
    assert response.status_code in allowed or 400 <= response.status_code < 500, (
        response.status_code,
        response.content[:300],
    )


@pytest.mark.django_db
@PROPERTIES
@given(form=form_of(INBOUND_FIELDS))
def test_any_inbound_post_is_stored_or_refused_with_a_4xx(form):
    response = Client().post("/webhook/sms-incoming", _safe(form))
    assert_answered(response, 200)
    if response.status_code == 200:
        assert Message.objects.filter(sid=form["SmsSid"].strip()).exists()


@pytest.mark.django_db
@PROPERTIES
@given(payload=json_values)
def test_any_inbound_json_body_is_stored_or_refused_with_a_4xx(payload):
    body = json.dumps(payload, ensure_ascii=True)
    response = Client().post("/webhook/sms-incoming", body, content_type="application/json")
    assert_answered(response, 200)


@pytest.mark.django_db
@PROPERTIES
@given(
    raw=st.binary(max_size=300),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/json",
            "multipart/form-data; boundary=x",
            "text/plain",
            "multipart/form-data",
        ]
    ),
)
def test_undecodable_inbound_bodies_get_a_4xx_or_are_read(raw, content_type):
    response = Client().post("/webhook/sms-incoming", raw, content_type=content_type)
    assert_answered(response, 200)


@pytest.mark.django_db
@PROPERTIES
@given(form=form_of(INBOUND_FIELDS), method=st.sampled_from(["get", "head"]))
def test_any_reply_applet_query_is_answered_in_text_or_refused(form, method):
    response = getattr(Client(), method)("/webhook/sms-incoming", _safe(form))
    assert_answered(response, 200)
    if response.status_code == 200:
        assert response["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
@PROPERTIES
@given(form=form_of(STATUS_FIELDS))
def test_any_status_callback_is_stored_or_refused_with_a_4xx(form):
    message = MessageFactory()
    token = status_callback_url(message).rsplit("token=", 1)[1]
    response = Client().post(f"/webhook/sms-status?token={token}", _safe(form))
    assert_answered(response, 200)


@pytest.mark.django_db
@PROPERTIES
@given(token=any_text)
def test_a_status_callback_with_any_other_token_is_refused(token):
    query = urlencode({"token": token.encode("utf-8", "replace").decode()})
    response = Client().post(f"/webhook/sms-status?{query}", {"SmsSid": "x", "Status": "sent"})
    assert response.status_code == 403


CALL_FIELDS = ["CallSid", "From", "To", "Direction", "DialCallStatus", "CallType", "Status"]
CALL_FIELDS += ["StartTime", "EndTime", "DialWhomNumber", "RecordingUrl", "Digits", "CallFrom"]


@pytest.mark.django_db
@PROPERTIES
@given(form=form_of(CALL_FIELDS), method=st.sampled_from(["get", "post"]))
def test_any_call_event_is_stored_or_refused_with_a_4xx(form, method):
    """200 (an SMS was queued) and 302 (none was) are the Passthru's two valid answers."""
    response = getattr(Client(), method)("/webhook/call-event", _safe(form))
    assert_answered(response, 200, 204, 302)


# --- The DLT matcher ------------------------------------------------------------------------

VARIABLE_VALUE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30
)
TEMPLATE_BODIES = [
    "Your OTP is {#var#}. Do not share it.",
    "Hi {#var#}, your order {#var#} has shipped.",
    "Dear {#var#} {#var#}, thank you.",
    "{#var#}",
]


@pytest.fixture
def templates(db):
    return [DltTemplateFactory(body=body) for body in TEMPLATE_BODIES]


@PROPERTIES
@given(body=st.one_of(any_text, st.text(alphabet=string.printable, max_size=2500)))
def test_the_matcher_answers_any_body_with_a_correct_match_or_a_reason(templates, body):
    found = dlt.match_template(body)
    if found is not None:
        assert dlt.render_template(found.template, found.variables) == body
    else:
        assert dlt.explain_mismatch(body).describe()


@PROPERTIES
@given(data=st.data())
def test_a_rendered_template_always_matches_with_its_own_variables(templates, data):
    template = data.draw(st.sampled_from(templates[:3]))
    values = [data.draw(VARIABLE_VALUE) for _ in range(dlt.slot_count(template.body))]
    body = dlt.render_template(template, values)
    found = dlt.match_body(template, body)
    assert found is not None
    assert dlt.render_template(template, found.variables) == body


@PROPERTIES
@given(body=any_text, sender=any_text, entity=any_text, template_id=any_text)
def test_linting_any_template_reports_problems_without_raising(
    db, body, sender, entity, template_id
):
    problems = dlt.lint_template(body, sender_id=sender, entity_id=entity, template_id=template_id)
    assert isinstance(problems, dict)


@pytest.mark.django_db
@PROPERTIES
@given(body=any_text, to=any_text)
def test_the_send_api_answers_any_body_and_number_with_202_or_a_4xx(templates, body, to):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    user, _ = get_user_model().objects.get_or_create(username="prop-sender")
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/sms/send", _safe({"to": to, "body": body}), format="json")
    assert_answered(response, 202)
    assert DltTemplate.objects.count() == len(TEMPLATE_BODIES)
