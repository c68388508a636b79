"""Django admin for staff: made for daily use (search, filters, exports, opt-out actions)."""

from django.contrib import admin, messages
from django.utils.text import Truncator

from .models import Conversation, DltTemplate, Message, OptOut, OptOutSource
from .services import consent
from .services.exports import stream_csv

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


@admin.action(description="Opt the selected numbers out")
def opt_out_numbers(modeladmin, request, queryset):
    phones = set(queryset.values_list("phone_number", flat=True))
    for phone in phones:
        consent.opt_out(phone, source=OptOutSource.STAFF, user=request.user)
    modeladmin.message_user(request, f"Opted out {len(phones)} number(s).", messages.SUCCESS)


@admin.action(description="Opt the selected numbers back in")
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
        "assignee",
    )
    list_select_related = ("assignee",)
    search_fields = ("phone_number", "contact_name", "last_message_body")
    list_filter = ("assignee", "last_activity_at", "last_message_status")
    readonly_fields = (
        "last_message_body",
        "last_message_direction",
        "last_message_status",
        "last_activity_at",
        "message_count",
        "unread_count",
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("assignee",)
    inlines = (MessageInline,)
    actions = ("export_csv", opt_out_numbers, opt_in_numbers)

    @admin.display(description="last message")
    def last_message_preview(self, obj):
        return _short(obj.last_message_body)

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request, queryset):
        header = ["phone_number", "contact_name", "message_count", "unread", "last_activity"]
        rows = queryset.values_list(
            "phone_number", "contact_name", "message_count", "unread_count", "last_activity_at"
        ).iterator()
        return stream_csv("conversations.csv", header, rows)


class ActiveTemplateFilter(admin.SimpleListFilter):
    title = "template"
    parameter_name = "template"

    def lookups(self, request, model_admin):
        return [(t.pk, str(t)) for t in DltTemplate.objects.only("name", "template_id")]

    def queryset(self, request, queryset):
        return queryset.filter(template_id=self.value()) if self.value() else queryset


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
    )
    actions = ("export_csv",)

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
        return stream_csv("messages.csv", header, rows)


@admin.register(DltTemplate)
class DltTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "template_id", "sender_id", "sms_type", "active", "updated_at")
    search_fields = ("name", "template_id", "body", "sender_id")
    list_filter = ("sms_type", "active", "sender_id")
    readonly_fields = ("created_at", "updated_at")


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
        return stream_csv("opt-outs.csv", header, rows)
