"""Shipped keyword rules and the seed's example flows (shared/seeds/001_*), all editable in admin.

Replies go out through the outbound pipeline, so each one must fill an active DLT template
before it is sent: register these texts (or edit them to your registered ones). Until then a
reply is refused, recorded on the message's outcome, and the conversation is flagged.
"""

from django.db import migrations

OPT_OUT_WORDS = [
    "STOP",
    "STOP ALL",
    "STOPALL",
    "UNSUBSCRIBE",
    "OPT OUT",
    "OPTOUT",
    "END",
    "QUIT",
    "BAND",
    "BAND KARO",
    "BANDH KARO",
    "BAND KRO",
    "BAND KAREN",
    "BAND KARE",
    "बंद",
    "बंद करो",
    "बंद करें",
    "रोकें",
    "रोको",
    "रोक दो",
]
OPT_IN_WORDS = [
    "START",
    "UNSTOP",
    "SUBSCRIBE",
    "OPT IN",
    "OPTIN",
    "SHURU",
    "SHURU KARO",
    "CHALU KARO",
    "शुरू",
    "शुरू करो",
    "शुरू करें",
    "चालू करो",
]

KEYWORD_RULES = [
    {
        "name": "Opt out (STOP)",
        "keywords": OPT_OUT_WORDS,
        "action": "opt_out",
        "priority": 10,
        "reply": "You have been unsubscribed and will get no more messages from us. "
        "Reply START to subscribe again.",
    },
    {
        "name": "Opt back in (START)",
        "keywords": OPT_IN_WORDS,
        "action": "opt_in",
        "priority": 20,
        "reply": "You are subscribed again and will get our messages. Reply STOP to unsubscribe.",
    },
    {
        "name": "Help",
        "keywords": ["HELP", "INFO", "MADAD", "मदद", "सहायता"],
        "action": "help",
        "priority": 30,
        "reply": "Reply to this message and our team will help you. Reply STOP to unsubscribe.",
    },
    {
        "name": "Confirm (YES)",
        "keywords": ["YES", "CONFIRM", "HAAN", "HAN", "हाँ", "हां"],
        "action": "confirm",
        "store_as": "appointment",
        "priority": 40,
        "reply": "Thank you, your appointment is confirmed. See you then!",
    },
    {
        "name": "Cancel (NO)",
        "keywords": ["NO", "CANCEL", "NAHI", "NAHIN", "नहीं"],
        "action": "cancel",
        "store_as": "appointment",
        "priority": 50,
        "reply": "Your appointment is cancelled. We will contact you to find a new time.",
    },
    {
        "name": "Order status (ORDER)",
        "keywords": ["ORDER"],
        "action": "start_flow",
        "flow": "order-status",
        "priority": 60,
        "reply": "",
    },
    {
        "name": "Anything else (fallback, off by default)",
        "keywords": [],
        "match": "fallback",
        "action": "reply",
        "priority": 1000,
        "active": False,
        "reply_cooldown_minutes": 24 * 60,
        "reply": "Thank you for your message. Our team will get back to you shortly.",
    },
]

# Each flow: steps in order; each step's choices in order. "next" names a step key (None ends).
FLOWS = [
    {
        "slug": "opt-in",
        "name": "Opt in to order updates",
        "description": "Start with context {}; asks for consent and records it in the ledger.",
        "expires_after_minutes": 3 * 24 * 60,
        "steps": [
            {
                "key": "ask",
                "prompt": "Reply YES to receive order updates. Reply STOP to unsubscribe.",
                "retry_prompt": "Please reply YES to receive order updates, or STOP to unsubscribe.",
                "store_as": "order_updates",
                "choices": [
                    {
                        "answers": "YES, Y, HAAN, हाँ, हां",
                        "value": "yes",
                        "action": "record_opt_in",
                        "reply": "You are now subscribed to order updates.",
                    },
                    {
                        "answers": "NO, N, NAHI, नहीं",
                        "value": "no",
                        "reply": "OK, you will not receive order updates.",
                    },
                ],
            },
        ],
    },
    {
        "slug": "survey",
        "name": "Feedback survey (1/2/3)",
        "description": "How was your experience? 1 Great, 2 Good, 3 Poor (3 goes to an agent).",
        "expires_after_minutes": 2 * 24 * 60,
        "steps": [
            {
                "key": "rating",
                "prompt": "How was your experience? Reply 1 for Great, 2 for Good, 3 for Poor.",
                "retry_prompt": "Please reply 1 for Great, 2 for Good or 3 for Poor.",
                "store_as": "rating",
                "choices": [
                    {
                        "answers": "1, GREAT",
                        "value": "great",
                        "reply": "Thank you for your feedback! "
                        "We are glad you had a great experience.",
                    },
                    {
                        "answers": "2, GOOD",
                        "value": "good",
                        "reply": "Thank you for your feedback!",
                    },
                    {
                        "answers": "3, POOR",
                        "value": "poor",
                        "action": "route",
                        "reply": "We are sorry to hear that. Someone from our team will call you.",
                    },
                ],
            },
        ],
    },
    {
        "slug": "appointment",
        "name": "Appointment confirmation (C/R)",
        "description": "Start with context {date, time}; C confirms, R asks an agent to reschedule.",
        "expires_after_minutes": 2 * 24 * 60,
        "steps": [
            {
                "key": "confirm",
                "prompt": "Your appointment is scheduled for {date} at {time}. "
                "Reply C to confirm, R to reschedule.",
                "retry_prompt": "Please reply C to confirm your appointment or R to reschedule.",
                "store_as": "appointment",
                "choices": [
                    {
                        "answers": "C, CONFIRM, YES",
                        "value": "confirmed",
                        "reply": "Your appointment on {date} at {time} is confirmed. See you then!",
                    },
                    {
                        "answers": "R, RESCHEDULE",
                        "value": "reschedule requested",
                        "action": "route",
                        "reply": "We will call you to find a new time for your appointment.",
                    },
                ],
            },
        ],
    },
    {
        "slug": "order-status",
        "name": "Order status (ORDER -> order id)",
        "description": "Started by the ORDER keyword; stores the order id and hands it to an agent.",
        "expires_after_minutes": 30,
        "handover_reply": "Sorry, we could not read that. Our team will contact you about "
        "your order.",
        "steps": [
            {
                "key": "order-id",
                "prompt": "Please reply with your order ID.",
                "retry_prompt": "That does not look like an order ID. "
                "Please reply with the order ID from your receipt.",
                "store_as": "order_id",
                "choices": [
                    {
                        "pattern": r"#?(?=[A-Za-z-]*[0-9])[A-Za-z0-9-]{3,20}",
                        "action": "route",
                        "reply": "Thank you. We will SMS you the status of order {order_id} "
                        "shortly.",
                    },
                ],
            },
        ],
    },
    {
        "slug": "otp-verify",
        "name": "Verify by OTP",
        "description": "Start with context {otp}; the customer replies with the code.",
        "expires_after_minutes": 10,
        "handover_reply": "We could not verify your account. Our team will contact you.",
        "steps": [
            {
                "key": "code",
                "prompt": "Your verification code is {otp}. "
                "Reply with the code to verify your account.",
                "retry_prompt": "That code does not match. Please reply with the code we sent.",
                "store_as": "verified",
                "choices": [
                    {
                        "answers": "{otp}",
                        "value": "yes",
                        "reply": "Your account has been verified successfully.",
                    },
                ],
            },
        ],
    },
]


def add_defaults(apps, schema_editor):
    Flow = apps.get_model("conversations", "Flow")
    FlowStep = apps.get_model("conversations", "FlowStep")
    FlowChoice = apps.get_model("conversations", "FlowChoice")
    KeywordRule = apps.get_model("conversations", "KeywordRule")
    flows = {}
    for spec in FLOWS:
        flow = Flow.objects.create(
            slug=spec["slug"],
            name=spec["name"],
            description=spec["description"],
            expires_after_minutes=spec["expires_after_minutes"],
            handover_reply=spec.get("handover_reply", ""),
        )
        flows[spec["slug"]] = flow
        for position, step_spec in enumerate(spec["steps"]):
            step = FlowStep.objects.create(
                flow=flow,
                key=step_spec["key"],
                position=position,
                prompt=step_spec["prompt"],
                retry_prompt=step_spec["retry_prompt"],
                store_as=step_spec["store_as"],
            )
            for choice_position, choice in enumerate(step_spec["choices"]):
                FlowChoice.objects.create(
                    step=step,
                    position=choice_position,
                    answers=choice.get("answers", ""),
                    pattern=choice.get("pattern", ""),
                    value=choice.get("value", ""),
                    reply=choice["reply"],
                    action=choice.get("action", ""),
                )
    for spec in KEYWORD_RULES:
        KeywordRule.objects.create(
            name=spec["name"],
            keywords="\n".join(spec["keywords"]),
            match=spec.get("match", "exact"),
            action=spec["action"],
            reply=spec["reply"],
            flow=flows.get(spec.get("flow")),
            store_as=spec.get("store_as", ""),
            priority=spec["priority"],
            active=spec.get("active", True),
            reply_cooldown_minutes=spec.get("reply_cooldown_minutes", 0),
        )


def remove_defaults(apps, schema_editor):
    KeywordRule = apps.get_model("conversations", "KeywordRule")
    Flow = apps.get_model("conversations", "Flow")
    KeywordRule.objects.filter(name__in=[spec["name"] for spec in KEYWORD_RULES]).delete()
    Flow.objects.filter(slug__in=[spec["slug"] for spec in FLOWS], sessions__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("conversations", "0003_inbound")]

    operations = [migrations.RunPython(add_defaults, remove_defaults)]
