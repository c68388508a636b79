from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("", RedirectView.as_view(url="/inbox/", permanent=False)),
    path("admin/", admin.site.urls),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    re_path(r"^api/redoc/?$", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include("conversations.api.urls")),
    path("webhook/", include("conversations.webhooks.urls")),
]

admin.site.site_header = "SMS Desk"
admin.site.site_title = "SMS Desk admin"
admin.site.index_title = "Conversations, templates and consent"

if settings.BENCH_ENDPOINTS:
    # The baseline for webhook benchmarks: a Django view that does nothing, on the same server.
    urlpatterns.append(path("bench/bare", csrf_exempt(lambda request: HttpResponse(b"ok"))))

# Campaigns (issue 7): live progress pages for everyone signed in (staff plan them in admin).
urlpatterns.append(path("campaigns/", include("conversations.campaign_urls")))

# The agents' inbox (issue 6) and its sign-in pages (Django's auth views, our templates). Only
# sign in and out: password resets by email are not set up, staff reset passwords in admin.
urlpatterns += [
    path("inbox/", include("conversations.inbox.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]

# Insight (issue 8): the supervisors' dashboard (staff) and the health check (no auth).
from conversations.dashboard.health_view import healthz  # noqa: E402

urlpatterns += [
    path("dashboard/", include("conversations.dashboard.urls")),
    path("healthz", healthz, name="healthz"),
]
