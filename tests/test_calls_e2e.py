"""A missed call played by the sandbox (as Exotel's Passthru) through the live app: the lead
conversation, the call event and the SMS that followed, sent by a real `celery -A smsdesk
worker` process to the sandbox and delivered by its status callback (issue 9)."""

import subprocess
import sys

import pytest

from conversations.models import Message, MessageStatus
from exotel_client.sandbox import SandboxServer

from .conftest import ROOT, wait_until
from .factories import CallRuleFactory, DltTemplateFactory

CALLER = "+919876543210"
TOKEN = "calls-T0K"
BODY = "We missed your call at {#var#}. We will call you back soon."


@pytest.fixture
def sandbox(settings, live_server):
    settings.EXOTEL_WEBHOOK_TOKEN = TOKEN
    with SandboxServer(callback_delay=0.0, app_url=live_server.url, webhook_token=TOKEN) as server:
        settings.EXOTEL_BASE_URL = server.base_url
        settings.PUBLIC_BASE_URL = live_server.url
        yield server


@pytest.fixture
def worker(worker_process, sandbox, live_server):
    return worker_process(EXOTEL_BASE_URL=sandbox.base_url, PUBLIC_BASE_URL=live_server.url)


@pytest.fixture
def missed_call_rule(sandbox):
    template = DltTemplateFactory(body=BODY)
    # The sandbox's operator checks the body against the registered template, as DLT does.
    sandbox.add_templates([{"template_id": template.template_id, "body": template.body}])
    return CallRuleFactory(template=template, variables=["{DateTime}"], call_types=["missed"])


def delivered_count():
    return Message.objects.filter(status=MessageStatus.DELIVERED).count()


@pytest.mark.worker
def test_a_missed_call_opens_a_lead_whose_sms_is_delivered_via_the_sandbox(
    worker, sandbox, missed_call_rule, staff_api
):
    played = sandbox.send_call(caller=CALLER, call_type="call-attempt")

    assert played["http_status"] == 200, played
    wait_until(lambda: delivered_count() == 1, what="the SMS after the missed call")
    body = staff_api.get(f"/api/conversations/{CALLER}").json()
    assert body["is_lead"] is True
    (event,) = body["events"]
    assert (event["call_sid"], event["type"]) == (played["fields"]["CallSid"], "call-attempt")
    (message,) = body["messages"]
    assert (message["status"], message["source"]) == ("delivered", "call")
    (received,) = sandbox.state.messages()
    assert (received.sid, received.body) == (message["sid"], message["body"])
    assert message["body"].startswith("We missed your call at 20")


@pytest.mark.worker
def test_exotel_calling_twice_for_the_call_sends_one_sms(worker, sandbox, missed_call_rule):
    first = sandbox.send_call(caller=CALLER, call_type="call-attempt")
    sid = first["fields"]["CallSid"]
    again = sandbox.send_call(caller=CALLER, call_type="call-attempt", call_sid=sid)
    later = sandbox.send_call(caller=CALLER, call_type="incomplete", call_sid=sid)

    assert [first["http_status"], again["http_status"], later["http_status"]] == [200, 200, 302]
    wait_until(lambda: delivered_count() == 1, what="the SMS after the missed call")
    assert len(sandbox.state.messages()) == 1


def test_the_sandbox_command_line_plays_a_call_an_opted_out_caller_gets_302(
    sandbox, missed_call_rule, live_server
):
    from conversations.models import OptOutSource
    from conversations.services import consent

    consent.opt_out(CALLER, source=OptOutSource.KEYWORD, keyword="STOP")
    command = [sys.executable, "-m", "exotel_client.sandbox", "call-event", "--url"]
    command += [live_server.url, "--token", TOKEN, "--type", "incomplete", "--from", CALLER]

    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30)

    assert result.returncode == 0, result.stderr
    assert '"http_status": 302' in result.stdout
    assert not Message.objects.exists()


def test_the_call_player_sends_what_exotel_sends(sandbox, live_server):
    from conversations.models import CallEvent
    from exotel_client.sandbox.customer import send_call_event

    played = send_call_event(
        live_server.url,
        caller="09876543210",
        to="08047112345",
        call_type="completed",
        digits="42",
        duration=65,
        call_sid="played-sid-1",
        recording_url="https://recordings.example.com/played-sid-1.mp3",
        token=TOKEN,
    )

    assert played["http_status"] == 302  # no rule for completed calls
    event = CallEvent.objects.get(call_sid="played-sid-1")
    assert (event.from_number, event.exophone) == (CALLER, "+918047112345")
    assert (event.call_type, event.digits, event.duration) == ("completed", "42", 65)
    assert event.recording_url == "https://recordings.example.com/played-sid-1.mp3"
    assert event.params["digits"] == '"42"'


def test_the_sandbox_page_plays_a_call_to_the_app(sandbox):
    import requests

    from conversations.models import CallEvent

    page = requests.get(f"{sandbox.base_url}/", timeout=5).text
    form = {"from": CALLER, "to": "08047112345", "call_type": "voicemail", "digits": ""}

    answer = requests.post(
        f"{sandbox.base_url}/sandbox/call", data=form, allow_redirects=False, timeout=10
    )

    assert "Call as a customer" in page
    assert answer.status_code == 303
    assert CallEvent.objects.get().call_type == "voicemail"
    assert "HTTP 302" in requests.get(f"{sandbox.base_url}/", timeout=5).text
