"""DLT templates: matching bodies to them, rendering them, and linting them before operators do.

A registered body has `{#var#}` slots; operators accept a message only when its body is the
template with each slot filled by 1 to 30 characters. We check the same locally, so a mismatch
is a clear 400 naming the closest template instead of a silent failure (23185) hours later.
"""

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from ..models import DltTemplate, SmsType

VARIABLE = "{#var#}"
MAX_VARIABLE_LENGTH = 30
MAX_BODY_LENGTH = 2000
# Misspellings of {#var#} that operators reject: {#VAR#}, {# var #}, {#var}, {var#}, {var}, ...
_VARIABLE_LOOKALIKE = re.compile(r"\{\s*#?\s*var\s*#?\s*\}|\{#\s*\w*\s*#\}", re.IGNORECASE)
_ENTITY_OR_TEMPLATE_ID = re.compile(r"^\d{19}$")
_SENDER_ID = {
    SmsType.PROMOTIONAL: re.compile(r"^\d{6}$"),
    SmsType.TRANSACTIONAL: re.compile(r"^[A-Za-z]{6}$"),
    SmsType.TRANSACTIONAL_OPT_IN: re.compile(r"^[A-Za-z]{6}$"),
}


@dataclass(frozen=True)
class TemplateMatch:
    template: DltTemplate
    variables: tuple[str, ...]


@dataclass(frozen=True)
class Mismatch:
    """Why a body matched no template: the closest one and where the body departs from it."""

    template: DltTemplate | None
    position: int
    expected: str

    def describe(self) -> str:
        if self.template is None:
            return "No active DLT template is registered for this kind of message."
        return (
            f"The body matches no active DLT template. Closest: {self.template.name} "
            f"({self.template.template_id}); at character {self.position + 1} it expects "
            f"{self.expected!r}."
        )


@lru_cache(maxsize=1024)
def _pattern(template_body: str) -> re.Pattern:
    literals = template_body.split(VARIABLE)
    slot = f"(.{{1,{MAX_VARIABLE_LENGTH}}}?)"
    return re.compile(slot.join(re.escape(part) for part in literals), re.DOTALL)


def slot_count(template_body: str) -> int:
    return template_body.count(VARIABLE)


def match_body(template: DltTemplate, body: str) -> TemplateMatch | None:
    found = _pattern(template.body).fullmatch(body)
    return TemplateMatch(template, found.groups()) if found else None


def candidate_templates(sms_type=None):
    templates = DltTemplate.objects.filter(active=True)
    return templates.filter(sms_type=sms_type) if sms_type else templates


def _literal_length(template: DltTemplate) -> int:
    return len(template.body) - slot_count(template.body) * len(VARIABLE)


def match_template(body: str, sms_type=None, templates=None) -> TemplateMatch | None:
    """The active template this body fills in; the most specific one (most fixed text) wins."""
    templates = candidate_templates(sms_type) if templates is None else templates
    matches = [m for m in (match_body(t, body) for t in templates) if m]
    return max(matches, key=lambda m: (_literal_length(m.template), m.template.pk), default=None)


def render_template(template: DltTemplate, variables) -> str:
    """Fill the slots in order; raises ValueError naming the slot that does not fit."""
    variables = [str(v) for v in (variables or [])]
    slots = slot_count(template.body)
    if len(variables) != slots:
        raise ValueError(f"This template has {slots} variable(s); {len(variables)} given.")
    for index, value in enumerate(variables, start=1):
        if not 1 <= len(value) <= MAX_VARIABLE_LENGTH:
            raise ValueError(
                f"Variable {index} must be 1 to {MAX_VARIABLE_LENGTH} characters "
                f"({len(value)} given)."
            )
    parts = template.body.split(VARIABLE)
    return parts[0] + "".join(
        value + part for value, part in zip(variables, parts[1:], strict=True)
    )


def _departure(template: DltTemplate, body: str) -> tuple[int, str]:
    """Where `body` first departs from the template's fixed text, and what was expected there."""
    position = 0
    literals = template.body.split(VARIABLE)
    for index, literal in enumerate(literals):
        if index == 0:
            if not body.startswith(literal):
                common = len(_common_prefix(body, literal))
                return common, literal[common : common + 20]
            position = len(literal)
            continue
        window = body[position + 1 : position + MAX_VARIABLE_LENGTH + 1 + len(literal)]
        found = window.find(literal) if literal else 0
        if found < 0:
            return position, f"{VARIABLE}{literal[:20]}"
        position = position + 1 + found + len(literal)
    return position, "the end of the message"


def _common_prefix(a: str, b: str) -> str:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return a[:index]
    return a[: min(len(a), len(b))]


def explain_mismatch(body: str, sms_type=None, templates=None) -> Mismatch:
    templates = list(candidate_templates(sms_type) if templates is None else templates)
    if not templates:
        return Mismatch(None, 0, "")

    def similarity(template):
        fixed = template.body.replace(VARIABLE, "")
        return difflib.SequenceMatcher(None, fixed, body, autojunk=False).ratio()

    closest = max(templates, key=similarity)
    position, expected = _departure(closest, body)
    return Mismatch(closest, position, expected)


def lint_template(body, *, sms_type=None, sender_id=None, entity_id=None, template_id=None):
    """Problems operators would reject the template for, as {field: [messages]}."""
    problems = {}

    def add(field, message):
        problems.setdefault(field, []).append(message)

    body = body or ""
    if len(body) > MAX_BODY_LENGTH:
        add("body", f"The body is {len(body)} characters; DLT allows at most {MAX_BODY_LENGTH}.")
    for lookalike in _VARIABLE_LOOKALIKE.findall(body):
        if lookalike != VARIABLE:
            add("body", f"{lookalike!r} is not a DLT variable: write exactly {VARIABLE}.")
    if re.search(re.escape(VARIABLE) + r"\s*" + re.escape(VARIABLE), body):
        add("body", "Two variables back to back are rejected by operators: put text between them.")
    if body and not body.replace(VARIABLE, "").strip():
        add("body", "A template needs fixed text besides its variables.")
    for field, value in (("entity_id", entity_id), ("template_id", template_id)):
        if value is not None and not _ENTITY_OR_TEMPLATE_ID.match(str(value)):
            add(field, "DLT ids are 19 digits.")
    sender_rule = _SENDER_ID.get(sms_type)
    if sender_id is not None and sender_rule and not sender_rule.match(sender_id):
        kind = "6 digits" if sms_type == SmsType.PROMOTIONAL else "6 letters"
        add("sender_id", f"A {SmsType(sms_type).label.lower()} sender id (header) is {kind}.")
    return problems
