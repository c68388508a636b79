"""Admin for campaigns: plan (content, audience, schedule, rate), preflight, start, watch.

Imported by `conversations/admin.py`. Actions and views are thin: they call the services in
`services/campaigns.py` and report what happened.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .admin_mixins import ViewOnlyAdminMixin
from .models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientState,
)
from .services import campaign_audience, campaign_reports, campaigns
from .services.audit import record_action
from .services.exports import stream_csv
from .services.sending import SendRefused

MAX_REPORTED_PROBLEMS = 20


class CampaignForm(forms.ModelForm):
    """The campaign, plus where its recipients come from (added on save, merged by number)."""

    audience_csv = forms.FileField(
        required=False,
        label="Recipients (CSV)",
        help_text="UTF-8 CSV with a phone column (phone, mobile, number, ...), an optional "
        "name column, and a column per variable. Up to 1,000,000 rows.",
    )
    audience_list = forms.CharField(
        required=False,
        label="Recipients (pasted)",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="One per line: number, or number, variable 1, variable 2, ...",
    )
    audience_conversations = forms.BooleanField(
        required=False,
        label="All conversations matching the filter below",
    )
    filter_search = forms.CharField(
        required=False, label="Filter: name or number contains", max_length=80
    )
    filter_active_within_days = forms.IntegerField(
        required=False, min_value=1, label="Filter: active within the last N days"
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "template",
            "body",
            "variables",
            "rate",
            "scheduled_at",
            "recurrence",
            "reply_window_hours",
        ]

    def clean(self):
        cleaned = super().clean()
        if self.instance.status not in (CampaignStatus.DRAFT, None, ""):
            return cleaned
        probe = Campaign(
            template=cleaned.get("template"),
            body=cleaned.get("body") or "",
            variables=cleaned.get("variables") or [],
        )
        try:
            campaigns.configure_content(probe)
        except SendRefused as refused:
            field = refused.field if refused.field in self.fields else None
            self.add_error(field, refused.reason)
            return cleaned
        cleaned["template"], cleaned["body"] = probe.template, probe.body
        self.instance.sms_type = probe.sms_type
        return cleaned


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = (
        "name",
        "status_badge",
        "template",
        "sms_type",
        "progress_bar",
        "rate",
        "scheduled_at",
        "started_at",
        "created_by",
    )
    list_filter = ("status", "sms_type", "recurrence", "created_at")
    list_select_related = ("template", "created_by")
    search_fields = ("name", "template__name", "template__template_id")
    date_hierarchy = "created_at"
    raw_id_fields = ("template",)
    actions = (
        "start_selected",
        "pause_selected",
        "resume_selected",
        "cancel_selected",
        "duplicate_selected",
        "retarget_failed_selected",
    )
    change_form_template = "admin/conversations/campaign/change_form.html"

    fieldsets = (
        (None, {"fields": ("name", "template", "body", "variables")}),
        (
            "Audience",
            {
                "fields": (
                    "audience_csv",
                    "audience_list",
                    "audience_conversations",
                    "filter_search",
                    "filter_active_within_days",
                ),
                "description": "Every source is merged: one recipient per number. Invalid and "
                "opted-out numbers are kept, skipped, with their reason.",
            },
        ),
        ("Schedule and pace", {"fields": ("scheduled_at", "recurrence", "rate", "rate_unit")}),
        ("Replies", {"fields": ("reply_window_hours",)}),
    )
    status_fields = (
        "overview",
        "status",
        "pause_reason",
        "resume_at",
        "next_run_at",
        "last_error",
        "sms_type",
        "audience_source",
        "series",
        "source_campaign",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith("changelist"):
            queryset = queryset.annotate(
                recipient_total=Count("recipients"),
                recipient_open=Count(
                    "recipients",
                    filter=Q(
                        recipients__state__in=(RecipientState.PENDING, RecipientState.SENDING)
                    ),
                ),
            )
        return queryset

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.fieldsets
        status = ("Status", {"fields": self.status_fields})
        if obj.status == CampaignStatus.DRAFT:
            return (status, *self.fieldsets)
        return (
            status,
            (None, {"fields": ("name", "template", "body", "variables")}),
            ("Schedule and pace", {"fields": ("scheduled_at", "recurrence", "rate", "rate_unit")}),
            ("Replies", {"fields": ("reply_window_hours",)}),
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if obj.status == CampaignStatus.DRAFT:
            return self.status_fields
        # Once started only the pace, the schedule and the reply window may change.
        return (*self.status_fields, "template", "body", "variables")

    def has_delete_permission(self, request, obj=None):
        # A campaign with messages is history; drafts may go.
        return super().has_delete_permission(request, obj) and (
            obj is None or obj.status == CampaignStatus.DRAFT
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        obj.reply_window_hours = obj.reply_window_hours or 48
        if change:
            # Only what the form changed: the status and the dispatcher's fields move on
            # their own meanwhile, and must not be written back as they were when loaded.
            columns = {f.name for f in Campaign._meta.concrete_fields}
            changed = [name for name in form.changed_data if name in columns]
            if changed:
                obj.save(update_fields=[*changed, "updated_at"])
            if obj.status == CampaignStatus.SCHEDULED and {"scheduled_at", "recurrence"} & set(
                changed
            ):
                campaigns.reschedule_campaign(obj, user=request.user, request=request)
        else:
            super().save_model(request, obj, form, change)
        if obj.status == CampaignStatus.DRAFT:
            self._import_audience(request, obj, form.cleaned_data)

    def _import_audience(self, request, campaign, data):
        reports = []
        try:
            if data.get("audience_csv"):
                reports.append(campaign_audience.import_csv(campaign, data["audience_csv"]))
            if data.get("audience_list"):
                reports.append(campaign_audience.import_pasted(campaign, data["audience_list"]))
            if data.get("audience_conversations"):
                audience_filter = {
                    "search": data.get("filter_search") or "",
                    "active_within_days": data.get("filter_active_within_days"),
                }
                reports.append(campaign_audience.import_conversations(campaign, audience_filter))
        except campaign_audience.AudienceError as exc:
            self.message_user(
                request, f"Recipients not imported: {exc.messages[0]}", messages.ERROR
            )
        for report in reports:
            self.message_user(request, f"Recipients: {report.summary()}", messages.SUCCESS)
            for problem in report.problems[:MAX_REPORTED_PROBLEMS]:
                self.message_user(request, problem, messages.WARNING)
            if len(report.problems) > MAX_REPORTED_PROBLEMS:
                more = len(report.problems) - MAX_REPORTED_PROBLEMS
                self.message_user(
                    request, f"... and {more} more: see the preflight.", messages.WARNING
                )

    # --- Columns -----------------------------------------------------------------------

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        colours = {
            CampaignStatus.RUNNING: "#2e9e44",
            CampaignStatus.PAUSED: "#c77c02",
            CampaignStatus.CANCELLED: "#999",
            CampaignStatus.COMPLETED: "#417690",
        }
        label = obj.get_status_display()
        if obj.pause_reason:
            label = f"{label} ({obj.get_pause_reason_display()})"
        return format_html(
            '<strong style="color:{}">{}</strong>', colours.get(obj.status, "#333"), label
        )

    @admin.display(description="progress")
    def progress_bar(self, obj):
        total = getattr(obj, "recipient_total", None)
        if not total:
            return "—"
        done = total - obj.recipient_open
        percent = round(100 * done / total)
        return format_html(
            '<progress value="{}" max="{}" title="{} of {}"></progress> {}%',
            done,
            total,
            done,
            total,
            percent,
        )

    @admin.display(description="overview")
    def overview(self, obj):
        report = campaign_reports.progress(obj)
        return format_html(
            '<progress value="{}" max="100" style="width:20em"></progress> {}% done &middot; '
            "{} recipients: {} pending, {} sent, {} delivered, {} failed, {} skipped, "
            "{} unknown ({} need review), {} cancelled &middot; {} replies &middot; "
            '<a href="{}">live progress</a> &middot; <a href="{}">preflight</a>',
            report["percent_done"],
            report["percent_done"],
            report["total"],
            report["pending"],
            report["sent"],
            report["delivered"],
            report["failed"],
            report["skipped"],
            report["unknown"],
            report["needs_review"],
            report["cancelled"],
            report["replies"],
            reverse("campaign-progress", args=[obj.pk]),
            reverse("admin:conversations_campaign_preflight", args=[obj.pk]),
        )

    # --- Actions -----------------------------------------------------------------------

    def _each(self, request, queryset, change, done_text):
        done = 0
        for campaign in queryset:
            try:
                done += bool(change(campaign, user=request.user, request=request))
            except SendRefused as refused:
                self.message_user(request, f"{campaign}: {refused.reason}", messages.ERROR)
        self.message_user(request, f"{done_text}: {done} campaign(s).", messages.SUCCESS)

    @admin.action(description="Start the selected campaigns", permissions=["change"])
    def start_selected(self, request, queryset):
        self._each(request, queryset, campaigns.start_campaign, "Started")

    @admin.action(description="Pause", permissions=["change"])
    def pause_selected(self, request, queryset):
        self._each(request, queryset, campaigns.pause_campaign, "Paused")

    @admin.action(description="Resume", permissions=["change"])
    def resume_selected(self, request, queryset):
        self._each(request, queryset, campaigns.resume_campaign, "Resumed")

    @admin.action(description="Cancel", permissions=["change"])
    def cancel_selected(self, request, queryset):
        self._each(request, queryset, campaigns.cancel_campaign, "Cancelled")

    @admin.action(description="Duplicate as a new draft", permissions=["add"])
    def duplicate_selected(self, request, queryset):
        self._each(request, queryset, campaigns.duplicate_campaign, "Duplicated")

    @admin.action(description="Re-target failed recipients as a new draft", permissions=["add"])
    def retarget_failed_selected(self, request, queryset):
        self._each(request, queryset, campaigns.retarget_failed, "Re-targeted")

    # --- Views -------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/preflight/",
                view(self.preflight_view),
                name="conversations_campaign_preflight",
            ),
            path("<int:pk>/export/", view(self.export_view), name="conversations_campaign_export"),
            *super().get_urls(),
        ]

    def preflight_view(self, request, pk):
        """What starting would do; POST starts it."""
        campaign = get_object_or_404(Campaign.objects.select_related("template"), pk=pk)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        if request.method == "POST":
            if not self.has_change_permission(request, campaign):
                raise PermissionDenied
            try:
                campaigns.start_campaign(campaign, user=request.user, request=request)
            except SendRefused as refused:
                self.message_user(request, refused.reason, messages.ERROR)
            else:
                self.message_user(request, f"{campaign}: {campaign.get_status_display()}.")
                return redirect("campaign-progress", pk=campaign.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preflight: {campaign}",
            "campaign": campaign,
            "report": campaign_reports.preflight(campaign),
            "opts": self.model._meta,
            "can_start": campaign.status in campaigns.STARTABLE
            and self.has_change_permission(request, campaign),
        }
        return TemplateResponse(request, "admin/conversations/campaign/preflight.html", context)

    def export_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        rows = campaign_reports.export_rows(campaign)
        record_action("export", request=request, target=f"campaign-{campaign.pk}.csv")
        return stream_csv(f"campaign-{campaign.pk}.csv", campaign_reports.EXPORT_HEADER, rows)


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "phone_number",
        "name",
        "campaign",
        "state",
        "reason",
        "detail",
        "message_status",
        "answer",
        "replied_at",
    )
    list_filter = ("state", "reason", "answer")
    list_select_related = ("campaign", "message")
    search_fields = ("phone_number", "name", "message__sid")
    raw_id_fields = ("campaign", "message", "reply_message", "batch")
    readonly_fields = (
        "campaign",
        "phone_number",
        "name",
        "variables",
        "row_number",
        "state",
        "reason",
        "detail",
        "segments",
        "batch",
        "message",
        "reply_message",
        "replied_at",
        "answer",
        "reply_count",
    )

    @admin.display(description="message status")
    def message_status(self, obj):
        return obj.message.get_status_display() if obj.message_id else "—"
