"""`/healthz`: JSON for load balancers; 200 when healthy, 503 otherwise; no auth, no secrets."""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..services.health import health


@never_cache
@require_GET
def healthz(request):
    healthy, report = health()
    return JsonResponse(report, status=200 if healthy else 503)
