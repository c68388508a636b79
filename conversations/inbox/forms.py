"""Forms of the inbox. Validation of what is sent is the outbound pipeline's (SendRefused);
these only collect the fields and place its errors next to them."""

from django import forms

from ..models import DltTemplate

# SendRefused names API fields; the form shows each next to its own input.
FIELD_FOR_REFUSAL = {
    "to": "to",
    "body": "body",
    "dlt_template_id": "template",
    "variables": "variables",
}


class ReplyForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=DltTemplate.objects.filter(active=True).order_by("name"),
        to_field_name="template_id",
        required=False,
        empty_label="Free text (must match a DLT template)",
        label="DLT template",
    )
    body = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Message", max_length=2000
    )
    # The template's variables arrive as repeated `variables` inputs (built by compose.js);
    # this field only carries their errors.
    variables = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, variables=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.variable_values = [value.strip() for value in variables]

    def send_options(self) -> dict:
        template = self.cleaned_data.get("template")
        if template is not None:
            return {"template": template, "variables": self.variable_values}
        return {"body": self.cleaned_data.get("body") or ""}

    def add_refusal(self, refusal):
        field = FIELD_FOR_REFUSAL.get(refusal.field)
        self.add_error(field if field in self.fields else None, refusal.reason)


class NewMessageForm(ReplyForm):
    to = forms.CharField(
        label="Phone number",
        max_length=20,
        widget=forms.TextInput(
            attrs={"placeholder": "+919876543210", "inputmode": "tel", "autocomplete": "off"}
        ),
    )
    field_order = ["to", "template", "body", "variables"]
