"""Campaign pages for everyone signed in (agents included): the list, and one campaign's live
progress with its charts. Staff plan and start campaigns in admin; these pages only show."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from .models import Campaign, CampaignBatch, CampaignStatus
from .services import campaign_reports

LIVE_STATUSES = (CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED)


@login_required
@require_GET
def campaign_list(request):
    campaigns = Campaign.objects.select_related("template").order_by("-created_at", "-id")
    page = Paginator(campaigns, 25).get_page(request.GET.get("page"))
    rows = [(campaign, campaign_reports.progress(campaign)) for campaign in page]
    return render(request, "campaigns/list.html", {"page": page, "rows": rows})


def _panel_context(campaign):
    report = campaign_reports.progress(campaign)
    series = campaign_reports.delivery_series(campaign)
    return {
        "campaign": campaign,
        "report": report,
        "live": campaign.status in LIVE_STATUSES,
        "delivery_chart": campaign_reports.svg_delivery_chart(series),
        "failure_chart": campaign_reports.svg_bar_chart(
            campaign_reports.failure_chart_items(report)
        ),
        "answer_chart": campaign_reports.svg_bar_chart(list(report["answers"].items())),
        "batches": CampaignBatch.objects.filter(campaign=campaign).order_by("-claimed_at")[:10],
    }


@login_required
@require_GET
def campaign_progress(request, pk):
    campaign = get_object_or_404(Campaign.objects.select_related("template"), pk=pk)
    return render(request, "campaigns/progress.html", _panel_context(campaign))


@login_required
@require_GET
def campaign_panel(request, pk):
    """The live part of the progress page, fetched every few seconds while it runs."""
    campaign = get_object_or_404(Campaign.objects.select_related("template"), pk=pk)
    return render(request, "campaigns/_panel.html", _panel_context(campaign))
