"""REST API viewsets: thin, they validate and call services."""

from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from ..models import DltTemplate, OptOut, OptOutSource
from ..phone import normalise_phone
from ..services import consent
from ..services.audit import record_action
from ..services.template_health import with_health
from .errors import error_body, not_found
from .permissions import IsStaffOrReadOnly
from .serializers import DltTemplateSerializer, OptOutSerializer


class DltTemplateViewSet(viewsets.ModelViewSet):
    """DLT templates; anyone signed in reads them, staff change them."""

    queryset = with_health(DltTemplate.objects.all()).order_by("name", "id")
    serializer_class = DltTemplateSerializer
    permission_classes = [IsStaffOrReadOnly]
    filterset_fields = ["sms_type", "active", "sender_id"]
    search_fields = ["name", "body", "template_id"]
    ordering_fields = ["name", "created_at", "updated_at"]

    # Template changes are audited as in admin (issue 8).
    def perform_create(self, serializer):
        super().perform_create(serializer)
        record_action("dlttemplate_created", request=self.request, target=str(serializer.instance))

    def perform_update(self, serializer):
        super().perform_update(serializer)
        fields = sorted(serializer.validated_data)
        record_action(
            "dlttemplate_changed",
            request=self.request,
            target=str(serializer.instance),
            fields=fields,
        )

    def perform_destroy(self, instance):
        target, pk = str(instance), instance.pk
        super().perform_destroy(instance)
        record_action("dlttemplate_deleted", request=self.request, target=target, pk=pk)

    def destroy(self, request, *args, **kwargs):
        try:
            return super().destroy(request, *args, **kwargs)
        except ProtectedError:
            message = "This template has messages; set active to false instead of deleting it."
            return Response(error_body(message, "protected"), status=status.HTTP_409_CONFLICT)


class OptOutViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Opted-out numbers. POST opts a number out; DELETE /<phone> opts it back in."""

    serializer_class = OptOutSerializer
    lookup_field = "phone_number"
    lookup_value_regex = "[^/]+"
    filterset_fields = ["source"]
    search_fields = ["phone_number", "keyword"]

    def get_queryset(self):
        queryset = OptOut.objects.all()
        if self.action == "list" and self.request.query_params.get("history") != "true":
            queryset = queryset.filter(revoked_at__isnull=True)
        return queryset

    def get_object(self):
        try:
            phone = normalise_phone(self.kwargs["phone_number"])
        except ValidationError:
            return None
        return consent.active_opt_out(phone)

    def retrieve(self, request, *args, **kwargs):
        opt_out = self.get_object()
        if opt_out is None:
            return not_found("This number is not opted out.")
        return Response(self.get_serializer(opt_out).data)

    def perform_create(self, serializer):
        serializer.instance = consent.opt_out(
            serializer.validated_data["phone_number"],
            source=OptOutSource.API,
            keyword=serializer.validated_data.get("keyword", ""),
            user=self.request.user,
        )

    @extend_schema(responses={204: None})
    def destroy(self, request, *args, **kwargs):
        opt_out = self.get_object()
        if opt_out is None:
            return not_found("This number is not opted out.")
        consent.opt_in(opt_out.phone_number, source=OptOutSource.API, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
