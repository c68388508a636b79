"""Campaign messages whose send had no answer, found again through Exotel's status callbacks.

A bulk request that times out (or whose worker dies) after it may have reached Exotel leaves
its recipients with a message in status `unknown` and no sid, and Exotel has no endpoint to
list what it sent. Every bulk request therefore carries `CustomField=campaign-<id>-batch-<id>`
(one field per request: Exotel takes no per-message CustomField in a bulk send), which Exotel
echoes in each status callback together with `To`. A callback for a sid we do not know that
names one of our batches is matched to the recipient with that number in that batch (numbers
are unique per campaign), and the message gets its sid; the callback is then applied as usual.

Messages still unknown after `CAMPAIGN_UNKNOWN_REVIEW_HOURS` are marked for an operator's
review (never resent automatically: Exotel may have delivered them).
"""

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exotel_client.phone import normalise_number

from ..models import CampaignRecipient, Message, MessageStatus, RecipientState

logger = logging.getLogger(__name__)

CUSTOM_FIELD = re.compile(r"campaign-(\d{1,18})-batch-(\d{1,18})")
LINKED_NOTE = "Found again by its status callback (CustomField): Exotel had sent it."
UNKNOWN_STATES = (RecipientState.UNKNOWN, RecipientState.REVIEW)


def custom_field_for(campaign_id, batch_id) -> str:
    """The CustomField of one bulk request of a campaign."""
    return f"campaign-{campaign_id}-batch-{batch_id}"


def link_unknown_outcome(sid, data) -> Message | None:
    """The unknown message a status callback (`data`: its fields) is about, now carrying its
    sid; None when the callback names no batch of ours or nothing there is waiting for it.

    Called by `status_callbacks.apply_status_event` for a sid no message has.
    """
    match = CUSTOM_FIELD.fullmatch(str(data.get("CustomField") or "").strip())
    if match is None or not sid:
        return None
    campaign_id, batch_id = (int(group) for group in match.groups())
    token_campaign = data.get("_campaign_id")
    if token_campaign is not None and int(token_campaign) != campaign_id:
        return None  # a callback URL of another campaign cannot claim this one's messages
    try:
        phone = normalise_number(str(data.get("To") or ""))
    except ValueError:
        return None
    found = (
        CampaignRecipient.objects.filter(
            campaign_id=campaign_id,
            batch_id=batch_id,
            phone_number=phone,
            state__in=UNKNOWN_STATES,
            message__sid__isnull=True,
        )
        .values_list("pk", "message_id")
        .first()
    )
    if found is None:
        return None
    recipient_id, message_id = found
    with transaction.atomic():
        if not Message.objects.filter(pk=message_id, sid__isnull=True).update(
            sid=str(sid)[:64], sent_at=timezone.now(), updated_at=timezone.now()
        ):
            return None
        CampaignRecipient.objects.filter(pk=recipient_id, state__in=UNKNOWN_STATES).update(
            state=RecipientState.SENT, detail=LINKED_NOTE
        )
    logger.info(
        "campaign %s: callback %s linked to unknown message %s", campaign_id, sid, message_id
    )
    return Message.objects.filter(pk=message_id).only("pk", "campaign_id").first()


def release_batch_callbacks(campaign_id, batch_id) -> int:
    """Callbacks that arrived (and waited) before this batch's unknown messages existed:
    apply them now. Returns how many were tried."""
    from ..models import WebhookEvent
    from .webhook_events import WAITING, process_webhook_event

    waiting = list(
        WebhookEvent.objects.filter(
            processed_at__isnull=True,
            outcome__startswith=WAITING,
            payload__CustomField=custom_field_for(campaign_id, batch_id),
        ).values_list("pk", flat=True)
    )
    for event_id in waiting:
        process_webhook_event(event_id)
    return len(waiting)


def mark_unknown_for_review(now=None) -> int:
    """Recipients whose outcome stayed unknown past the review time: an operator decides."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.CAMPAIGN_UNKNOWN_REVIEW_HOURS)
    return CampaignRecipient.objects.filter(
        state=RecipientState.UNKNOWN,
        message__status=MessageStatus.UNKNOWN,
        message__created_at__lt=cutoff,
    ).update(
        state=RecipientState.REVIEW,
        detail="No status from Exotel after the review time: check it (never resent).",
    )
