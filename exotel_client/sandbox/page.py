"""The sandbox's one HTML page: reply as a customer, and see what came in and went out."""

from datetime import datetime
from html import escape
from typing import Any

from exotel_client.sandbox.config import SandboxConfig
from exotel_client.sandbox.customer import CALL_TYPES, inbound_number
from exotel_client.sandbox.rules import IST
from exotel_client.sandbox.state import SandboxState

MAX_ROWS = 50
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin-bottom: 2rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
form label { display: block; margin: 0.4rem 0; }
input, textarea { width: 28rem; }
.note { color: #666; }
"""


def render_page(state: SandboxState, config: SandboxConfig) -> str:
    """The whole page; every value from a request is escaped."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Exotel sandbox</title>"
        f"<style>{STYLE}</style></head><body><h1>Exotel sandbox</h1>"
        f"{_inbound_form(config)}{_call_form(config)}"
        f"{_sends(state)}{_callbacks(state)}{_inbound(state)}"
        "</body></html>"
    )


def _inbound_form(config: SandboxConfig) -> str:
    target = escape(config.app_url)
    exophone = escape(inbound_number(config.exophone))
    return (
        "<h2>Reply as a customer</h2>"
        f"<p class='note'>Posts an inbound SMS to <code>{target}</code> as Exotel would.</p>"
        "<form method='post' action='/sandbox/inbound'>"
        "<label>From <input name='from' value='+919876543210' required></label>"
        f"<label>To <input name='to' value='{exophone}' required></label>"
        "<label>Body <textarea name='body' rows='3' required>YES</textarea></label>"
        "<button type='submit'>Send inbound SMS</button></form>"
    )


def _call_form(config: SandboxConfig) -> str:
    target = escape(config.app_url)
    options = "".join(f"<option>{escape(call_type)}</option>" for call_type in CALL_TYPES)
    return (
        "<h2>Call as a customer</h2>"
        f"<p class='note'>Plays a call flow's Passthru to <code>{target}</code> as Exotel "
        "would (<code>/webhook/call-event</code>); the answer is 200 (SMS queued) or 302.</p>"
        "<form method='post' action='/sandbox/call'>"
        "<label>From <input name='from' value='+919876543210' required></label>"
        f"<label>To <input name='to' value='{escape(config.exophone)}' required></label>"
        f"<label>CallType <select name='call_type'>{options}</select></label>"
        "<label>Digits (optional) <input name='digits'></label>"
        "<button type='submit'>Play the call</button></form>"
    )


def _sends(state: SandboxState) -> str:
    with state.lock:
        rows = [
            (_when(m.received_at), m.sid, m.sender, m.to, m.body, m.status, m.code)
            for m in state.messages()[-MAX_ROWS:]
        ]
    headers = ("received", "sid", "from", "to", "body", "status", "code")
    return _table("Messages received (sends)", headers, rows)


def _callbacks(state: SandboxState) -> str:
    rows = [
        (_when(c["at"]), c["sms_sid"], c["fields"].get("Status"), c["url"], _outcome(c))
        for c in state.callbacks()[-MAX_ROWS:]
    ]
    return _table("Status callbacks sent", ("sent", "sid", "status", "url", "answer"), rows)


def _inbound(state: SandboxState) -> str:
    rows = [
        (
            _when(e["at"]),
            e["kind"],
            e["fields"].get("From"),
            e["fields"].get("Body") or e["fields"].get("CallType", ""),
            _outcome(e),
        )
        for e in state.inbound()[-MAX_ROWS:]
    ]
    return _table("Customer events sent", ("sent", "kind", "from", "body or call", "answer"), rows)


def _table(title: str, headers: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    """Newest first; an empty table says so rather than vanishing."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in reversed(rows)
    )
    body = body or f"<tr><td colspan='{len(headers)}' class='note'>nothing yet</td></tr>"
    return f"<h2>{escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


def _outcome(entry: dict[str, Any]) -> str:
    return entry.get("error") or f"HTTP {entry.get('http_status')}"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, IST).strftime("%H:%M:%S")
