from django.core.exceptions import ValidationError
from rest_framework import serializers

from ..phone import normalise_phone


class PhoneNumberSerializerField(serializers.CharField):
    """Accepts any common Indian format and gives E.164."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return normalise_phone(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
