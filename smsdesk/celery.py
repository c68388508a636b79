"""The Celery app `smsdesk`: `celery -A smsdesk worker` and `celery -A smsdesk beat`."""

import logging
import logging.config
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
    """Worker and beat logs follow the web's: secrets redacted, JSON lines with LOG_FORMAT=json.

    Celery replaces the root logger's handlers with its own (and gives `celery.task` loggers a
    handler of their own), so the filter and formatter Django's LOGGING puts on the console
    handler never see a worker's records: put the same filter on every handler Celery set up,
    whatever its --loglevel or --logfile, and Django's JSON formatter when there is one.
    """
    from celery.utils.log import get_multiprocessing_logger

    json_formatter = _django_json_formatter()
    for configured in (logger, get_multiprocessing_logger()):
        for handler in getattr(configured, "handlers", ()):
            if not any(isinstance(f, RedactSecretsFilter) for f in handler.filters):
                handler.addFilter(RedactSecretsFilter())
            if json_formatter is not None:
                handler.setFormatter(json_formatter)


def _django_json_formatter():
    """The formatter LOGGING names `json` (set when LOG_FORMAT=json), built as dictConfig does."""
    from django.conf import settings

    spec = settings.LOGGING.get("formatters", {}).get("json")
    if spec is None:
        return None
    return logging.config.DictConfigurator({"version": 1}).configure_formatter(dict(spec))


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
