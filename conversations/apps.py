from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "conversations"

    def ready(self):
        # Insight (issue 8): sign-ins and failed sign-ins go to the audit log.
        from .services import audit

        audit.connect_signals()
