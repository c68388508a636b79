"""The Celery app `smsdesk`: `celery -A smsdesk worker` and `celery -A smsdesk beat`."""

import logging
import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from .log_redaction import RedactSecretsFilter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsdesk.settings")

logger = logging.getLogger(__name__)

app = Celery("smsdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect(weak=False, dispatch_uid="smsdesk_redact_worker_logs")
@after_setup_task_logger.connect(weak=False, dispatch_uid="smsdesk_redact_task_logs")
def redact_celery_logs(logger=None, **kwargs):
    """Secrets stay out of worker and beat logs too.

    Celery replaces the root logger's handlers with its own (and gives `celery.task` loggers a
    handler of their own), so the filter Django's LOGGING puts on the console handler never sees
    a worker's records: put the same filter on every handler Celery set up, whatever its
    --loglevel, --logfile or format.
    """
    from celery.utils.log import get_multiprocessing_logger

    for configured in (logger, get_multiprocessing_logger()):
        for handler in getattr(configured, "handlers", ()):
            if not any(isinstance(f, RedactSecretsFilter) for f in handler.filters):
                handler.addFilter(RedactSecretsFilter())


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
