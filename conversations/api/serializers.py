from rest_framework import serializers

from ..models import DltTemplate, Message, MessageStatusEvent, OptOut, SmsType
from ..services import template_health
from ..services.dlt import lint_template
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
            "health",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "health", "created_at", "updated_at"]

    health = serializers.SerializerMethodField()

    def get_health(self, template) -> dict | None:
        """Sends, delivered rate and DLT rejections (when the queryset carries them)."""
        if not hasattr(template, "sends"):
            return None
        return {
            "sends": template.sends,
            "delivered_rate": template_health.delivered_rate(template),
            "dlt_rejections": template.dlt_rejections,
        }

    def validate(self, attrs):
        merged = {**self._current_values(), **attrs}
        problems = lint_template(
            merged.get("body"),
            sms_type=merged.get("sms_type"),
            sender_id=merged.get("sender_id"),
            entity_id=merged.get("entity_id"),
            template_id=merged.get("template_id"),
        )
        if problems:
            raise serializers.ValidationError(problems)
        return attrs

    def _current_values(self):
        if self.instance is None:
            return {}
        fields = ("body", "sms_type", "sender_id", "entity_id", "template_id")
        return {field: getattr(self.instance, field) for field in fields}


class OptOutSerializer(serializers.ModelSerializer):
    phone_number = PhoneNumberSerializerField()
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = OptOut
        fields = ["id", "phone_number", "source", "keyword", "created_at", "revoked_at", "active"]
        read_only_fields = ["id", "source", "created_at", "revoked_at", "active"]


class SendSerializer(serializers.Serializer):
    """What a caller may ask to send: a body, or a DLT template id with its variables."""

    to = serializers.CharField(max_length=32)
    body = serializers.CharField(max_length=2000, required=False, trim_whitespace=False)
    dlt_template_id = serializers.CharField(max_length=32, required=False)
    variables = serializers.ListField(
        child=serializers.CharField(max_length=30, trim_whitespace=False),
        required=False,
        max_length=20,
    )
    sms_type = serializers.ChoiceField(choices=SmsType.choices, required=False)

    def validate(self, attrs):
        if not attrs.get("body") and not attrs.get("dlt_template_id"):
            raise serializers.ValidationError({"body": "Give a body or a dlt_template_id."})
        return attrs


class ReplySerializer(SendSerializer):
    to = None


class StatusEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageStatusEvent
        fields = [
            "status",
            "detailed_status",
            "detailed_status_code",
            "sms_units",
            "price",
            "source",
            "note",
            "occurred_at",
        ]


class MessageSerializer(serializers.ModelSerializer):
    to = serializers.CharField(source="conversation.phone_number", read_only=True)
    template_id = serializers.CharField(source="template.template_id", default=None)
    created_at = serializers.DateTimeField()
    history = StatusEventSerializer(source="status_events", many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "sid",
            "to",
            "direction",
            "body",
            "status",
            "detailed_status",
            "detailed_status_code",
            "error_code",
            "error_message",
            "template_id",
            "sender",
            "sms_type",
            "encoding",
            "segments",
            "sms_units",
            "price",
            "send_after",
            "created_at",
            "sent_at",
            "delivered_at",
            "history",
        ]
        read_only_fields = fields


class SendAcceptedSerializer(serializers.Serializer):
    """The answer to a send: the seed's keys (`success`, `sid`) and ours."""

    success = serializers.BooleanField()
    id = serializers.IntegerField()
    sid = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    to = serializers.CharField()
    segments = serializers.IntegerField()
    encoding = serializers.CharField()
    send_after = serializers.DateTimeField(allow_null=True)
