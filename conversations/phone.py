"""Phone numbers at the edges of the app: everything is stored in E.164 (default region IN)."""

from django.conf import settings
from django.core.exceptions import ValidationError

from exotel_client.phone import normalise_number


def normalise_phone(raw) -> str:
    """Return `raw` as E.164, or raise ValidationError with a message an agent can act on."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError("Enter a phone number.", code="required")
    try:
        return normalise_number(raw, region=settings.PHONE_DEFAULT_REGION)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_phone") from exc
