"""Call rules: checking them (one message per field, for the API and the admin alike) and
saving them with an audit entry for every change."""

import re

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import RULE_CALL_TYPE_CHOICES, CallRule
from ..phone import normalise_phone
from .audit import record_action
from .calls import PLACEHOLDER, PLACEHOLDERS
from .dlt import MAX_VARIABLE_LENGTH, slot_count

RULE_CALL_TYPES = tuple(value for value, _ in RULE_CALL_TYPE_CHOICES)
DIGITS = re.compile(r"^[0-9*#]{1,32}$")
MAX_DELAY_SECONDS = 7 * 24 * 3600
MAX_VARIABLES = 20
# The longest value each placeholder can take, to tell at once when a slot cannot fit. Exotel's
# CallSid is 32 characters, so {CallSid} is left to the send (which refuses it when too long).
PLACEHOLDER_LENGTH = {"CallFrom": 13, "CallTo": 13, "CallSidShort": 10, "DateTime": 16}
AUDITED_FIELDS = (
    "name",
    "call_types",
    "exophone",
    "digits",
    "template_id",
    "variables",
    "delay_seconds",
    "active",
)


def rule_problems(values) -> dict[str, list[str]]:
    """What is wrong with a rule's values ({field: [messages]}); empty when it may be saved.

    `values` holds the rule's fields after the change (template as a DltTemplate or None).
    """
    problems = {}

    def add(field, message):
        problems.setdefault(field, []).append(message)

    for field, message in _call_type_problems(values.get("call_types")):
        add(field, message)
    template = values.get("template")
    if template is not None and not template.active:
        add("template", f"The DLT template {template} is not active.")
    if values.get("active") and template is None:
        add("template", "An active rule needs a DLT template; choose one or set active to false.")
    for message in _variable_problems(values.get("variables"), template):
        add("variables", message)
    digits = values.get("digits") or ""
    if digits and not DIGITS.match(digits):
        add("digits", "Digits are 1 to 32 of 0-9, * and #, as keyed in a Gather.")
    delay = values.get("delay_seconds") or 0
    if not 0 <= delay <= MAX_DELAY_SECONDS:
        add("delay_seconds", f"From 0 to {MAX_DELAY_SECONDS} seconds (7 days).")
    return problems


def _call_type_problems(call_types):
    if not isinstance(call_types, list) or not call_types:
        yield "call_types", f"Choose at least one of: {', '.join(RULE_CALL_TYPES)}."
        return
    for value in call_types:
        if value not in RULE_CALL_TYPES:
            yield "call_types", f"{value!r} is not one of: {', '.join(RULE_CALL_TYPES)}."


def _variable_problems(variables, template):
    if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
        yield "Variables are a list of texts, one per slot of the template."
        return
    if len(variables) > MAX_VARIABLES:
        yield f"At most {MAX_VARIABLES} variables."
        return
    if template is not None and len(variables) != slot_count(template.body):
        slots = slot_count(template.body)
        yield f"The template has {slots} slot(s) ({{#var#}}); {len(variables)} variable(s) given."
    for index, variable in enumerate(variables, start=1):
        yield from _one_variable_problems(index, variable)


def _one_variable_problems(index, variable):
    unknown = [name for name in PLACEHOLDER.findall(variable) if name not in PLACEHOLDERS]
    if unknown:
        known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        yield f"Variable {index}: {{{unknown[0]}}} is not a call value; use {known}."
        return
    longest = len(PLACEHOLDER.sub(lambda m: "x" * PLACEHOLDER_LENGTH.get(m.group(1), 1), variable))
    if not variable.strip():
        yield f"Variable {index} is empty; a DLT variable is 1 to {MAX_VARIABLE_LENGTH} characters."
    elif longest > MAX_VARIABLE_LENGTH:
        yield (
            f"Variable {index} can be {longest} characters; a DLT variable holds at most "
            f"{MAX_VARIABLE_LENGTH}."
        )


def normalised_exophone(value) -> str:
    """The ExoPhone as E.164 ("" for any); ValidationError when it is not a number."""
    if not value:
        return ""
    try:
        return normalise_phone(value)
    except ValidationError as exc:
        raise ValidationError({"exophone": exc.messages}) from exc


def check_rule(values):
    """Raise ValidationError (per field) unless these values make a valid rule."""
    problems = rule_problems(values)
    if problems:
        raise ValidationError(problems)


def save_rule(rule, values, *, user=None, request=None) -> CallRule:
    """Create (rule None) or change a rule and write the change to the audit log."""
    if "exophone" in values:
        values = {**values, "exophone": normalised_exophone(values["exophone"])}
    created = rule is None
    rule = rule or CallRule()
    before = _snapshot(rule) if not created else {}
    for field, value in values.items():
        setattr(rule, field, value)
    with transaction.atomic():
        rule.save()
        after = _snapshot(rule)
        changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
        action = "call_rule_created" if created else "call_rule_changed"
        record_action(action, actor=user, target=_target(rule), request=request, changes=changes)
    return rule


def delete_rule(rule, *, user=None, request=None) -> None:
    """Delete a rule that never ran (ProtectedError otherwise: deactivate it instead)."""
    with transaction.atomic():
        target, snapshot = _target(rule), _snapshot(rule)
        rule.delete()
        record_action("call_rule_deleted", actor=user, target=target, request=request, **snapshot)


def _snapshot(rule) -> dict:
    return {field: getattr(rule, field) for field in AUDITED_FIELDS}


def _target(rule) -> str:
    return f"call rule {rule.pk}: {rule.name}"
