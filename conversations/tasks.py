"""Celery tasks: each takes an id, loads fresh state and calls a service."""

from celery import shared_task

from .services.threads import refresh_conversation_summary


@shared_task(acks_late=True)
def refresh_conversation_summary_task(conversation_id):
    """Safe to repeat: it recomputes the summary from the messages."""
    refresh_conversation_summary(conversation_id)
