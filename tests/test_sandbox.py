"""The Exotel sandbox, driven over real HTTP by the real ExotelClient.

Callbacks and customer events land in ``Receiver``, a tiny local HTTP server whose requests
arrive on a queue, so tests wait for events instead of sleeping. Nothing leaves 127.0.0.1.
"""

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from exotel_client import (
    BulkMessage,
    ExotelAPIError,
    ExotelAuthError,
    ExotelClient,
    ExotelRateLimitError,
    ExotelServerError,
    ExotelTimeoutError,
)
from exotel_client.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_API_KEY,
    SANDBOX_API_TOKEN,
    SANDBOX_EXOPHONE,
    SandboxServer,
)
from exotel_client.sandbox.rules import template_pattern

ROOT = Path(__file__).resolve().parent.parent
AUTH = (SANDBOX_API_KEY, SANDBOX_API_TOKEN)
CUSTOMER = "+919876543210"
OTP_TEMPLATE = {"template_id": "1107000000000000001", "body": "Your OTP is {#var#}. Do not share."}
WAIT = 5.0


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    form: dict[str, str]


class Receiver:
    """A local HTTP endpoint that queues every request it gets and answers ``statuses``."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        self.statuses = deque(statuses)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _receiver_handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def next(self) -> Received:
        return self.received.get(timeout=WAIT)

    def next_status(self) -> int:
        return self.statuses.popleft() if self.statuses else 200

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _receiver_handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._record()

        def do_POST(self) -> None:
            self._record()

        def _record(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            parts = urlsplit(self.path)
            receiver.received.put(
                Received(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    self.headers.get("Content-Type", ""),
                    dict(parse_qsl(body, keep_blank_values=True)),
                )
            )
            self.send_response(receiver.next_status())
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def sandbox():
    with SandboxServer(callback_delay=0.0) as running:
        yield running


@pytest.fixture
def client(sandbox):
    with ExotelClient(*AUTH, SANDBOX_ACCOUNT_SID, base_url=sandbox.base_url) as exotel:
        yield exotel


def send_url(sandbox: SandboxServer, action: str = "send") -> str:
    return f"{sandbox.base_url}/v1/Accounts/{SANDBOX_ACCOUNT_SID}/Sms/{action}.json"


def final_callback(receiver: Receiver) -> dict[str, str]:
    return receiver.next().form


def recorded_callback_statuses(sandbox: SandboxServer, count: int) -> list[int | None]:
    """The HTTP answers of the callbacks the sandbox recorded, once there are ``count``."""

    def statuses() -> list[int | None]:
        return [entry["http_status"] for entry in sandbox.state.callbacks()]

    sandbox.state.wait_for(lambda: len(statuses()) >= count, timeout=WAIT)
    return statuses()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sandbox_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "EXOTEL_API_KEY": SANDBOX_API_KEY,
        "EXOTEL_API_TOKEN": SANDBOX_API_TOKEN,
        "EXOTEL_ACCOUNT_SID": SANDBOX_ACCOUNT_SID,
    }


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "exotel_client.sandbox", *args]
    return subprocess.run(
        command, cwd=ROOT, env=sandbox_env(), capture_output=True, text=True, timeout=30
    )


def wait_for_port(port: int, process: subprocess.Popen, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"sandbox did not listen on {port} within {limit} s")


# --- the send answer ---------------------------------------------------------------------


def test_send_answers_an_exotel_shaped_queued_message(sandbox):
    data = {"From": "SHOPIN", "To": CUSTOMER, "Body": "Hello"}
    answer = requests.post(send_url(sandbox), auth=AUTH, data=data, timeout=WAIT).json()

    message = answer["SMSMessage"]
    assert message["To"] == "09876543210"
    assert message["From"] == f"{SANDBOX_EXOPHONE}/SHOPIN"
    assert (message["Status"], message["DetailedStatusCode"]) == ("queued", "21010")
    assert message["DetailedStatus"] == "PENDING_TO_OPERATOR"
    assert message["Direction"] == "outbound-api"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", message["DateCreated"])
    assert message["Uri"] == f"/v1/Accounts/sandbox/SMS/Messages/{message['Sid']}.json"
    assert message["SmsUnits"] is None and message["Price"] is None


def test_send_through_client_returns_queued_message(client):
    message = client.send_sms(CUSTOMER, "Hello", sender="SHOPIN")

    assert message.status == "queued"
    assert message.to == CUSTOMER
    assert len(message.sid) == 32


def test_path_without_json_answers_xml(sandbox):
    url = send_url(sandbox).removesuffix(".json")
    data = {"From": "SHOPIN", "To": CUSTOMER, "Body": "Hello"}
    response = requests.post(url, auth=AUTH, data=data, timeout=WAIT)

    assert response.headers["Content-Type"].startswith("application/xml")
    assert "<TwilioResponse><SMSMessage><Sid>" in response.text


# --- status callbacks ----------------------------------------------------------------------


def test_status_callback_posts_final_status_as_form(client, receiver):
    message = client.send_sms(
        CUSTOMER, "Hello", sender="SHOPIN", status_callback=receiver.url + "/cb?t=1"
    )

    callback = receiver.next()
    assert callback.method == "POST" and callback.path == "/cb" and callback.query == {"t": "1"}
    assert callback.content_type == "application/x-www-form-urlencoded"
    assert callback.form["SmsSid"] == message.sid
    assert callback.form["To"] == "09876543210"
    assert callback.form["Status"] == "sent"
    assert callback.form["DetailedStatus"] == "DELIVERED_TO_HANDSET"
    assert callback.form["DetailedStatusCode"] == "20005"
    assert callback.form["SmsUnits"] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", callback.form["DateSent"])
    assert "CustomField" not in callback.form


def test_status_callback_carries_custom_field(client, receiver):
    client.send_sms(
        CUSTOMER, "Hi", sender="SHOPIN", status_callback=receiver.url, custom_field="order-42"
    )

    assert final_callback(receiver)["CustomField"] == "order-42"


def test_intermediate_callbacks_walk_sending_submitted_then_final(receiver):
    with SandboxServer(callback_delay=0.0, intermediate_callbacks=True) as sandbox:
        client = ExotelClient(*AUTH, SANDBOX_ACCOUNT_SID, base_url=sandbox.base_url)
        client.send_sms(CUSTOMER, "Hello", sender="SHOPIN", status_callback=receiver.url)

        codes = [receiver.next().form["DetailedStatusCode"] for _ in range(3)]

    assert codes == ["21015", "21020", "20005"]


def test_failed_callback_is_retried(receiver):
    receiver.statuses.extend([500])
    with SandboxServer(callback_delay=0.0, callback_retry_delays=(0.01,)) as sandbox:
        client = ExotelClient(*AUTH, SANDBOX_ACCOUNT_SID, base_url=sandbox.base_url)
        client.send_sms(CUSTOMER, "Hello", sender="SHOPIN", status_callback=receiver.url)

        first, second = receiver.next(), receiver.next()
        attempts = recorded_callback_statuses(sandbox, count=2)

    assert first.form == second.form
    assert attempts == [500, 200]


# --- outcomes by rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "status", "code"),
    [
        ("+919812323005", "failed-dnd", "23005"),
        ("+919812323010", "failed", "23010"),
        ("+919812320006", "sent", "20006"),
        ("+919812323035", "failed", "23035"),
    ],
)
def test_destination_last_five_digits_choose_final_code(client, receiver, number, status, code):
    client.send_sms(number, "Hello", sender="SHOPIN", status_callback=receiver.url)

    form = final_callback(receiver)
    assert (form["Status"], form["DetailedStatusCode"]) == (status, code)


def test_destination_ending_in_api_error_code_is_refused(client):
    with pytest.raises(ExotelAPIError) as raised:
        client.send_sms("+919812340001", "Hello", sender="SHOPIN")

    assert (raised.value.http_status, raised.value.code) == (403, 40001)


def test_dlt_body_not_matching_template_fails_with_23185(client, sandbox, receiver):
    sandbox.add_templates([OTP_TEMPLATE])

    message = client.send_sms(
        CUSTOMER,
        "Your OTP is 1234. Share it with anyone.",
        sender="SHOPIN",
        dlt_template_id=OTP_TEMPLATE["template_id"],
        status_callback=receiver.url,
    )

    assert message.status == "queued"
    form = final_callback(receiver)
    assert (form["Status"], form["DetailedStatusCode"]) == ("failed", "23185")
    assert form["DetailedStatus"] == "DLT_TEMPLATE_DOES_NOT_MATCH"


def test_unknown_dlt_template_fails_with_23082(client, sandbox, receiver):
    sandbox.add_templates([OTP_TEMPLATE])

    client.send_sms(
        CUSTOMER,
        "Your OTP is 1234. Do not share.",
        sender="SHOPIN",
        dlt_template_id="1107999999999999999",
        status_callback=receiver.url,
    )

    form = final_callback(receiver)
    assert (form["DetailedStatusCode"], form["DetailedStatus"]) == (
        "23082",
        "TEMPLATE_BLOCKED_BY_DLT",
    )


def test_dlt_body_matching_template_is_delivered(client, sandbox, receiver):
    sandbox.add_templates([OTP_TEMPLATE])

    client.send_sms(
        CUSTOMER,
        "Your OTP is 482910. Do not share.",
        sender="SHOPIN",
        dlt_template_id=OTP_TEMPLATE["template_id"],
        status_callback=receiver.url,
    )

    assert final_callback(receiver)["DetailedStatusCode"] == "20005"


def test_dlt_variable_matches_one_to_thirty_characters():
    pattern = template_pattern("Hi {#var#}!")

    assert pattern.fullmatch("Hi " + "x" * 30 + "!")
    assert not pattern.fullmatch("Hi " + "x" * 31 + "!")
    assert not pattern.fullmatch("Hi !")


def test_sms_units_and_price_follow_segments(client, receiver):
    message = client.send_sms(CUSTOMER, "x" * 200, sender="SHOPIN", status_callback=receiver.url)
    final_callback(receiver)

    details = client.get_message(message.sid)
    assert details.sms_units == 2
    assert details.price == Decimal("0.360000")


# --- details --------------------------------------------------------------------------------


def test_details_endpoint_reflects_final_status(client, receiver):
    message = client.send_sms(
        "+919812323005", "Hello", sender="SHOPIN", status_callback=receiver.url
    )
    final_callback(receiver)

    details = client.get_message(message.sid)
    assert (details.status, details.detailed_status_code) == ("failed-dnd", 23005)
    assert details.sms_units == 1


def test_details_of_sent_message_carry_price_and_date_sent(client, receiver):
    message = client.send_sms(CUSTOMER, "Hello", sender="SHOPIN", status_callback=receiver.url)
    final_callback(receiver)

    details = client.get_message(message.sid)
    assert details.price == Decimal("0.180000")
    assert details.date_sent is not None


def test_details_of_unknown_sid_is_forbidden_34009(sandbox):
    url = f"{sandbox.base_url}/v1/Accounts/sandbox/SMS/Messages/nope.json"
    response = requests.get(url, auth=AUTH, timeout=WAIT)

    assert response.status_code == 403
    assert response.json()["RestException"]["Code"] == 34009


# --- bulk -------------------------------------------------------------------------------------


def test_static_bulk_is_answered_as_a_list(sandbox):
    data = [("From", "SHOPIN"), ("To[0]", CUSTOMER), ("To[1]", "+919812300001")]
    data.append(("Body", "Sale today"))
    answer = requests.post(send_url(sandbox), auth=AUTH, data=data, timeout=WAIT).json()

    assert [item["SMSMessage"]["To"] for item in answer] == ["09876543210", "09812300001"]


def test_static_bulk_through_client_accepts_every_number(client):
    result = client.send_static_bulk([CUSTOMER, "+919812300001"], "Sale", sender="SHOPIN")

    assert len(result.accepted) == 2 and not result.rejected


def test_static_bulk_skips_invalid_numbers(sandbox):
    data = [("From", "SHOPIN"), ("To[0]", CUSTOMER), ("To[1]", "12345"), ("Body", "Sale")]
    answer = requests.post(send_url(sandbox), auth=AUTH, data=data, timeout=WAIT).json()

    assert [item["SMSMessage"]["To"] for item in answer] == ["09876543210"]


def test_dynamic_bulk_is_answered_as_a_list(sandbox):
    data = [("From", "SHOPIN")]
    data += [("Messages[0][To]", CUSTOMER), ("Messages[0][Body]", "Hi Asha")]
    data += [("Messages[1][To]", "+919812300001"), ("Messages[1][Body]", "Hi Ravi")]
    data += [("Messages[1][From]", "OTHERS")]
    answer = requests.post(send_url(sandbox, "bulksend"), auth=AUTH, data=data, timeout=WAIT)

    bodies = [(m["SMSMessage"]["Body"], m["SMSMessage"]["From"]) for m in answer.json()]
    assert bodies == [
        ("Hi Asha", f"{SANDBOX_EXOPHONE}/SHOPIN"),
        ("Hi Ravi", f"{SANDBOX_EXOPHONE}/OTHERS"),
    ]


def test_dynamic_bulk_through_client_accepts_every_message(client):
    messages = [BulkMessage(CUSTOMER, "Hi Asha"), BulkMessage("+919812300001", "Hi Ravi")]
    result = client.send_dynamic_bulk(messages, sender="SHOPIN")

    assert [item.message.body for item in result.accepted] == ["Hi Asha", "Hi Ravi"]


# --- HTTP errors --------------------------------------------------------------------------


def test_wrong_credentials_raise_auth_error_34010(sandbox):
    client = ExotelClient("sandbox-key", "wrong", SANDBOX_ACCOUNT_SID, base_url=sandbox.base_url)

    with pytest.raises(ExotelAuthError) as raised:
        client.send_sms(CUSTOMER, "Hello", sender="SHOPIN")

    assert (raised.value.http_status, raised.value.code) == (401, 34010)


def test_missing_credentials_get_401_asking_for_authentication(sandbox):
    data = {"From": "SHOPIN", "To": CUSTOMER, "Body": "Hello"}
    response = requests.post(send_url(sandbox), data=data, timeout=WAIT)

    assert response.status_code == 401
    error = response.json()["RestException"]
    assert error["Message"] == "Authentication is required to view this page."


def test_wrong_account_sid_raises_auth_error_34009(sandbox):
    client = ExotelClient(*AUTH, "someone-else", base_url=sandbox.base_url)

    with pytest.raises(ExotelAuthError) as raised:
        client.send_sms(CUSTOMER, "Hello", sender="SHOPIN")

    assert (raised.value.http_status, raised.value.code) == (403, 34009)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"From": "SHOPIN", "To": CUSTOMER, "Body": ""}, 40200),
        ({"To": CUSTOMER, "Body": "Hi"}, 40210),
        ({"From": "", "To": CUSTOMER, "Body": "Hi"}, 40205),
        ({"From": "SHOPIN", "To": CUSTOMER, "Body": "Hi", "SmsType": "otp"}, 40204),
        ({"From": "SHOPIN", "To": CUSTOMER, "Body": "Hi", "EncodingType": "utf8"}, 40209),
        ({"From": "SHOPIN", "To": "12345", "Body": "Hi"}, 40203),
        ({"From": "SHOPIN", "To": CUSTOMER, "Body": "x" * 2001}, 40202),
        ({"From": "SHOPIN", "To": CUSTOMER, "Body[0]": "Hi"}, 40207),
        ({"From": "SHOPIN", **{f"To[{i}]": CUSTOMER for i in range(101)}, "Body": "Hi"}, 40406),
    ],
    ids=[
        "empty-body",
        "no-from",
        "empty-from",
        "sms-type",
        "encoding",
        "numbers",
        "long",
        "array",
        "static-101",
    ],
)
def test_send_refuses_bad_requests_with_exotel_codes(sandbox, data, code):
    response = requests.post(send_url(sandbox), auth=AUTH, data=data, timeout=WAIT)

    assert response.status_code == 400
    assert response.json()["RestException"]["Code"] == code


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"From": "SHOPIN"}, 40201),
        ({"From": "SHOPIN", "Messages": "x"}, 40208),
        ({"From": "SHOPIN", "Messages[0][To]": CUSTOMER}, 40202),
        (
            {"From": "SHOPIN"}
            | {f"Messages[{i}][To]": CUSTOMER for i in range(101)}
            | {f"Messages[{i}][Body]": "Hi" for i in range(101)},
            40400,
        ),
    ],
    ids=["no-messages", "not-array", "no-body", "dynamic-101"],
)
def test_bulksend_refuses_bad_requests_with_exotel_codes(sandbox, data, code):
    response = requests.post(send_url(sandbox, "bulksend"), auth=AUTH, data=data, timeout=WAIT)

    assert response.status_code == 400
    assert response.json()["RestException"]["Code"] == code


def test_default_sender_stands_in_for_missing_from():
    with SandboxServer(default_sender="SHOPIN") as sandbox:
        data = {"To": CUSTOMER, "Body": "Hi"}
        answer = requests.post(send_url(sandbox), auth=AUTH, data=data, timeout=WAIT).json()

    assert answer["SMSMessage"]["From"] == f"{SANDBOX_EXOPHONE}/SHOPIN"


def test_unknown_endpoint_is_405_40502(sandbox):
    response = requests.post(send_url(sandbox, "resend"), auth=AUTH, timeout=WAIT)

    assert response.status_code == 405
    assert response.json()["RestException"]["Code"] == 40502


# --- faults -------------------------------------------------------------------------------


def test_rate_limit_fault_then_success(client, sandbox):
    sandbox.add_fault(status=429, count=1)

    with pytest.raises(ExotelRateLimitError) as raised:
        client.send_sms(CUSTOMER, "Hello", sender="SHOPIN")
    message = client.send_sms(CUSTOMER, "Hello", sender="SHOPIN")

    assert (raised.value.code, raised.value.retryable) == (40402, True)
    assert message.status == "queued"


def test_unavailable_fault_raises_retryable_server_error_40405(client, sandbox):
    sandbox.add_fault(status=503)

    with pytest.raises(ExotelServerError) as raised:
        client.send_sms(CUSTOMER, "Hello", sender="SHOPIN")

    assert (raised.value.http_status, raised.value.code) == (503, 40405)


def test_slow_answer_raises_timeout_error(sandbox):
    sandbox.add_fault(delay=1.0)
    client = ExotelClient(*AUTH, SANDBOX_ACCOUNT_SID, base_url=sandbox.base_url, timeout=(1, 0.2))

    with pytest.raises(ExotelTimeoutError) as raised:
        client.send_sms(CUSTOMER, "Hello", sender="SHOPIN")

    assert raised.value.outcome_unknown is True


def test_faults_can_be_set_over_http(client, sandbox):
    response = requests.post(f"{sandbox.base_url}/sandbox/faults", json={"status": 500}, timeout=5)

    assert response.status_code == 200
    with pytest.raises(ExotelServerError) as raised:
        client.send_sms(CUSTOMER, "Hello", sender="SHOPIN")
    assert (raised.value.code, raised.value.retryable) == (40100, True)


def test_templates_can_be_set_over_http(client, sandbox, receiver):
    requests.post(f"{sandbox.base_url}/sandbox/templates", json=[OTP_TEMPLATE], timeout=5)

    client.send_sms(
        CUSTOMER,
        "Not the template",
        sender="SHOPIN",
        dlt_template_id=OTP_TEMPLATE["template_id"],
        status_callback=receiver.url,
    )

    assert final_callback(receiver)["DetailedStatusCode"] == "23185"


# --- views, reset, keep-alive ---------------------------------------------------------------


def test_messages_view_lists_accepted_messages_with_received_at(client, sandbox):
    before = time.time()
    message = client.send_sms(CUSTOMER, "Hello", sender="SHOPIN")

    views = requests.get(f"{sandbox.base_url}/sandbox/messages", timeout=WAIT).json()
    assert [view["SMSMessage"]["Sid"] for view in views] == [message.sid]
    assert views[0]["received_at"] >= before


def test_callbacks_view_lists_what_was_posted(client, sandbox, receiver):
    message = client.send_sms(CUSTOMER, "Hello", sender="SHOPIN", status_callback=receiver.url)
    recorded_callback_statuses(sandbox, count=1)

    views = requests.get(f"{sandbox.base_url}/sandbox/callbacks", timeout=WAIT).json()
    assert [(view["sms_sid"], view["http_status"]) for view in views] == [(message.sid, 200)]


def test_reset_forgets_messages(client, sandbox):
    client.send_sms(CUSTOMER, "Hello", sender="SHOPIN")

    requests.post(f"{sandbox.base_url}/sandbox/reset", timeout=WAIT).raise_for_status()

    assert sandbox.state.messages() == []


def test_pooled_client_reuses_one_keep_alive_connection(client, sandbox):
    for _ in range(5):
        client.send_sms(CUSTOMER, "Hello", sender="SHOPIN")

    assert sandbox.connections_accepted == 1


# --- the customer ---------------------------------------------------------------------------


def test_inbound_command_posts_exotel_inbound_fields(receiver):
    result = run_cli(
        "inbound",
        "--app-url",
        receiver.url + "/webhook/sms-incoming",
        "--token",
        "T0K",
        "--from",
        CUSTOMER,
        "--body",
        "YES",
    )

    assert result.returncode == 0, result.stderr
    request = receiver.next()
    assert (request.method, request.path, request.query) == (
        "POST",
        "/webhook/sms-incoming",
        {"token": "T0K"},
    )
    assert request.content_type == "application/x-www-form-urlencoded"
    assert set(request.form) == {"SmsSid", "From", "To", "Body", "DateCreated", "AccountSid"}
    assert (request.form["From"], request.form["To"]) == (CUSTOMER, "+918047112345")
    assert (request.form["Body"], request.form["AccountSid"]) == ("YES", SANDBOX_ACCOUNT_SID)


def test_call_command_plays_a_passthru_get(receiver):
    receiver.statuses.append(302)

    result = run_cli(
        "call",
        "--app-url",
        receiver.url,
        "--from",
        CUSTOMER,
        "--call-type",
        "call-attempt",
        "--digits",
        "1",
    )

    assert result.returncode == 0, result.stderr
    request = receiver.next()
    assert (request.method, request.path) == ("GET", "/webhook/call-event")
    assert request.query["CallFrom"] == CUSTOMER and request.query["CallTo"] == SANDBOX_EXOPHONE
    assert request.query["CallType"] == "call-attempt"
    assert request.query["Direction"] == "incoming"
    assert request.query["digits"] == '"1"'
    assert {"CallSid", "DialCallDuration", "StartTime", "CurrentTime"} <= set(request.query)


def test_page_form_sends_inbound_sms_to_the_app(receiver):
    with SandboxServer(app_url=receiver.url, webhook_token="T0K") as sandbox:
        form = {"from": CUSTOMER, "to": SANDBOX_EXOPHONE, "body": "STOP"}
        response = requests.post(
            f"{sandbox.base_url}/sandbox/inbound", data=form, allow_redirects=False, timeout=5
        )

        request = receiver.next()

    assert response.status_code == 303
    assert (request.path, request.query) == ("/webhook/sms-incoming", {"token": "T0K"})
    assert request.form["Body"] == "STOP"


def test_page_escapes_what_it_shows(client, sandbox):
    client.send_sms(CUSTOMER, "<script>alert(1)</script>", sender="SHOPIN")

    page = requests.get(f"{sandbox.base_url}/", timeout=WAIT).text

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page


# --- the command line server ---------------------------------------------------------------


def test_cli_server_accepts_sends_and_calls_back(receiver):
    port = free_port()
    command = [sys.executable, "-m", "exotel_client.sandbox", "--port", str(port)]
    command += ["--callback-delay", "0"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=sandbox_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for_port(port, process)
        client = ExotelClient(*AUTH, SANDBOX_ACCOUNT_SID, base_url=f"http://127.0.0.1:{port}")
        message = client.send_sms(CUSTOMER, "Hello", sender="SHOPIN", status_callback=receiver.url)

        form = final_callback(receiver)
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert (form["SmsSid"], form["Status"]) == (message.sid, "sent")
    assert process.returncode == 0
