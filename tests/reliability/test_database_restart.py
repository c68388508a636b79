"""Issue 10, item 6: the database stops in the middle of webhook traffic and comes back.

While it is down, webhooks answer 5xx (never a 200 for something not stored), so Exotel
retries them; nothing is half-written (every stored message has its event and its counted
conversation); after it is back, the retries are stored and a worker processes everything.

The database is a throwaway PostgreSQL cluster of this test (initdb + pg_ctl on a free port),
never the machine's shared server; the app runs under gunicorn, the worker is a real process.
"""

import itertools
import os
import subprocess
import sys
import threading
from collections import Counter

import psycopg
import pytest
import requests
from django.conf import settings

from ..conftest import ROOT, wait_until
from .traffic import inbound_form


def migrate(url):
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        timeout=300,
    )


class Traffic:
    """Exotel posting inbound SMS from a few threads; remembers every answer per SmsSid."""

    def __init__(self, base_url, threads=4):
        self.base_url = base_url
        self.answers = {}
        self.numbers = itertools.count()
        self.lock = threading.Lock()
        self.running = threading.Event()
        self.threads = [threading.Thread(target=self._post) for _ in range(threads)]

    def start(self):
        self.running.set()
        for thread in self.threads:
            thread.start()
        return self

    def stop(self):
        self.running.clear()
        for thread in self.threads:
            thread.join(timeout=60)

    def _post(self):
        session = requests.Session()
        while self.running.is_set():
            with self.lock:
                index = next(self.numbers)
            self.answers[index] = self.post(session, index)

    def post(self, session, index):
        try:
            response = session.post(
                f"{self.base_url}/webhook/sms-incoming", data=inbound_form(index), timeout=30
            )
            return response.status_code
        except requests.RequestException as exc:
            return type(exc).__name__

    def count_5xx(self):
        return sum(1 for a in list(self.answers.values()) if isinstance(a, int) and a >= 500)

    def count(self, status):
        return sum(1 for answer in list(self.answers.values()) if answer == status)


def query(url, sql):
    with psycopg.connect(url.replace("postgres://", "postgresql://"), connect_timeout=5) as db:
        cursor = db.execute(sql)
        return cursor.fetchall() if cursor.description else cursor.rowcount


@pytest.mark.worker
@pytest.mark.timeout(400)
def test_webhooks_answer_5xx_while_the_database_is_down_and_nothing_is_lost_or_half_written(
    request, app_server, worker_process
):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("runs once per CI, in the PostgreSQL + Redis run (it brings its own cluster)")
    throwaway_postgres = request.getfixturevalue("throwaway_postgres")
    url = throwaway_postgres.url
    migrate(url)
    server = app_server(DATABASE_URL=url, CONN_MAX_AGE=60, CONN_HEALTH_CHECKS="true")
    traffic = Traffic(server.url).start()
    wait_until(lambda: traffic.count(200) >= 100, timeout=60, what="traffic flowing")

    issued = next(traffic.numbers)
    answered_before_down = min(set(range(issued)) - set(traffic.answers), default=issued)
    throwaway_postgres.stop()
    wait_until(lambda: traffic.count_5xx() >= 30, timeout=60, what="5xx answers while down")
    throwaway_postgres.start()
    wait_until(
        lambda: Counter(list(traffic.answers.values())[-20:]) == Counter({200: 20}),
        timeout=60,
        what="200s again after the restart",
    )
    traffic.stop()

    answers = dict(traffic.answers)
    refused = [i for i, answer in answers.items() if answer != 200]
    assert refused, "some webhooks should have been refused while the database was down"
    assert {a for a in answers.values() if a != 200} <= {500, 502, 503, 504}, Counter(
        answers.values()
    )
    assert min(refused) >= answered_before_down  # refusals came once it went down
    # Exotel retries every webhook that did not get a 200.
    session = requests.Session()
    retried = {i: traffic.post(session, i) for i in refused}
    assert set(retried.values()) == {200}

    sids = {f"inb_sms_{i:06d}" for i in answers}
    stored = {row[0] for row in query(url, "SELECT sid FROM conversations_message")}
    assert stored == sids  # every SMS stored once, whichever try got through
    assert query(url, "SELECT count(*) FROM conversations_message")[0][0] == len(sids)
    orphans = query(
        url,
        """SELECT count(*) FROM conversations_message m WHERE NOT EXISTS
           (SELECT 1 FROM conversations_webhookevent e WHERE e.sid = m.sid)""",
    )
    assert orphans[0][0] == 0  # no message without its event
    miscounted = query(
        url,
        """SELECT count(*) FROM conversations_conversation c WHERE c.message_count <>
           (SELECT count(*) FROM conversations_message m WHERE m.conversation_id = c.id)""",
    )
    assert miscounted[0][0] == 0  # no conversation counted a message it does not have

    worker_process(DATABASE_URL=url, EXOTEL_BASE_URL="http://127.0.0.1:9")
    pending = "SELECT count(*) FROM conversations_webhookevent WHERE processed_at IS NULL"
    backdate = "UPDATE conversations_webhookevent SET received_at = now() - interval '5 minutes'"
    query(url, backdate)  # the sweep takes events older than 30 s
    sweep = [sys.executable, "-m", "celery", "-A", "smsdesk", "call"]
    sweep += ["conversations.tasks.sweep_webhook_events_task"]
    subprocess.run(sweep, cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, check=True)
    wait_until(lambda: query(url, pending)[0][0] == 0, timeout=120, what="every event applied")
    outcomes = query(
        url, "SELECT count(*), count(DISTINCT message_id) FROM conversations_inboundoutcome"
    )
    assert outcomes[0] == (len(sids), len(sids))
