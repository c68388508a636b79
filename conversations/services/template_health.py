"""How each DLT template is doing: sends, delivery rate, and DLT rejections it drew."""

from dataclasses import dataclass

from django.db.models import Count, Q

from exotel_client import DLT_REJECTION_CODES

from ..models import Direction, MessageStatus
from . import dlt

DELIVERED = (MessageStatus.DELIVERED, MessageStatus.SENT)
FINAL_AT_EXOTEL = (*DELIVERED, MessageStatus.FAILED, MessageStatus.FAILED_DND)


def with_health(templates):
    """Annotate templates with `sends`, `delivered`, `finished` and `dlt_rejections`."""
    outbound = Q(messages__direction=Direction.OUTBOUND)
    return templates.annotate(
        sends=Count("messages", filter=outbound),
        delivered=Count("messages", filter=outbound & Q(messages__status__in=DELIVERED)),
        finished=Count("messages", filter=outbound & Q(messages__status__in=FINAL_AT_EXOTEL)),
        dlt_rejections=Count(
            "messages",
            filter=outbound & Q(messages__detailed_status_code__in=DLT_REJECTION_CODES),
        ),
    )


def delivered_rate(template) -> float | None:
    """Delivered over messages with a final status; None before any has one."""
    return template.delivered / template.finished if template.finished else None


@dataclass(frozen=True)
class BodyTest:
    match: dlt.TemplateMatch | None
    mismatch: dlt.Mismatch | None


def check_body(body) -> BodyTest:
    """Which active template a body fills in, or the closest one and where it departs."""
    found = dlt.match_template(body)
    return BodyTest(match=found, mismatch=None if found else dlt.explain_mismatch(body))
