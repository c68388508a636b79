"""Issue 10, item 10: CSRF on every form, XSS in names and bodies on every page, formula
injection in every CSV export, and no secret or token in the logs.

Pages and exports are found from the resolver and the admin registry (see the authorisation
matrix), so pages added later are checked too.
"""

import csv
import io
import logging
import re

import pytest
from django.test import Client
from django.utils.html import escape
from rest_framework.authtoken.models import Token

from conversations.models import Campaign, Conversation
from conversations.services import analytics, campaigns
from conversations.services.campaign_audience import import_pasted
from conversations.services.exports import FORMULA_PREFIXES
from conversations.services.sending import status_callback_url

from ..factories import (
    ConversationFactory,
    DltTemplateFactory,
    InboundMessageFactory,
    MessageFactory,
    StaffFactory,
)
from .test_authorisation_matrix import WEBHOOKS, concrete_path, model_admins, routes
from .traffic import inbound_form, status_form

XSS_NAME = '<script>alert("xss-name")</script>'
XSS_BODY = "<img src=x onerror=alert('xss-body')>"
XSS_CAMPAIGN = "<svg onload=alert('xss-campaign')>"
PAYLOADS = (XSS_NAME, XSS_BODY, XSS_CAMPAIGN)
FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+SUM(1,2)", "-2+3", "@SUM(A1)")
TEMPLATE = "Hi {#var#}, your appointment is on {#var#}."


@pytest.fixture
def superuser_client(db):
    client = Client()
    client.force_login(StaffFactory(username="security-root"))
    return client


@pytest.fixture
def hostile_data(db):
    """Names, bodies and campaign fields as an attacker (or a careless import) writes them."""
    conversation = ConversationFactory(phone_number="+919812345678", contact_name=XSS_NAME)
    InboundMessageFactory(conversation=conversation, body=XSS_BODY)
    MessageFactory(conversation=conversation, body=XSS_BODY, status="failed")
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_body=XSS_BODY, message_count=2, unread_count=1
    )
    formula = ConversationFactory(phone_number="+919812345679", contact_name=FORMULAS[0])
    for text in FORMULAS:
        InboundMessageFactory(conversation=formula, body=text)
    Conversation.objects.filter(pk=formula.pk).update(last_message_body=FORMULAS[1])
    template = DltTemplateFactory(body=TEMPLATE, name=XSS_CAMPAIGN)
    campaign = campaigns.create_campaign(XSS_CAMPAIGN, template=template)
    import_pasted(campaign, f'+919812345670,"{XSS_NAME}",=1+2\n+919812345671,@x,-3')
    return conversation


def html_of(response):
    if "html" not in response.get("Content-Type", ""):
        return None
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def get_pages():
    for route, entry in routes():
        if re.search(WEBHOOKS, route) or route.startswith("admin/") or "logout" in route:
            continue
        yield concrete_path(route, entry)


def admin_pages():
    for model, _ in model_admins():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        yield base
        for obj in model._default_manager.all()[:2]:
            yield f"{base}{obj.pk}/change/"


def test_no_page_shows_a_name_or_body_unescaped(hostile_data, superuser_client):
    pages = [*get_pages(), *admin_pages(), "/admin/"]
    campaign = Campaign.objects.get()
    pages += [f"/campaigns/{campaign.pk}/", f"/inbox/?q=%3Cscript%3E{XSS_NAME}"]
    checked, unsafe, shown = 0, [], set()
    for path in pages:
        response = superuser_client.get(path)
        assert response.status_code < 500 or path == "/healthz", (path, response.status_code)
        html = html_of(response)
        if html is None:
            continue
        checked += 1
        unsafe += [(path, payload) for payload in PAYLOADS if payload in html]
        shown |= {payload for payload in PAYLOADS if escape(payload) in html}
    assert unsafe == []
    assert shown == set(PAYLOADS), "each payload should be shown (escaped) somewhere"
    assert checked >= 20, "too few HTML pages were checked"


def _csv_cells(response):
    content = (
        b"".join(response.streaming_content) if response.streaming else response.content
    ).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    return [cell for row in rows[1:] for cell in row]  # the header is ours


def csv_exports(client, data):
    """Every CSV download: pages, API, admin views and admin actions."""
    campaign = Campaign.objects.get()
    yield "/inbox/export.csv", client.get("/inbox/export.csv")
    for key in analytics.PANELS:
        path = f"/dashboard/export/{key}.csv"
        yield path, client.get(path)
    path = f"/api/campaigns/{campaign.pk}/export"
    yield path, client.get(path)
    for model, model_admin in model_admins():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        selected = [str(pk) for pk in model._default_manager.values_list("pk", flat=True)[:50]]
        for name in model_admin.get_actions(_request(client)):
            if "export" in name and selected:
                yield (
                    f"{base} action {name}",
                    client.post(base, {"action": name, "_selected_action": selected}),
                )
        for pattern in model_admin.get_urls():
            if "export" in (pattern.name or "") and "pk" in pattern.pattern.regex.groupindex:
                for pk in selected[:3]:
                    path = f"{base}{pk}/export/"
                    yield path, client.get(path)


def _request(client):
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username="security-root")
    return request


def test_no_csv_export_starts_a_cell_with_a_formula(hostile_data, superuser_client):
    exported, unsafe, neutralised = [], [], 0
    for name, response in csv_exports(superuser_client, hostile_data):
        if "csv" not in response.get("Content-Type", ""):
            continue
        exported.append(name)
        cells = _csv_cells(response)
        unsafe += [(name, cell) for cell in cells if cell.startswith(FORMULA_PREFIXES)]
        neutralised += sum(cell[1:].startswith(FORMULA_PREFIXES) for cell in cells)
    assert unsafe == []
    assert neutralised > 0, "the hostile cells should have been exported, quoted"
    assert any("inbox" in n for n in exported) and any("action" in n for n in exported)
    assert any(n.startswith("/api/campaigns") for n in exported), exported


def test_every_form_refuses_a_post_without_its_csrf_token(hostile_data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(StaffFactory(username="csrf-root"))
    paths = [*get_pages(), *admin_pages()]
    for model, _ in model_admins():
        paths.append(f"/admin/{model._meta.app_label}/{model._meta.model_name}/add/")
    paths += ["/accounts/logout/", "/admin/logout/", "/admin/password_change/"]
    accepted, refused = [], 0
    for path in paths:
        response = client.post(path, {"body": "hello", "action": "export_csv"})
        refused += response.status_code == 403
        if response.status_code not in (403, 405):
            accepted.append((path, response.status_code))
    assert accepted == []
    assert refused >= 20


def test_sign_in_refuses_a_post_without_its_csrf_token(db):
    StaffFactory(username="csrf-login")
    client = Client(enforce_csrf_checks=True)
    for path in ("/accounts/login/", "/admin/login/"):
        response = client.post(path, {"username": "csrf-login", "password": "pass-for-tests-1"})
        assert response.status_code == 403, path


def test_webhook_tokens_and_api_tokens_never_reach_the_logs(db, settings, caplog):
    webhook_secret = "whk-SECRET-4f1c9d2e"
    settings.EXOTEL_WEBHOOK_TOKEN = webhook_secret
    user = StaffFactory(username="log-root")
    api_key = Token.objects.create(user=user).key
    message = MessageFactory(sid="log_sid_1")
    status_url = status_callback_url(message)
    signed = status_url.rsplit("token=", 1)[1]
    client = Client()
    caplog.set_level(logging.DEBUG)

    client.post(f"/webhook/sms-incoming?token={webhook_secret}", inbound_form(1))
    client.post(f"/webhook/sms-incoming?token={webhook_secret}x", inbound_form(2))
    client.post(f"/webhook/sms-incoming?token={webhook_secret}", {"SmsSid": "bad sid!"})
    client.get("/webhook/sms-incoming", {**inbound_form(3), "token": webhook_secret})
    client.post(f"/webhook/sms-status?token={signed}", status_form("log_sid_1"))
    client.post(f"/webhook/sms-status?token={signed}", {"SmsSid": "", "Status": "nope"})
    client.post(f"/webhook/sms-status?token={signed[:-2]}xx", status_form("log_sid_1"))
    for header in (f"Token {api_key}", f"Token {api_key[:-1]}Z"):
        client.get("/api/messages", HTTP_AUTHORIZATION=header)
        client.post("/api/sms/send", {"to": "12"}, HTTP_AUTHORIZATION=header)

    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert "webhook refused" in logged  # the refusals were logged ...
    for secret in (webhook_secret, signed, signed.split(":")[-1], api_key, api_key[:-1]):
        assert secret not in logged  # ... without the secrets
    assert settings.EXOTEL_API_TOKEN not in logged
