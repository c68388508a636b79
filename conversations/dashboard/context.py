"""Template context: open alerts for staff, shown as a banner in the inbox and in admin."""

BANNER_LIMIT = 5


def open_alerts(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return {}

    def alerts():  # evaluated only by a template that shows the banner
        from ..services.alerts import open_alerts as query

        return list(query()[: BANNER_LIMIT + 1])

    return {"open_alerts": alerts}
