"""/api/call-rules: which calls send which DLT template (issue 9). Anyone signed in reads them;
staff change them. Every change is written to the audit log by the service."""

from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from ..models import CallRule, DltTemplate
from ..services import call_rules
from ..services.dlt import slot_count
from .errors import error_body
from .permissions import IsStaffOrReadOnly

RULE_FIELDS = (
    "name",
    "call_types",
    "exophone",
    "digits",
    "template",
    "variables",
    "delay_seconds",
    "active",
)


class RuleTemplateSerializer(serializers.ModelSerializer):
    slots = serializers.SerializerMethodField()

    class Meta:
        model = DltTemplate
        fields = ["id", "name", "template_id", "body", "sms_type", "active", "slots"]
        read_only_fields = fields

    def get_slots(self, template) -> int:
        return slot_count(template.body)


class CallRuleSerializer(serializers.ModelSerializer):
    call_types = serializers.ListField(
        child=serializers.CharField(max_length=20),
        max_length=10,
        help_text='Any of "missed" (call-attempt, incomplete or client-hangup), "call-attempt", '
        '"completed", "client-hangup", "incomplete", "voicemail".',
    )
    template = serializers.PrimaryKeyRelatedField(
        queryset=DltTemplate.objects.all(),
        allow_null=True,
        required=False,
        help_text="The id of an active DLT template (GET /api/templates).",
    )
    template_detail = RuleTemplateSerializer(source="template", read_only=True)
    variables = serializers.ListField(
        child=serializers.CharField(max_length=60, allow_blank=True, trim_whitespace=False),
        required=False,
        max_length=call_rules.MAX_VARIABLES,
        help_text="One per template slot, in order: {CallFrom}, {CallTo}, {CallSid}, "
        "{CallSidShort}, {DateTime} (IST, 2024-01-15 10:30) or fixed text.",
    )
    exophone = serializers.CharField(max_length=32, allow_blank=True, required=False)
    digits = serializers.CharField(max_length=32, allow_blank=True, required=False)
    delay_seconds = serializers.IntegerField(
        min_value=0, max_value=call_rules.MAX_DELAY_SECONDS, required=False
    )

    class Meta:
        model = CallRule
        fields = [
            "id",
            "name",
            "call_types",
            "exophone",
            "digits",
            "template",
            "template_detail",
            "variables",
            "delay_seconds",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "template_detail", "created_at", "updated_at"]

    def validate_exophone(self, value):
        try:
            return call_rules.normalised_exophone(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["exophone"]) from exc

    def validate(self, attrs):
        current = {}
        if self.instance is not None:
            current = {name: getattr(self.instance, name) for name in RULE_FIELDS}
        merged = {"active": True, "variables": [], **current, **attrs}
        problems = call_rules.rule_problems(merged)
        if problems:
            raise serializers.ValidationError(problems)
        return attrs


class CallRuleViewSet(viewsets.ModelViewSet):
    """Call rules: a call whose type (and ExoPhone, and digits) match an active rule gets the
    rule's DLT template as an SMS, with variables from the call. One SMS per rule per call."""

    queryset = CallRule.objects.select_related("template").order_by("name", "id")
    serializer_class = CallRuleSerializer
    permission_classes = [IsStaffOrReadOnly]
    filterset_fields = ["active", "template"]
    search_fields = ["name", "exophone"]
    ordering_fields = ["name", "created_at", "updated_at"]

    def perform_create(self, serializer):
        serializer.instance = call_rules.save_rule(
            None, serializer.validated_data, request=self.request
        )

    def perform_update(self, serializer):
        serializer.instance = call_rules.save_rule(
            serializer.instance, serializer.validated_data, request=self.request
        )

    @extend_schema(responses={204: None})
    def destroy(self, request, *args, **kwargs):
        try:
            call_rules.delete_rule(self.get_object(), request=request)
        except ProtectedError:
            message = "This rule has sent SMS; set active to false instead of deleting it."
            return Response(error_body(message, "protected"), status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)
