"""What the sandbox has received and sent, kept behind one lock for the handler threads."""

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exotel_client.sandbox.rules import FAULT_ERRORS, HttpError, template_pattern

MAX_FAULT_DELAY = 600.0


@dataclass(frozen=True)
class Template:
    """A DLT template the sandbox's operator knows about."""

    template_id: str
    body: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Template":
        """Build from the control endpoint's JSON; ValueError on a malformed entry."""
        if not isinstance(data, dict):
            raise ValueError("a template is an object with template_id and body")
        template_id, body = data.get("template_id"), data.get("body")
        if not isinstance(template_id, str | int) or not isinstance(body, str) or not body:
            raise ValueError("a template needs a template_id and a non-empty body")
        return cls(str(template_id), body)


@dataclass
class Fault:
    """The next ``count`` API requests are answered late (``delay``) and/or with an error."""

    status: int | None = None
    count: int = 1
    delay: float = 0.0
    code: int | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.status is None and not self.delay:
            raise ValueError("a fault needs a status or a delay")
        if self.status is not None and self.status not in FAULT_ERRORS and self.code is None:
            raise ValueError(f"status must be one of {sorted(FAULT_ERRORS)} or come with a code")
        if self.count < 1 or not 0 <= self.delay <= MAX_FAULT_DELAY:
            raise ValueError(f"count must be >= 1 and delay within 0..{MAX_FAULT_DELAY:g}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Fault":
        """Build from JSON such as ``{"status": 429, "count": 2}`` or ``{"delay": 5}``."""
        if not isinstance(data, dict):
            raise ValueError('a fault is an object such as {"status": 429, "count": 2}')
        unknown = set(data) - {"status", "count", "delay", "code", "message"}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        try:
            return cls(
                status=None if data.get("status") is None else int(data["status"]),
                count=int(data.get("count", 1)),
                delay=float(data.get("delay", 0.0)),
                code=None if data.get("code") is None else int(data["code"]),
                message=data.get("message"),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad fault: {exc}") from exc

    def error(self) -> HttpError | None:
        """The error answer this fault gives, if it gives one."""
        if self.status is None:
            return None
        default = FAULT_ERRORS.get(self.status, HttpError(self.status, self.code, "Error"))
        return HttpError(self.status, self.code or default.code, self.message or default.message)

    def as_dict(self) -> dict[str, Any]:
        """JSON view for ``GET /sandbox/faults``."""
        return {"status": self.status, "count": self.count, "delay": self.delay, "code": self.code}


@dataclass
class SandboxMessage:
    """One accepted SMS and where it is on its walk to a final status."""

    sid: str
    account_sid: str
    sender: str
    to: str
    body: str
    units: int
    final_code: int
    created: datetime
    status_callback: str | None = None
    custom_field: str | None = None
    dlt_template_id: str | None = None
    sms_type: str | None = None
    status: str = "queued"
    code: int = 21010
    detailed_status: str = "PENDING_TO_OPERATOR"
    updated: datetime | None = None
    sent: datetime | None = None
    units_known: bool = False
    price: str | None = None
    received_at: float = field(default_factory=time.time)
    history: list[dict[str, Any]] = field(default_factory=list)


class SandboxState:
    """Thread-safe records: messages, API requests, callbacks, customer events, rules."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self.reset()

    def wait_for(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """Block until ``predicate()`` is truthy (re-checked on every change); its last value.

        Lets tests await "the callback was recorded" instead of sleeping.
        """
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def notify_changed(self) -> None:
        """Wake ``wait_for`` callers; the lifecycle calls it after moving a message on."""
        with self._changed:
            self._changed.notify_all()

    def reset(self) -> None:
        """Forget everything: records, templates and pending faults."""
        with self.lock:
            self._messages: dict[str, SandboxMessage] = {}
            self._requests: list[dict[str, Any]] = []
            self._callbacks: list[dict[str, Any]] = []
            self._inbound: list[dict[str, Any]] = []
            self._templates: dict[str, Template] = {}
            self._patterns: dict[str, re.Pattern[str]] = {}
            self._faults: deque[Fault] = deque()

    def add_message(self, message: SandboxMessage) -> None:
        with self.lock:
            self._messages[message.sid] = message
            self._changed.notify_all()

    def add_messages(self, messages: list[SandboxMessage]) -> None:
        with self.lock:
            for message in messages:
                self._messages[message.sid] = message
            self._changed.notify_all()

    def get_message(self, sid: str) -> SandboxMessage | None:
        with self.lock:
            return self._messages.get(sid)

    def messages(self) -> list[SandboxMessage]:
        """Accepted messages in arrival order (the objects: read them under ``lock``)."""
        with self.lock:
            return list(self._messages.values())

    def record_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self._requests.append(entry)
            self._changed.notify_all()

    def requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._requests)

    def record_callback(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self._callbacks.append(entry)
            self._changed.notify_all()

    def callbacks(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._callbacks)

    def record_inbound(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self._inbound.append(entry)
            self._changed.notify_all()

    def inbound(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._inbound)

    def add_templates(self, templates: list[Template]) -> None:
        """Add or replace templates by id."""
        with self.lock:
            for template in templates:
                self._templates[template.template_id] = template
                self._patterns[template.template_id] = template_pattern(template.body)

    def templates(self) -> list[Template]:
        with self.lock:
            return list(self._templates.values())

    def template_patterns(self) -> dict[str, re.Pattern[str]]:
        with self.lock:
            return dict(self._patterns)

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self._faults.append(fault)

    def faults(self) -> list[Fault]:
        with self.lock:
            return list(self._faults)

    def take_fault(self) -> Fault | None:
        """Use up one request's worth of the oldest pending fault."""
        with self.lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.count -= 1
            if fault.count <= 0:
                self._faults.popleft()
            return fault
