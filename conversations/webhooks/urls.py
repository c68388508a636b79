from django.urls import re_path

from . import calls, incoming, status

# Exotel posts to these exact paths; both spellings (with and without "/") answer directly.
urlpatterns = [
    re_path(r"^sms-status/?$", status.sms_status, name="webhook-sms-status"),
    re_path(r"^sms-incoming/?$", incoming.sms_incoming, name="webhook-sms-incoming"),
    re_path(r"^call-event/?$", calls.call_event, name="webhook-call-event"),
]
