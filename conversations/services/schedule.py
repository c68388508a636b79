"""When promotional SMS may go: TRAI allows them between 10:00 and 21:00 IST only."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

IST = ZoneInfo("Asia/Kolkata")
PROMOTIONAL_START = time(10, 0)
PROMOTIONAL_END = time(21, 0)


def next_promotional_window(now=None) -> datetime | None:
    """None while promotional sending is allowed, else when it is allowed next (aware, IST)."""
    local = (now or timezone.now()).astimezone(IST)
    if PROMOTIONAL_START <= local.time() < PROMOTIONAL_END:
        return None
    day = local.date() if local.time() < PROMOTIONAL_START else local.date() + timedelta(days=1)
    return datetime.combine(day, PROMOTIONAL_START, tzinfo=IST)
