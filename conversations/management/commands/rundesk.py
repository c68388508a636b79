"""Start web, the two workers, beat (and the Exotel sandbox without credentials) under honcho."""

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


def procfile_lines(python, uses_sandbox, sandbox_port):
    bin_dir = Path(python).parent
    lines = [
        f"web: {bin_dir / 'gunicorn'} smsdesk.wsgi:application --bind 127.0.0.1:8000 "
        "--workers 2 --threads 4 --access-logfile -",
        f"worker: {bin_dir / 'celery'} -A smsdesk worker -Q celery --loglevel INFO "
        "--concurrency 2 --without-gossip --without-mingle",
        # Campaign dispatchers on their own small worker: webhooks keep theirs (settings.py).
        f"campaign-worker: {bin_dir / 'celery'} -A smsdesk worker -Q {settings.CAMPAIGN_QUEUE} "
        "-n campaigns@%h --loglevel INFO --concurrency 2 --without-gossip --without-mingle",
        f"beat: {bin_dir / 'celery'} -A smsdesk beat --loglevel INFO",
    ]
    if uses_sandbox:
        lines.append(f"sandbox: {python} -m exotel_client.sandbox --port {sandbox_port}")
    return lines


class Command(BaseCommand):
    help = "Run every SMS Desk process in the foreground; Ctrl-C stops them all."

    def handle(self, *args, **options):
        procfile = settings.VAR_DIR / "Procfile.run"
        lines = procfile_lines(
            sys.executable, settings.EXOTEL_USES_SANDBOX, settings.EXOTEL_SANDBOX_PORT
        )
        procfile.write_text("\n".join(lines) + "\n")
        if settings.EXOTEL_USES_SANDBOX:
            self.stdout.write(
                f"No EXOTEL_API_KEY set: using the Exotel sandbox on "
                f"http://127.0.0.1:{settings.EXOTEL_SANDBOX_PORT}/ (its page plays the customer)."
            )
        honcho = str(Path(sys.executable).parent / "honcho")
        argv = [honcho, "-f", str(procfile), "-d", str(settings.BASE_DIR), "start"]
        # Replace this process with the process manager, so Ctrl-C reaches every child.
        os.execv(honcho, argv)  # noqa: S606
