"""Send a campaign from a CSV, for operators:

    python manage.py send_campaign --csv FILE --template ID [--at TIME] [--rate N]

Imports the recipients (phone column, optional name, a column per variable) with a progress
bar, prints the preflight, starts the campaign and follows it with a second bar until it
ends. The workers send it; `--inline` sends from this process instead (no worker needed).
Ctrl-C stops watching, not the campaign (pause or cancel it in admin or the API).
"""

import os
import time
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from conversations.models import AudienceSource, Campaign, CampaignStatus, RateUnit
from conversations.services import campaign_audience, campaign_dispatch, campaign_reports, campaigns
from conversations.services.sending import SendRefused

IST = ZoneInfo("Asia/Kolkata")
FINISHED = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED)


class Command(BaseCommand):
    help = "Create, start and follow a campaign from a CSV of recipients."

    def add_arguments(self, parser):
        parser.add_argument("--csv", required=True, help="UTF-8 CSV: phone[, name], variables")
        parser.add_argument("--template", required=True, help="DLT template id (19 digits)")
        parser.add_argument(
            "--at", help='Start time, IST unless a zone is given: "2026-03-02 10:00"'
        )
        parser.add_argument("--rate", type=float, help="Messages per second (default: no limit)")
        parser.add_argument(
            "--rate-unit",
            choices=[unit.value for unit in RateUnit],
            default=RateUnit.MESSAGES.value,
            help="What --rate counts: messages (default) or segments (SMS parts)",
        )
        parser.add_argument("--name", help="Campaign name (default: the file name)")
        parser.add_argument("--body", help="One text for everyone instead of per-row variables")
        parser.add_argument(
            "--variables", help='Comma-separated spec, e.g. "{name},{date}" (default: columns)'
        )
        parser.add_argument("--dry-run", action="store_true", help="Import and preflight only")
        parser.add_argument("--inline", action="store_true", help="Send from this process")
        parser.add_argument("--no-wait", action="store_true", help="Start and return")

    def handle(self, *args, **options):
        path = options["csv"]
        if not os.path.isfile(path):
            raise CommandError(f"No such file: {path}")
        campaign = self._create(options, os.path.basename(path))
        report = self._import(campaign, path)
        self.stdout.write(f"Recipients: {report.summary()}")
        for problem in report.problems[:10]:
            self.stdout.write(f"  {problem}")
        self._print_preflight(campaign)
        if options["dry_run"]:
            self.stdout.write(f"Dry run: campaign {campaign.pk} left as a draft.")
            return
        try:
            campaigns.start_campaign(campaign)
        except SendRefused as refused:
            raise CommandError(refused.reason) from refused
        campaign.refresh_from_db()
        self.stdout.write(f"Campaign {campaign.pk}: {campaign.get_status_display()}.")
        if options["no_wait"] or campaign.status == CampaignStatus.SCHEDULED:
            return
        self._follow(campaign, inline=options["inline"])

    def _create(self, options, filename):
        at = None
        if options.get("at"):
            at = parse_datetime(options["at"])
            if at is None:
                raise CommandError(f"--at: cannot read {options['at']!r} as a date and time.")
            at = at if timezone.is_aware(at) else at.replace(tzinfo=IST)
        variables = (
            [v.strip() for v in options["variables"].split(",")]
            if options.get("variables")
            else None
        )
        try:
            return campaigns.create_campaign(
                options.get("name") or filename,
                template=options["template"],
                body=options.get("body") or "",
                variables=variables,
                rate=options.get("rate"),
                rate_unit=options.get("rate_unit") or RateUnit.MESSAGES,
                scheduled_at=at,
                audience_source=AudienceSource.CSV,
            )
        except SendRefused as refused:
            raise CommandError(f"{refused.field}: {refused.reason}") from refused

    def _import(self, campaign, path):
        size = os.path.getsize(path)
        with (
            open(path, encoding="utf-8-sig", newline="") as handle,
            tqdm(total=size, unit="B", unit_scale=True, desc="Importing", file=self.stderr) as bar,
        ):

            def lines():
                for line in handle:
                    bar.update(len(line.encode("utf-8")))
                    yield line

            try:
                return campaign_audience.import_csv(campaign, lines())
            except campaign_audience.AudienceError as exc:
                raise CommandError(exc.messages[0]) from exc

    def _print_preflight(self, campaign):
        report = campaign_reports.preflight(campaign)
        finish = timezone.localtime(report.finishes_at, IST)
        self.stdout.write(
            f"Preflight: {report.sendable} to send, {report.segments} segments, about "
            f"INR {report.estimated_cost}, at {report.rate:g}/s finishes about "
            f"{finish:%d %b %Y %H:%M} IST."
        )
        for warning in report.warnings:
            self.stdout.write(self.style.WARNING(f"  {warning}"))

    def _follow(self, campaign, *, inline):
        total = campaign_reports.progress(campaign)["total"]
        with tqdm(total=total, unit="msg", desc="Sending", file=self.stderr) as bar:
            try:
                while True:
                    if inline:
                        campaign_dispatch.run(campaign.pk, budget=1.0)
                    else:
                        time.sleep(1.0)
                    campaign = Campaign.objects.get(pk=campaign.pk)
                    report = campaign_reports.progress(campaign)
                    bar.update(report["total"] - report["pending"] - bar.n)
                    bar.set_postfix(
                        sent=report["sent"], failed=report["failed"], skipped=report["skipped"]
                    )
                    if campaign.status in FINISHED:
                        break
                    if campaign.status == CampaignStatus.PAUSED and inline:
                        break
            except KeyboardInterrupt:
                self.stdout.write("\nStopped watching; the campaign goes on.")
                return
        self.stdout.write(
            f"Campaign {campaign.pk} {campaign.get_status_display().lower()}: "
            f"{report['sent']} sent, {report['failed']} failed, {report['skipped']} skipped, "
            f"{report['unknown']} unknown."
        )
