"""The HTTP server and ``SandboxServer``, the object tests and the CLI drive."""

import contextlib
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from exotel_client.sandbox.callbacks import CallbackCourier
from exotel_client.sandbox.config import SandboxConfig
from exotel_client.sandbox.control import ControlEndpoints
from exotel_client.sandbox.customer import inbound_number, send_call_event, send_inbound_sms
from exotel_client.sandbox.endpoints import ExotelEndpoints
from exotel_client.sandbox.lifecycle import MessageLifecycle
from exotel_client.sandbox.reply import Reply, json_reply
from exotel_client.sandbox.scheduler import Scheduler
from exotel_client.sandbox.state import Fault, SandboxState, Template

log = logging.getLogger(__name__)
# Like a real front end, drop keep-alive connections idle this long.
IDLE_TIMEOUT = 120


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, so a pooled client reuses its connections."""

    protocol_version = "HTTP/1.1"
    server_version = "ExotelSandbox/1.0"
    timeout = IDLE_TIMEOUT
    # Headers and body leave in one segment (buffered writer, flushed per request) and with
    # TCP_NODELAY: otherwise Nagle holds the body back until the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    wbufsize = -1

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        self._write(self.server.sandbox.dispatch(self.command, self.path, self.headers, body))

    def _read_body(self) -> bytes | None:
        """Read the whole body first, so the next request on the connection starts clean."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.send_error(411, "Content-Length required")
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sandbox.config.log_requests:
            log.info("%s %s", self.address_string(), format % args)


class _HTTPServer(ThreadingHTTPServer):
    """Remembers open connections so ``stop()`` can end keep-alive threads at once."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: "SandboxServer") -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.accepted = 0
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
            self.accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        """Clients that hang up or fail a TLS handshake are routine here, not tracebacks."""
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("sandbox: connection from %s ended: %s", client_address, sys.exc_info()[1])
            return
        log.exception("sandbox: error while serving %s", client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SandboxServer:
    """A fake Exotel on a local port. ``port=0`` picks a free one; use it as a context manager.

    ``options`` are the fields of ``SandboxConfig`` (``callback_delay``, ``api_key``, ...).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        templates: Iterable[Template | dict] = (),
        faults: Iterable[Fault | dict] = (),
        **options: Any,
    ) -> None:
        self.config = SandboxConfig(**options)
        self.state = SandboxState()
        self._scheduler = Scheduler()
        self._courier = CallbackCourier(self.state, self._scheduler, self.config)
        lifecycle = MessageLifecycle(self.state, self._scheduler, self._courier, self.config)
        self._api = ExotelEndpoints(self.config, self.state, lifecycle)
        self._control = ControlEndpoints(self)
        self._initial_templates = [_template(item) for item in templates]
        self.add_templates(self._initial_templates)
        for fault in faults:
            self.add_fault(fault)
        self._httpd = _HTTPServer((host, port), self)
        if self.config.tls_cert:
            self._serve_tls()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """What to give ``ExotelClient(base_url=...)``."""
        scheme = "https" if self.config.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far: a pooled client should need only one."""
        return self._httpd.accepted

    def start(self) -> "SandboxServer":
        """Serve from a background thread."""
        self._scheduler.start()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from the calling thread until interrupted (the CLI)."""
        self._scheduler.start()
        try:
            self._httpd.serve_forever()
        finally:
            self._close()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def add_templates(self, templates: Iterable[Template | dict]) -> None:
        """Teach the DLT check templates (``{"template_id": ..., "body": "... {#var#} ..."}``)."""
        self.state.add_templates([_template(item) for item in templates])

    def add_fault(self, fault: Fault | dict | None = None, **spec: Any) -> Fault:
        """Fault the next requests: ``add_fault(status=429, count=2)``, ``add_fault(delay=5)``."""
        if not isinstance(fault, Fault):
            fault = Fault.from_dict({**(fault or {}), **spec})
        self.state.add_fault(fault)
        return fault

    def reset(self) -> None:
        """Forget messages, records and faults; keep the templates it started with."""
        self.state.reset()
        self.add_templates(self._initial_templates)

    def send_inbound(self, *, sender: str, body: str, to: str | None = None) -> dict[str, Any]:
        """Post an inbound SMS from ``sender`` to the app's webhook and record the outcome."""
        entry = send_inbound_sms(
            self.config.app_url,
            sender=sender,
            to=to or inbound_number(self.config.exophone),
            body=body,
            account_sid=self.config.account_sid,
            token=self.config.webhook_token,
        )
        self.state.record_inbound(entry)
        return entry

    def send_call(self, *, caller: str, to: str | None = None, **event: Any) -> dict[str, Any]:
        """Play a call-flow Passthru to the app and record the outcome."""
        entry = send_call_event(
            self.config.app_url,
            caller=caller,
            to=to or self.config.exophone,
            token=self.config.webhook_token,
            **event,
        )
        self.state.record_inbound(entry)
        return entry

    def dispatch(self, method: str, raw_path: str, headers, body: bytes) -> Reply:
        """Route one request: the Exotel API, the control endpoints, or 404."""
        path = raw_path.split("?", 1)[0]
        if self._control.handles(path):
            return self._control.handle(method, path, headers.get("Content-Type", ""), body)
        if path.startswith("/v"):
            return self._api.handle(method, path, headers.get("Authorization"), body)
        return json_reply({"error": "not found"}, 404)

    def _serve_tls(self) -> None:
        """HTTPS like the real Exotel, so benchmarks pay for TLS handshakes as production does.

        The handshake runs on the connection's own thread (at its first read), not in the
        accept loop, so one slow client cannot stall the others.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        self._httpd.socket = context.wrap_socket(
            self._httpd.socket, server_side=True, do_handshake_on_connect=False
        )

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._httpd.server_close()
        self._httpd.close_connections()
        self._scheduler.stop()
        self._courier.close()


def _template(item: Template | dict) -> Template:
    return item if isinstance(item, Template) else Template.from_dict(item)
