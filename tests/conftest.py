import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from smsdesk.celery import app as celery_app

from .factories import StaffFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fast_test_settings(settings):
    """Tests run with DEBUG off but without `collectstatic`, and with a fast password hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def staff_user(db):
    return StaffFactory(username="staff")


@pytest.fixture
def agent_user(db):
    return UserFactory(username="agent")


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def staff_api(api_client, staff_user):
    api_client.force_authenticate(staff_user)
    return api_client


@pytest.fixture
def agent_api(api_client, agent_user):
    api_client.force_authenticate(agent_user)
    return api_client


class TaskWatcher:
    """Lets a test await the worker finishing a task instead of sleeping."""

    def __init__(self):
        self._done = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def on_postrun(self, task=None, **kwargs):
        # Runs in the worker's thread: close its connection so the test database can be dropped.
        connection.close()
        with self._changed:
            self._done[task.name] = self._done.get(task.name, 0) + 1
            self._changed.notify_all()

    def wait_for(self, task_name, count=1, timeout=20):
        with self._changed:
            finished = self._changed.wait_for(
                lambda: self._done.get(task_name, 0) >= count, timeout=timeout
            )
        assert finished, f"{task_name} did not run {count} time(s) within {timeout}s"


@pytest.fixture
def live_worker(transactional_db):
    """A real Celery worker (in a thread) consuming from the configured broker."""
    celery_app.control.purge()
    watcher = TaskWatcher()
    task_postrun.connect(watcher.on_postrun, weak=False)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield watcher
    finally:
        task_postrun.disconnect(watcher.on_postrun)


def wait_until(predicate, timeout=30.0, what="the condition"):
    """Poll `predicate` (a cheap query) until it is true; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _test_database_url():
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        if not db["NAME"] or "memory" in str(db["NAME"]):
            pytest.skip("a worker process needs a file database: set SQLITE_TEST_NAME")
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker_process(transactional_db):
    """Start real `celery -A smsdesk worker` processes on the test database and broker.

    Call it with settings to pass as environment variables (e.g. the sandbox's URL); every
    process started is stopped at teardown.
    """
    celery_app.control.purge()
    started = []

    def start(**env):
        environment = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            **{key: str(value) for key, value in env.items()},
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "smsdesk",
            "worker",
            "-Q",
            f"celery,{settings.CAMPAIGN_QUEUE}",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ]
        process = subprocess.Popen(command, cwd=ROOT, env=environment)
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


# Inbound: keywords, flows, consent (issue 5) ----------------------------------------------


@pytest.fixture
def inbound_defaults(db):
    """The keyword rules and flows of migration 0004. A transactional test (a live worker)
    flushes every table afterwards, migration data included, so put them back if missing."""
    import importlib

    from django.apps import apps

    from conversations.models import KeywordRule

    if not KeywordRule.objects.exists():
        migration = importlib.import_module("conversations.migrations.0004_inbound_defaults")
        migration.add_defaults(apps, None)
        migration = importlib.import_module(
            "conversations.migrations.0015_keyword_rules_answer_our_messages"
        )
        migration.limit_shipped_answer_rules(apps, None)


@pytest.fixture
def reply_templates(inbound_defaults):
    """Active DLT templates for every shipped auto-reply text, as a business would register."""
    from conversations.models import DltTemplate
    from conversations.services.replies import auto_reply_texts, dlt_body_for

    bodies = sorted({dlt_body_for(text) for _, text in auto_reply_texts()})
    return [
        DltTemplate.objects.create(
            name=f"Auto-reply {index}",
            template_id=f"1207{index:015d}",
            entity_id="1101234567890123456",
            sender_id="EXOTEL",
            body=body,
        )
        for index, body in enumerate(bodies)
    ]
