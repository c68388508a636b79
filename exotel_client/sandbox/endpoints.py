"""The Exotel API surface: ``/v1/Accounts/<sid>/Sms/send``, ``/Sms/bulksend``, ``/SMS/Messages``.

Checks run in Exotel's order as far as the docs tell it: injected faults (they stand for
Exotel's front door), URL shape, credentials, account, then the request itself.
"""

import base64
import binascii
import hmac
import re
import time
from urllib.parse import unquote

from exotel_client.sandbox.api import Rejected, parse_bulksend, parse_send
from exotel_client.sandbox.config import SandboxConfig
from exotel_client.sandbox.lifecycle import MessageLifecycle
from exotel_client.sandbox.render import encode, error_payload, sms_message
from exotel_client.sandbox.reply import Reply
from exotel_client.sandbox.rules import HttpError, http_error_for
from exotel_client.sandbox.state import SandboxState

VERSIONED = re.compile(r"^/(?P<version>[^/]+)/(?P<rest>.*)$")
ACCOUNT = re.compile(r"^Accounts/(?P<sid>[^/]*)/?(?P<rest>.*)$")
DETAILS = re.compile(r"^sms/messages/(?P<sid>[^/]+?)(?:\.json)?$", re.IGNORECASE)
AUTH_REQUIRED = "Authentication is required to view this page."
MAX_CACHED_KEYS = 4096
_KEYS: dict[str, str] = {}


class ExotelEndpoints:
    """Answers API requests exactly as Exotel shapes them."""

    def __init__(self, config: SandboxConfig, state: SandboxState, lifecycle: MessageLifecycle):
        self._config = config
        self._state = state
        self._lifecycle = lifecycle

    def handle(self, method: str, path: str, authorization: str | None, body: bytes) -> Reply:
        """One API request, recorded with its answer's status and code."""
        as_json = path.endswith(".json")
        try:
            payload = self._answer(method, path, authorization, body)
            reply, code = Reply(200, *encode(payload, as_json)), None
        except Rejected as exc:
            reply, code = _error_reply(exc.error, as_json), exc.error.code
        self._state.record_request(
            {
                "at": time.time(),
                "method": method,
                "path": path,
                "status": reply.status,
                "code": code,
            }
        )
        return reply

    def _answer(self, method: str, path: str, authorization: str | None, body: bytes):
        self._apply_fault()
        account_sid, rest = _split_path(path)
        self._authenticate(authorization)
        if account_sid != self._config.account_sid:
            raise Rejected(403, 34009, "Action forbidden on given resource;")
        return self._route(method, rest, body)

    def _apply_fault(self) -> None:
        fault = self._state.take_fault()
        if fault is None:
            return
        if fault.delay:
            time.sleep(fault.delay)
        error = fault.error()
        if error is not None:
            raise Rejected(error.status, error.code, error.message)

    def _authenticate(self, header: str | None) -> None:
        """HTTP Basic with the API key and token; Exotel's two 401 answers."""
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise Rejected(401, None, AUTH_REQUIRED)
        try:
            user, _, password = base64.b64decode(encoded, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            raise Rejected(401, 34010, "Unauthorized;") from None
        key_ok = hmac.compare_digest(user, self._config.api_key.encode())
        token_ok = hmac.compare_digest(password, self._config.api_token.encode())
        if not (key_ok and token_ok):
            raise Rejected(401, 34010, "Unauthorized;")

    def _route(self, method: str, rest: str, body: bytes):
        action = rest.lower().removesuffix(".json")
        if method == "POST" and action == "sms/send":
            return self._send(_form(body))
        if method == "POST" and action == "sms/bulksend":
            return self._lifecycle.accept_many(parse_bulksend(_form(body), self._config))
        details = DETAILS.match(rest)
        if method == "GET" and details:
            return self._details(details.group("sid"))
        if action in ("sms", ""):
            raise Rejected(400, 40500, "Invalid Parameters")
        raise Rejected(405, 40502, "This method is not supported")

    def _send(self, pairs: list[tuple[str, str]]):
        outgoing, as_list = parse_send(pairs, self._config)
        refusal = None if as_list else http_error_for(outgoing[0].to)
        if refusal is not None:
            raise Rejected(refusal.status, refusal.code, refusal.message)
        answers = self._lifecycle.accept_many(outgoing)
        return answers if as_list else answers[0]

    def _details(self, sid: str):
        with self._state.lock:
            message = self._state.get_message(sid)
            if message is None:
                # Exotel's table: an invalid resource is 403 34009, not 404.
                raise Rejected(403, 34009, "Action forbidden on given resource;")
            return sms_message(message)


def _split_path(path: str) -> tuple[str, str]:
    """``(account_sid, rest)`` of ``/v1/Accounts/<sid>/<rest>``, or Exotel's URL errors."""
    versioned = VERSIONED.match(path)
    if versioned is None or versioned.group("version") != "v1":
        version = versioned.group("version") if versioned else ""
        raise Rejected(
            400, None, f"Exotel API Version {version} not supported. Contact Exotel for details."
        )
    account = ACCOUNT.match(versioned.group("rest"))
    if account is None:
        raise Rejected(400, None, "/Accounts/ missing from URL")
    if not account.group("sid"):
        raise Rejected(403, 34009, "Action forbidden on given resource;")
    return account.group("sid").removesuffix(".json"), account.group("rest")


def _form(body: bytes) -> list[tuple[str, str]]:
    """Form pairs in order, blanks kept (``From=`` must be told apart from no ``From``).

    What ``parse_qsl(text, keep_blank_values=True)`` returns, faster for bulk bodies: keys
    (``Messages%5B7%5D%5BTo%5D``) repeat from request to request, so they are decoded once.
    """
    pairs = []
    for field in body.decode("utf-8", errors="replace").split("&"):
        if not field:
            continue
        key, _, value = field.partition("=")
        name = _KEYS.get(key)
        if name is None:
            name = _decode(key)
            if len(_KEYS) < MAX_CACHED_KEYS:
                _KEYS[key] = name
        pairs.append((name, _decode(value) if "%" in value or "+" in value else value))
    return pairs


def _decode(text: str) -> str:
    return unquote(text.replace("+", " "), errors="replace")


def _error_reply(error: HttpError, as_json: bool) -> Reply:
    headers = (("WWW-Authenticate", 'Basic realm="Exotel"'),) if error.status == 401 else ()
    return Reply(error.status, *encode(error_payload(error), as_json), headers=headers)
