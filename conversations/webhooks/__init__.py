"""Endpoints Exotel calls. Each one checks its token, stores the raw event, answers at once, and
leaves the work to a Celery task (`conversations.tasks.process_webhook_event_task`)."""
