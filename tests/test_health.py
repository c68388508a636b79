"""/healthz and logs (issue 8): health for load balancers; JSON logs; no secrets in logs."""

import io
import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.module_loading import import_string

from conversations.models import WebhookEvent, WebhookKind
from conversations.services import health
from smsdesk.log_redaction import RedactingJsonFormatter, RedactSecretsFilter, redact

pytestmark = pytest.mark.django_db


def test_healthy_when_database_broker_and_a_recent_worker_heartbeat(client):
    health.stamp_heartbeat()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {k: v["ok"] for k, v in body["checks"].items()} == {
        "database": True,
        "broker": True,
        "worker": True,
    }


def test_no_heartbeat_is_503(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {
        "ok": False,
        "age_seconds": None,
        "max_age_seconds": 180,
    }


def test_a_stale_heartbeat_is_503(client, settings):
    settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS = 60
    health.stamp_heartbeat(now=timezone.now() - timedelta(seconds=61))
    assert client.get("/healthz").status_code == 503


def test_an_unreachable_broker_is_503(client, settings):
    health.stamp_heartbeat()
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": "/nonexistent/queue"}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


def test_reports_the_age_of_the_last_status_callback(client):
    health.stamp_heartbeat()
    event = WebhookEvent.objects.create(kind=WebhookKind.SMS_STATUS, payload={})
    WebhookEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(minutes=5)
    )
    age = client.get("/healthz").json()["last_status_callback"]["age_seconds"]
    assert 299 <= age <= 310


def test_needs_no_sign_in_and_reveals_no_secrets(client, settings):
    settings.EXOTEL_API_TOKEN = "tok-very-secret"
    health.stamp_heartbeat()
    text = client.get("/healthz").content.decode()
    for secret in ("tok-very-secret", settings.SECRET_KEY, "redis://", "postgres://"):
        assert secret not in text


def test_the_heartbeat_task_stamps_the_worker(client):
    from conversations.tasks import heartbeat_task

    heartbeat_task()
    assert client.get("/healthz").json()["checks"]["worker"]["ok"] is True


# Logs ----------------------------------------------------------------------------------------


def test_redact_blanks_token_values_in_urls():
    line = '"GET /webhook/sms/status?token=abc123&x=1 HTTP/1.1" 200'
    assert redact(line) == '"GET /webhook/sms/status?token=[redacted]&x=1 HTTP/1.1" 200'


def test_the_filter_rewrites_messages_with_arguments():
    record = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s',
        (
            "GET /webhook/sms/incoming?token=s3cr3t HTTP/1.1",
            200,
        ),
        None,
    )
    RedactSecretsFilter().filter(record)
    assert "s3cr3t" not in record.getMessage()
    assert "token=[redacted]" in record.getMessage()


def test_the_console_handler_redacts_tokens(settings):
    from logging.config import dictConfig

    dictConfig(settings.LOGGING)
    handler = logging.getLogger().handlers[0]
    assert any(isinstance(f, RedactSecretsFilter) for f in handler.filters)
    assert any(
        isinstance(f, RedactSecretsFilter)
        for f in logging.getLogger("django.server").handlers[0].filters
    )


def test_json_log_format_writes_one_json_object_per_line(monkeypatch):
    import importlib

    import smsdesk.settings as project_settings

    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("SECRET_KEY", "x")
    monkeypatch.setenv("ALLOWED_HOSTS", "x")
    fresh = importlib.reload(project_settings)
    try:
        config = fresh.LOGGING
        formatter_config = config["formatters"]["json"]
        formatter = import_string(formatter_config["()"])(
            formatter_config["fmt"], rename_fields=formatter_config["rename_fields"]
        )
        output = _logged(formatter, lambda log: log.warning("called %s", "/webhook?token=zzz"))
        line = json.loads(output)
        assert line["level"] == "WARNING"
        assert line["message"] == "called /webhook?token=[redacted]"
        assert config["handlers"]["console"]["formatter"] == "json"
    finally:
        monkeypatch.delenv("LOG_FORMAT")
        importlib.reload(project_settings)


def _logged(formatter, write) -> str:
    """What `write(logger)` logs through a handler set up like the console's (the redaction
    filter and `formatter`)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        write(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def _logged_with_traceback(formatter) -> str:
    def write(logger):
        try:
            raise ValueError("could not load https://desk.example/webhook?token=s3cr3t")
        except ValueError:
            logger.exception("callback failed")

    return _logged(formatter, write)


def test_a_traceback_in_plain_logs_has_its_secrets_redacted():
    output = _logged_with_traceback(logging.Formatter("%(levelname)s %(message)s"))
    assert "Traceback" in output
    assert "s3cr3t" not in output
    assert "token=[redacted]" in output


def test_a_traceback_in_json_logs_has_its_secrets_redacted():
    output = _logged_with_traceback(RedactingJsonFormatter("%(levelname)s %(message)s"))
    line = json.loads(output)
    assert "s3cr3t" not in output
    assert "token=[redacted]" in line["exc_info"]
