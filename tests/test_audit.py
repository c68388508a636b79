"""The audit log (issue 8): each listed action writes exactly one entry (who, what, from where),
and entries cannot be added, changed or deleted through admin or the API."""

import pytest
from django.urls import reverse

from conversations.models import AuditLog, Conversation, OptOutSource, WebhookEvent, WebhookKind
from conversations.services import campaign_audience, campaigns, consent, sending, triage

from .factories import ConversationFactory, DltTemplateFactory, UserFactory

BODY = "Your appointment is confirmed for 20 Jan at 3 PM. Reply YES to confirm or NO to cancel."
NOTICE = "Our store in {#var#} is closed on Sunday."


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(sending, "enqueue_send", lambda message: None)
    monkeypatch.setattr(campaigns, "enqueue_on_commit", lambda task, *args: None)


def entries(action):
    return list(AuditLog.objects.filter(action=action))


def test_send_writes_one_entry(staff_user):
    DltTemplateFactory()
    message = sending.send_message("9876543210", BODY, user=staff_user)
    (entry,) = entries("send")
    assert (entry.actor, entry.target, entry.detail["message"]) == (
        staff_user,
        "+919876543210",
        message.pk,
    )


def test_reply_writes_one_reply_entry_and_no_send_entry(agent_user):
    DltTemplateFactory()
    sending.send_reply("9876543210", BODY, user=agent_user)
    assert len(entries("reply")) == 1
    assert entries("send") == []


def test_automatic_replies_are_not_a_persons_action(db):
    DltTemplateFactory()
    sending.send_message("9876543210", BODY)
    assert AuditLog.objects.filter(action__in=["send", "reply"]).count() == 0


def test_assign_writes_one_entry(staff_user, agent_user):
    conversation = ConversationFactory()
    triage.assign_conversation(conversation, agent_user, user=staff_user, remote_addr="10.0.0.9")
    (entry,) = entries("conversation_assigned")
    assert (entry.actor, entry.remote_addr, entry.detail["to"]) == (staff_user, "10.0.0.9", "agent")


def test_opt_out_and_opt_in_write_one_entry_each(staff_user):
    consent.opt_out("9876543210", source=OptOutSource.STAFF, user=staff_user)
    consent.opt_in("9876543210", source=OptOutSource.STAFF, user=staff_user)
    (out,) = entries("opt_out")
    (back,) = entries("opt_in")
    assert (out.actor, out.target, out.detail) == (
        staff_user,
        "+919876543210",
        {"source": "staff", "changed": True},
    )
    assert back.detail == {"source": "staff", "changed": True}


def test_template_change_in_admin_writes_one_entry(client, staff_user):
    template = DltTemplateFactory(name="Old")
    client.force_login(staff_user)
    data = {
        "name": "New",
        "template_id": template.template_id,
        "entity_id": template.entity_id,
        "sender_id": template.sender_id,
        "body": template.body,
        "sms_type": template.sms_type,
        "active": "on",
    }
    url = reverse("admin:conversations_dlttemplate_change", args=[template.pk])
    assert client.post(url, data).status_code == 302
    (entry,) = entries("dlttemplate_changed")
    assert (entry.actor, entry.detail["fields"]) == (staff_user, ["name"])
    assert entry.remote_addr == "127.0.0.1"


def test_template_delete_in_admin_writes_one_entry(client, staff_user):
    template = DltTemplateFactory()
    client.force_login(staff_user)
    url = reverse("admin:conversations_dlttemplate_delete", args=[template.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert len(entries("dlttemplate_deleted")) == 1


def test_campaign_start_pause_cancel_write_one_entry_each(staff_user):
    campaign = campaigns.create_campaign(
        "Notice",
        template=DltTemplateFactory(body=NOTICE),
        body="Our store in Pune is closed on Sunday.",
    )
    campaign_audience.import_pasted(campaign, "+919876500001\n+919876500002")
    campaigns.start_campaign(campaign, user=staff_user)
    campaign.refresh_from_db()
    campaigns.pause_campaign(campaign, user=staff_user)
    campaign.refresh_from_db()
    campaigns.cancel_campaign(campaign, user=staff_user)
    for action in ("campaign_start", "campaign_pause", "campaign_cancel"):
        (entry,) = entries(action)
        assert entry.actor == staff_user


def test_admin_export_writes_one_entry(client, staff_user):
    conversation = ConversationFactory()
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:conversations_conversation_changelist"),
        {"action": "export_csv", "_selected_action": [conversation.pk]},
    )
    assert response.status_code == 200
    (entry,) = entries("export")
    assert (entry.actor, entry.target) == (staff_user, "conversations.csv")


def test_login_writes_one_entry(client, db):
    UserFactory(username="asha")
    assert client.login(username="asha", password="pass-for-tests-1")
    (entry,) = entries("login")
    assert entry.target == "asha"


def test_failed_login_writes_one_entry_without_the_password(client, db):
    UserFactory(username="asha")
    response = client.post(
        reverse("login"), {"username": "asha", "password": "wrong-secret"}, REMOTE_ADDR="10.1.2.3"
    )
    assert response.status_code == 200
    (entry,) = entries("login_failed")
    assert (entry.target, entry.remote_addr) == ("asha", "10.1.2.3")
    assert "wrong-secret" not in str(entry.detail)


def test_webhook_replay_writes_one_entry(client, staff_user, monkeypatch):
    event = WebhookEvent.objects.create(kind=WebhookKind.SMS_STATUS, payload={})
    monkeypatch.setattr("conversations.admin.replay_webhook_event", lambda event: "ok")
    client.force_login(staff_user)
    client.post(
        reverse("admin:conversations_webhookevent_changelist"),
        {"action": "replay", "_selected_action": [event.pk]},
    )
    (entry,) = entries("webhook_replay")
    assert entry.actor == staff_user


# Append-only ----------------------------------------------------------------------------------


@pytest.fixture
def entry(staff_user):
    return AuditLog.objects.create(actor=staff_user, action="send", target="+919876543210")


def test_admin_cannot_add_change_or_delete_entries(client, staff_user, entry):
    client.force_login(staff_user)
    assert client.get(reverse("admin:conversations_auditlog_add")).status_code == 403
    change = reverse("admin:conversations_auditlog_change", args=[entry.pk])
    client.post(change, {"action": "tampered", "target": "x"})
    delete = reverse("admin:conversations_auditlog_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert (entry.action, entry.target) == ("send", "+919876543210")


def test_admin_changelist_offers_no_delete_action(client, staff_user, entry):
    client.force_login(staff_user)
    response = client.get(reverse("admin:conversations_auditlog_changelist"))
    assert b"delete_selected" not in response.content


def test_admin_filters_by_action_actor_and_date(client, staff_user, entry):
    client.force_login(staff_user)
    response = client.get(reverse("admin:conversations_auditlog_changelist"))
    spec_titles = {
        spec.title for spec in response.context["cl"].filter_specs if hasattr(spec, "title")
    }
    assert {"action", "actor", "created at"} <= spec_titles


def test_the_api_exposes_no_way_to_write_entries(staff_api, entry):
    from django.urls import get_resolver

    def views(resolver):
        for pattern in resolver.url_patterns:
            if hasattr(pattern, "url_patterns"):
                yield from views(pattern)
            else:
                yield pattern.callback

    for callback in views(get_resolver()):
        view_class = getattr(callback, "cls", None)
        queryset = getattr(view_class, "queryset", None)
        assert getattr(queryset, "model", None) is not AuditLog, view_class
    for method in (staff_api.post, staff_api.put, staff_api.delete):
        assert method(f"/api/audit-logs/{entry.pk}/").status_code == 404
    assert Conversation.objects.count() == 0


def test_template_changes_through_the_api_write_one_entry_each(staff_api):
    template = DltTemplateFactory(name="Old")
    response = staff_api.patch(f"/api/templates/{template.pk}", {"name": "New"}, format="json")
    assert response.status_code == 200
    (entry,) = entries("dlttemplate_changed")
    assert entry.detail["fields"] == ["name"]
    assert staff_api.delete(f"/api/templates/{template.pk}").status_code == 204
    assert len(entries("dlttemplate_deleted")) == 1
