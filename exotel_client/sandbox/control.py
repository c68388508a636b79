"""Control endpoints under ``/sandbox/``: views for tests, rules, faults and the customer.

They need no credentials: the sandbox is a local tool and listens on 127.0.0.1 by default.
"""

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from exotel_client.sandbox.page import render_page
from exotel_client.sandbox.render import sms_message
from exotel_client.sandbox.reply import Reply, json_reply
from exotel_client.sandbox.state import Fault, SandboxMessage

if TYPE_CHECKING:
    from exotel_client.sandbox.server import SandboxServer

HTML_TYPE = "text/html; charset=utf-8"
FORM_TYPE = "application/x-www-form-urlencoded"


class ControlEndpoints:
    """Routes ``/`` and ``/sandbox/...`` to small handlers."""

    def __init__(self, sandbox: "SandboxServer") -> None:
        self._sandbox = sandbox
        self._routes = {
            ("GET", ""): self._page,
            ("GET", "/sandbox"): self._page,
            ("GET", "/sandbox/health"): lambda _: json_reply({"ok": True}),
            ("GET", "/sandbox/messages"): self._messages,
            ("GET", "/sandbox/callbacks"): lambda _: json_reply(self._state.callbacks()),
            ("GET", "/sandbox/inbound"): lambda _: json_reply(self._state.inbound()),
            ("GET", "/sandbox/requests"): lambda _: json_reply(self._state.requests()),
            ("GET", "/sandbox/templates"): self._templates,
            ("POST", "/sandbox/templates"): self._add_templates,
            ("GET", "/sandbox/faults"): self._faults,
            ("POST", "/sandbox/faults"): self._add_faults,
            ("POST", "/sandbox/reset"): self._reset,
            ("POST", "/sandbox/inbound"): self._inbound,
            ("POST", "/sandbox/call"): self._call,
        }

    @property
    def _state(self):
        return self._sandbox.state

    def handles(self, path: str) -> bool:
        return path == "/" or path == "/sandbox" or path.startswith("/sandbox/")

    def handle(self, method: str, path: str, content_type: str, body: bytes) -> Reply:
        route = self._routes.get((method, path.rstrip("/")))
        if route is None:
            return _no_route(path.rstrip("/"), self._routes)
        try:
            return route(_Request(content_type, body))
        except ValueError as exc:
            return json_reply({"error": str(exc)}, 400)

    def _page(self, _request: "_Request") -> Reply:
        html = render_page(self._state, self._sandbox.config)
        return Reply(200, html.encode(), HTML_TYPE)

    def _messages(self, _request: "_Request") -> Reply:
        with self._state.lock:
            views = [_message_view(message) for message in self._state.messages()]
        return json_reply(views)

    def _templates(self, _request: "_Request") -> Reply:
        return json_reply([t.__dict__ for t in self._state.templates()])

    def _add_templates(self, request: "_Request") -> Reply:
        self._sandbox.add_templates(_as_list(request.json()))
        return self._templates(request)

    def _faults(self, _request: "_Request") -> Reply:
        return json_reply([fault.as_dict() for fault in self._state.faults()])

    def _add_faults(self, request: "_Request") -> Reply:
        for spec in _as_list(request.json()):
            self._sandbox.add_fault(Fault.from_dict(spec))
        return self._faults(request)

    def _reset(self, _request: "_Request") -> Reply:
        self._sandbox.reset()
        return json_reply({"ok": True})

    def _inbound(self, request: "_Request") -> Reply:
        """From the page's form (then back to the page) or from JSON (answer the outcome)."""
        data = request.data()
        entry = self._sandbox.send_inbound(
            sender=_required(data, "from"), body=_required(data, "body"), to=data.get("to") or None
        )
        if request.is_form:
            return Reply(303, b"", HTML_TYPE, (("Location", "/"),))
        return json_reply(entry)

    def _call(self, request: "_Request") -> Reply:
        data = request.data()
        entry = self._sandbox.send_call(
            caller=_required(data, "from"),
            to=data.get("to") or None,
            call_type=data.get("call_type") or "call-attempt",
            digits=data.get("digits") or None,
            direction=data.get("direction") or "incoming",
            duration=int(data.get("duration") or 0),
            call_sid=data.get("call_sid") or None,
        )
        if request.is_form:
            return Reply(303, b"", HTML_TYPE, (("Location", "/"),))
        return json_reply(entry)


class _Request:
    """A control request's body, as JSON or as a form."""

    def __init__(self, content_type: str, body: bytes) -> None:
        self.is_form = content_type.split(";")[0].strip().lower() == FORM_TYPE
        self._body = body

    def json(self) -> Any:
        try:
            return json.loads(self._body or b"null")
        except json.JSONDecodeError as exc:
            raise ValueError(f"body is not JSON: {exc}") from exc

    def data(self) -> dict[str, Any]:
        if self.is_form:
            return dict(parse_qsl(self._body.decode("utf-8", errors="replace")))
        data = self.json()
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data


def _no_route(path: str, routes: dict) -> Reply:
    if any(known == path for _, known in routes):
        return json_reply({"error": "method not allowed"}, 405)
    return json_reply({"error": "not found"}, 404)


def _as_list(data: Any) -> list[Any]:
    return data if isinstance(data, list) else [data]


def _required(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is required")
    return value


def _message_view(message: SandboxMessage) -> dict[str, Any]:
    """Exotel's object plus what only the sandbox knows (call with the state lock held)."""
    return {
        **sms_message(message),
        "received_at": message.received_at,
        "status_callback": message.status_callback,
        "custom_field": message.custom_field,
        "dlt_template_id": message.dlt_template_id,
        "sms_type": message.sms_type,
        "final_code": message.final_code,
        "history": list(message.history),
    }
