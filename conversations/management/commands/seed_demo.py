"""Give a new sandbox install something to send: the seed documents' DLT templates.

Runs from `make run` and does nothing once any template exists or when real Exotel
credentials are configured (real templates must come from the DLT portal).
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from conversations.models import DltTemplate, SmsType

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
        for template in DEMO_TEMPLATES:
            DltTemplate.objects.create(entity_id=DEMO_ENTITY_ID, **template)
        self.stdout.write(f"Created {len(DEMO_TEMPLATES)} demo DLT templates for the sandbox.")
