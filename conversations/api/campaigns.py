"""Campaign endpoints: POST /api/sms/bulk (the seed's bulk send, now a campaign) and
/api/campaigns (progress, preflight, start/pause/resume/cancel, results export)."""

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import AudienceSource, Campaign, RateUnit, SmsType
from ..services import campaign_audience, campaign_reports, campaigns
from ..services.exports import stream_csv
from ..services.sending import SendRefused
from .errors import error_body


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "example": "+919876543210"},
            {
                "type": "object",
                "required": ["to"],
                "properties": {
                    "to": {"type": "string"},
                    "name": {"type": "string"},
                    "variables": {"type": "array", "items": {"type": "string"}},
                },
            },
        ]
    }
)
class RecipientField(serializers.Field):
    """A number ("9876543210") or {"to": ..., "name": ..., "variables": [...]}."""

    default_error_messages = {
        # Doubled braces: DRF formats this text with str.format.
        "invalid": 'Each recipient is a phone number or {{"to": ..., "variables": [...]}}.',
    }

    def to_internal_value(self, data):
        if isinstance(data, str | int) and not isinstance(data, bool):
            return {"to": str(data)}
        if not isinstance(data, dict) or not isinstance(data.get("to"), str | int):
            self.fail("invalid")
        variables = data.get("variables")
        if variables is not None and (
            not isinstance(variables, list) or not all(isinstance(v, str | int) for v in variables)
        ):
            raise serializers.ValidationError("variables must be a list of texts.")
        return {
            "to": str(data["to"]),
            "name": str(data.get("name") or "")[:120],
            "variables": None if variables is None else [str(v) for v in variables],
        }

    def to_representation(self, value):
        return value


class BulkSendSerializer(serializers.Serializer):
    recipients = serializers.ListField(child=RecipientField(), allow_empty=False)
    body = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    dlt_template_id = serializers.CharField(required=False, allow_blank=True, max_length=32)
    variables = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text='One per {#var#} slot; "{name}" and "{phone}" are filled per recipient.',
    )
    sms_type = serializers.ChoiceField(choices=SmsType.choices, required=False)
    name = serializers.CharField(required=False, max_length=120)
    rate = serializers.FloatField(required=False, min_value=0.01, max_value=10_000)
    rate_unit = serializers.ChoiceField(
        choices=RateUnit.choices,
        required=False,
        help_text="What `rate` counts: messages (default) or SMS segments.",
    )
    send_at = serializers.DateTimeField(required=False)

    def validate_recipients(self, value):
        limit = settings.CAMPAIGN_API_MAX_RECIPIENTS
        if len(value) > limit:
            raise serializers.ValidationError(
                f"At most {limit} recipients per request; upload larger lists in admin."
            )
        return value

    def validate(self, attrs):
        if not attrs.get("body") and not attrs.get("dlt_template_id"):
            raise serializers.ValidationError({"body": "Give a body or a dlt_template_id."})
        return attrs


class BulkResultSerializer(serializers.Serializer):
    to = serializers.CharField()
    success = serializers.BooleanField()
    error = serializers.CharField(required=False)
    code = serializers.CharField(required=False)


class CampaignRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.CharField()


class BulkAcceptedSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    total = serializers.IntegerField()
    sent = serializers.IntegerField(help_text="Accepted for sending.")
    failed = serializers.IntegerField(help_text="Refused, each with its reason in results.")
    results = BulkResultSerializer(many=True)
    campaign = CampaignRefSerializer()


class ProgressSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    pause_reason = serializers.CharField()
    resume_at = serializers.DateTimeField(allow_null=True)
    total = serializers.IntegerField()
    pending = serializers.IntegerField()
    sent = serializers.IntegerField(help_text="Accepted by Exotel.")
    delivered = serializers.IntegerField(help_text="Delivered to the handset (20005).")
    delivered_to_operator = serializers.IntegerField()
    sent_undelivered = serializers.IntegerField(help_text="Sent, not (yet) delivered.")
    awaiting_delivery = serializers.IntegerField()
    failed = serializers.IntegerField()
    failed_dnd = serializers.IntegerField()
    unknown = serializers.IntegerField(help_text="Outcome unknown (a worker died mid-request).")
    needs_review = serializers.IntegerField(
        help_text="Recipients whose outcome stayed unknown past CAMPAIGN_UNKNOWN_REVIEW_HOURS: "
        "an operator decides (they are never resent automatically)."
    )
    skipped = serializers.IntegerField()
    skip_reasons = serializers.DictField(child=serializers.IntegerField())
    cancelled = serializers.IntegerField()
    failure_reasons = serializers.ListField(child=serializers.DictField())
    replies = serializers.IntegerField()
    reply_rate = serializers.FloatField()
    answers = serializers.DictField(child=serializers.IntegerField())
    cost = serializers.DecimalField(max_digits=12, decimal_places=4, coerce_to_string=True)
    sms_units = serializers.IntegerField()
    percent_done = serializers.FloatField()
    messages_per_second = serializers.FloatField()
    eta = serializers.DateTimeField(allow_null=True)
    rate = serializers.FloatField(allow_null=True)
    rate_unit = serializers.CharField(help_text="What the rate counts: messages or segments.")
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()


def _refused(refused: SendRefused):
    body = error_body(f"{refused.field}: {refused.reason}", refused.code, refused.message_dict)
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


def _campaign_ref(campaign):
    url = reverse("campaign-detail", kwargs={"pk": campaign.pk})
    return {"id": campaign.pk, "status": campaign.status, "url": url}


def send_bulk(data, user):
    """Create the campaign, add the recipients, start it: all or nothing."""
    results = [None] * len(data["recipients"])

    def on_result(index, code, detail, recipient):
        entry = {"to": data["recipients"][index]["to"], "success": not code}
        if code:
            entry.update(error=detail, code=code)
        results[index] = entry

    with transaction.atomic():
        campaign = campaigns.create_campaign(
            data.get("name") or f"API bulk send ({len(results)} recipients)",
            template=data.get("dlt_template_id") or None,
            body=data.get("body") or "",
            variables=data.get("variables"),
            rate=data.get("rate"),
            rate_unit=data.get("rate_unit") or RateUnit.MESSAGES,
            scheduled_at=data.get("send_at"),
            audience_source=AudienceSource.API,
            user=user,
        )
        if data.get("sms_type") and campaign.sms_type != data["sms_type"]:
            raise SendRefused(
                f"The template is {campaign.sms_type}, not {data['sms_type']}.",
                code="sms_type_mismatch",
                field="sms_type",
            )
        importer = campaign_audience.AudienceImporter(campaign, on_result=on_result)
        for index, entry in enumerate(data["recipients"]):
            importer.add(
                entry["to"],
                name=entry.get("name", ""),
                variables=entry.get("variables"),
                literal=entry.get("variables") is not None,
                key=index,
            )
        importer.finish()
        campaigns.start_campaign(campaign, user=user)
    return campaign, results


class BulkSendView(APIView):
    """Send to many numbers at once: a campaign, paced and resumable. 202 once stored; each
    recipient is accepted or refused with its reason; follow progress at `campaign.url`."""

    @extend_schema(request=BulkSendSerializer, responses={202: BulkAcceptedSerializer})
    def post(self, request):
        serializer = BulkSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            campaign, results = send_bulk(serializer.validated_data, request.user)
        except SendRefused as refused:
            return _refused(refused)
        sent = sum(1 for r in results if r["success"])
        body = {
            "success": True,
            "total": len(results),
            "sent": sent,
            "failed": len(results) - sent,
            "results": results,
            "campaign": _campaign_ref(campaign),
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class CampaignListSerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "status",
            "pause_reason",
            "sms_type",
            "rate",
            "scheduled_at",
            "started_at",
            "finished_at",
            "created_at",
        ]


class CampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Campaigns: list, progress (GET /api/campaigns/<id>), preflight, actions, export."""

    queryset = Campaign.objects.select_related("template").order_by("-created_at", "-id")
    serializer_class = CampaignListSerializer
    filterset_fields = ["status"]
    search_fields = ["name"]

    @extend_schema(responses={200: ProgressSerializer})
    def retrieve(self, request, *args, **kwargs):
        campaign = self.get_object()
        return Response(ProgressSerializer(campaign_reports.progress(campaign)).data)

    def _check_may_change(self, request, campaign):
        if not (request.user.is_staff or campaign.created_by_id == request.user.pk):
            raise PermissionDenied("Only staff or the campaign's creator may change it.")

    def _act(self, request, change):
        campaign = self.get_object()
        self._check_may_change(request, campaign)
        try:
            change(campaign, user=request.user, request=request)
        except SendRefused as refused:
            return _refused(refused)
        campaign.refresh_from_db()
        return Response(ProgressSerializer(campaign_reports.progress(campaign)).data)

    @extend_schema(request=None, responses={200: ProgressSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._act(request, campaigns.start_campaign)

    @extend_schema(request=None, responses={200: ProgressSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._act(request, campaigns.pause_campaign)

    @extend_schema(request=None, responses={200: ProgressSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._act(request, campaigns.resume_campaign)

    @extend_schema(request=None, responses={200: ProgressSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._act(request, campaigns.cancel_campaign)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def preflight(self, request, pk=None):
        report = campaign_reports.preflight(self.get_object())
        data = {
            **{k: v for k, v in report.__dict__.items() if k not in ("samples", "excluded")},
            "samples": [{"to": to, "body": body} for to, body in report.samples],
            "excluded": report.excluded,
            "estimated_cost": str(report.estimated_cost),
            "price_per_segment": str(report.price_per_segment),
            "starts_at": report.starts_at.isoformat(),
            "finishes_at": report.finishes_at.isoformat(),
        }
        return Response(data)

    @extend_schema(responses={(200, "text/csv"): bytes})
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        campaign = self.get_object()
        rows = campaign_reports.export_rows(campaign)
        return stream_csv(f"campaign-{campaign.pk}.csv", campaign_reports.EXPORT_HEADER, rows)
