"""A model field that stores phone numbers in E.164, whatever format they arrive in."""

from django import forms
from django.db import models

from .phone import normalise_phone


class PhoneNumberFormField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        return normalise_phone(value) if value else value


class PhoneNumberField(models.CharField):
    """CharField holding E.164; forms and admin normalise input, saves from code do too."""

    description = "Phone number in E.164"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 16)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_length") == 16:
            del kwargs["max_length"]
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if value:
            value = normalise_phone(value)
            setattr(model_instance, self.attname, value)
        return value

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": PhoneNumberFormField, **kwargs})
