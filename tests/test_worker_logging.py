"""Secrets stay out of Celery worker logs: Celery sets up its own log handlers, and the
redaction filter of Django's LOGGING must reach them too."""

import io
import json
import logging
import os
import time

import pytest
from celery.app.log import Logging
from celery.utils.log import get_multiprocessing_logger, get_task_logger

from smsdesk.celery import app as celery_app
from smsdesk.log_redaction import RedactSecretsFilter

CALLBACK = "https://desk.example.com/webhook/sms/status?token=abc123&m=7"


@pytest.fixture
def celery_logging_setup(monkeypatch):
    """Run Celery's own logging setup (what `celery worker` does at start) into a buffer, and
    put the test process's loggers and environment back afterwards."""
    loggers = [logging.getLogger(), logging.getLogger("celery"), logging.getLogger("celery.task")]
    loggers.append(get_multiprocessing_logger())
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in loggers if lg is not None]
    environment = dict(os.environ)
    monkeypatch.setattr(Logging, "_setup", False)
    stream = io.StringIO()
    try:
        celery_app.log.setup_logging_subsystem(loglevel="INFO", logfile=stream)
        yield stream
    finally:
        for logger, handlers, level, propagate in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
        os.environ.clear()
        os.environ.update(environment)


def test_worker_log_handlers_redact_tokens(celery_logging_setup):
    logging.getLogger("conversations.tasks").warning("StatusCallback %s", CALLBACK)

    output = celery_logging_setup.getvalue()
    assert "StatusCallback https://desk.example.com/webhook/sms/status?token=[redacted]" in output
    assert "abc123" not in output


def test_task_logger_handlers_redact_secrets(celery_logging_setup):
    get_task_logger("conversations.tasks").warning("Exotel said no to api_token=%s", "abc123")

    output = celery_logging_setup.getvalue()
    assert "api_token=[redacted]" in output
    assert "abc123" not in output


@pytest.fixture
def json_log_format(settings):
    """LOGGING as LOG_FORMAT=json makes it (smsdesk/settings.py)."""
    settings.LOGGING = {
        **settings.LOGGING,
        "formatters": {
            **settings.LOGGING.get("formatters", {}),
            "json": {
                "()": "smsdesk.log_redaction.RedactingJsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level", "asctime": "time", "name": "logger"},
            },
        },
    }


def test_worker_logs_are_json_lines_with_log_format_json(json_log_format, celery_logging_setup):
    logging.getLogger("conversations.tasks").warning("StatusCallback %s", CALLBACK)
    get_task_logger("conversations.tasks").warning("task line")

    lines = [json.loads(line) for line in celery_logging_setup.getvalue().splitlines()]
    assert [(line["level"], line["logger"]) for line in lines] == [
        ("WARNING", "conversations.tasks"),
        ("WARNING", "conversations.tasks"),
    ]
    assert lines[0]["message"].endswith("?token=[redacted]&m=7")
    assert lines[1]["message"] == "task line"


def test_every_handler_celery_sets_up_has_the_filter_once(celery_logging_setup):
    handlers = logging.getLogger().handlers + logging.getLogger("celery.task").handlers
    handlers = [h for h in handlers if getattr(h, "stream", None) is celery_logging_setup]
    assert len(handlers) == 2
    for handler in handlers:
        assert sum(isinstance(f, RedactSecretsFilter) for f in handler.filters) == 1


@pytest.mark.worker
def test_a_real_worker_logs_a_task_message_without_its_token(worker_process, capfd):
    """A real `celery -A smsdesk worker`: a message for a task it does not know is logged with
    its full body (the arguments: here a StatusCallback URL), which must come out redacted."""
    worker_process()
    celery_app.send_task("tests.no_such_task", args=[CALLBACK])

    output = ""
    deadline = time.monotonic() + 60
    while "Received unregistered task" not in output and time.monotonic() < deadline:
        time.sleep(0.2)
        output += "".join(capfd.readouterr())
    assert "Received unregistered task of type 'tests.no_such_task'" in output
    assert "token=[redacted]" in output
    assert "abc123" not in output
