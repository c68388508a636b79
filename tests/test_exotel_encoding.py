"""GSM-7 / UCS-2 detection and segment counting."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exotel_client import MAX_BODY_LENGTH, BodyAnalysis, analyse_body
from exotel_client.encoding import GSM7_BASIC, GSM7_EXTENSION, char_units

DEVANAGARI = "अ"
EMOJI = "😀"
LIMITS = {"plain": (160, 153), "unicode": (70, 67)}


def test_max_body_length_is_2000_characters():
    assert MAX_BODY_LENGTH == 2000


def test_plain_text_is_gsm7():
    assert analyse_body("Your OTP is 1234").encoding == "plain"


@pytest.mark.parametrize("char", ["^", "{", "}", "\\", "[", "]", "~", "|", "€", "\f"])
def test_extension_characters_stay_plain_and_cost_two_septets(char):
    analysis = analyse_body(char)
    assert (analysis.encoding, analysis.units) == ("plain", 2)


CURLY_QUOTES = ["\u201c", "\u201d", "\u2018", "\u2019"]


@pytest.mark.parametrize("char", ["₹", *CURLY_QUOTES, "`", DEVANAGARI, EMOJI])
def test_characters_outside_gsm7_force_unicode(char):
    assert analyse_body(f"Pay {char}100 now").encoding == "unicode"


def test_empty_body_has_no_segments():
    assert analyse_body("") == BodyAnalysis("plain", 0, 0, ())


@pytest.mark.parametrize(("length", "segments"), [(160, 1), (161, 2)])
def test_plain_single_segment_holds_160_characters(length, segments):
    assert analyse_body("a" * length).segments == segments


@pytest.mark.parametrize(
    ("length", "segments"), [(306, 2), (307, 3), (459, 3), (460, 4), (1989, 13), (1990, 14)]
)
def test_plain_multipart_segments_hold_153_characters(length, segments):
    assert analyse_body("a" * length).segments == segments


def test_plain_split_parts_are_153_characters_then_the_rest():
    assert [len(part) for part in analyse_body("a" * 161).parts] == [153, 8]


@pytest.mark.parametrize(("prefix", "segments"), [(158, 1), (159, 2)])
def test_extension_character_counts_double_toward_160(prefix, segments):
    assert analyse_body("a" * prefix + "€").segments == segments


def test_escape_pair_at_a_part_boundary_moves_whole_to_the_next_part():
    parts = analyse_body("a" * 152 + "€" + "a" * 10).parts
    assert (parts[0], parts[1][0]) == ("a" * 152, "€")


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_unicode_segments_hold_70_then_67_units(length, segments):
    assert analyse_body(DEVANAGARI * length).segments == segments


def test_emoji_costs_two_utf16_units():
    assert analyse_body(EMOJI).units == 2


@pytest.mark.parametrize(("prefix", "segments"), [(68, 1), (69, 2)])
def test_emoji_counts_double_toward_70(prefix, segments):
    assert analyse_body("a" * prefix + EMOJI).segments == segments


def test_surrogate_pair_at_a_part_boundary_moves_whole_to_the_next_part():
    parts = analyse_body(DEVANAGARI * 66 + EMOJI + DEVANAGARI * 10).parts
    assert (parts[0], parts[1][0]) == (DEVANAGARI * 66, EMOJI)


def test_rupee_sign_makes_a_short_message_unicode_with_the_70_limit():
    analysis = analyse_body("₹" + "a" * 70)
    assert (analysis.encoding, analysis.units, analysis.segments) == ("unicode", 71, 2)


@given(st.text(max_size=MAX_BODY_LENGTH))
def test_parts_join_back_to_the_body(body):
    assert "".join(analyse_body(body).parts) == body


@given(st.text(max_size=MAX_BODY_LENGTH))
def test_segment_count_matches_parts_and_limits(body):
    analysis = analyse_body(body)
    single, per_part = LIMITS[analysis.encoding]
    part_units = [sum(char_units(c, analysis.encoding) for c in p) for p in analysis.parts]
    assert analysis.segments == len(analysis.parts)
    assert sum(part_units) == analysis.units
    assert (analysis.segments <= 1) == (analysis.units <= single)
    assert analysis.segments <= 1 or max(part_units) <= per_part


@given(st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=400))
def test_gsm7_only_text_is_always_plain(body):
    assert analyse_body(body).encoding == "plain"


@given(st.text(alphabet=sorted(GSM7_BASIC), min_size=1, max_size=400))
def test_basic_gsm7_text_costs_one_septet_per_character(body):
    assert analyse_body(body).units == len(body)
