"""The audit trail: one call per action a person took (or the system took on their behalf).

Callers pass the request when there is one, so the entry says from where; nothing here ever
stores secrets (tokens, passwords): pass identifiers, not credentials, in `detail`.
"""

from ..models import AuditLog


def client_address(request):
    """The address the request came from (REMOTE_ADDR; proxies are trusted only by the server)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def record_action(action, *, actor=None, target="", request=None, **detail):
    """Append one audit entry. `actor` defaults to the request's user when signed in."""
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
    return AuditLog.objects.create(
        actor=actor,
        action=action[:40],
        target=str(target)[:120],
        detail=detail,
        remote_addr=client_address(request),
    )


# Sign-ins (issue 8): Django's auth signals, connected once from the app's ready().


def _logged_in(sender, request, user, **kwargs):
    record_action("login", actor=user, request=request, target=user.get_username())


def _login_failed(sender, credentials, request=None, **kwargs):
    # Only the username tried: never the password (Django already blanks it in `credentials`).
    username = str(credentials.get("username", ""))[:120]
    record_action("login_failed", request=request, target=username)


def connect_signals():
    from django.contrib.auth.signals import user_logged_in, user_login_failed

    user_logged_in.connect(_logged_in, dispatch_uid="audit_login")
    user_login_failed.connect(_login_failed, dispatch_uid="audit_login_failed")
