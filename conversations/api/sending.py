"""Sending endpoints: POST /api/sms/send, POST /api/conversations/<phone>/reply, messages."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Message, MessageSource
from ..phone import normalise_phone
from ..services.sending import SendRefused, send_message, send_reply
from .errors import error_body
from .serializers import (
    MessageSerializer,
    ReplySerializer,
    SendAcceptedSerializer,
    SendSerializer,
)


def _send(data, user, to, send=send_message):
    try:
        message = send(
            to,
            data.get("body"),
            template=data.get("dlt_template_id"),
            variables=data.get("variables"),
            sms_type=data.get("sms_type"),
            user=user,
            source=MessageSource.API,
        )
    except SendRefused as refused:
        body = error_body(f"{refused.field}: {refused.reason}", refused.code, refused.message_dict)
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    accepted = {
        "success": True,
        "id": message.pk,
        "sid": message.sid,
        "status": message.status,
        "to": message.conversation.phone_number,
        "segments": message.segments,
        "encoding": message.encoding,
        "send_after": message.send_after,
    }
    return Response(SendAcceptedSerializer(accepted).data, status=status.HTTP_202_ACCEPTED)


class SmsViewSet(viewsets.GenericViewSet):
    """Send SMS. A send is accepted (202) once stored; Exotel's answer arrives asynchronously."""

    serializer_class = SendSerializer

    @extend_schema(request=SendSerializer, responses={202: SendAcceptedSerializer})
    @action(detail=False, methods=["post"])
    def send(self, request):
        serializer = SendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _send(serializer.validated_data, request.user, serializer.validated_data["to"])


class ConversationReplyView(APIView):
    """Reply within a conversation: the same checks as a send (consent, DLT)."""

    @extend_schema(request=ReplySerializer, responses={202: SendAcceptedSerializer})
    def post(self, request, phone):
        serializer = ReplySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            phone = normalise_phone(phone)
        except ValidationError as exc:
            return Response(error_body(exc.messages[0], "invalid_phone"), status=404)
        return _send(serializer.validated_data, request.user, phone, send=send_reply)


class MessageViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Messages with their status history (every transition, with time and cost)."""

    serializer_class = MessageSerializer
    queryset = (
        Message.objects.select_related("conversation", "template")
        .prefetch_related("status_events")
        .order_by("-created_at", "-id")
    )
    filterset_fields = ["status", "direction", "conversation__phone_number"]
