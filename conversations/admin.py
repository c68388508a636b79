"""Django admin for staff: made for daily use (search, filters, exports, opt-out actions)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.text import Truncator

from .admin_insight import PRIVACY_ACTIONS, AuditedChangesMixin
from .admin_mixins import AppendOnlyAdminMixin, ViewOnlyAdminMixin
from .models import (
    AuditLog,
    ConsentEvent,
    Conversation,
    DltTemplate,
    Flow,
    FlowChoice,
    FlowSession,
    FlowSessionStatus,
    FlowStep,
    InboundOutcome,
    KeywordRule,
    Message,
    MessageStatusEvent,
    OptOut,
    OptOutSource,
    WebhookEvent,
)
from .services import consent, dlt, flows, keywords, replies, template_health
from .services.audit import record_action
from .services.exports import stream_csv
from .services.sending import RESENDABLE, SendRefused, resend_message
from .services.webhook_events import replay_webhook_event

EXOTEL_OWNED_FIELDS = (
    "sid",
    "status",
    "detailed_status",
    "detailed_status_code",
    "sms_units",
    "price",
    "sent_at",
    "delivered_at",
    "error_code",
    "error_message",
)


def _short(text, length=60):
    return Truncator(text).chars(length)


@admin.action(description="Opt the selected numbers out", permissions=["change"])
def opt_out_numbers(modeladmin, request, queryset):
    phones = set(queryset.values_list("phone_number", flat=True))
    for phone in phones:
        consent.opt_out(phone, source=OptOutSource.STAFF, user=request.user)
    modeladmin.message_user(request, f"Opted out {len(phones)} number(s).", messages.SUCCESS)


@admin.action(description="Opt the selected numbers back in", permissions=["change"])
def opt_in_numbers(modeladmin, request, queryset):
    phones = set(queryset.values_list("phone_number", flat=True))
    reopened = sum(consent.opt_in(p, source=OptOutSource.STAFF, user=request.user) for p in phones)
    modeladmin.message_user(request, f"Opted {reopened} number(s) back in.", messages.SUCCESS)


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("created_at", "direction", "short_body", "status", "detailed_status", "sid")
    readonly_fields = fields
    ordering = ("-created_at", "-id")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="body")
    def short_body(self, obj):
        return _short(obj.body, 80)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "phone_number",
        "contact_name",
        "message_count",
        "unread_count",
        "last_message_preview",
        "last_activity_at",
        "needs_attention",
        "assignee",
    )
    list_select_related = ("assignee",)
    search_fields = ("phone_number", "contact_name", "last_message_body")
    list_filter = (
        "needs_attention",
        "is_lead",
        "assignee",
        "last_activity_at",
        "last_message_status",
    )
    readonly_fields = (
        "last_message_body",
        "last_message_direction",
        "last_message_status",
        "last_activity_at",
        "message_count",
        "unread_count",
        "flow_answers",
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("assignee",)
    inlines = (MessageInline,)
    actions = ("export_csv", opt_out_numbers, opt_in_numbers, *PRIVACY_ACTIONS)

    @admin.display(description="last message")
    def last_message_preview(self, obj):
        return _short(obj.last_message_body)

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request, queryset):
        header = ["phone_number", "contact_name", "message_count", "unread", "last_activity"]
        rows = queryset.values_list(
            "phone_number", "contact_name", "message_count", "unread_count", "last_activity_at"
        ).iterator()
        record_action("export", request=request, target="conversations.csv")
        return stream_csv("conversations.csv", header, rows)


class ActiveTemplateFilter(admin.SimpleListFilter):
    title = "template"
    parameter_name = "template"

    def lookups(self, request, model_admin):
        return [(t.pk, str(t)) for t in DltTemplate.objects.only("name", "template_id")]

    def queryset(self, request, queryset):
        return queryset.filter(template_id=self.value()) if self.value() else queryset


class StatusEventInline(admin.TabularInline):
    model = MessageStatusEvent
    extra = 0
    can_delete = False
    fields = (
        "occurred_at",
        "status",
        "detailed_status",
        "detailed_status_code",
        "sms_units",
        "price",
        "source",
        "note",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "conversation",
        "direction",
        "short_body",
        "status",
        "detailed_status",
        "segments",
        "template",
        "sid",
    )
    list_select_related = ("conversation", "template")
    search_fields = ("sid", "body", "conversation__phone_number", "conversation__contact_name")
    list_filter = ("status", "direction", "created_at", ActiveTemplateFilter, "sms_type")
    date_hierarchy = "created_at"
    raw_id_fields = ("conversation", "template", "created_by")
    readonly_fields = (
        *EXOTEL_OWNED_FIELDS,
        "encoding",
        "segments",
        "created_by",
        "created_at",
        "updated_at",
        "read_at",
        "source",
        "variables",
        "send_after",
        "attempts",
        "last_attempt_at",
        "resent_from",
    )
    inlines = (StatusEventInline,)
    actions = ("export_csv", "resend")

    @admin.action(description="Resend as a new message (failed ones)")
    def resend(self, request, queryset):
        resent, refused = 0, []
        for message in queryset.filter(status__in=RESENDABLE).select_related(
            "conversation", "template"
        ):
            try:
                resend_message(message, user=request.user)
                resent += 1
            except SendRefused as exc:
                refused.append(f"{message.conversation.phone_number}: {exc.reason}")
        self.message_user(request, f"Resent {resent} message(s).", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)

    @admin.display(description="body")
    def short_body(self, obj):
        return _short(obj.body)

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request, queryset):
        header = [
            "created_at",
            "phone_number",
            "direction",
            "body",
            "status",
            "detailed_status",
            "detailed_status_code",
            "sid",
        ]
        rows = queryset.values_list(
            "created_at",
            "conversation__phone_number",
            "direction",
            "body",
            "status",
            "detailed_status",
            "detailed_status_code",
            "sid",
        ).iterator()
        record_action("export", request=request, target="messages.csv")
        return stream_csv("messages.csv", header, rows)


class DltTemplateForm(forms.ModelForm):
    """Lints the template as operators would, so a bad registration is caught here."""

    class Meta:
        model = DltTemplate
        fields = ["name", "template_id", "entity_id", "sender_id", "body", "sms_type", "active"]

    def clean(self):
        cleaned = super().clean()
        problems = dlt.lint_template(
            cleaned.get("body"),
            sms_type=cleaned.get("sms_type"),
            sender_id=cleaned.get("sender_id"),
            entity_id=cleaned.get("entity_id"),
            template_id=cleaned.get("template_id"),
        )
        for field, messages_ in problems.items():
            for message in messages_:
                self.add_error(field, message)
        return cleaned


class TemplateTestForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 80}), max_length=2000)


@admin.register(DltTemplate)
class DltTemplateAdmin(AuditedChangesMixin, admin.ModelAdmin):
    form = DltTemplateForm
    list_display = (
        "name",
        "template_id",
        "sender_id",
        "sms_type",
        "active",
        "sends",
        "delivered_rate",
        "dlt_rejections",
        "updated_at",
    )
    search_fields = ("name", "template_id", "body", "sender_id")
    list_filter = ("sms_type", "active", "sender_id")
    readonly_fields = ("created_at", "updated_at")
    change_list_template = "admin/conversations/dlttemplate/change_list.html"

    def get_queryset(self, request):
        return template_health.with_health(super().get_queryset(request)).order_by("name", "id")

    @admin.display(description="sends", ordering="sends")
    def sends(self, obj):
        return obj.sends

    @admin.display(description="delivered")
    def delivered_rate(self, obj):
        rate = template_health.delivered_rate(obj)
        return "—" if rate is None else f"{rate:.0%}"

    @admin.display(description="DLT rejections", ordering="dlt_rejections")
    def dlt_rejections(self, obj):
        if not obj.dlt_rejections:
            return 0
        return format_html('<strong style="color:#ba2121">{}</strong>', obj.dlt_rejections)

    def get_urls(self):
        test_view = self.admin_site.admin_view(self.test_body_view)
        return [
            path("test/", test_view, name="conversations_dlttemplate_test"),
            *super().get_urls(),
        ]

    def test_body_view(self, request):
        """Paste a body: see which template it matches and the variables, or why it does not."""
        form = TemplateTestForm(request.POST or None)
        result = None
        if request.method == "POST" and form.is_valid():
            result = template_health.check_body(form.cleaned_data["body"])
        context = {
            **self.admin_site.each_context(request),
            "title": "Test a message body against the DLT templates",
            "form": form,
            "result": result,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/conversations/dlttemplate/test_body.html", context)


class ActiveOptOutFilter(admin.SimpleListFilter):
    title = "active"
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", "Opted out now"), ("no", "Opted back in")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    list_display = ("phone_number", "source", "keyword", "created_at", "created_by", "revoked_at")
    list_select_related = ("created_by",)
    search_fields = ("phone_number", "keyword")
    list_filter = (ActiveOptOutFilter, "source", "created_at")
    date_hierarchy = "created_at"
    fields = ("phone_number", "source", "keyword", "message", "created_at", "created_by")
    raw_id_fields = ("message",)
    actions = ("export_csv", opt_in_numbers)
    change_list_template = "admin/conversations/optout/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_csv_view), name="conversations_optout_import"),
            path("export/", view(self.export_all_view), name="conversations_optout_export"),
            *super().get_urls(),
        ]

    def import_csv_view(self, request):
        """Opt out every number of an uploaded CSV (each row a ledger event, source import)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = OptOutImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = consent.import_opt_outs(upload, user=request.user, filename=upload.name)
            except ValidationError as exc:
                form.add_error("file", exc)
            else:
                _report_import(self, request, report)
                return redirect("admin:conversations_optout_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "opts": self.model._meta}
        return TemplateResponse(request, "admin/conversations/optout/import.html", context)

    def export_all_view(self, request):
        """Every open opt-out (?history=1: every record ever) as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        queryset = OptOut.objects.all() if request.GET.get("history") == "1" else None
        rows = consent.opt_out_rows(queryset).iterator()
        record_action("export", request=request, target="opt-outs.csv")
        return stream_csv("opt-outs.csv", consent.EXPORT_HEADER, rows)

    def get_readonly_fields(self, request, obj=None):
        # History is append-only: an existing record is never edited, only revoked.
        if obj is not None:
            return (*self.fields, "revoked_at", "revoked_by", "revoked_source")
        return ("created_at", "created_by")

    def get_fields(self, request, obj=None):
        if obj is not None:
            return (*self.fields, "revoked_at", "revoked_by", "revoked_source")
        return self.fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = consent.opt_out(
            obj.phone_number,
            source=obj.source,
            keyword=obj.keyword,
            message=obj.message,
            user=request.user,
        )
        obj.pk = created.pk
        obj.created_at = created.created_at

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request, queryset):
        header = ["phone_number", "source", "keyword", "created_at", "revoked_at"]
        rows = queryset.values_list(
            "phone_number", "source", "keyword", "created_at", "revoked_at"
        ).iterator()
        record_action("export", request=request, target="opt-outs.csv")
        return stream_csv("opt-outs.csv", header, rows)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Raw webhooks as they arrived; replay one after a fix (handlers are idempotent)."""

    list_display = ("received_at", "kind", "sid", "processed_at", "attempts", "outcome")
    list_filter = ("kind", ("processed_at", admin.EmptyFieldListFilter), "received_at")
    search_fields = ("sid", "outcome")
    date_hierarchy = "received_at"
    readonly_fields = (
        "kind",
        "payload",
        "sid",
        "remote_addr",
        "received_at",
        "processed_at",
        "attempts",
        "outcome",
    )
    actions = ("replay",)

    @admin.action(description="Replay the selected events", permissions=["view"])
    def replay(self, request, queryset):
        outcomes = [replay_webhook_event(event) for event in queryset]
        AuditLog.objects.create(
            actor=request.user,
            action="webhook_replay",
            target=",".join(str(event.pk) for event in queryset)[:120],
            remote_addr=request.META.get("REMOTE_ADDR"),
        )
        self.message_user(request, f"Replayed {len(outcomes)} event(s).", messages.SUCCESS)


@admin.register(AuditLog)
class AuditLogAdmin(AppendOnlyAdminMixin, admin.ModelAdmin):
    """Append-only: nobody adds, changes or deletes entries here."""

    list_display = ("created_at", "actor", "action", "target", "remote_addr")
    list_filter = ("action", "actor", "created_at")
    search_fields = ("target", "action", "actor__username")
    date_hierarchy = "created_at"
    readonly_fields = ("created_at", "actor", "action", "target", "detail", "remote_addr")


# Inbound: keywords, flows, consent ------------------------------------------------------------


class OptOutImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV, UTF-8: one number per row in the first column, or a column named "
        "phone_number (also phone, number, mobile)."
    )


def _report_import(modeladmin, request, report):
    modeladmin.message_user(
        request,
        f"Opted out {report.added} number(s); {report.already} were already opted out.",
        messages.SUCCESS,
    )
    for error in report.errors[:20]:
        modeladmin.message_user(request, f"Skipped {error}", messages.WARNING)
    if len(report.errors) > 20:
        modeladmin.message_user(
            request, f"... and {len(report.errors) - 20} more rows skipped.", messages.WARNING
        )


class KeywordRuleForm(forms.ModelForm):
    class Meta:
        model = KeywordRule
        fields = (
            "name",
            "keywords",
            "match",
            "action",
            "reply",
            "flow",
            "store_as",
            "reply_cooldown_minutes",
            "answers_within_hours",
            "priority",
            "active",
        )

    def clean(self):
        cleaned = super().clean()
        candidate = KeywordRule(pk=self.instance.pk, **cleaned)
        try:
            keywords.validate_keyword_rule(candidate)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(KeywordRule)
class KeywordRuleAdmin(admin.ModelAdmin):
    form = KeywordRuleForm
    list_display = (
        "name",
        "keyword_list",
        "match",
        "action",
        "reply_preview",
        "dlt_ready",
        "priority",
        "active",
    )
    list_editable = ("priority", "active")
    list_filter = ("active", "action", "match")
    search_fields = ("name", "keywords", "reply")
    list_select_related = ("flow",)

    @admin.display(description="keywords")
    def keyword_list(self, obj):
        return _short(", ".join(keywords.split_keywords(obj.keywords)), 60)

    @admin.display(description="reply")
    def reply_preview(self, obj):
        return _short(obj.reply, 50)

    @admin.display(description="DLT template", boolean=True)
    def dlt_ready(self, obj):
        """Whether the reply fills an active DLT template (else it is never sent)."""
        return replies.reply_fits_dlt(obj.reply) if obj.reply else None


class FlowStepInline(admin.StackedInline):
    model = FlowStep
    extra = 0
    show_change_link = True
    fields = (("key", "position"), "prompt", "retry_prompt", ("max_attempts", "store_as"))


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "step_count", "expires_after_minutes", "active", "updated_at")
    list_filter = ("active",)
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    inlines = (FlowStepInline,)

    @admin.display(description="steps")
    def step_count(self, obj):
        return obj.steps.count()


class FlowChoiceForm(forms.ModelForm):
    class Meta:
        model = FlowChoice
        fields = ("position", "answers", "pattern", "value", "reply", "next_step", "action")
        widgets = {"reply": forms.Textarea(attrs={"rows": 2, "cols": 40})}

    def clean_pattern(self):
        pattern = self.cleaned_data.get("pattern", "")
        problem = flows.validate_pattern(pattern)
        if problem:
            raise ValidationError(problem)
        return pattern


class FlowChoiceInline(admin.TabularInline):
    model = FlowChoice
    form = FlowChoiceForm
    fk_name = "step"
    extra = 1

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # The next step is one of the same flow's steps.
        if db_field.name == "next_step":
            step_id = request.resolver_match.kwargs.get("object_id")
            step = FlowStep.objects.filter(pk=step_id).first() if step_id else None
            kwargs["queryset"] = FlowStep.objects.filter(flow=step.flow if step else None)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(FlowStep)
class FlowStepAdmin(admin.ModelAdmin):
    list_display = ("__str__", "key", "position", "store_as")
    list_filter = ("flow",)
    list_select_related = ("flow",)
    search_fields = ("key", "prompt", "flow__name")
    inlines = (FlowChoiceInline,)


@admin.register(FlowSession)
class FlowSessionAdmin(admin.ModelAdmin):
    list_display = (
        "conversation",
        "flow",
        "step",
        "status",
        "attempts",
        "started_at",
        "expires_at",
    )
    list_filter = ("status", "flow", "started_at")
    list_select_related = ("conversation", "flow", "step")
    search_fields = ("conversation__phone_number", "conversation__contact_name")
    readonly_fields = (
        "conversation",
        "flow",
        "step",
        "status",
        "context",
        "answers",
        "attempts",
        "started_at",
        "updated_at",
        "expires_at",
        "ended_at",
    )
    actions = ("cancel_sessions",)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Cancel the selected sessions (an agent takes over)")
    def cancel_sessions(self, request, queryset):
        active = queryset.filter(status=FlowSessionStatus.ACTIVE)
        cancelled = 0
        for session in active.select_related("flow", "step"):
            flows.end_session(session, FlowSessionStatus.CANCELLED)
            cancelled += 1
        self.message_user(request, f"Cancelled {cancelled} session(s).", messages.SUCCESS)


@admin.register(ConsentEvent)
class ConsentEventAdmin(AppendOnlyAdminMixin, admin.ModelAdmin):
    """The consent ledger: read-only, append-only."""

    list_display = (
        "created_at",
        "phone_number",
        "kind",
        "source",
        "changed",
        "keyword",
        "created_by",
    )
    list_filter = ("kind", "source", "changed", "created_at")
    list_select_related = ("created_by",)
    search_fields = ("phone_number", "keyword", "note")
    date_hierarchy = "created_at"
    actions = ("export_csv",)

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request, queryset):
        header = ["created_at", "phone_number", "kind", "source", "changed", "keyword", "note"]
        rows = queryset.values_list(
            "created_at", "phone_number", "kind", "source", "changed", "keyword", "note"
        ).iterator()
        record_action("export", request=request, target="consent-ledger.csv")
        return stream_csv("consent-ledger.csv", header, rows)


@admin.register(InboundOutcome)
class InboundOutcomeAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """What was done with each inbound message: which rule or flow, what was said, or why not."""

    list_display = ("created_at", "message", "action", "rule", "reply_channel", "reply_error")
    list_filter = ("action", "reply_channel", "created_at")
    list_select_related = ("message__conversation", "rule")
    search_fields = ("message__sid", "message__conversation__phone_number", "reply_body")
    date_hierarchy = "created_at"


# The admin classes of SMS from calls (issue 9) live in admin_calls.py, and those of campaigns
# (issue 7) in campaign_admin.py; importing them registers them.
from .admin_calls import CallEventAdmin, CallRuleAdmin  # noqa: E402, F401
from .campaign_admin import CampaignAdmin, CampaignRecipientAdmin  # noqa: E402, F401
