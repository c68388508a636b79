from rest_framework import serializers

from ..models import DltTemplate, OptOut
from .fields import PhoneNumberSerializerField


class DltTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = DltTemplate
        fields = [
            "id",
            "name",
            "template_id",
            "entity_id",
            "sender_id",
            "body",
            "sms_type",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class OptOutSerializer(serializers.ModelSerializer):
    phone_number = PhoneNumberSerializerField()
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = OptOut
        fields = ["id", "phone_number", "source", "keyword", "created_at", "revoked_at", "active"]
        read_only_fields = ["id", "source", "created_at", "revoked_at", "active"]
