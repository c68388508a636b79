"""The Celery app `smsdesk`: `celery -A smsdesk worker` and `celery -A smsdesk beat`."""

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsdesk.settings")

logger = logging.getLogger(__name__)

app = Celery("smsdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue_on_commit(task, *args, **kwargs):
    """Send `task` to the broker once the current transaction commits.

    The row the task works on is written first, so a broker that is down loses nothing: the send
    fails here, is logged, and the periodic sweep re-enqueues the row later.
    """
    from django.db import transaction

    def send():
        try:
            task.apply_async(args=args, kwargs=kwargs)
        except Exception:
            logger.exception("Could not enqueue %s; the sweep will pick it up", task.name)

    transaction.on_commit(send)
