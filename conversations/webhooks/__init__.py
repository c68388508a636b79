"""Endpoints Exotel calls. Each one checks its token, stores the raw event, answers at once, and
leaves the work to Celery (`conversations.tasks.drain_webhook_events_task`, kicked once the event
is committed; see `services/webhook_events.py`)."""
