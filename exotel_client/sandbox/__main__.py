"""Command line: run the fake Exotel, or play a customer against the app.

python -m exotel_client.sandbox --port 8025 [--host 127.0.0.1] [--callback-delay 1]
python -m exotel_client.sandbox inbound --from +919876543210 --body YES [--app-url URL]
python -m exotel_client.sandbox call --from +919876543210 --call-type call-attempt
python -m exotel_client.sandbox call-event --url http://127.0.0.1:8000 --type completed --from ...
"""

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from exotel_client.sandbox.config import credentials_from_env
from exotel_client.sandbox.constants import DEFAULT_APP_URL, DEFAULT_PORT, SANDBOX_EXOPHONE
from exotel_client.sandbox.customer import (
    CALL_TYPES,
    inbound_number,
    send_call_event,
    send_inbound_sms,
)
from exotel_client.sandbox.server import SandboxServer
from exotel_client.sandbox.state import Fault


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command == "inbound":
        return _inbound(args)
    if args.command in ("call", "call-event"):
        return _call(args)
    return _serve(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m exotel_client.sandbox", description="A local fake Exotel SMS API."
    )
    _add_serve_options(parser)
    commands = parser.add_subparsers(dest="command")
    _add_inbound_options(commands.add_parser("inbound", help="send an inbound SMS to the app"))
    _add_call_options(commands.add_parser("call", help="send a call-flow Passthru to the app"))
    _add_call_options(commands.add_parser("call-event", help="the same as call"))
    return parser


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=DEFAULT_PORT)
    add("--callback-delay", type=float, default=1.0, help="seconds from queued to final")
    add("--intermediate-callbacks", action="store_true", help="also call back sending/submitted")
    add("--callback-retries", default="1,5,15", help="seconds between callback retries")
    add("--templates", type=Path, help='JSON file: [{"template_id": ..., "body": ...}]')
    add("--fault", action="append", default=[], help='JSON, e.g. \'{"status": 429, "count": 2}\'')
    add("--default-sender", help="used when a request has no From (Exotel answers 40210)")
    add("--exophone", default=SANDBOX_EXOPHONE)
    add("--sender-id", default="SNDBOX", help="SenderID shown when From is an ExoPhone")
    _add_app_options(parser, help_suffix="the page's inbound form posts to")
    add("--tls-cert", help="serve HTTPS with this PEM certificate (as Exotel does)")
    add("--tls-key", help="the certificate's PEM private key")
    add("--verbose", "-v", action="store_true", help="log every request")


def _add_app_options(parser: argparse.ArgumentParser, help_suffix: str) -> None:
    app_url = os.environ.get("SANDBOX_APP_URL") or DEFAULT_APP_URL
    parser.add_argument("--app-url", default=app_url, help=f"the app {help_suffix}")
    parser.add_argument(
        "--webhook-token", "--token", default=os.environ.get("EXOTEL_WEBHOOK_TOKEN") or None
    )


def _add_inbound_options(parser: argparse.ArgumentParser) -> None:
    _add_app_options(parser, help_suffix="(a bare host gets /webhook/sms-incoming)")
    parser.add_argument("--from", dest="sender", required=True, help="the customer's number")
    parser.add_argument("--to", default=inbound_number(SANDBOX_EXOPHONE), help="your ExoPhone")
    parser.add_argument("--body", required=True)


def _add_call_options(parser: argparse.ArgumentParser) -> None:
    _add_app_options(parser, help_suffix="(a bare host gets /webhook/call-event)")
    parser.add_argument("--url", dest="app_url", help="the same as --app-url")
    parser.add_argument("--from", dest="caller", required=True, help="the caller's number")
    parser.add_argument("--to", default=SANDBOX_EXOPHONE, help="your ExoPhone")
    parser.add_argument(
        "--call-type", "--type", dest="call_type", choices=CALL_TYPES, default="call-attempt"
    )
    parser.add_argument("--call-sid", help="repeat a call's sid (default: a new one)")
    parser.add_argument("--recording-url", help="RecordingUrl of the call")
    parser.add_argument("--digits", help="what the caller keyed in a Gather")
    parser.add_argument("--direction", default="incoming", choices=("incoming", "outbound-dial"))
    parser.add_argument("--duration", type=int, default=0, help="DialCallDuration in seconds")


def _serve(args: argparse.Namespace) -> int:
    sandbox = SandboxServer(
        args.host,
        args.port,
        templates=_load_templates(args.templates),
        faults=[Fault.from_dict(json.loads(spec)) for spec in args.fault],
        callback_delay=args.callback_delay,
        intermediate_callbacks=args.intermediate_callbacks,
        callback_retry_delays=tuple(float(s) for s in args.callback_retries.split(",") if s),
        default_sender=args.default_sender,
        exophone=args.exophone,
        sender_id=args.sender_id,
        app_url=args.app_url,
        webhook_token=args.webhook_token,
        log_requests=args.verbose,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        **credentials_from_env(),
    )
    # SIGTERM (from a test, honcho or docker) should close as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    account = sandbox.config.account_sid
    print(f"Exotel sandbox on {sandbox.base_url} (account {account})", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sandbox.serve_forever()
    return 0


def _load_templates(path: Path | None) -> list[dict]:
    if path is None:
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, list) else [data]


def _inbound(args: argparse.Namespace) -> int:
    entry = send_inbound_sms(
        args.app_url,
        sender=args.sender,
        to=args.to,
        body=args.body,
        account_sid=credentials_from_env()["account_sid"],
        token=args.webhook_token,
    )
    return _report(entry, ok_statuses=range(200, 300))


def _call(args: argparse.Namespace) -> int:
    entry = send_call_event(
        args.app_url,
        caller=args.caller,
        to=args.to,
        call_type=args.call_type,
        digits=args.digits,
        direction=args.direction,
        duration=args.duration,
        call_sid=args.call_sid,
        recording_url=args.recording_url,
        token=args.webhook_token,
    )
    # A Passthru answer of 302 is the flow's other branch, not an error.
    return _report(entry, ok_statuses=(*range(200, 300), 302))


def _report(entry: dict, ok_statuses) -> int:
    print(json.dumps(entry, indent=2))
    return 0 if entry["http_status"] in ok_statuses else 1


if __name__ == "__main__":
    sys.exit(main())
