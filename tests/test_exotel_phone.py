"""The fast path for Indian mobiles must agree with a full phonenumbers parse."""

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from exotel_client.phone import normalise_number


def full_parse(text, region="IN"):
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def ours(text, region="IN"):
    try:
        return normalise_number(text, region)
    except ValueError:
        return None


@settings(max_examples=3000, deadline=None)
@given(
    prefix=st.sampled_from(["", "0", "+91", "91", "+1", "00"]),
    digits=st.text(alphabet="0123456789", min_size=9, max_size=11),
    region=st.sampled_from(["IN", "US"]),
)
def test_the_fast_path_agrees_with_phonenumbers(prefix, digits, region):
    text = prefix + digits
    assert ours(text, region) == full_parse(text, region)


@settings(max_examples=2000, deadline=None)
@given(first=st.sampled_from("6789"), rest=st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_every_ten_digit_mobile_form_agrees(first, rest):
    for text in (first + rest, "0" + first + rest, "+91" + first + rest):
        assert ours(text) == full_parse(text)
