"""Consent: opt-outs honoured on every path, the append-only ledger, CSV import and export."""

import io
import threading
from urllib.parse import urlsplit

import pytest
import responses
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.urls import reverse

from conversations.models import (
    ConsentEvent,
    ConsentKind,
    Direction,
    InboundAction,
    InboundOutcome,
    Message,
    MessageStatus,
    OptOut,
    OptOutSource,
)
from conversations.services import consent
from conversations.services.sending import SendRefused, send_message, status_callback_url

from .factories import ConversationFactory, DltTemplateFactory, MessageFactory
from .sms import CUSTOMER, applet_fields, run_inbound_tasks, text_in

pytestmark = pytest.mark.django_db

NOTICE = "Your order {#var#} has been shipped."


@pytest.fixture
def notice_template(db):
    return DltTemplateFactory(body=NOTICE)


@pytest.fixture
def no_exotel():
    """Refused sends never get as far as Exotel: no request, and no message left to send but
    the STOP confirmation."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
    assert len(mock.calls) == 0
    outbound = Message.objects.filter(direction=Direction.OUTBOUND)
    assert [m.body[:30] for m in outbound] == ["You have been unsubscribed and"]


def api_send(api, to=CUSTOMER):
    return api.post(
        "/api/sms/send", {"to": to, "body": "Your order 42 has been shipped."}, format="json"
    )


def api_reply(api, phone=CUSTOMER):
    body = {"body": "Your order 42 has been shipped."}
    return api.post(f"/api/conversations/{phone}/reply", body, format="json")


def test_stop_then_an_api_send_is_refused(
    client, staff_api, reply_templates, notice_template, no_exotel
):
    text_in(client, "STOP")
    response = api_send(staff_api)
    assert response.status_code == 400
    assert response.json()["code"] == "opted_out"


def test_stop_then_a_conversation_reply_is_refused(
    client, staff_api, reply_templates, notice_template, no_exotel
):
    text_in(client, "STOP")
    response = api_reply(staff_api)
    assert response.status_code == 400
    assert response.json()["code"] == "opted_out"


def test_stop_then_an_auto_reply_is_not_sent(client, reply_templates, no_exotel):
    text_in(client, "STOP")
    assert text_in(client, "HELP") is None
    assert InboundOutcome.objects.latest("pk").action == InboundAction.OPTED_OUT_SENDER


def test_stop_then_a_send_from_code_is_refused(client, reply_templates, notice_template):
    text_in(client, "STOP")
    with pytest.raises(SendRefused) as refused:
        send_message(CUSTOMER, "Your order 42 has been shipped.")
    assert refused.value.code == "opted_out"


def test_start_then_sends_work_again(client, staff_api, reply_templates, notice_template):
    text_in(client, "STOP")
    assert text_in(client, "START").startswith("You are subscribed again")
    assert api_send(staff_api).status_code == 202
    assert text_in(client, "HELP") is not None


def test_only_start_opts_back_in(client, reply_templates):
    text_in(client, "STOP")
    for body in ("YES", "hello", "please start sending again", "SUBSCRIBE ME"):
        text_in(client, body)
    assert consent.is_opted_out(CUSTOMER)


def test_stop_is_confirmed_once(client, reply_templates):
    assert text_in(client, "STOP") is not None
    assert text_in(client, "stop") is None
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 1


def test_the_confirmation_is_the_one_message_allowed_after_stop(client, reply_templates):
    text_in(client, "STOP")
    confirmation = Message.objects.get(direction=Direction.OUTBOUND)
    assert confirmation.status == MessageStatus.PENDING
    assert not consent.blocks_message(confirmation)
    other = MessageFactory(conversation=confirmation.conversation)
    assert consent.blocks_message(other)


def test_the_ledger_records_stop_with_its_message_and_confirmation(client, reply_templates):
    text_in(client, "Stop!")
    event = ConsentEvent.objects.get()
    assert event.kind == ConsentKind.OPT_OUT
    assert event.source == OptOutSource.KEYWORD
    assert event.changed
    assert event.keyword == "Stop!"
    assert event.message.body == "Stop!"
    assert event.reply_message.direction == Direction.OUTBOUND


def test_a_repeated_stop_is_in_the_ledger_as_unchanged(client, reply_templates):
    text_in(client, "STOP")
    text_in(client, "STOP")
    assert list(ConsentEvent.objects.order_by("pk").values_list("changed", flat=True)) == [
        True,
        False,
    ]
    assert OptOut.objects.count() == 1


def test_the_ledger_keeps_every_statement_in_order(client, reply_templates):
    for body in ("STOP", "START", "band karo"):
        text_in(client, body)
    history = consent.consent_history(CUSTOMER).order_by("pk")
    assert [(e.kind, e.changed) for e in history] == [
        (ConsentKind.OPT_OUT, True),
        (ConsentKind.OPT_IN, True),
        (ConsentKind.OPT_OUT, True),
    ]
    assert OptOut.objects.filter(phone_number=CUSTOMER).count() == 2


def test_staff_opt_in_is_recorded_with_who(staff_user):
    consent.opt_out(CUSTOMER, source=OptOutSource.KEYWORD)
    consent.opt_in(CUSTOMER, source=OptOutSource.STAFF, user=staff_user)
    event = ConsentEvent.objects.get(kind=ConsentKind.OPT_IN)
    assert (event.source, event.created_by, event.changed) == ("staff", staff_user, True)


def test_the_api_opt_out_and_opt_in_are_in_the_ledger(staff_api):
    assert staff_api.post("/api/optouts", {"phone_number": "9876543210"}).status_code == 201
    assert staff_api.delete(f"/api/optouts/{CUSTOMER}").status_code == 204
    sources = list(ConsentEvent.objects.order_by("pk").values_list("kind", "source"))
    assert sources == [("opt_out", "api"), ("opt_in", "api")]


def test_exotel_blacklist_23020_opts_out_through_the_status_callback(client):
    message = MessageFactory(
        conversation=ConversationFactory(phone_number=CUSTOMER),
        sid="0f477d60517e6e9d8c2a2d9a4f8b9c1a",
        status=MessageStatus.SUBMITTED,
    )
    url = urlsplit(status_callback_url(message))
    fields = {
        "SmsSid": message.sid,
        "To": "09876543210",
        "Status": "failed",
        "DetailedStatus": "BLACKLISTED",
        "DetailedStatusCode": "23020",
    }
    assert client.post(f"{url.path}?{url.query}", fields).status_code == 200
    run_inbound_tasks()
    event = ConsentEvent.objects.get()
    assert (event.source, event.kind, event.message) == ("exotel_blacklist", "opt_out", message)
    assert consent.is_opted_out(CUSTOMER)


def test_the_opt_in_flow_never_reverses_an_opt_out():
    consent.opt_out(CUSTOMER, source=OptOutSource.STAFF)
    assert consent.record_consent_given(CUSTOMER, keyword="YES") is False
    assert consent.is_opted_out(CUSTOMER)


def test_opted_out_numbers_are_checked_in_any_format():
    consent.opt_out("09876543210", source=OptOutSource.IMPORT)
    assert consent.is_opted_out("+91 98765 43210")


# --- CSV import and export ------------------------------------------------------------------


def upload(text, name="optouts.csv", encoding="utf-8"):
    return (
        io.BytesIO(text.encode(encoding))
        if name is None
        else SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")
    )


def test_import_opts_out_each_number_and_reports_bad_rows(staff_user):
    report = consent.import_opt_outs(
        upload("phone_number,note\n9876543210,asked\n+919876543211,\nnot a phone,x\n\n"),
        user=staff_user,
    )
    assert (report.added, report.already) == (2, 0)
    assert report.errors[0].startswith("line 4: 'not a phone'")
    assert consent.is_opted_out("+919876543211")
    event = ConsentEvent.objects.filter(source=OptOutSource.IMPORT).first()
    assert event.created_by == staff_user


def test_import_without_a_header_reads_the_first_column(staff_user):
    report = consent.import_opt_outs(upload("9876543210\n9876543211\n"), user=staff_user)
    assert report.added == 2


def test_import_counts_numbers_already_opted_out(staff_user):
    consent.opt_out(CUSTOMER, source=OptOutSource.KEYWORD)
    report = consent.import_opt_outs(upload("\ufeffphone\n09876543210\n"), user=staff_user)
    assert (report.added, report.already) == (0, 1)


def test_import_refuses_a_file_that_is_not_utf8(staff_user):
    with pytest.raises(ValidationError, match="not UTF-8"):
        consent.import_opt_outs(upload("phone\n98765\xe9", encoding="latin-1"), user=staff_user)


def test_import_refuses_a_huge_file(staff_user, monkeypatch):
    monkeypatch.setattr(consent, "MAX_IMPORT_BYTES", 10)
    with pytest.raises(ValidationError, match="larger than"):
        consent.import_opt_outs(upload("9876543210\n" * 5), user=staff_user)


def test_admin_import_page_opts_numbers_out(client, staff_user):
    client.force_login(staff_user)
    url = reverse("admin:conversations_optout_import")
    assert client.get(url).status_code == 200
    response = client.post(url, {"file": upload("phone\n9876543210\n")})
    assert response.status_code == 302
    assert consent.is_opted_out(CUSTOMER)


def test_admin_import_page_shows_a_bad_file_as_a_form_error(client, staff_user):
    client.force_login(staff_user)
    url = reverse("admin:conversations_optout_import")
    response = client.post(url, {"file": upload("x\xe9", encoding="latin-1")})
    assert response.status_code == 200
    assert "not UTF-8" in response.content.decode()


def test_admin_import_page_is_for_staff_only(client, agent_user):
    client.force_login(agent_user)
    response = client.get(reverse("admin:conversations_optout_import"))
    assert response.status_code == 302  # to the admin login


def test_admin_export_lists_open_opt_outs_safely(client, staff_user):
    consent.opt_out(CUSTOMER, source=OptOutSource.KEYWORD, keyword="=HYPERLINK()")
    consent.opt_out("+919876543211", source=OptOutSource.KEYWORD)
    consent.opt_in("+919876543211", source=OptOutSource.STAFF)
    client.force_login(staff_user)
    response = client.get(reverse("admin:conversations_optout_export"))
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "phone_number,source,keyword,created_at,revoked_at"
    assert len(lines) == 2
    assert "'=HYPERLINK()" in lines[1]


def test_admin_export_with_history_lists_every_record(client, staff_user):
    consent.opt_out(CUSTOMER, source=OptOutSource.KEYWORD)
    consent.opt_in(CUSTOMER, source=OptOutSource.STAFF)
    client.force_login(staff_user)
    response = client.get(reverse("admin:conversations_optout_export") + "?history=1")
    assert len(b"".join(response.streaming_content).decode().splitlines()) == 2


def test_the_ledger_cannot_be_edited_or_deleted_in_admin(client, staff_user):
    event = consent.opt_out(CUSTOMER, source=OptOutSource.KEYWORD) and ConsentEvent.objects.get()
    client.force_login(staff_user)
    delete = reverse("admin:conversations_consentevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert ConsentEvent.objects.filter(pk=event.pk).exists()


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises writers, so two opt-outs can never race; PostgreSQL can.",
)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_opt_outs_at_the_same_moment_leave_one_open_record():
    barrier = threading.Barrier(2)

    def stop():
        try:
            barrier.wait(timeout=5)
            consent.opt_out(CUSTOMER, source=OptOutSource.KEYWORD)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=stop) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert OptOut.objects.filter(phone_number=CUSTOMER, revoked_at__isnull=True).count() == 1
    assert sorted(ConsentEvent.objects.values_list("changed", flat=True)) == [False, True]


@pytest.mark.parametrize(
    "url",
    [
        "/admin/conversations/consentevent/",
        "/admin/conversations/consentevent/?kind__exact=opt_out&q=98765",
        "/admin/conversations/inboundoutcome/",
        "/admin/conversations/optout/",
        "/admin/conversations/conversation/?needs_attention__exact=1",
    ],
)
def test_consent_admin_pages_render(client, staff_user, reply_templates, url):
    text_in(client, "STOP")
    client.force_login(staff_user)
    assert client.get(url).status_code == 200


def test_stop_opts_out_even_when_its_confirmation_cannot_be_sent(client):
    # No DLT template is registered, so the confirmation is refused; the opt-out is not.
    assert text_in(client, "STOP") is None
    assert consent.is_opted_out(CUSTOMER)
    assert InboundOutcome.objects.get().reply_error.startswith("dlt_mismatch")


def test_stop_by_the_applet_head_opts_out_before_the_get(client, reply_templates):
    fields = applet_fields("STOP")
    client.head("/webhook/sms-incoming", fields)
    assert consent.is_opted_out(CUSTOMER)
    confirmation = client.get("/webhook/sms-incoming", fields).content.decode()
    assert ConsentEvent.objects.get().reply_message.body == confirmation
