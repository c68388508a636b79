"""The large dataset's PostgreSQL database, shared by the inbox and dashboard benchmarks.

Each benchmark has a database of its own (created, migrated and filled once with
`manage.py generate_dataset`, reused afterwards) and times Django in-process against it.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def add_dataset_arguments(parser, *, default_url, url_variable):
    parser.add_argument("--database-url", default=os.environ.get(url_variable, default_url))
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--regenerate", action="store_true", help="drop and refill the database")


def environment(url):
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret"),
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
    }


def psql_admin(url, sql):
    """Run `sql` on the server's `postgres` database (to create or drop the bench database)."""
    import psycopg

    admin = urlsplit(url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        cursor = connection.execute(sql)
        return cursor.fetchall() if sql.lstrip().upper().startswith("SELECT") else None


def dataset_counts(url):
    import psycopg

    with psycopg.connect(url) as connection:
        conversations = connection.execute("SELECT count(*) FROM conversations_conversation")
        messages = connection.execute("SELECT count(*) FROM conversations_message")
        return conversations.fetchone()[0], messages.fetchone()[0]


def ensure_dataset(args):
    """Create, migrate and fill the bench database unless it already holds the dataset.
    Returns ((conversations, messages), seconds the generation took, or None if reused)."""
    name = urlsplit(args.database_url).path.lstrip("/")
    if args.regenerate:
        psql_admin(args.database_url, f'DROP DATABASE IF EXISTS "{name}"')
    if not psql_admin(args.database_url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
        psql_admin(args.database_url, f'CREATE DATABASE "{name}"')
    env = environment(args.database_url)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)
    counts = dataset_counts(args.database_url)
    if counts[0] >= args.conversations and counts[1] >= args.messages:
        print(f"Reusing {name}: {counts[0]:,} conversations, {counts[1]:,} messages.")
        return counts, None
    if counts[0]:
        raise SystemExit(
            f"{name} holds a partial dataset ({counts[0]} conversations); run with --regenerate"
        )
    started = time.monotonic()
    command = [*manage, "generate_dataset", "--conversations", str(args.conversations)]
    subprocess.run([*command, "--messages", str(args.messages)], env=env, cwd=ROOT, check=True)
    return dataset_counts(args.database_url), round(time.monotonic() - started, 1)


def set_up_django(url):
    os.environ.update(environment(url))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsdesk.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    # As in production: static files through the manifest are not needed for timing the views.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
