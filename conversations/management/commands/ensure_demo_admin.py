"""Create the demo superuser `admin` once, with a random password printed only then."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a demo superuser with a random password if no superuser exists yet."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists already (reset with: manage.py changepassword).")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        banner = "=" * 60
        self.stdout.write(
            self.style.SUCCESS(
                f"{banner}\nDemo admin created. Log in at http://127.0.0.1:8000/inbox/ or /admin/\n"
                f"  username: {username}\n  password: {password}\n"
                f"This password is shown once only.\n{banner}"
            )
        )
