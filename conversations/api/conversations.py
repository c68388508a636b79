"""GET /api/conversations (the seed's keys), GET/PATCH /api/conversations/<phone>, and
POST /api/conversations/<phone>/flows to start a flow (the seed's outbound-first examples)."""

import re

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from ..models import CallEvent, Conversation, Flow, Message, OptOut
from ..phone import normalise_phone
from ..services import flows, inbox, triage
from ..services.replies import ReplyImpossible
from .errors import error_body

MAX_CONTEXT_VALUES = 20


# --- Serializers ------------------------------------------------------------------------------


class ThreadMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "sid",
            "direction",
            "body",
            "status",
            "detailed_status",
            "detailed_status_code",
            "source",
            "created_at",
            "sent_at",
            "read_at",
        ]
        read_only_fields = fields


class CallEventSerializer(serializers.ModelSerializer):
    """A stage of a call from this number (issue 9), beside the messages."""

    type = serializers.CharField(source="call_type")
    time = serializers.DateTimeField(source="occurred_at")
    sms_queued = serializers.BooleanField()

    class Meta:
        model = CallEvent
        fields = [
            "id",
            "call_sid",
            "type",
            "direction",
            "duration",
            "time",
            "from_number",
            "to_number",
            "digits",
            "recording_url",
            "outcome",
            "sms_queued",
            "created_at",
        ]
        read_only_fields = fields


class AssigneeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class LastMessageSerializer(serializers.Serializer):
    body = serializers.CharField(source="last_message_body")
    direction = serializers.CharField(source="last_message_direction")
    status = serializers.CharField(source="last_message_status")


class ConversationSummarySerializer(serializers.ModelSerializer):
    """The seed's keys (phone_number, name, message_count, last_message, last_activity,
    has_unread) and ours beside them."""

    name = serializers.CharField(source="contact_name")
    last_message = serializers.SerializerMethodField()
    last_activity = serializers.DateTimeField(source="last_activity_at")
    has_unread = serializers.BooleanField()
    assignee = AssigneeSerializer(allow_null=True)
    opted_out = serializers.BooleanField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "phone_number",
            "name",
            "message_count",
            "unread_count",
            "last_message",
            "last_activity",
            "has_unread",
            "needs_attention",
            "assignee",
            "opted_out",
            "is_lead",
        ]
        read_only_fields = fields

    @extend_schema(responses=LastMessageSerializer(allow_null=True))
    def get_last_message(self, conversation) -> dict | None:
        if not conversation.message_count:
            return None
        return LastMessageSerializer(conversation).data


class ActiveFlowSerializer(serializers.Serializer):
    flow = serializers.CharField(source="flow.slug")
    name = serializers.CharField(source="flow.name")
    step = serializers.CharField(source="step.key", default=None)
    answers = serializers.JSONField()
    started_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class ConversationDetailSerializer(ConversationSummarySerializer):
    flow_answers = serializers.JSONField()
    active_flow = serializers.SerializerMethodField()
    # The view sets `messages_list` (ordered, one query) before serialising.
    messages = ThreadMessageSerializer(many=True, source="messages_list")
    # Calls from this number (issue 9), oldest first like the messages.
    events = CallEventSerializer(many=True, source="events_list")

    class Meta(ConversationSummarySerializer.Meta):
        fields = [
            *ConversationSummarySerializer.Meta.fields,
            "flow_answers",
            "active_flow",
            "messages",
            "events",
        ]
        read_only_fields = fields

    @extend_schema(responses=ActiveFlowSerializer(allow_null=True))
    def get_active_flow(self, conversation) -> dict | None:
        session = flows.active_session(conversation)
        return ActiveFlowSerializer(session).data if session else None


class ConversationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=triage.MAX_NAME, allow_blank=True, required=False)
    assignee = serializers.JSONField(
        required=False, allow_null=True, help_text="A user id or username; null to unassign."
    )
    needs_attention = serializers.BooleanField(required=False)

    def validate_assignee(self, value):
        if isinstance(value, bool) or not isinstance(value, int | str | None):
            raise serializers.ValidationError("Give a user id, a username or null.")
        try:
            return triage.find_assignee(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["assignee"]) from exc

    def validate_needs_attention(self, value):
        if value:
            raise serializers.ValidationError("Only false (dealt with) can be set here.")
        return value


class StartFlowSerializer(serializers.Serializer):
    flow = serializers.SlugRelatedField(slug_field="slug", queryset=Flow.objects.all())
    context = serializers.DictField(
        child=serializers.CharField(max_length=30), required=False, default=dict
    )

    def validate_context(self, value):
        if len(value) > MAX_CONTEXT_VALUES:
            raise serializers.ValidationError(f"At most {MAX_CONTEXT_VALUES} values.")
        if any(not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,39}", key) for key in value):
            raise serializers.ValidationError("Keys are names like otp or order_id.")
        return value


class FlowStartedSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    flow = serializers.CharField()
    step = serializers.CharField()
    expires_at = serializers.DateTimeField()
    message_id = serializers.IntegerField()
    body = serializers.CharField()


# --- Filters and pagination -------------------------------------------------------------------


BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]


def strict_boolean(**kwargs):
    """true or false, and a 400 for anything else (a BooleanFilter ignores bad values)."""
    return django_filters.TypedChoiceFilter(
        choices=BOOLEAN_CHOICES, coerce=lambda value: value == "true", **kwargs
    )


class ConversationFilter(django_filters.FilterSet):
    unread = strict_boolean(method="filter_unread")
    needs_attention = strict_boolean()
    opted_out = strict_boolean()
    is_lead = strict_boolean()
    assigned = django_filters.ChoiceFilter(
        method="filter_assigned",
        choices=[("true", "assigned"), ("false", "unassigned"), ("me", "assigned to me")],
    )
    assignee = django_filters.NumberFilter(field_name="assignee_id")
    search = django_filters.CharFilter(method="filter_search", max_length=inbox.MAX_SEARCH)

    class Meta:
        model = Conversation
        fields = []

    def filter_unread(self, queryset, name, value):
        return queryset.filter(unread_count__gt=0) if value else queryset.filter(unread_count=0)

    def filter_assigned(self, queryset, name, value):
        if value == "me":
            return queryset.filter(assignee=self.request.user)
        return queryset.filter(assignee__isnull=value == "false")

    def filter_search(self, queryset, name, value):
        """Phone digits, contact name, or any message body (the inbox's search)."""
        return inbox.matching_conversations(queryset, value)


class ConversationPagination(PageNumberPagination):
    """The seed's `{conversations, total}` with page links beside them."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_paginated_response(self, data):
        return Response(
            {
                "conversations": data,
                "total": self.page.paginator.count,
                "page": self.page.number,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["conversations", "total"],
            "properties": {
                "conversations": schema,
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
            },
        }


# --- The viewset ------------------------------------------------------------------------------


class ConversationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Conversations, newest activity first. `<phone>` takes +91..., 91..., 0... or 10 digits."""

    serializer_class = ConversationSummarySerializer
    pagination_class = ConversationPagination
    filterset_class = ConversationFilter
    ordering_fields = ["last_activity_at", "message_count", "unread_count", "created_at"]
    ordering = ["-last_activity_at", "-id"]
    lookup_field = "phone"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        opted_out = OptOut.objects.filter(
            phone_number=OuterRef("phone_number"), revoked_at__isnull=True
        )
        return Conversation.objects.select_related("assignee").annotate(opted_out=Exists(opted_out))

    def get_object(self):
        try:
            phone = normalise_phone(self.kwargs["phone"])
        except ValidationError as exc:
            raise ValidationError({"phone": exc.messages}) from exc
        conversation = self.get_queryset().filter(phone_number=phone).first()
        if conversation is None:
            raise NotFound("Conversation not found")
        return conversation

    @extend_schema(responses=ConversationDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        """The conversation with all its messages; its inbound messages are marked read."""
        conversation = self.get_object()
        triage.mark_conversation_read(conversation)
        return Response(self._detail(conversation))

    @extend_schema(request=ConversationUpdateSerializer, responses=ConversationDetailSerializer)
    def partial_update(self, request, *args, **kwargs):
        """Rename the contact (`name`), assign (`assignee`), or clear `needs_attention`."""
        conversation = self.get_object()
        serializer = ConversationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self._apply_changes(conversation, serializer.validated_data)
        return Response(self._detail(self.get_object()))

    @extend_schema(request=StartFlowSerializer, responses={201: FlowStartedSerializer})
    @action(detail=True, methods=["post"])
    def flows(self, request, *args, **kwargs):
        """Start a flow for this number: its first prompt is sent through the outbound pipeline."""
        conversation = self.get_object()
        serializer = StartFlowSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            session, message = flows.start_flow(conversation, data["flow"], context=data["context"])
        except ReplyImpossible as exc:
            body = error_body(exc.reason, exc.code, {"flow": [exc.reason]})
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        started = {
            "success": True,
            "flow": session.flow.slug,
            "step": session.step.key,
            "expires_at": session.expires_at,
            "message_id": message.pk,
            "body": message.body,
        }
        return Response(FlowStartedSerializer(started).data, status=status.HTTP_201_CREATED)

    def _apply_changes(self, conversation, changes):
        who = {"user": self.request.user, "remote_addr": self.request.META.get("REMOTE_ADDR")}
        if "name" in changes:
            triage.rename_contact(conversation, changes["name"], **who)
        if "assignee" in changes:
            triage.assign_conversation(conversation, changes["assignee"], **who)
        if changes.get("needs_attention") is False:
            triage.clear_attention(conversation, **who)

    def _detail(self, conversation):
        conversation.messages_list = conversation.messages.order_by("created_at", "id")
        conversation.events_list = conversation.call_events.order_by("created_at", "id")
        return ConversationDetailSerializer(conversation).data
