from django.urls import path

from . import campaign_views

urlpatterns = [
    path("", campaign_views.campaign_list, name="campaign-list"),
    path("<int:pk>/", campaign_views.campaign_progress, name="campaign-progress"),
    path("<int:pk>/panel/", campaign_views.campaign_panel, name="campaign-panel"),
]
