"""Give a new sandbox install something to send: the seed documents' DLT templates, and one
template for each shipped auto-reply and flow text, so that STOP, YES, the survey and the other
examples answer out of the box (every auto-reply goes through the same DLT check as any send).

Runs from `make run` and does nothing once any template exists or when real Exotel
credentials are configured (real templates must come from the DLT portal).
"""

import re

from django.conf import settings
from django.core.management.base import BaseCommand

from conversations.models import DltTemplate, FlowChoice, FlowStep, KeywordRule, SmsType

DEMO_ENTITY_ID = "1234567890123456789"
DEMO_TEMPLATES = [
    {
        "name": "Appointment confirmation",
        "template_id": "9876543210987654321",
        "body": "Your appointment is confirmed for {#var#} at {#var#}. "
        "Reply YES to confirm or NO to cancel.",
        "sms_type": SmsType.TRANSACTIONAL,
        "sender_id": "EXOTEL",
    },
    {
        "name": "Order shipped",
        "template_id": "1107160000000000002",
        "body": "Your order {#var#} has been shipped and will reach you by {#var#}.",
        "sms_type": SmsType.TRANSACTIONAL,
        "sender_id": "EXOTEL",
    },
    {
        "name": "Verification code",
        "template_id": "1107160000000000003",
        "body": "Your verification code is {#var#}. Reply with the code to verify your account.",
        "sms_type": SmsType.TRANSACTIONAL,
        "sender_id": "EXOTEL",
    },
    {
        "name": "Thanks for calling",
        "template_id": "1107160000000000004",
        "body": "Thank you for calling {#var#}. Your reference number is {#var#}.",
        "sms_type": SmsType.TRANSACTIONAL,
        "sender_id": "EXOTEL",
    },
    {
        "name": "Weekend offer",
        "template_id": "1107160000000000005",
        "body": "Weekend offer: {#var#} off on all orders. Reply STOP to opt out.",
        "sms_type": SmsType.PROMOTIONAL,
        "sender_id": "123456",
    },
]


class Command(BaseCommand):
    help = "Create demo DLT templates for the sandbox (only when none exist)."

    def handle(self, *args, **options):
        if not settings.EXOTEL_USES_SANDBOX or DltTemplate.objects.exists():
            return
        templates = DEMO_TEMPLATES + auto_reply_templates()
        for template in templates:
            DltTemplate.objects.create(entity_id=DEMO_ENTITY_ID, **template)
        self.stdout.write(f"Created {len(templates)} demo DLT templates for the sandbox.")


def auto_reply_templates():
    """One transactional template per distinct shipped reply text; `{answer}`-style flow
    placeholders become DLT variables."""
    texts = [rule.reply for rule in KeywordRule.objects.exclude(reply="")]
    texts += [step.prompt for step in FlowStep.objects.all()]
    texts += [choice.reply for choice in FlowChoice.objects.exclude(reply="")]
    known = {template["body"] for template in DEMO_TEMPLATES}
    bodies = []
    for text in texts:
        body = re.sub(r"\{[a-z_]+\}", "{#var#}", text)
        if body not in known:
            known.add(body)
            bodies.append(body)
    return [
        {
            "name": f"Auto-reply: {body[:60]}",
            "template_id": f"11071600000000{100 + number:05d}",
            "body": body,
            "sms_type": SmsType.TRANSACTIONAL,
            "sender_id": "EXOTEL",
        }
        for number, body in enumerate(bodies)
    ]
