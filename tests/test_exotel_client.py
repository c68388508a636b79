"""ExotelClient: wire format, answers, bulk chunking and matching, phone numbers."""

import base64
import json
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from exotel_client import (
    REGION_MUMBAI,
    BulkMessage,
    ExotelClient,
    ExotelValidationError,
    normalise_number,
)

BASE = "https://api.exotel.com/v1/Accounts/acme"
SEND_URL = f"{BASE}/Sms/send.json"
BULK_URL = f"{BASE}/Sms/bulksend.json"
IST = ZoneInfo("Asia/Kolkata")


@pytest.fixture
def client():
    with ExotelClient("key", "token", "acme") as exotel:
        yield exotel


@pytest.fixture
def mocked():
    with responses.RequestsMock() as mock:
        yield mock


def sms(sid="sid-1", to="09876543210", **fields):
    """An SMSMessage as Exotel answers it (seed 004's example)."""
    message = {
        "Sid": sid, "AccountSid": "acme", "From": "0XXXXXX4890/EXOTEL", "To": to,
        "DateCreated": "2017-03-03 14:14:20", "DateUpdated": "2017-03-03 14:14:20",
        "DateSent": None, "Body": "Hello", "Direction": "outbound-api",
        "Uri": f"/v1/Accounts/acme/SMS/Messages/{sid}.json", "ApiVersion": None,
        "Price": None, "Status": "queued", "DetailedStatusCode": "21010",
        "DetailedStatus": "PENDING_TO_OPERATOR", "SmsUnits": None,
    }  # fmt: skip
    return {"SMSMessage": {**message, **fields}}


def sent_pairs(call):
    return parse_qsl(call.request.body, keep_blank_values=True)


def indian_numbers(count):
    return [f"98765{i:05d}" for i in range(count)]


def echo_static(request):
    """Answer a static bulk request like Exotel: a list, numbers as 0XXXXXXXXXX."""
    numbers = [value for key, value in parse_qsl(request.body) if key.startswith("To[")]
    answer = [sms(f"sid-{n}", "0" + n[3:]) for n in numbers]
    return 200, {}, json.dumps(answer)


def echo_dynamic(request):
    numbers = [value for key, value in parse_qsl(request.body) if key.endswith("[To]")]
    return 200, {}, json.dumps([sms(f"sid-{n}", "0" + n[3:]) for n in numbers])


# --- single send: wire format ---------------------------------------------------------------


def test_send_sms_posts_every_parameter_with_its_wire_name(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms())
    client.send_sms(
        "+91 98765 43210", "Hello", sender="EXOTEL", dlt_entity_id="1101", dlt_template_id="1107",
        sms_type="transactional", priority="high", encoding_type="plain",
        status_callback="https://desk.example/cb", custom_field="order-7", shorten_url=True,
        shorten_url_header="EXOTEL", shorten_url_tracking=True,
        click_tracking_callback_url="https://desk.example/click",
    )  # fmt: skip
    assert sent_pairs(mocked.calls[0]) == [
        ("From", "EXOTEL"),
        ("To", "+919876543210"),
        ("Body", "Hello"),
        ("EncodingType", "plain"),
        ("ShortenUrl", "true"),
        ("ShortenUrlParams[Header]", "EXOTEL"),
        ("ShortenUrlParams[Tracking]", "true"),
        ("ShortenUrlParams[ClickTrackingCallbackUrl]", "https://desk.example/click"),
        ("StatusCallback", "https://desk.example/cb"),
        ("DltEntityId", "1101"),
        ("DltTemplateId", "1107"),
        ("SmsType", "transactional"),
        ("CustomField", "order-7"),
        ("Priority", "high"),
    ]


def test_send_sms_sends_only_the_parameters_given(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms())
    client.send_sms("9876543210", "Hello", sender="EXOTEL")
    assert [key for key, _ in sent_pairs(mocked.calls[0])] == ["From", "To", "Body"]


@pytest.mark.parametrize("sms_type", ["transactional", "transactional_opt_in", "promotional"])
def test_send_sms_accepts_each_sms_type(client, mocked, sms_type):
    mocked.add(responses.POST, SEND_URL, json=sms())
    client.send_sms("9876543210", "Hello", sender="EXOTEL", sms_type=sms_type)
    assert ("SmsType", sms_type) in sent_pairs(mocked.calls[0])


def test_send_sms_sends_false_flags_as_the_string_false(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms())
    client.send_sms("9876543210", "Hello", sender="EXOTEL", shorten_url=False)
    assert ("ShortenUrl", "false") in sent_pairs(mocked.calls[0])


def test_send_sms_form_encodes_the_body_as_utf8(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms())
    client.send_sms("9876543210", "Pay ₹100 & 5% off", sender="EXOTEL")
    request = mocked.calls[0].request
    assert "Body=Pay+%E2%82%B9100+%26+5%25+off" in request.body
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_send_sms_authenticates_with_a_basic_auth_header(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms())
    client.send_sms("9876543210", "Hello", sender="EXOTEL")
    expected = "Basic " + base64.b64encode(b"key:token").decode()
    assert mocked.calls[0].request.headers["Authorization"] == expected


def test_credentials_never_appear_in_the_url(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms())
    client.send_sms("9876543210", "Hello", sender="EXOTEL")
    assert "token" not in mocked.calls[0].request.url


def test_send_sms_posts_to_the_json_endpoint(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms())
    client.send_sms("9876543210", "Hello", sender="EXOTEL")
    assert mocked.calls[0].request.url == SEND_URL


def test_every_call_carries_the_timeout(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms())
    client.send_sms("9876543210", "Hello", sender="EXOTEL")
    assert mocked.calls[0].request.req_kwargs["timeout"] == (3.05, 15)


def test_mumbai_region_uses_its_host(mocked):
    url = "https://api.in.exotel.com/v1/Accounts/acme/Sms/send.json"
    mocked.add(responses.POST, url, json=sms())
    with ExotelClient("key", "token", "acme", subdomain=REGION_MUMBAI) as exotel:
        assert exotel.send_sms("9876543210", "Hello", sender="EXOTEL").sid == "sid-1"


def test_base_url_overrides_the_region_for_a_sandbox(mocked):
    mocked.add(responses.POST, "http://127.0.0.1:8025/v1/Accounts/acme/Sms/send.json", json=sms())
    with ExotelClient("key", "token", "acme", base_url="http://127.0.0.1:8025/") as exotel:
        assert exotel.send_sms("9876543210", "Hello", sender="EXOTEL").sid == "sid-1"


@pytest.mark.parametrize("subdomain", ["", "https://api.exotel.com", "api.exotel.com/v1"])
def test_subdomain_must_be_a_bare_host_name(subdomain):
    with pytest.raises(ExotelValidationError):
        ExotelClient("key", "token", "acme", subdomain=subdomain)


@pytest.mark.parametrize(
    ("key", "token", "sid"), [("", "t", "s"), ("k", None, "s"), ("k", "t", " ")]
)
def test_missing_credentials_are_refused(key, token, sid):
    with pytest.raises(ExotelValidationError):
        ExotelClient(key, token, sid)


def test_timeout_cannot_be_disabled():
    with pytest.raises(ExotelValidationError):
        ExotelClient("key", "token", "acme", timeout=None)


def test_own_session_pools_connections_without_adapter_retries(client):
    adapter = client._session.get_adapter("https://api.exotel.com")
    assert (adapter.max_retries.total, adapter._pool_maxsize) == (0, 20)


def test_close_closes_the_clients_own_session(monkeypatch):
    exotel = ExotelClient("key", "token", "acme")
    closed = []
    monkeypatch.setattr(exotel._session, "close", lambda: closed.append(True))
    with exotel:
        pass
    assert closed == [True]


def test_close_leaves_a_callers_session_open(monkeypatch):
    session = requests.Session()
    closed = []
    monkeypatch.setattr(session, "close", lambda: closed.append(True))
    ExotelClient("key", "token", "acme", session=session).close()
    assert closed == []


def test_repr_does_not_show_the_token(client):
    assert "token" not in repr(client)


# --- single send: local validation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kwargs"),
    [
        ("", {}),
        ("   ", {}),
        ("a" * 2001, {}),
        ("Hello", {"sms_type": "otp"}),
        ("Hello", {"priority": "urgent"}),
        ("Hello", {"encoding_type": "utf8"}),
        ("Hello", {"shorten_url": "yes"}),
        ("Hello", {"shorten_url_tracking": True}),
        ("Hello", {"status_callback": "desk.example/cb"}),
        ("Hello", {"click_tracking_callback_url": "ftp://desk.example"}),
        ("Hello", {"sender": None}),
        ("Hello", {"custom_field": {"order": 7}}),
    ],
)
def test_invalid_send_is_refused_before_any_request(client, mocked, body, kwargs):
    with pytest.raises(ExotelValidationError):
        client.send_sms("9876543210", body, **{"sender": "EXOTEL", **kwargs})
    assert len(mocked.calls) == 0


def test_body_of_exactly_2000_characters_is_sent(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms())
    client.send_sms("9876543210", "a" * 2000, sender="EXOTEL")
    assert len(mocked.calls) == 1


def test_invalid_number_is_refused_before_any_request(client, mocked):
    with pytest.raises(ExotelValidationError, match="12345"):
        client.send_sms("12345", "Hello", sender="EXOTEL")
    assert len(mocked.calls) == 0


# --- answers ----------------------------------------------------------------------------------


def test_send_sms_returns_the_message_in_usable_types(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms(Price="0.180000", SmsUnits="2"))
    message = client.send_sms("9876543210", "Hello", sender="EXOTEL")
    assert (message.sid, message.status, message.detailed_status) == (
        "sid-1",
        "queued",
        "PENDING_TO_OPERATOR",
    )
    assert (message.detailed_status_code, message.to) == (21010, "+919876543210")
    assert message.date_created == datetime(2017, 3, 3, 14, 14, 20, tzinfo=IST)
    assert (message.sms_units, message.price) == (2, Decimal("0.180000"))


def test_missing_units_price_and_dates_are_none(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms())
    message = client.send_sms("9876543210", "Hello", sender="EXOTEL")
    assert (message.sms_units, message.price, message.date_sent) == (None, None, None)


def test_detailed_status_code_sent_as_a_number_is_read(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms(DetailedStatusCode=20005))
    assert client.send_sms("9876543210", "Hi", sender="EXOTEL").detailed_status_code == 20005


def test_failed_dnd_status_is_normalised(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms(Status="failed_dnd"))
    assert client.send_sms("9876543210", "Hi", sender="EXOTEL").status == "failed-dnd"


def test_zoned_date_is_converted_to_ist(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms(DateCreated="2017-03-03T08:44:20+00:00"))
    message = client.send_sms("9876543210", "Hi", sender="EXOTEL")
    assert message.date_created == datetime(2017, 3, 3, 14, 14, 20, tzinfo=IST)


def test_unreadable_fields_become_none_instead_of_failing_the_send(client, mocked):
    fields = {"DateCreated": "soon", "Price": "n/a", "SmsUnits": "two", "DetailedStatusCode": ""}
    mocked.add(responses.POST, SEND_URL, json=sms(**fields))
    message = client.send_sms("9876543210", "Hi", sender="EXOTEL")
    assert (message.date_created, message.price, message.sms_units) == (None, None, None)
    assert message.detailed_status_code is None


def test_unparseable_to_number_is_kept_as_sent(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms(to="XXXXX30240"))
    assert client.send_sms("9876543210", "Hi", sender="EXOTEL").to == "XXXXX30240"


def test_single_send_answered_with_a_list_returns_its_message(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=[sms()])
    assert client.send_sms("9876543210", "Hi", sender="EXOTEL").sid == "sid-1"


def test_raw_answer_is_kept_on_the_message(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms(Extra="x"))
    assert client.send_sms("9876543210", "Hi", sender="EXOTEL").raw["Extra"] == "x"


def test_get_message_reads_the_message_by_sid(client, mocked):
    url = f"{BASE}/SMS/Messages/sid-9.json"
    mocked.add(responses.GET, url, json=sms("sid-9", Status="sent", DetailedStatusCode="20005"))
    message = client.get_message("sid-9")
    assert (message.sid, message.status, message.detailed_status_code) == ("sid-9", "sent", 20005)


def test_get_message_escapes_the_sid_in_the_path(client, mocked):
    mocked.add(responses.GET, f"{BASE}/SMS/Messages/a%2Fb.json", json=sms("a/b"))
    assert client.get_message("a/b").sid == "a/b"


# --- static bulk ------------------------------------------------------------------------------


def test_static_bulk_posts_numbers_as_an_indexed_to_array(client, mocked):
    mocked.add_callback(responses.POST, SEND_URL, callback=echo_static)
    client.send_static_bulk(
        ["9876543210", "09876543211"], "Hello", sender="EXOTEL", dlt_template_id="1107"
    )
    assert sent_pairs(mocked.calls[0]) == [
        ("From", "EXOTEL"),
        ("To[0]", "+919876543210"),
        ("To[1]", "+919876543211"),
        ("Body", "Hello"),
        ("DltTemplateId", "1107"),
    ]


def test_static_bulk_splits_250_numbers_into_requests_of_100_100_and_50(client, mocked):
    mocked.add_callback(responses.POST, SEND_URL, callback=echo_static)
    client.send_static_bulk(indian_numbers(250), "Hello", sender="EXOTEL")
    sizes = [sum(k.startswith("To[") for k, _ in sent_pairs(call)) for call in mocked.calls]
    assert sizes == [100, 100, 50]


def test_static_bulk_numbers_each_chunk_from_zero(client, mocked):
    mocked.add_callback(responses.POST, SEND_URL, callback=echo_static)
    client.send_static_bulk(indian_numbers(101), "Hello", sender="EXOTEL")
    assert sent_pairs(mocked.calls[1])[1] == ("To[0]", "+919876500100")


def test_static_bulk_returns_every_input_in_order_with_its_message(client, mocked):
    mocked.add_callback(responses.POST, SEND_URL, callback=echo_static)
    result = client.send_static_bulk(indian_numbers(250), "Hello", sender="EXOTEL")
    assert [item.to for item in result.items] == indian_numbers(250)
    assert all(item.message.sid == f"sid-+91{item.to}" for item in result.items)


def test_static_bulk_matches_results_answered_in_a_different_order(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=[sms("b", "09876543211"), sms("a", "09876543210")])
    result = client.send_static_bulk(["+919876543210", "9876543211"], "Hi", sender="EXOTEL")
    assert [item.message.sid for item in result.items] == ["a", "b"]


def test_static_bulk_matches_a_single_object_answer(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=sms("only", "09876543210"))
    result = client.send_static_bulk(["9876543210"], "Hi", sender="EXOTEL")
    assert result.items[0].message.sid == "only"


def test_static_bulk_matches_repeated_numbers_in_order(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=[sms("1", "09876543210"), sms("2", "09876543210")])
    result = client.send_static_bulk(["9876543210", "+91 98765 43210"], "Hi", sender="EXOTEL")
    assert [(item.to, item.message.sid) for item in result.items] == [
        ("9876543210", "1"),
        ("+91 98765 43210", "2"),
    ]


def test_static_bulk_reports_inputs_without_a_result_as_not_sent(client, mocked):
    mocked.add(responses.POST, SEND_URL, json=[sms("a", "09876543210")])
    result = client.send_static_bulk(["9876543210", "9876543211"], "Hi", sender="EXOTEL")
    missing = result.items[1]
    assert (missing.to, missing.message, missing.error) == (
        "9876543211",
        None,
        "no result returned by Exotel",
    )
    assert (len(result.accepted), len(result.rejected)) == (1, 1)


def test_static_bulk_reports_invalid_numbers_without_sending_them(client, mocked):
    mocked.add_callback(responses.POST, SEND_URL, callback=echo_static)
    result = client.send_static_bulk(["12345", "9876543210"], "Hi", sender="EXOTEL")
    assert result.items[0].error.startswith("not sent:")
    assert ("To[0]", "+919876543210") in sent_pairs(mocked.calls[0])


def test_static_bulk_with_only_invalid_numbers_sends_nothing(client, mocked):
    result = client.send_static_bulk(["12345", "hello"], "Hi", sender="EXOTEL")
    assert (len(result.rejected), len(mocked.calls)) == (2, 0)


def test_static_bulk_refuses_a_single_string_of_numbers(client):
    with pytest.raises(ExotelValidationError):
        client.send_static_bulk("9876543210", "Hi", sender="EXOTEL")


def test_static_bulk_refuses_an_empty_body_before_any_request(client, mocked):
    with pytest.raises(ExotelValidationError):
        client.send_static_bulk(["9876543210"], "", sender="EXOTEL")
    assert len(mocked.calls) == 0


# --- dynamic bulk -----------------------------------------------------------------------------


def test_dynamic_bulk_posts_messages_as_an_indexed_array(client, mocked):
    mocked.add_callback(responses.POST, BULK_URL, callback=echo_dynamic)
    client.send_dynamic_bulk(
        [
            BulkMessage("9876543210", "Hi Ravi"),
            BulkMessage("9876543211", "Hi Priya", sender="OTHER", sms_type="promotional",
                        dlt_template_id="1107"),
        ],
        sender="EXOTEL", dlt_entity_id="1101", status_callback="https://desk.example/cb",
        custom_field="campaign-3", sms_type="transactional", priority="normal",
    )  # fmt: skip
    assert sent_pairs(mocked.calls[0]) == [
        ("From", "EXOTEL"),
        ("DltEntityId", "1101"),
        ("StatusCallback", "https://desk.example/cb"),
        ("CustomField", "campaign-3"),
        ("Priority", "normal"),
        ("Messages[0][To]", "+919876543210"),
        ("Messages[0][Body]", "Hi Ravi"),
        ("Messages[0][SmsType]", "transactional"),
        ("Messages[1][To]", "+919876543211"),
        ("Messages[1][Body]", "Hi Priya"),
        ("Messages[1][From]", "OTHER"),
        ("Messages[1][SmsType]", "promotional"),
        ("Messages[1][DltTemplateId]", "1107"),
    ]


def test_dynamic_bulk_splits_250_messages_into_requests_of_100_100_and_50(client, mocked):
    mocked.add_callback(responses.POST, BULK_URL, callback=echo_dynamic)
    messages = [BulkMessage(n, f"Hi {n}") for n in indian_numbers(250)]
    result = client.send_dynamic_bulk(messages, sender="EXOTEL")
    sizes = [sum(k.endswith("[To]") for k, _ in sent_pairs(call)) for call in mocked.calls]
    assert (sizes, len(result.accepted)) == ([100, 100, 50], 250)


def test_dynamic_bulk_matches_results_by_normalised_number(client, mocked):
    mocked.add(responses.POST, BULK_URL, json=[sms("b", "09876543211"), sms("a", "09876543210")])
    messages = [BulkMessage("919876543210", "A"), BulkMessage("09876543211", "B")]
    result = client.send_dynamic_bulk(messages, sender="EXOTEL")
    assert [item.message.sid for item in result.items] == ["a", "b"]


def test_dynamic_bulk_reports_a_message_with_an_empty_body_without_sending_it(client, mocked):
    mocked.add_callback(responses.POST, BULK_URL, callback=echo_dynamic)
    messages = [BulkMessage("9876543210", ""), BulkMessage("9876543211", "Hi")]
    result = client.send_dynamic_bulk(messages, sender="EXOTEL")
    assert (result.items[0].error, result.items[1].accepted) == ("not sent: body is empty", True)


def test_dynamic_bulk_needs_a_sender_somewhere(client, mocked):
    with pytest.raises(ExotelValidationError):
        client.send_dynamic_bulk([BulkMessage("9876543210", "Hi")])
    assert len(mocked.calls) == 0


def test_dynamic_bulk_accepts_senders_given_per_message(client, mocked):
    mocked.add_callback(responses.POST, BULK_URL, callback=echo_dynamic)
    result = client.send_dynamic_bulk([BulkMessage("9876543210", "Hi", sender="EXOTEL")])
    assert result.items[0].accepted


def test_dynamic_bulk_refuses_a_bad_sms_type_before_any_request(client, mocked):
    messages = [BulkMessage(n, "Hi") for n in indian_numbers(150)]
    messages[120] = BulkMessage("9876543210", "Hi", sms_type="otp")
    with pytest.raises(ExotelValidationError):
        client.send_dynamic_bulk(messages, sender="EXOTEL")
    assert len(mocked.calls) == 0


# --- bulk: a chunk fails ------------------------------------------------------------------


def error_answer(status, code, message):
    return {"status": status, "json": {"RestException": {"Status": status, "Code": code,
                                                         "Message": message}}}  # fmt: skip


def test_bulk_chunk_refused_with_400_marks_its_items_and_later_chunks_still_go(client, mocked):
    mocked.add(responses.POST, SEND_URL, **error_answer(400, 40203, "All invalid"))
    mocked.add_callback(responses.POST, SEND_URL, callback=echo_static)
    result = client.send_static_bulk(indian_numbers(150), "Hi", sender="EXOTEL")
    first, last = result.items[0], result.items[-1]
    assert (first.code, first.retryable, first.error) == (40203, False, "[400 40203] All invalid")
    assert last.accepted and len(mocked.calls) == 2


def test_bulk_stops_on_a_throttled_chunk_and_keeps_earlier_results(client, mocked):
    mocked.add_callback(responses.POST, SEND_URL, callback=echo_static)
    mocked.add(responses.POST, SEND_URL, **error_answer(429, 40402, "Too many POST requests."))
    result = client.send_static_bulk(indian_numbers(250), "Hi", sender="EXOTEL")
    first, throttled, unsent = result.items[0], result.items[100], result.items[200]
    assert first.accepted and (throttled.code, throttled.retryable) == (40402, True)
    assert unsent.error.startswith("not sent:") and unsent.retryable
    assert (len(mocked.calls), len(result.retryable)) == (2, 150)


def test_bulk_chunk_with_a_read_timeout_is_outcome_unknown_and_sending_stops(client, mocked):
    mocked.add(responses.POST, BULK_URL, body=requests.ReadTimeout("read timed out"))
    messages = [BulkMessage(n, "Hi") for n in indian_numbers(150)]
    result = client.send_dynamic_bulk(messages, sender="EXOTEL")
    timed_out, unsent = result.items[0], result.items[100]
    assert (timed_out.outcome_unknown, timed_out.retryable) == (True, False)
    assert (unsent.outcome_unknown, unsent.retryable, len(mocked.calls)) == (False, True, 1)


def test_bulk_stops_on_a_permanent_account_error_without_marking_later_items_retryable(
    client, mocked
):
    mocked.add(responses.POST, SEND_URL, **error_answer(403, 40001, "Insufficient balance"))
    result = client.send_static_bulk(indian_numbers(150), "Hi", sender="EXOTEL")
    assert (result.items[100].retryable, len(result.retryable), len(mocked.calls)) == (False, 0, 1)


# --- phone numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["9876543210", "09876543210", "919876543210", "+919876543210", "+91 98765 43210",
     "+91-98765-43210", " 98765 43210 ", "(+91) 98765.43210", "00919876543210", 9876543210],
)  # fmt: skip
def test_common_indian_formats_normalise_to_e164(raw):
    assert normalise_number(raw) == "+919876543210"


def test_numbers_with_a_country_code_keep_it():
    assert normalise_number("+44 7911 123456") == "+447911123456"


def test_region_decides_numbers_without_a_country_code():
    assert normalise_number("07911 123456", region="GB") == "+447911123456"


@pytest.mark.parametrize(
    "raw", ["", "   ", "hello", "98765abcde", "12345", "98765432101234", "+1", "+91 98765", None]
)
def test_junk_numbers_raise_value_error_with_a_clear_message(raw):
    with pytest.raises(ValueError, match="phone number"):
        normalise_number(raw)


@hypothesis_settings(max_examples=2000, deadline=None)
@given(st.lists(st.tuples(st.text(), st.one_of(st.text(), st.integers()))))
def test_the_form_body_is_exactly_what_urlencode_makes(pairs):
    from urllib.parse import urlencode

    from exotel_client.client import form_encode

    assert form_encode(pairs) == urlencode(pairs)
