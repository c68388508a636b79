"""SMS from calls in a real browser (issue 9): the sandbox plays a missed call through the
Passthru webhook of the live server, a real `celery -A smsdesk worker` process sends the call
rule's SMS to the sandbox, and an agent finds the lead under "Leads" and sees the call and the
delivered SMS in its thread."""

import pytest

from conversations.models import Message, MessageStatus
from exotel_client.sandbox import SandboxServer
from tests.conftest import wait_until
from tests.factories import CallRuleFactory, DltTemplateFactory

from .helpers import expect, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CALLER = "+919812345678"
BODY = "We missed your call at {#var#}. We will call you back soon."


@pytest.fixture
def sandbox(settings, live_server):
    with SandboxServer(callback_delay=0.0, app_url=live_server.url) as server:
        settings.EXOTEL_BASE_URL = server.base_url
        settings.PUBLIC_BASE_URL = live_server.url
        yield server


def test_an_agent_sees_a_missed_call_lead_with_its_call_and_delivered_sms(
    signed_in, sandbox, worker_process, live_server
):
    page = signed_in
    template = DltTemplateFactory(body=BODY)
    sandbox.add_templates([{"template_id": template.template_id, "body": template.body}])
    CallRuleFactory(template=template, variables=["{DateTime}"], call_types=["missed"])
    worker_process(EXOTEL_BASE_URL=sandbox.base_url, PUBLIC_BASE_URL=live_server.url)

    played = sandbox.send_call(caller=CALLER, call_type="incomplete", duration=0)
    assert played["http_status"] == 200, played
    wait_until(
        lambda: Message.objects.filter(status=MessageStatus.DELIVERED).exists(),
        what="the SMS after the missed call to be delivered",
    )

    page.goto("/inbox/?filter=leads")
    row = page.locator("li.conversation", has_text=CALLER)
    expect(row).to_be_visible()
    expect(row.locator(".tag-lead")).to_have_text("Lead")
    row.get_by_role("link").click()
    thread = page.locator("#thread")
    expect(thread.locator("li.call-event")).to_contain_text("Missed call")
    expect(thread.locator("li.bubble.outbound")).to_contain_text("We missed your call at")
    expect(thread.locator("li.bubble.outbound .status")).to_have_text("Delivered")
    screenshot(page, "inbox-missed-call-lead.png")
