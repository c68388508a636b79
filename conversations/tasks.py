"""Celery tasks: each takes an id, loads fresh state and calls a service."""

from celery import shared_task

from .services import reconciliation, sending, webhook_events
from .services.threads import refresh_conversation_summary


@shared_task(acks_late=True)
def refresh_conversation_summary_task(conversation_id):
    """Safe to repeat: it recomputes the summary from the messages."""
    refresh_conversation_summary(conversation_id)


@shared_task(acks_late=True)
def process_webhook_event_task(event_id):
    """Safe to repeat: a processed event is skipped under a row lock."""
    webhook_events.process_webhook_event(event_id)


@shared_task(acks_late=True)
def drain_webhook_events_task():
    """Apply every webhook event nobody has tried yet (webhooks kick it, coalesced). Safe to
    repeat and to run in parallel: each event is applied once, under a row lock."""
    webhook_events.drain_webhook_events()


@shared_task
def sweep_webhook_events_task():
    """Re-enqueue webhook events the broker lost (stored, never processed)."""
    for event_id in webhook_events.unprocessed_event_ids():
        process_webhook_event_task.delay(event_id)


@shared_task(bind=True, acks_late=True, max_retries=None)
def send_message_task(self, message_id):
    """Send one message. Safe to redeliver: only a `pending` message is claimed and sent."""
    outcome = sending.dispatch_message(message_id)
    if outcome is not None and outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)


@shared_task
def sweep_outbox_task():
    """Release held messages that are due, re-enqueue lost sends, expire dead claims."""
    reconciliation.release_held_messages()
    reconciliation.requeue_pending_messages()
    reconciliation.expire_stuck_dispatching()


@shared_task
def reconcile_messages_task():
    reconciliation.reconcile_stuck_messages()


# Campaigns (issue 7) --------------------------------------------------------------------------


@shared_task
def dispatch_campaign_task(campaign_id, generation=None):
    """Send a running campaign's batches for a time slice, then hand over to a fresh task.

    Safe to run twice or late: claims are exclusive, and a dispatcher of an older generation
    (the campaign was paused, resumed or re-kicked since) stops at once.
    """
    from .services import campaign_dispatch

    again_in = campaign_dispatch.run(campaign_id, generation)
    if again_in is not None:
        dispatch_campaign_task.apply_async((campaign_id, generation), countdown=again_in)


@shared_task
def campaign_tick_task():
    """Beat: start scheduled campaigns, resume promotional ones at 10:00 IST, expire batches of
    dead workers, restart stalled dispatchers."""
    from .services import campaigns

    campaigns.tick()


def _resume_campaigns_on_worker_start(**kwargs):
    """A worker that starts (e.g. after a crash) picks up running campaigns at once."""
    try:
        campaign_tick_task.delay()
    except Exception:  # the broker is down: beat will do it later
        import logging

        logging.getLogger(__name__).exception("could not enqueue the campaign tick")


def _connect_signals():
    from celery.signals import worker_ready

    worker_ready.connect(_resume_campaigns_on_worker_start, weak=False)


_connect_signals()


# Inbound: keywords, flows, consent (issue 5)


@shared_task
def expire_flow_sessions_task():
    """Close flow sessions past their expiry (answers already expire them lazily; this keeps
    the admin's list of active sessions true)."""
    from .services.flows import expire_stale_sessions

    expire_stale_sessions()


# Insight (issue 8): alerts, the worker heartbeat, retention


@shared_task
def evaluate_alerts_task():
    """Beat: open, refresh and resolve alerts from the active rules."""
    from .services import alerts

    alerts.evaluate_all()


@shared_task
def heartbeat_task():
    """Beat: a worker proves it runs (read by /healthz)."""
    from .services import health

    health.stamp_heartbeat()


@shared_task
def mask_old_message_bodies_task():
    """Beat: mask bodies older than MESSAGE_BODY_RETENTION_DAYS (nothing when it is 0)."""
    from .services import retention

    retention.mask_old_bodies()


@shared_task
def refresh_dashboard_rollup_task():
    """Beat: rebuild the dashboard's rollup of yesterday and today (IST)."""
    from .services import rollups

    rollups.refresh_recent()
