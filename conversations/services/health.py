"""Health of the deployment for load balancers and monitors (`/healthz`).

Checks: the database answers; the broker is reachable (Redis: a PING through kombu; the
filesystem broker: its folder is writable); a worker stamped its heartbeat recently (the beat
task `heartbeat_task`, run by a worker every minute); and, for information only, how long ago
the last Exotel status callback arrived (quiet hours are not an outage). Nothing secret is
reported: no URLs, hosts or credentials, only ok/error and ages.
"""

import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ..models import Heartbeat, WebhookEvent, WebhookKind

WORKER = "worker"


def stamp_heartbeat(name=WORKER, detail="", now=None):
    now = now or timezone.now()
    Heartbeat.objects.update_or_create(name=name, defaults={"at": now, "detail": detail[:255]})
    return now


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def check_broker() -> dict:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".healthz-"):
                pass
        except OSError as exc:
            return {"ok": False, "transport": "filesystem", "error": type(exc).__name__}
        return {"ok": True, "transport": "filesystem"}
    from smsdesk.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return {"ok": False, "transport": url.split(":", 1)[0], "error": type(exc).__name__}
    return {"ok": True, "transport": url.split(":", 1)[0]}


def check_worker(now=None) -> dict:
    now = now or timezone.now()
    beat = Heartbeat.objects.filter(name=WORKER).values_list("at", flat=True).first()
    limit = settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS
    if beat is None:
        return {"ok": False, "age_seconds": None, "max_age_seconds": limit}
    age = max(0, round((now - beat).total_seconds()))
    return {"ok": age <= limit, "age_seconds": age, "max_age_seconds": limit}


def last_status_callback(now=None) -> dict:
    now = now or timezone.now()
    at = (
        WebhookEvent.objects.filter(kind=WebhookKind.SMS_STATUS)
        .order_by("-id")
        .values_list("received_at", flat=True)
        .first()
    )
    return {"age_seconds": None if at is None else max(0, round((now - at).total_seconds()))}


def health(now=None) -> tuple[bool, dict]:
    now = now or timezone.now()
    checks = {
        "database": check_database(),
        "broker": check_broker(),
        "worker": check_worker(now),
    }
    report = {"status": "ok", "checks": checks, "last_status_callback": {}}
    if checks["database"]["ok"]:
        report["last_status_callback"] = last_status_callback(now)
    healthy = all(check["ok"] for check in checks.values())
    report["status"] = "ok" if healthy else "unhealthy"
    report["time"] = now.isoformat()
    return healthy, report
