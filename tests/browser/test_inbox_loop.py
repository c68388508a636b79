"""The whole loop in a real browser (issue 6): an agent replies in the thread, a real
`celery -A smsdesk worker` process sends it to the Exotel sandbox running as its own process,
the sandbox's status callback reaches the live server, and the page shows "Delivered" without
a reload; then the customer's answer, sent by the sandbox's `inbound` command through the
webhook, appears in the open thread."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conversations.models import Message, MessageStatus

from .helpers import RAVI, expect, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _sandbox_command(*args):
    return [sys.executable, "-m", "exotel_client.sandbox", *args]


@pytest.fixture
def sandbox_process(live_server):
    """`python -m exotel_client.sandbox` on a free port, calling back the live server."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = _sandbox_command("--port", str(port), "--callback-delay", "0.5")
    command += ["--app-url", live_server.url]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 20
    try:
        while True:
            assert process.poll() is None, f"the sandbox exited with {process.returncode}"
            try:
                requests.get(f"{base_url}/sandbox/health", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "the sandbox did not start within 20 s"
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def worker(worker_process, sandbox_process, live_server, settings):
    settings.EXOTEL_BASE_URL = sandbox_process
    settings.PUBLIC_BASE_URL = live_server.url
    return worker_process(EXOTEL_BASE_URL=sandbox_process, PUBLIC_BASE_URL=live_server.url)


def test_reply_is_delivered_and_the_customer_answer_appears_live(
    signed_in, seed_inbox, template, worker, live_server
):
    page = signed_in
    page.goto(f"/inbox/c/{RAVI}/")
    page.get_by_label("DLT template").select_option(label="Appointment confirmed")
    page.get_by_label("Variable 1").fill("22 Jan")
    page.get_by_label("Variable 2").fill("11 AM")
    page.get_by_label("Variable 2").press("Control+Enter")
    expect(page.get_by_text("Reply queued.")).to_be_visible()
    reply = page.locator("#thread .bubble.outbound").last
    expect(reply).to_contain_text("22 Jan at 11 AM")
    # The worker sends it to the sandbox; the sandbox's callback marks it delivered; the
    # page's polling shows it (the worker process needs a few seconds to start).
    expect(reply.locator(".status")).to_have_text("Delivered", timeout=30_000)
    message = Message.objects.get(body__contains="22 Jan at 11 AM")
    assert message.status == MessageStatus.DELIVERED and message.sid
    screenshot(page, "inbox-thread-delivered.png")

    answer = subprocess.run(
        _sandbox_command(
            "inbound", "--app-url", live_server.url, "--from", RAVI, "--body", "See you at 11"
        ),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert answer.returncode == 0, answer.stderr
    # Within 5 seconds, without reload (the thread polls every 3 s).
    expect(page.locator("#thread .bubble.inbound").last).to_contain_text(
        "See you at 11", timeout=5_000
    )
