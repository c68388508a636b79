import threading

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from rest_framework.test import APIClient

from smsdesk.celery import app as celery_app

from .factories import StaffFactory, UserFactory


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
