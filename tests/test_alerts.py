"""Alerts (issue 8): each kind fires at its threshold, shows its evidence, e-mails staff once,
shows as a banner, and resolves by itself when the condition clears."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from conversations.models import (
    Alert,
    AlertKind,
    AlertRule,
    Message,
    MessageStatus,
    WebhookEvent,
    WebhookKind,
)
from conversations.services import alerts

from .factories import ConversationFactory, DltTemplateFactory, MessageFactory, StaffFactory


@pytest.fixture(autouse=True)
def only_test_rules(db):
    """The data migration ships default rules; each test makes the one it checks."""
    AlertRule.objects.all().delete()


def rule(kind, threshold, window, **extra):
    return AlertRule.objects.create(
        name=f"{kind} {threshold}", kind=kind, threshold=threshold, window=window, **extra
    )


def outbound(count, status, **extra):
    conversation = ConversationFactory()
    for _ in range(count):
        MessageFactory(conversation=conversation, status=status, **extra)


def test_default_rules_are_shipped_by_the_migration(db):
    from importlib import import_module

    from django.apps import apps

    import_module("conversations.migrations.0009_insight").add_default_rules(apps, None)
    assert set(AlertRule.objects.values_list("kind", flat=True)) == set(AlertKind.values)


def test_template_delivery_below_threshold_opens_one_alert_with_evidence(db):
    template = DltTemplateFactory(name="Reminder")
    r = rule(AlertKind.TEMPLATE_DELIVERY, 80, 10)
    outbound(7, MessageStatus.DELIVERED, template=template)
    outbound(3, MessageStatus.FAILED, template=template)  # 70% over the last 10
    result = alerts.evaluate_rule(r)
    assert len(result.opened) == 1
    alert = result.opened[0]
    assert alert.subject == f"template:{template.pk}"
    assert alert.evidence == {"rate": 70.0, "finished": 10, "delivered": 7, "threshold": 80.0}
    assert "Reminder" in alert.summary


def test_template_delivery_at_threshold_does_not_fire(db):
    template = DltTemplateFactory()
    r = rule(AlertKind.TEMPLATE_DELIVERY, 80, 10)
    outbound(8, MessageStatus.DELIVERED, template=template)
    outbound(2, MessageStatus.FAILED, template=template)
    assert alerts.evaluate_rule(r).opened == []


def test_template_with_fewer_than_n_final_messages_is_not_judged(db):
    template = DltTemplateFactory()
    r = rule(AlertKind.TEMPLATE_DELIVERY, 80, 10)
    outbound(9, MessageStatus.FAILED, template=template)
    outbound(5, MessageStatus.SUBMITTED, template=template)  # not final
    assert alerts.evaluate_rule(r).opened == []


def test_delivery_alert_resolves_when_the_last_n_recover(db):
    template = DltTemplateFactory()
    r = rule(AlertKind.TEMPLATE_DELIVERY, 80, 10)
    outbound(10, MessageStatus.FAILED, template=template)
    (alert,) = alerts.evaluate_rule(r).opened
    outbound(10, MessageStatus.DELIVERED, template=template)  # the last 10 are all delivered
    result = alerts.evaluate_rule(r)
    assert [a.pk for a in result.resolved] == [alert.pk]
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_sender_delivery_below_threshold_fires_per_sender(db):
    r = rule(AlertKind.SENDER_DELIVERY, 50, 4)
    outbound(4, MessageStatus.FAILED, sender="BADSND")
    outbound(4, MessageStatus.DELIVERED, sender="GOODSN")
    result = alerts.evaluate_rule(r)
    assert [a.subject for a in result.opened] == ["sender:BADSND"]


def test_dlt_spike_fires_at_threshold_and_resolves_when_the_window_passes(db):
    r = rule(AlertKind.DLT_SPIKE, 3, 60)
    outbound(2, MessageStatus.FAILED, detailed_status_code=23081)
    assert alerts.evaluate_rule(r).opened == []
    outbound(1, MessageStatus.FAILED, detailed_status_code=23281)
    (alert,) = alerts.evaluate_rule(r).opened
    assert alert.evidence == {"total": 3, "by_code": {"23081": 2, "23281": 1}}
    later = timezone.now() + timedelta(minutes=61)
    assert [a.pk for a in alerts.evaluate_rule(r, now=later).resolved] == [alert.pk]


def test_callbacks_missing_fires_for_accepted_messages_without_a_final_status(db):
    r = rule(AlertKind.CALLBACKS_MISSING, 2, 30)
    outbound(1, MessageStatus.SUBMITTED, sid="sid-1")
    outbound(1, MessageStatus.SUBMITTED, sid="sid-2")
    outbound(1, MessageStatus.PENDING)  # never reached Exotel: not a missing callback
    Message.objects.update(created_at=timezone.now() - timedelta(minutes=31))
    (alert,) = alerts.evaluate_rule(r).opened
    assert alert.evidence["count"] == 2
    Message.objects.filter(sid="sid-1").update(status=MessageStatus.DELIVERED)
    assert [a.pk for a in alerts.evaluate_rule(r).resolved] == [alert.pk]


def test_callbacks_missing_ignores_messages_younger_than_the_window(db):
    r = rule(AlertKind.CALLBACKS_MISSING, 1, 30)
    outbound(3, MessageStatus.SUBMITTED)
    Message.objects.update(sid=None)
    assert alerts.evaluate_rule(r).opened == []


def webhook(outcome, processed=False):
    return WebhookEvent.objects.create(
        kind=WebhookKind.SMS_INCOMING,
        payload={},
        outcome=outcome,
        attempts=1,
        processed_at=timezone.now() if processed else None,
    )


def test_webhook_errors_fire_and_resolve_after_a_successful_replay(db):
    r = rule(AlertKind.WEBHOOK_ERRORS, 1, 60)
    webhook("applied", processed=True)
    webhook("waiting: message not known yet")
    assert alerts.evaluate_rule(r).opened == []
    failed = webhook("error: KeyError('From')")
    (alert,) = alerts.evaluate_rule(r).opened
    assert alert.evidence["latest"][0]["id"] == failed.pk
    WebhookEvent.objects.filter(pk=failed.pk).update(processed_at=timezone.now(), outcome="ok")
    assert [a.pk for a in alerts.evaluate_rule(r).resolved] == [alert.pk]


def test_broker_backlog_counts_files_of_the_filesystem_broker(db, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    r = rule(AlertKind.BROKER_BACKLOG, 3, 0)
    for n in range(2):
        (tmp_path / f"{n}_task.msg").write_text("{}")
    assert alerts.evaluate_rule(r).opened == []
    (tmp_path / "2_task.msg").write_text("{}")
    (alert,) = alerts.evaluate_rule(r).opened
    assert alert.evidence == {"transport": "filesystem", "queued": 3}
    for path in tmp_path.glob("*.msg"):
        path.unlink()
    assert [a.pk for a in alerts.evaluate_rule(r).resolved] == [alert.pk]


def test_broker_backlog_reads_the_redis_queue_length(db, settings):
    import os

    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        pytest.skip("needs Redis: run with CELERY_BROKER_URL=redis://... (the PostgreSQL CI run)")
    from smsdesk.celery import app

    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        client.delete(alerts.CELERY_QUEUE)
        client.rpush(alerts.CELERY_QUEUE, "a", "b")
        try:
            assert alerts.broker_backlog() == {"transport": "redis", "queued": 2}
        finally:
            client.delete(alerts.CELERY_QUEUE)


def test_an_alert_is_emailed_to_staff_once_when_it_opens(db):
    StaffFactory(username="boss", email="boss@example.com")
    r = rule(AlertKind.WEBHOOK_ERRORS, 1, 60)
    webhook("error: boom")
    alerts.evaluate_rule(r)
    alerts.evaluate_rule(r)  # still open: no second mail
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["boss@example.com"]
    assert "failed processing" in mail.outbox[0].subject
    assert Alert.objects.get().emailed_at is not None


def test_a_rule_with_email_off_sends_nothing(db):
    StaffFactory(username="boss", email="boss@example.com")
    r = rule(AlertKind.WEBHOOK_ERRORS, 1, 60, email=False)
    webhook("error: boom")
    alerts.evaluate_rule(r)
    assert mail.outbox == []


def test_switching_a_rule_off_resolves_its_alerts(db):
    r = rule(AlertKind.WEBHOOK_ERRORS, 1, 60)
    webhook("error: boom")
    alerts.evaluate_all()
    AlertRule.objects.filter(pk=r.pk).update(active=False)
    alerts.evaluate_all()
    assert Alert.objects.get().resolved_at is not None


def test_open_alert_shows_as_a_banner_in_inbox_and_admin_for_staff(client, staff_user):
    r = rule(AlertKind.WEBHOOK_ERRORS, 1, 60)
    webhook("error: boom")
    alerts.evaluate_rule(r)
    client.force_login(staff_user)
    for url in (reverse("inbox:list"), reverse("admin:index")):
        html = client.get(url).content.decode()
        assert 'id="alert-banner"' in html
        assert "1 inbound webhooks failed processing" in html


def test_no_banner_once_resolved(client, staff_user):
    r = rule(AlertKind.WEBHOOK_ERRORS, 1, 60)
    event = webhook("error: boom")
    alerts.evaluate_rule(r)
    WebhookEvent.objects.filter(pk=event.pk).update(outcome="applied")
    alerts.evaluate_rule(r)
    client.force_login(staff_user)
    assert 'id="alert-banner"' not in client.get(reverse("inbox:list")).content.decode()


def test_alert_evidence_page_in_admin(client, staff_user):
    r = rule(AlertKind.WEBHOOK_ERRORS, 1, 60)
    webhook("error: boom")
    (alert,) = alerts.evaluate_rule(r).opened
    client.force_login(staff_user)
    html = client.get(reverse("admin:conversations_alert_change", args=[alert.pk])).content
    assert b"error: boom" in html


def test_thresholds_are_editable_in_admin(client, staff_user):
    r = rule(AlertKind.DLT_SPIKE, 10, 60)
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:conversations_alertrule_change", args=[r.pk]),
        {"name": r.name, "kind": r.kind, "threshold": "25", "window": "15", "active": "on"},
    )
    assert response.status_code == 302
    r.refresh_from_db()
    assert (r.threshold, r.window, r.email) == (25.0, 15, False)


def test_the_beat_task_evaluates_rules(db):
    from conversations.tasks import evaluate_alerts_task

    rule(AlertKind.WEBHOOK_ERRORS, 1, 60)
    webhook("error: boom")
    evaluate_alerts_task()
    assert Alert.objects.filter(resolved_at=None).count() == 1
