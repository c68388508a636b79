"""StatusCallback delivery: form POSTs over one pooled session, retried like Exotel does."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from exotel_client.sandbox.config import SandboxConfig
from exotel_client.sandbox.scheduler import Scheduler
from exotel_client.sandbox.state import SandboxState

log = logging.getLogger(__name__)
# One sender keeps a message's callbacks in the order its statuses changed; a slow app then
# delays callbacks but never the status walk, which runs on the scheduler thread.
CALLBACK_WORKERS = 1


class CallbackCourier:
    """Posts callbacks off the scheduler thread and schedules retries of failed ones."""

    def __init__(self, state: SandboxState, scheduler: Scheduler, config: SandboxConfig) -> None:
        self._state = state
        self._scheduler = scheduler
        self._retry_delays = config.callback_retry_delays
        self._timeout = config.callback_timeout
        self._session = requests.Session()
        self._session.mount("http://", HTTPAdapter(pool_maxsize=CALLBACK_WORKERS))
        self._session.mount("https://", HTTPAdapter(pool_maxsize=CALLBACK_WORKERS))
        self._pool = ThreadPoolExecutor(CALLBACK_WORKERS, thread_name_prefix="sandbox-callback")

    def deliver(self, sms_sid: str, url: str, fields: list[tuple[str, str]], attempt: int = 1):
        """Queue one POST of ``fields`` to ``url``."""
        try:
            self._pool.submit(self._post, sms_sid, url, fields, attempt)
        except RuntimeError:
            log.debug("sandbox: stopped, callback for %s dropped", sms_sid)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    def _post(self, sms_sid: str, url: str, fields: list[tuple[str, str]], attempt: int) -> None:
        entry: dict[str, Any] = {"sms_sid": sms_sid, "url": url, "fields": dict(fields)}
        entry.update(attempt=attempt, at=time.time(), http_status=None, error=None)
        try:
            response = self._session.post(url, data=fields, timeout=self._timeout)
            entry["http_status"] = response.status_code
            entry["ok"] = response.ok
        except requests.RequestException as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["ok"] = False
        self._state.record_callback(entry)
        if not entry["ok"]:
            self._retry_later(sms_sid, url, fields, attempt, entry)

    def _retry_later(self, sms_sid, url, fields, attempt: int, entry: dict[str, Any]) -> None:
        """Retry after the configured delays, then give up (logged either way)."""
        reason = entry["error"] or f"HTTP {entry['http_status']}"
        if attempt > len(self._retry_delays):
            log.warning("sandbox: callback for %s to %s gave up: %s", sms_sid, url, reason)
            return
        delay = self._retry_delays[attempt - 1]
        log.warning("sandbox: callback for %s failed (%s), retry in %gs", sms_sid, reason, delay)
        self._scheduler.call_later(delay, lambda: self.deliver(sms_sid, url, fields, attempt + 1))
