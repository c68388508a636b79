"""Pacing sends across every worker: a shared virtual clock per campaign (and per account).

Each caller *reserves* a slot for `count` units (messages, or SMS segments when the campaign's
rate counts segments) before it sends them: the slot starts at the bucket's "theoretical
arrival time" (TAT) and lasts `count / rate` seconds, and the caller waits until its slot
starts. Two workers asking at once get consecutive slots, so together they send at the rate,
never above it, and nobody polls (this is GCRA, the generic cell rate algorithm).

The clock keeps time: a reservation that comes at most `tolerance` seconds after its slot
(a worker busy for a moment) keeps that slot, already started, so the moment is made up
instead of lowering the rate; slots never start before the schedule they would have had. A
bucket idle for longer than that (or new) starts again from now: no burst after a pause.

The clock lives where every worker sees it:

* **Redis** (`CAMPAIGN_RATE_LIMIT_URL`, by default the broker's URL when it is `redis://`): one
  atomic Lua script per reservation, timed by the Redis server's clock.
* **The database** otherwise (the zero-setup default): the TAT is a column on the campaign row,
  updated in a transaction that locks the row (SELECT ... FOR UPDATE on PostgreSQL; SQLite
  serialises writers). One extra write per batch; fine at batch sizes of 1 to 100.

A reservation that is not used (the campaign paused, or fewer rows were left) only makes the
campaign a little slower: pacing errs on the safe side.

The account-wide bucket (`EXOTEL_MAX_SEND_RATE`, in Redis only) counts SMS *segments*, as
Exotel's throughput limit does: a batch of 100 two-part messages takes 200. Campaign batches wait
for their slot on it; a single send (a reply, an API send) is charged on it without waiting, so
the campaigns sharing the account slow down to make room for it.
"""

import logging
import time
from functools import lru_cache

from django.conf import settings
from django.db import transaction

from ..models import Campaign

logger = logging.getLogger(__name__)

# KEYS[1]: the bucket; ARGV: seconds per unit, units, key lifetime, tolerance. Returns the wait.
_RESERVE_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now - tonumber(ARGV[4] or '0') then tat = now end
local after = tat + tonumber(ARGV[1]) * tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.6f', after), 'EX', tonumber(ARGV[3]))
return string.format('%.6f', tat - now)
"""
KEY_TTL_SECONDS = 3600
ACCOUNT_KEY = "smsdesk:rate:account"


def redis_url() -> str | None:
    """Where the shared clock lives; None means the database."""
    url = getattr(settings, "CAMPAIGN_RATE_LIMIT_URL", "") or ""
    if url:
        return None if url == "database" else url
    broker = settings.CELERY_BROKER_URL or ""
    return broker if broker.startswith(("redis://", "rediss://")) else None


def backend_name() -> str:
    return "redis" if redis_url() else "database"


@lru_cache(maxsize=4)
def _redis_script(url):
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
    return client.register_script(_RESERVE_LUA)


def _reserve_redis(key, rate, count, tolerance=0.0) -> float:
    script = _redis_script(redis_url())
    return float(script(keys=[key], args=[1.0 / rate, count, KEY_TTL_SECONDS, tolerance]))


def _reserve_database(campaign_id, rate, count, tolerance=0.0) -> float:
    with transaction.atomic():
        row = (
            Campaign.objects.select_for_update()
            .filter(pk=campaign_id)
            .values_list("rate_tat", flat=True)
            .first()
        )
        now = time.time()
        start = row if row and row >= now - tolerance else max(row or 0.0, now)
        Campaign.objects.filter(pk=campaign_id).update(rate_tat=start + count / rate)
    return start - now


def reserve(campaign_id, rate, count, tolerance=0.0, *, segments=None) -> float:
    """Reserve `count` units of a campaign at `rate` per second; seconds to wait before sending
    (0 when the slot has started). `tolerance`: see the module's docstring.

    Also reserves `segments` (default: `count`) from the account-wide bucket when
    EXOTEL_MAX_SEND_RATE is set: Exotel's limit counts SMS segments, whatever the campaign's unit.
    """
    waits = [0.0]
    if rate:
        waits.append(_reserve(f"campaign:{campaign_id}", campaign_id, rate, count, tolerance))
    if account_capped():
        waits.append(reserve_account(count if segments is None else segments))
    return max(waits)


def account_capped() -> bool:
    """Whether the account-wide cap applies: EXOTEL_MAX_SEND_RATE is set and Redis keeps its
    clock (the database fallback has no account-wide row, so the cap is not applied there)."""
    return bool(getattr(settings, "EXOTEL_MAX_SEND_RATE", None)) and redis_url() is not None


def reserve_account(segments) -> float:
    """Reserve `segments` from the account-wide bucket (EXOTEL_MAX_SEND_RATE segments a second);
    seconds to wait. A reservation larger than a second's worth is fine: it only pushes the
    next one back (a bucket has no burst ceiling to wait for, so nothing can deadlock)."""
    rate = getattr(settings, "EXOTEL_MAX_SEND_RATE", None)
    if not rate or segments <= 0 or not redis_url():
        return 0.0
    try:
        return _reserve_redis(ACCOUNT_KEY, rate, segments)
    except Exception:
        logger.exception("rate limiter: Redis unavailable; account cap not applied")
        return 0.0


def _reserve(name, campaign_id, rate, count, tolerance=0.0) -> float:
    if redis_url():
        try:
            return _reserve_redis(f"smsdesk:rate:{name}", rate, count, tolerance)
        except Exception:
            # Redis down: fall back to the database rather than send unpaced.
            logger.exception("rate limiter: Redis unavailable, using the database")
    return _reserve_database(campaign_id, rate, count, tolerance)
