import pytest
from django.urls import reverse

from conversations.models import OptOut

from .factories import (
    ConversationFactory,
    DltTemplateFactory,
    InboundMessageFactory,
    MessageFactory,
    OptOutFactory,
)

pytestmark = pytest.mark.django_db

MODELS = ["conversation", "message", "dlttemplate", "optout"]

# Every changelist with its searches and filters, as a staff user would click them.
CHANGELIST_QUERIES = {
    "conversation": [
        "",
        "q=98765",
        "q=Ravi",
        "last_activity_at__year=2026",
        "assignee__isnull=True",
        "last_message_status__exact=received",
    ],
    "message": [
        "",
        "q=hello",
        "q=0f477d",
        "status__exact=failed-dnd",
        "direction__exact=inbound",
        "sms_type__exact=promotional",
        "created_at__month=1",
        "template=1",
        "created_at__year=2026",
    ],
    "dlttemplate": [
        "",
        "q=Appointment",
        "sms_type__exact=transactional",
        "active__exact=1",
        "sender_id__exact=EXOTEL",
    ],
    "optout": [
        "",
        "q=98765",
        "active=yes",
        "active=no",
        "source__exact=keyword",
        "created_at__month=1",
    ],
}


@pytest.fixture
def data():
    template = DltTemplateFactory()
    conversation = ConversationFactory(phone_number="+919876543210", contact_name="Ravi Kumar")
    MessageFactory(conversation=conversation, template=template, body="hello <b>there</b>")
    InboundMessageFactory(conversation=conversation, body="YES")
    OptOutFactory(phone_number="+919876543211")
    return conversation


@pytest.mark.parametrize(
    ("model", "query"), [(m, q) for m, queries in CHANGELIST_QUERIES.items() for q in queries]
)
def test_changelists_searches_and_filters_render_for_staff(client, staff_user, data, model, query):
    client.force_login(staff_user)
    url = reverse(f"admin:conversations_{model}_changelist")
    response = client.get(f"{url}?{query}")
    assert response.status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_changelists_are_refused_to_anonymous_users(client, data, model):
    response = client.get(reverse(f"admin:conversations_{model}_changelist"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


@pytest.mark.parametrize("model", MODELS)
def test_changelists_are_refused_to_signed_in_non_staff(client, agent_user, data, model):
    client.force_login(agent_user)
    response = client.get(reverse(f"admin:conversations_{model}_changelist"))
    assert response.status_code == 302


def test_conversation_page_shows_its_messages_escaped(client, staff_user, data):
    client.force_login(staff_user)
    response = client.get(reverse("admin:conversations_conversation_change", args=[data.pk]))
    assert response.status_code == 200
    assert b"hello &lt;b&gt;there&lt;/b&gt;" in response.content


def test_export_action_streams_csv_of_the_selection(client, staff_user, data):
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:conversations_message_changelist"),
        {
            "action": "export_csv",
            "_selected_action": list(data.messages.values_list("pk", flat=True)),
        },
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    body = b"".join(response.streaming_content).decode()
    assert "hello <b>there</b>" in body
    assert "YES" in body


def test_opt_out_action_opts_the_conversation_number_out(client, staff_user, data):
    client.force_login(staff_user)
    client.post(
        reverse("admin:conversations_conversation_changelist"),
        {"action": "opt_out_numbers", "_selected_action": [data.pk]},
    )
    opt_out = OptOut.objects.get(phone_number="+919876543210")
    assert opt_out.is_active
    assert opt_out.created_by == staff_user


def test_opt_in_action_closes_the_opt_out_and_keeps_it(client, staff_user, data):
    client.force_login(staff_user)
    opt_out = OptOut.objects.get(phone_number="+919876543211")
    client.post(
        reverse("admin:conversations_optout_changelist"),
        {"action": "opt_in_numbers", "_selected_action": [opt_out.pk]},
    )
    opt_out.refresh_from_db()
    assert not opt_out.is_active
    assert opt_out.revoked_by == staff_user


def test_adding_an_opt_out_in_admin_normalises_the_number(client, staff_user, db):
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:conversations_optout_add"),
        {"phone_number": "09876543222", "source": "staff", "keyword": ""},
    )
    assert response.status_code == 302
    assert OptOut.objects.get().phone_number == "+919876543222"


def test_adding_an_opt_out_with_a_junk_number_shows_the_error(client, staff_user, db):
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:conversations_optout_add"),
        {"phone_number": "not a number", "source": "staff", "keyword": ""},
    )
    assert response.status_code == 200
    assert not OptOut.objects.exists()
    assert b"errorlist" in response.content


def test_audit_entries_cannot_be_added_changed_or_deleted_in_admin(client, staff_user):
    from conversations.models import AuditLog

    entry = AuditLog.objects.create(actor=staff_user, action="send", target="+919876543210")
    client.force_login(staff_user)
    change_url = reverse("admin:conversations_auditlog_change", args=[entry.pk])
    assert client.get(reverse("admin:conversations_auditlog_add")).status_code == 403
    assert client.post(change_url, {"action": "forged"}).status_code == 403
    delete_url = reverse("admin:conversations_auditlog_delete", args=[entry.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.action == "send"
