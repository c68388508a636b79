"""Admin for SMS from calls (issue 9): call rules (edited by staff, checked and audited like the
API's), and the call events and rule sends the Passthru webhook recorded (view only)."""

from django import forms
from django.contrib import admin
from django.db import models

from .admin_mixins import ViewOnlyAdminMixin
from .models import RULE_CALL_TYPE_CHOICES, CallEvent, CallRule, CallRuleSend, DltTemplate
from .services import call_rules
from .services.calls import PLACEHOLDERS

RULE_FORM_FIELDS = (
    "name",
    "call_types",
    "exophone",
    "digits",
    "template",
    "variables",
    "delay_seconds",
    "active",
)


class VariablesField(forms.CharField):
    """The template's variables, one per line (a JSON list in the database)."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 40})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        lines = (value or "").replace("\r\n", "\n").split("\n")
        return [line.strip() for line in lines if line.strip()]


class CallRuleForm(forms.ModelForm):
    call_types = forms.MultipleChoiceField(
        choices=RULE_CALL_TYPE_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    variables = VariablesField(
        required=False,
        help_text="One per line, one per {#var#} slot of the template, in order: "
        + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        + " (IST) or fixed text. Exotel's CallSid is 32 characters, more than a DLT variable "
        "holds (30): use {CallSidShort}.",
    )
    template = forms.ModelChoiceField(
        queryset=DltTemplate.objects.order_by("name"),
        required=False,
        help_text="An active DLT template; the SMS goes through the usual DLT, opt-out and "
        "promotional-hours checks.",
    )

    class Meta:
        model = CallRule
        fields = RULE_FORM_FIELDS

    def clean_exophone(self):
        try:
            return call_rules.normalised_exophone(self.cleaned_data.get("exophone", ""))
        except forms.ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["exophone"]) from exc

    def clean(self):
        cleaned = super().clean()
        for field, messages in call_rules.rule_problems(cleaned).items():
            if field in self.fields and field not in self.errors:
                self.add_error(field, messages)
        return cleaned


class CallRuleSendInline(admin.TabularInline):
    model = CallRuleSend
    fk_name = "call_event"
    fields = ("rule", "message", "refusal_code", "refusal", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CallRule)
class CallRuleAdmin(admin.ModelAdmin):
    form = CallRuleForm
    list_display = (
        "name",
        "call_type_list",
        "exophone",
        "digits",
        "template",
        "delay_seconds",
        "active",
    )
    list_filter = ("active",)
    search_fields = ("name", "exophone", "template__name", "template__template_id")
    list_select_related = ("template",)

    @admin.display(description="calls")
    def call_type_list(self, obj):
        return ", ".join(obj.call_types or [])

    def save_model(self, request, obj, form, change):
        """Saved by the service, so the admin's changes are checked and audited like the API's."""
        original = CallRule.objects.get(pk=obj.pk) if change else None
        values = {name: form.cleaned_data[name] for name in RULE_FORM_FIELDS}
        obj.pk = call_rules.save_rule(original, values, request=request).pk

    def delete_model(self, request, obj):
        call_rules.delete_rule(obj, request=request)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            call_rules.delete_rule(rule, request=request)


@admin.register(CallEvent)
class CallEventAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "call_sid",
        "call_type",
        "from_number",
        "exophone",
        "digits",
        "duration",
        "outcome",
    )
    list_filter = ("call_type", "outcome", "direction")
    search_fields = ("call_sid", "from_number", "exophone")
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation",)
    date_hierarchy = "created_at"
    inlines = (CallRuleSendInline,)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(CallRuleSend)
class CallRuleSendAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "rule", "call_sid", "message", "refusal_code")
    list_filter = ("refusal_code", "rule")
    search_fields = ("call_sid", "rule__name")
    list_select_related = ("rule", "message")
    raw_id_fields = ("rule", "call_event", "message")
