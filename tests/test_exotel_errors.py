"""Every HTTP API error of seed 004, odd error bodies and network failures."""

import json
import socket
import threading

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from exotel_client import (
    ExotelAPIError,
    ExotelAuthError,
    ExotelClient,
    ExotelConnectionError,
    ExotelError,
    ExotelRateLimitError,
    ExotelServerError,
    ExotelTimeoutError,
    ExotelValidationError,
)

SEND_URL = "https://api.exotel.com/v1/Accounts/acme/Sms/send.json"
GET_URL = "https://api.exotel.com/v1/Accounts/acme/SMS/Messages/abc.json"

# (HTTP status, API error code, Exotel's message, retryable, exception class): seed 004's tables.
SEED_ERROR_ROWS = [
    (403, 40000, "Not allowed to send promotional SMS(s).", False, ExotelAPIError),
    (403, 340030, "Your account is not yet KYC compliant;", False, ExotelAPIError),
    (403, 40001, "Insufficient balance to send 1 sms. Please recharge your account.", False,
     ExotelAPIError),
    (403, 40003, "Your account is not configured to send SMSes to this country.", False,
     ExotelAPIError),
    (500, 35000, "Internal Server Error", False, ExotelServerError),
    (500, 40100, "Error Processing Request", True, ExotelServerError),
    (400, 40200, "Message body cannot be empty.", False, ExotelAPIError),
    (400, 40201, "Invalid parameters: Messages is a mandatory field", False, ExotelAPIError),
    (400, 40202, "Message body is invalid.", False, ExotelAPIError),
    (400, 40203, "All the destination numbers are invalid: 12345", False, ExotelAPIError),
    (400, 40204, "Invalid parameters: SmsType is not set correctly", False, ExotelAPIError),
    (400, 40205, "Empty From field in the request", False, ExotelAPIError),
    (400, 40206, "Invalid parameters: From format is not matching with the SmsType", False,
     ExotelAPIError),
    (400, 40207, "Array passed as Value in params. Expecting String", False, ExotelAPIError),
    (400, 40208, "Invalid parameters: Messages has to be an array", False, ExotelAPIError),
    (400, 40209, "Encoding type is not properly set.", False, ExotelAPIError),
    (400, 40210, "Invalid parameters: From is a mandatory field", False, ExotelAPIError),
    (400, 40300, "No transactional template found and no numeric sender ID exists", False,
     ExotelAPIError),
    (400, 40301, "No transactional sender ID found in your account", False, ExotelAPIError),
    (400, 40400, "Not more than 100 SMSs are allowed in one API request.", False, ExotelAPIError),
    (429, 40402, "Too many POST requests.", True, ExotelRateLimitError),
    (429, 40404, "Please note that you can send only 10 SMS from your account during the trial "
     "phase.", False, ExotelRateLimitError),
    (503, 40405, "Service Unavailable", True, ExotelServerError),
    (503, 35006, "Service Unavailable", True, ExotelServerError),
    (400, 40406, "Not more than 100 SMSs are allowed in one API request.", False, ExotelAPIError),
    (405, 40502, "This method is not supported", False, ExotelAPIError),
    (403, 40002, "Account inactive.", False, ExotelAPIError),
    (400, 40500, "Invalid Parameters", False, ExotelAPIError),
    (400, None, "Exotel API Version v9 not supported. Contact Exotel for details.", False,
     ExotelAPIError),
    (400, None, "/Accounts/ missing from URL", False, ExotelAPIError),
    (403, 34009, "Action forbidden on given resource;", False, ExotelAuthError),
    (401, None, "Authentication is required to view this page.", False, ExotelAuthError),
    (401, 34010, "Unauthorized;", False, ExotelAuthError),
    (400, 34001, "Bad or missing parameters in request.;", False, ExotelAPIError),
]  # fmt: skip


@pytest.fixture
def client():
    with ExotelClient("key", "token", "acme") as exotel:
        yield exotel


@pytest.fixture
def mocked():
    with responses.RequestsMock() as mock:
        yield mock


def rest_exception(status, code, message):
    fields = {"Status": status, "Message": message}
    if code is not None:
        fields["Code"] = code
    return {"RestException": fields}


def send(client):
    return client.send_sms("9876543210", "Hello", sender="EXOTEL")


def raised_by_send(client, mocked, status, body, content_type="application/json", **kwargs):
    mocked.add(responses.POST, SEND_URL, status=status, body=body, content_type=content_type,
               **kwargs)  # fmt: skip
    with pytest.raises(ExotelError) as excinfo:
        send(client)
    return excinfo.value


@pytest.mark.parametrize(("status", "code", "message", "retryable", "cls"), SEED_ERROR_ROWS)
def test_seed_error_row_raises_its_class_with_status_code_message_and_retryable(
    client, mocked, status, code, message, retryable, cls
):
    body = json.dumps(rest_exception(status, code, message))
    error = raised_by_send(client, mocked, status, body)
    assert type(error) is cls
    assert (error.http_status, error.code, error.message) == (status, code, message)
    assert (error.retryable, error.outcome_unknown) == (retryable, False)
    assert error.body == body


def test_xml_error_body_is_parsed(client, mocked):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><TwilioResponse><RestException>'
        "<Status>403</Status><Code>34009</Code><Message>Action forbidden on given resource;"
        "</Message></RestException></TwilioResponse>"
    )
    error = raised_by_send(client, mocked, 403, body, content_type="application/xml")
    assert (type(error), error.code, error.message) == (
        ExotelAuthError,
        34009,
        "Action forbidden on given resource;",
    )


def test_html_error_body_becomes_its_trimmed_text_without_a_code(client, mocked):
    body = (
        "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
        "<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body></html>"
    )
    error = raised_by_send(client, mocked, 502, body, content_type="text/html")
    assert (type(error), error.code, error.retryable) == (ExotelServerError, None, True)
    assert error.message == "502 Bad Gateway 502 Bad Gateway nginx"


def test_plain_text_error_body_becomes_the_message(client, mocked):
    text = "  Service Unavailable\n"
    error = raised_by_send(client, mocked, 503, text, content_type="text/plain")
    assert (error.message, error.code, error.retryable) == ("Service Unavailable", None, True)


def test_empty_error_body_gets_a_message_naming_the_status(client, mocked):
    error = raised_by_send(client, mocked, 500, "")
    assert error.message == "HTTP 500 from Exotel"


def test_error_code_sent_as_a_string_is_read_as_an_int(client, mocked):
    body = json.dumps({"RestException": {"Status": "429", "Code": "40402", "Message": "Slow"}})
    assert raised_by_send(client, mocked, 429, body).code == 40402


def test_flat_json_error_body_is_parsed(client, mocked):
    body = json.dumps({"code": 40200, "message": "Message body cannot be empty."})
    error = raised_by_send(client, mocked, 400, body)
    assert (error.code, error.message) == (40200, "Message body cannot be empty.")


def test_nested_error_data_json_body_is_parsed(client, mocked):
    body = json.dumps(
        {"http_code": 400, "response": {"error_data": {"code": 1002, "description": "Bad To"}}}
    )
    error = raised_by_send(client, mocked, 400, body)
    assert (error.code, error.message) == (1002, "Bad To")


def test_known_code_without_a_message_gets_the_seed_message(client, mocked):
    error = raised_by_send(client, mocked, 400, json.dumps({"RestException": {"Code": 40205}}))
    assert error.message == "Empty From field in the request"


def test_unknown_code_on_a_4xx_is_permanent(client, mocked):
    error = raised_by_send(client, mocked, 400, json.dumps(rest_exception(400, 49999, "New")))
    assert error.retryable is False


def test_unknown_code_on_a_5xx_is_retryable(client, mocked):
    error = raised_by_send(client, mocked, 500, json.dumps(rest_exception(500, 59999, "New")))
    assert error.retryable is True


def test_retry_after_header_is_kept_on_the_error(client, mocked):
    body = json.dumps(rest_exception(429, 40402, "Too many POST requests."))
    error = raised_by_send(client, mocked, 429, body, headers={"Retry-After": "7"})
    assert error.retry_after == 7.0


def test_gateway_timeout_on_a_send_is_outcome_unknown_not_retryable(client, mocked):
    error = raised_by_send(client, mocked, 504, "Gateway Time-out", content_type="text/plain")
    assert (type(error), error.retryable, error.outcome_unknown) == (ExotelServerError, False, True)


def test_gateway_timeout_on_a_lookup_is_retryable(client, mocked):
    mocked.add(responses.GET, GET_URL, status=504, body="Gateway Time-out")
    with pytest.raises(ExotelServerError) as excinfo:
        client.get_message("abc")
    assert (excinfo.value.retryable, excinfo.value.outcome_unknown) == (True, False)


def test_unknown_message_sid_is_a_permanent_api_error(client, mocked):
    mocked.add(responses.GET, GET_URL, status=404, json=rest_exception(404, None, "Not Found"))
    with pytest.raises(ExotelAPIError) as excinfo:
        client.get_message("abc")
    assert (excinfo.value.http_status, excinfo.value.retryable) == (404, False)


def test_success_with_a_body_that_is_not_json_is_an_api_error_with_unknown_outcome(client, mocked):
    error = raised_by_send(client, mocked, 200, "<html>OK</html>", content_type="text/html")
    assert (type(error), error.http_status, error.outcome_unknown) == (ExotelAPIError, 200, True)


def test_success_json_without_a_message_is_an_api_error_with_unknown_outcome(client, mocked):
    error = raised_by_send(client, mocked, 200, json.dumps({"Something": "else"}))
    assert (type(error), error.outcome_unknown, error.retryable) == (ExotelAPIError, True, False)


def test_success_with_a_message_without_sid_is_an_api_error_with_unknown_outcome(client, mocked):
    body = json.dumps({"SMSMessage": {"Sid": None, "Status": "queued"}})
    error = raised_by_send(client, mocked, 200, body)
    assert (type(error), error.outcome_unknown) == (ExotelAPIError, True)


def test_error_object_inside_a_success_answer_is_raised_with_its_own_status(client, mocked):
    body = json.dumps(rest_exception(403, 40001, "Insufficient balance"))
    error = raised_by_send(client, mocked, 200, body)
    assert (error.http_status, error.code, error.retryable) == (403, 40001, False)


def test_redirect_is_not_followed_and_is_an_api_error(client, mocked):
    error = raised_by_send(client, mocked, 302, "", headers={"Location": "https://example.com/"})
    assert (type(error), error.http_status) == (ExotelAPIError, 302)


def test_connection_refused_is_a_retryable_connection_error(client, mocked):
    refused = MaxRetryError(None, SEND_URL, NewConnectionError(None, "Connection refused"))
    mocked.add(responses.POST, SEND_URL, body=requests.ConnectionError(refused))
    with pytest.raises(ExotelConnectionError) as excinfo:
        send(client)
    assert (excinfo.value.retryable, excinfo.value.outcome_unknown) == (True, False)


def test_connect_timeout_is_a_retryable_connection_error(client, mocked):
    mocked.add(responses.POST, SEND_URL, body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(ExotelConnectionError) as excinfo:
        send(client)
    assert excinfo.value.retryable is True


def test_read_timeout_on_a_send_is_outcome_unknown_and_not_retryable(client, mocked):
    mocked.add(responses.POST, SEND_URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(ExotelTimeoutError) as excinfo:
        send(client)
    assert (excinfo.value.retryable, excinfo.value.outcome_unknown) == (False, True)


def test_read_timeout_on_a_lookup_is_retryable(client, mocked):
    mocked.add(responses.GET, GET_URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(ExotelTimeoutError) as excinfo:
        client.get_message("abc")
    assert (excinfo.value.retryable, excinfo.value.outcome_unknown) == (True, False)


def test_connection_dropped_after_sending_is_outcome_unknown(client, mocked):
    aborted = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    mocked.add(responses.POST, SEND_URL, body=requests.ConnectionError(aborted))
    with pytest.raises(ExotelConnectionError) as excinfo:
        send(client)
    assert (excinfo.value.retryable, excinfo.value.outcome_unknown) == (False, True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_real_refused_connection_is_retryable():
    exotel = ExotelClient("key", "token", "acme", base_url=f"http://127.0.0.1:{free_port()}")
    with exotel, pytest.raises(ExotelConnectionError) as excinfo:
        send(exotel)
    assert (excinfo.value.retryable, excinfo.value.outcome_unknown) == (True, False)


@pytest.fixture
def silent_server():
    """A server that accepts the request and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    thread.join(timeout=2)
    for conn, _ in accepted:
        conn.close()
    server.close()


def test_real_read_timeout_on_a_send_is_outcome_unknown(silent_server):
    exotel = ExotelClient("key", "token", "acme", base_url=silent_server, timeout=(1, 0.2))
    with exotel, pytest.raises(ExotelTimeoutError) as excinfo:
        send(exotel)
    assert (excinfo.value.retryable, excinfo.value.outcome_unknown) == (False, True)


def test_error_string_shows_status_code_and_message():
    error = ExotelAPIError("Message body cannot be empty.", http_status=400, code=40200)
    assert str(error) == "[400 40200] Message body cannot be empty."


def test_validation_error_is_also_a_value_error():
    assert issubclass(ExotelValidationError, ValueError)


@pytest.mark.parametrize(
    "cls",
    [ExotelAuthError, ExotelRateLimitError, ExotelServerError],
)
def test_http_error_classes_are_api_errors(cls):
    assert issubclass(cls, ExotelAPIError)
