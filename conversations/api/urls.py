from django.urls import re_path
from rest_framework.routers import DefaultRouter

from .call_rules import CallRuleViewSet
from .campaigns import BulkSendView, CampaignViewSet
from .conversations import ConversationViewSet
from .sending import ConversationReplyView, MessageViewSet, SmsViewSet
from .views import DltTemplateViewSet, OptOutViewSet

router = DefaultRouter()
# Every path works with and without a trailing slash, with no redirect.
router.trailing_slash = "/?"
router.register("sms", SmsViewSet, basename="sms")
router.register("messages", MessageViewSet, basename="message")
router.register("templates", DltTemplateViewSet, basename="template")
router.register("optouts", OptOutViewSet, basename="optout")
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("call-rules", CallRuleViewSet, basename="call-rule")

urlpatterns = [
    re_path(r"^sms/bulk/?$", BulkSendView.as_view(), name="sms-bulk"),
    re_path(
        r"^conversations/(?P<phone>[^/]+)/reply/?$",
        ConversationReplyView.as_view(),
        name="conversation-reply",
    ),
    *router.urls,
]
