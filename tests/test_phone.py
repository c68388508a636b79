import pytest
from django.core.exceptions import ValidationError

from conversations.phone import normalise_phone


@pytest.mark.parametrize(
    "raw",
    [
        "9876543210",
        "09876543210",
        "919876543210",
        "+91 98765 43210",
        "+919876543210",
        "+91-98765-43210",
        " 98765 43210 ",
    ],
)
def test_common_indian_formats_normalise_to_e164(raw):
    assert normalise_phone(raw) == "+919876543210"


@pytest.mark.parametrize("raw", ["", "   ", "hello", "12345", "98765432101234", "+1", None, 42])
def test_junk_is_refused_with_a_clear_error(raw):
    with pytest.raises(ValidationError) as excinfo:
        normalise_phone(raw)
    assert excinfo.value.messages[0]
