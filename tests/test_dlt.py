import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.models import DltTemplate, SmsType
from conversations.services import dlt

APPOINTMENT = (
    "Your appointment is confirmed for {#var#} at {#var#}. Reply YES to confirm or NO to cancel."
)
SIMILAR = [
    APPOINTMENT,
    "Your appointment is cancelled for {#var#} at {#var#}. Call us to rebook.",
    "Your appointment is confirmed for {#var#}. Reply YES to confirm or NO to cancel.",
    "Your order {#var#} has been shipped and will reach you by {#var#}.",
]


def template(body, pk=1, name=None, sms_type=SmsType.TRANSACTIONAL):
    return DltTemplate(
        pk=pk,
        name=name or f"T{pk}",
        template_id=f"{pk:019d}",
        body=body,
        sms_type=sms_type,
        sender_id="EXOTEL",
        entity_id="1" * 19,
    )


TEMPLATES = [template(body, pk=i + 1) for i, body in enumerate(SIMILAR)]


@settings(max_examples=200, deadline=None)
@given(first=st.text(min_size=1, max_size=30), second=st.text(min_size=1, max_size=30))
def test_any_rendering_with_variables_of_1_to_30_characters_matches(first, second):
    appointment = template(APPOINTMENT)
    body = dlt.render_template(appointment, [first, second])
    found = dlt.match_body(appointment, body)
    assert found is not None
    assert dlt.render_template(appointment, list(found.variables)) == body


@settings(max_examples=200, deadline=None)
@given(first=st.text(min_size=1, max_size=30), second=st.text(min_size=1, max_size=30))
def test_the_matched_template_is_the_right_one_among_similar_ones(first, second):
    body = dlt.render_template(TEMPLATES[0], [first, second])
    found = dlt.match_template(body, templates=TEMPLATES)
    assert found is not None
    assert dlt.render_template(found.template, list(found.variables)) == body
    # Template 3 (one slot) may match too when "<first> at <second>" fits in 30 characters;
    # template 1 has more fixed text, so it wins.
    assert found.template.pk == 1


@settings(max_examples=100, deadline=None)
@given(extra=st.text(alphabet="abcdefghij", min_size=1, max_size=10))
def test_a_body_with_extra_words_does_not_match(extra):
    body = dlt.render_template(TEMPLATES[0], ["20 Jan", "3 PM"]) + f" {extra}"
    assert dlt.match_template(body, templates=TEMPLATES[:1]) is None


def test_a_body_with_missing_words_does_not_match():
    body = "Your appointment is confirmed for 20 Jan at 3 PM. Reply YES to confirm."
    assert dlt.match_template(body, templates=TEMPLATES[:1]) is None


def test_a_variable_longer_than_30_characters_does_not_match():
    body = dlt.render_template(TEMPLATES[3], ["A" * 30, "Monday"]).replace("A" * 30, "A" * 31)
    assert dlt.match_template(body, templates=TEMPLATES[3:]) is None


def test_the_most_specific_template_wins():
    body = "Your appointment is confirmed for 20 Jan at 3 PM. Reply YES to confirm or NO to cancel."
    assert dlt.match_template(body, templates=TEMPLATES).template.pk == 1


def test_a_mismatch_names_the_closest_template_and_where_it_departs():
    body = "Your appointment is confirmed for 20 Jan at 3 PM. Reply Y to confirm or NO to cancel."
    mismatch = dlt.explain_mismatch(body, templates=TEMPLATES)
    assert mismatch.template.pk == 1
    assert "T1" in mismatch.describe()
    assert "character" in mismatch.describe()


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ([], "2 variable(s); 0 given"),
        (["a"], "2 variable(s); 1 given"),
        (["a", "b" * 31], "Variable 2 must be 1 to 30"),
        (["", "b"], "Variable 1 must be 1 to 30"),
    ],
)
def test_rendering_refuses_variables_that_do_not_fit(variables, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dlt.render_template(TEMPLATES[0], variables)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("Your code is {#VAR#}", "is not a DLT variable"),
        ("Your code is {# var #}", "is not a DLT variable"),
        ("Your code is {#var}", "is not a DLT variable"),
        ("Your code is {var}", "is not a DLT variable"),
        ("Hello {#var#}{#var#} there", "back to back"),
        ("Hello {#var#} {#var#} there", "back to back"),
        ("x" * 2001, "at most 2000"),
        ("{#var#}", "fixed text"),
    ],
)
def test_lint_catches_what_operators_reject(body, problem):
    problems = dlt.lint_template(body)
    assert any(problem in message for message in problems["body"])


def test_lint_passes_a_well_formed_template():
    assert (
        dlt.lint_template(
            APPOINTMENT,
            sms_type="transactional",
            sender_id="EXOTEL",
            entity_id="1" * 19,
            template_id="2" * 19,
        )
        == {}
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"entity_id": "12345"}, "entity_id"),
        ({"template_id": "abc"}, "template_id"),
        ({"sms_type": "transactional", "sender_id": "EXO"}, "sender_id"),
        ({"sms_type": "promotional", "sender_id": "EXOTEL"}, "sender_id"),
    ],
)
def test_lint_checks_id_and_sender_formats(kwargs, field):
    assert field in dlt.lint_template(APPOINTMENT, **kwargs)
