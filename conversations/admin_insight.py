"""Admin for insight (issue 8): alert rules (editable thresholds), alerts with their evidence,
retention runs and heartbeats (read only), the audit mixin for template changes, and the
privacy actions on conversations (export everything about a number, erase it)."""

import json

from django.contrib import admin, messages
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html

from .admin_mixins import ViewOnlyAdminMixin
from .models import Alert, AlertRule, Heartbeat, RetentionRun
from .services import privacy
from .services.audit import record_action
from .services.exports import stream_csv


class AuditedChangesMixin:
    """Writes one audit entry per save or delete made in admin (`<model>_created` / `_changed` /
    `_deleted`), naming the changed fields."""

    def _audit(self, request, verb, obj, **detail):
        record_action(
            f"{obj._meta.model_name}_{verb}", request=request, target=str(obj)[:120], **detail
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._audit(
            request, "changed" if change else "created", obj, fields=list(form.changed_data)
        )

    def delete_model(self, request, obj):
        self._audit(request, "deleted", obj, pk=obj.pk)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:  # the few rows ticked in the changelist
            self._audit(request, "deleted", obj, pk=obj.pk)
        super().delete_queryset(request, queryset)


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "threshold", "window", "active", "email", "open_alerts")
    list_editable = ("threshold", "window", "active", "email")
    list_filter = ("kind", "active")

    @admin.display(description="open alerts")
    def open_alerts(self, obj):
        return obj.alerts.filter(resolved_at=None).count()


class OpenAlertFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", "Open"), ("resolved", "Resolved"))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at=None)
        if self.value() == "resolved":
            return queryset.exclude(resolved_at=None)
        return queryset


@admin.register(Alert)
class AlertAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("summary", "rule", "opened_at", "last_seen_at", "resolved_at", "emailed_at")
    list_filter = (OpenAlertFilter, "rule__kind", "opened_at")
    list_select_related = ("rule",)
    date_hierarchy = "opened_at"
    readonly_fields = (
        "rule",
        "subject",
        "summary",
        "evidence_pretty",
        "opened_at",
        "last_seen_at",
        "resolved_at",
        "emailed_at",
    )
    exclude = ("evidence",)

    @admin.display(description="evidence")
    def evidence_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.evidence, indent=2, default=str))


@admin.register(RetentionRun)
class RetentionRunAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("ran_at", "cutoff", "retention_days", "messages_masked", "conversations_masked")


@admin.register(Heartbeat)
class HeartbeatAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "at", "detail")


# Privacy actions, added to the conversation admin by admin.py ---------------------------------


@admin.action(description="Export everything held about the selected numbers (JSON)")
def export_number_data_json(modeladmin, request, queryset):
    data = [
        privacy.export_number(phone, request=request, fmt="json")
        for phone in queryset.values_list("phone_number", flat=True)
    ]
    response = HttpResponse(
        privacy.export_json(data[0] if len(data) == 1 else data),
        content_type="application/json",
    )
    response["Content-Disposition"] = 'attachment; filename="number-data.json"'
    return response


@admin.action(description="Export everything held about the selected numbers (CSV)")
def export_number_data_csv(modeladmin, request, queryset):
    def rows():
        for phone in queryset.values_list("phone_number", flat=True):
            yield from privacy.export_rows(privacy.export_number(phone, request=request, fmt="csv"))

    return stream_csv("number-data.csv", privacy.EXPORT_HEADER, rows())


@admin.action(
    description="Erase the selected numbers' data (the opt-out record stays)",
    permissions=["delete"],
)
def erase_number_data(modeladmin, request, queryset):
    if request.POST.get("confirm") != "yes":
        return TemplateResponse(
            request,
            "admin/conversations/conversation/erase_confirm.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": "Erase these numbers' data?",
                "conversations": queryset,
                "action": "erase_number_data",
                "opts": modeladmin.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )
    phones = list(queryset.values_list("phone_number", flat=True))
    for phone in phones:
        privacy.erase_number(phone, request=request)
    modeladmin.message_user(
        request, f"Erased the data of {len(phones)} number(s).", messages.SUCCESS
    )


PRIVACY_ACTIONS = (export_number_data_json, export_number_data_csv, erase_number_data)
