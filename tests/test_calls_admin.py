"""Call rules in the admin (issue 9): the same checks as the API, and audited."""

import pytest

from conversations.models import AuditLog, CallRule

from .factories import CallEventFactory, CallRuleFactory, DltTemplateFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/conversations/callrule/add/"


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def form(template, **changes):
    return {
        "name": "Missed call alert",
        "call_types": ["missed"],
        "exophone": "08047112345",
        "digits": "",
        "template": template.pk,
        "variables": "{DateTime}\r\n",
        "delay_seconds": "0",
        "active": "on",
        **changes,
    }


def test_staff_add_a_rule_with_variables_one_per_line(staff_client):
    template = DltTemplateFactory(body="We missed your call at {#var#}. We will call back.")

    response = staff_client.post(ADD, form(template))

    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = CallRule.objects.get(name="Missed call alert")
    assert (rule.call_types, rule.variables, rule.exophone) == (
        ["missed"],
        ["{DateTime}"],
        "+918047112345",
    )
    assert AuditLog.objects.filter(action="call_rule_created", actor__username="staff").exists()


def test_variables_that_do_not_fill_the_template_are_shown_on_the_field(staff_client):
    template = DltTemplateFactory(body="Ref {#var#} on {#var#}. Thank you.")

    response = staff_client.post(ADD, form(template))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "2 slot(s)" in errors["variables"][0]
    assert not CallRule.objects.filter(name="Missed call alert").exists()


def test_an_inactive_template_is_refused(staff_client):
    template = DltTemplateFactory(active=False)

    response = staff_client.post(ADD, form(template, variables="a\nb"))

    assert "not active" in response.context["adminform"].form.errors["template"][0]


def test_a_change_in_the_admin_is_audited(staff_client):
    rule = CallRuleFactory(name="Old name")

    response = staff_client.post(
        f"/admin/conversations/callrule/{rule.pk}/change/",
        form(rule.template, name="New name", variables=""),
    )

    assert response.status_code == 302
    entry = AuditLog.objects.get(action="call_rule_changed")
    assert entry.detail["changes"]["name"] == ["Old name", "New name"]


def test_call_events_are_listed_and_open(staff_client):
    event = CallEventFactory(call_sid="sid-in-admin")

    listing = staff_client.get("/admin/conversations/callevent/")
    detail = staff_client.get(f"/admin/conversations/callevent/{event.pk}/change/")

    assert listing.status_code == 200 and b"sid-in-admin" in listing.content
    assert detail.status_code == 200


def test_staff_filter_conversations_to_leads_in_the_admin(staff_client):
    from .factories import ConversationFactory

    ConversationFactory(phone_number="+919876543210", is_lead=True)
    ConversationFactory(phone_number="+919876543211")

    response = staff_client.get("/admin/conversations/conversation/", {"is_lead__exact": "1"})

    assert response.status_code == 200
    assert b"+919876543210" in response.content and b"+919876543211" not in response.content
