"""The DetailedStatusCode and API error tables against seed 004."""

import pytest

from exotel_client import (
    API_ERROR_CODES,
    DLT_REJECTION_CODES,
    FINAL_STATUSES,
    STATUS_CODES,
    STATUSES,
    describe_code,
    normalise_status,
)

SEED_STATUS_ROWS = {
    21010: ("queued", "PENDING_TO_OPERATOR"),
    21015: ("sending", "SENDING_TO_OPERATOR"),
    21020: ("submitted", "PENDING_ON_OPERATOR"),
    20005: ("sent", "DELIVERED_TO_HANDSET"),
    20006: ("sent", "DELIVERED_TO_OPERATOR"),
    23005: ("failed-dnd", "FAILED_REJECTED_DND"),
    23010: ("failed", "FAILED_INVALID_DESTINATION_NUMBER"),
    23015: ("failed", "FAILED_SPAM_DETECTED"),
    23020: ("failed", "FAILED_REJECTED_BLACKLIST"),
    24990: ("failed", "FAILED_UNKNOWN_ERROR"),
    23030: ("failed", "FAILED_UNAVAILABLE_ROUTE"),
    23035: ("failed", "FAILED_SUBSCRIBER_UNAVAILABLE"),
    23040: ("failed", "FAILED_SUBSCRIBER_UNKNOWN"),
    23050: ("failed", "FAILED_EXPIRED"),
    23060: ("failed", "FAILED_REJECTED"),
    24105: ("failed", "FAILED_HANDSET_ERROR"),
    24110: ("failed", "FAILED_OPERATOR_ERROR"),
    23070: ("failed", "FAILED_INVALID_MESSAGE"),
    23072: ("failed", "FAILED_INVALID_SENDER_ID"),
    24010: ("failed", "FAILED_SYSTEM_ERROR"),
    24120: ("failed", "FAILED_SUBSCRIBER_ERROR"),
    23080: ("failed", "SENDER_BLOCKED_BY_DLT"),
    23081: ("failed", "ENTITY_BLOCKED_BY_DLT"),
    23082: ("failed", "TEMPLATE_BLOCKED_BY_DLT"),
    23083: ("failed", "FAILED_DLT_SCRUBBING_ERROR"),
    23084: ("failed", "FAILED_DLT_CONSENT_ERROR"),
    23181: ("failed", "DLT_TEMPLATE_ID_INVALID"),
    23182: ("failed", "DLT_TEMPLATE_NOT_FOUND"),
    23183: ("failed", "DLT_TEMPLATE_ID_INACTIVE"),
    23184: ("failed", "DLT_TEMPLATE_ID_BLACKLISTED"),
    23185: ("failed", "DLT_TEMPLATE_DOES_NOT_MATCH"),
    23186: ("failed", "DLT_LENGTH_EXCEEDED"),
    23281: ("failed", "DLT_ENTITY_NOT_FOUND"),
}
INTERMEDIATE = {21010, 21015, 21020}


def test_status_table_covers_exactly_the_seed_codes():
    assert set(STATUS_CODES) == set(SEED_STATUS_ROWS)


@pytest.mark.parametrize(("code", "expected"), sorted(SEED_STATUS_ROWS.items()))
def test_status_row_matches_the_seed(code, expected):
    info = STATUS_CODES[code]
    assert (info.code, info.status, info.detailed_status) == (code, *expected)


@pytest.mark.parametrize("code", sorted(SEED_STATUS_ROWS))
def test_only_queued_sending_and_submitted_codes_are_intermediate(code):
    assert STATUS_CODES[code].final is (code not in INTERMEDIATE)


@pytest.mark.parametrize("code", sorted(SEED_STATUS_ROWS))
def test_every_code_has_a_meaning_and_a_short_agent_text(code):
    info = STATUS_CODES[code]
    assert info.meaning
    assert 0 < len(info.agent_text) <= 60


def test_dnd_code_tells_the_agent_the_customer_is_on_dnd():
    assert STATUS_CODES[23005].agent_text == "Customer is on DND"


def test_every_status_in_the_table_is_a_known_status():
    assert {info.status for info in STATUS_CODES.values()} <= set(STATUSES)


def test_final_statuses_are_sent_failed_and_failed_dnd():
    assert frozenset({"sent", "failed", "failed-dnd"}) == FINAL_STATUSES


def test_dlt_rejection_codes_are_the_seed_dlt_codes():
    expected = {23080, 23081, 23082, 23083, 23181, 23182, 23183, 23184, 23185, 23186, 23281}
    assert expected == DLT_REJECTION_CODES


@pytest.mark.parametrize("code", [20005, "20005", " 20005 "])
def test_describe_code_accepts_numbers_and_strings(code):
    assert describe_code(code).detailed_status == "DELIVERED_TO_HANDSET"


@pytest.mark.parametrize("code", [None, "", "abc", True, 99999, "12"])
def test_describe_code_returns_none_for_unknown_or_junk_codes(code):
    assert describe_code(code) is None


def test_describe_code_gives_a_final_failure_for_an_unlisted_reserved_code():
    info = describe_code(23500)
    assert (info.code, info.status, info.final) == (23500, "failed", True)


def test_describe_code_prefers_the_table_inside_the_reserved_range():
    assert describe_code(23084).detailed_status == "FAILED_DLT_CONSENT_ERROR"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("failed_dnd", "failed-dnd"), ("failed-dnd", "failed-dnd"), (" SENT ", "sent"), (None, "")],
)
def test_normalise_status_lowercases_strips_and_unifies_dnd(raw, expected):
    assert normalise_status(raw) == expected


SEED_API_ERRORS = {
    40000: 403, 340030: 403, 40001: 403, 40002: 403, 40003: 403, 35000: 500, 40100: 500,
    40200: 400, 40201: 400, 40202: 400, 40203: 400, 40204: 400, 40205: 400, 40206: 400,
    40207: 400, 40208: 400, 40209: 400, 40210: 400, 40300: 400, 40301: 400, 40400: 400,
    40402: 429, 40404: 429, 40405: 503, 35006: 503, 40406: 400, 40500: 400, 40502: 405,
    34001: 400, 34009: 403, 34010: 401,
}  # fmt: skip


def test_api_error_table_covers_every_seed_code_with_its_http_status():
    assert {code: info.http_status for code, info in API_ERROR_CODES.items()} == SEED_API_ERRORS


def test_api_error_table_marks_only_throttling_and_server_errors_retryable():
    retryable = {code for code, info in API_ERROR_CODES.items() if info.retryable}
    assert retryable == {40402, 40405, 35006, 40100}
