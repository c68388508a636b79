"""The supervisors' dashboard (issue 8): a seeded dataset with known counts, every number exact."""

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.models import AuditLog, Campaign, Conversation, Message, MessageStatus, OptOut
from conversations.services import analytics

from .factories import (
    ConversationFactory,
    DltTemplateFactory,
    InboundMessageFactory,
    MessageFactory,
    OptOutFactory,
    UserFactory,
)

IST = ZoneInfo("Asia/Kolkata")
RANGE = analytics.DateRange(date(2026, 11, 1), date(2026, 11, 3))


def ist(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=IST) if day else None


def at(obj, when, field="created_at"):
    type(obj).objects.filter(pk=obj.pk).update(**{field: when})
    return obj


@pytest.fixture
def dataset(db):
    """See the module's tests for the expected numbers; times are IST."""
    asha, ravi = UserFactory(username="asha"), UserFactory(username="ravi")
    t1 = DltTemplateFactory(name="Reminder", template_id="1107000000000000001", sender_id="SENDA")
    t2 = DltTemplateFactory(name="Offer", template_id="1107000000000000002", sender_id="SENDB")
    camp = Campaign.objects.create(name="Diwali", template=t2)
    c1, c2, c3 = ConversationFactory(), ConversationFactory(), ConversationFactory()

    def out(conv, when, template, status, code=None, **extra):
        message = MessageFactory(
            conversation=conv,
            template=template,
            sender=template.sender_id,
            status=status,
            detailed_status_code=code,
            detailed_status=f"code {code}" if code else "",
            **extra,
        )
        return at(message, when)

    at(InboundMessageFactory(conversation=c1), ist(1, 9, 15))
    at(InboundMessageFactory(conversation=c1), ist(1, 9, 16))
    out(c1, ist(1, 10, 0), t1, MessageStatus.DELIVERED, created_by=asha)  # waited 45 min
    out(c1, ist(1, 10, 5), t1, MessageStatus.DELIVERED, created_by=asha)  # not a first reply
    out(c3, ist(1, 10, 0), t1, MessageStatus.FAILED, 23081)
    out(c3, ist(1, 10, 0), t2, MessageStatus.SENT)
    out(c3, ist(2, 23, 30), t2, MessageStatus.FAILED_DND, 20013, campaign=camp)
    out(c3, ist(2, 23, 30), t2, MessageStatus.DELIVERED, campaign=camp)
    reply = at(InboundMessageFactory(conversation=c2, campaign=camp), ist(2, 23, 40))
    out(c2, ist(3, 0, 30), t1, MessageStatus.FAILED, 23080, created_by=ravi)  # waited 50 min
    out(c3, datetime(2026, 10, 31, 23, 0, tzinfo=IST), t1, MessageStatus.DELIVERED)  # outside
    Conversation.objects.filter(pk=c1.pk).update(closed_at=ist(1, 11, 15), closed_by=asha)
    at(OptOutFactory(), ist(1, 12, 0))
    at(OptOutFactory(message=reply), ist(3, 1, 0))
    at(OptOutFactory(), ist(4, 1, 0))  # outside
    return {"t1": t1, "t2": t2, "camp": camp}


@pytest.fixture
def stuck(db, settings):
    settings.RECONCILE_AFTER_MINUTES = 30
    conv = ConversationFactory()
    old = timezone.now() - timedelta(hours=2)
    at(MessageFactory(conversation=conv, status=MessageStatus.SUBMITTED, sid="s1"), old)
    at(MessageFactory(conversation=conv, status=MessageStatus.SUBMITTED, sid="s2"), old)
    at(MessageFactory(conversation=conv, status=MessageStatus.PENDING), old)
    at(MessageFactory(conversation=conv, status=MessageStatus.SCHEDULED), old)  # held on purpose
    MessageFactory(conversation=conv, status=MessageStatus.SUBMITTED, sid="s3")  # too recent
    at(MessageFactory(conversation=conv, status=MessageStatus.DELIVERED), old)


def test_sent_delivered_failed_per_day_follow_ist_days(dataset):
    assert analytics.outbound_per_day(RANGE) == [
        {"day": date(2026, 11, 1), "sent": 4, "delivered": 3, "failed": 1},
        {"day": date(2026, 11, 2), "sent": 2, "delivered": 1, "failed": 1},
        {"day": date(2026, 11, 3), "sent": 1, "delivered": 0, "failed": 1},
    ]


def test_delivery_rate_by_template(dataset):
    rows = {row["template"]: row for row in analytics.delivery_by_template(RANGE)}
    assert rows["Reminder"] == {
        "template": "Reminder",
        "dlt_template_id": "1107000000000000001",
        "sent": 4,
        "finished": 4,
        "delivered": 2,
        "failed": 2,
        "rate": 50.0,
        "dlt_rejections": 2,
    }
    assert (rows["Offer"]["sent"], rows["Offer"]["delivered"], rows["Offer"]["rate"]) == (
        3,
        2,
        66.7,
    )


def test_delivery_rate_by_sender(dataset):
    rows = {
        row["sender"]: (row["sent"], row["delivered"], row["rate"])
        for row in analytics.delivery_by_sender(RANGE)
    }
    assert rows == {"SENDA": (4, 2, 50.0), "SENDB": (3, 2, 66.7)}


def test_failures_by_exotel_reason(dataset):
    rows = {
        row["detailed_status_code"]: row["count"] for row in analytics.failures_by_reason(RANGE)
    }
    assert rows == {23080: 1, 23081: 1, 20013: 1}


def test_dlt_rejections_per_template_and_code(dataset):
    assert analytics.dlt_rejections_by_template(RANGE) == [
        {
            "template": "Reminder",
            "dlt_template_id": "1107000000000000001",
            "code": 23080,
            "count": 1,
        },
        {
            "template": "Reminder",
            "dlt_template_id": "1107000000000000001",
            "code": 23081,
            "count": 1,
        },
    ]


def test_inbound_volume_by_ist_hour(dataset):
    counts = {row["hour"]: row["count"] for row in analytics.inbound_by_hour(RANGE) if row["count"]}
    assert counts == {9: 2, 23: 1}
    assert len(analytics.inbound_by_hour(RANGE)) == 24


def test_replies_per_campaign(dataset):
    assert analytics.replies_per_campaign(RANGE) == [
        {"campaign": "Diwali", "sent": 2, "replies": 1, "reply_rate": 50.0}
    ]


def test_time_to_first_agent_reply_per_agent(dataset):
    assert analytics.first_reply_times(RANGE) == [
        {"agent": "asha", "replies": 1, "average_seconds": 45 * 60},
        {"agent": "ravi", "replies": 1, "average_seconds": 50 * 60},
    ]


def test_time_to_resolution_per_agent(dataset):
    assert analytics.resolution_times(RANGE) == [
        {"agent": "asha", "resolved": 1, "average_seconds": 2 * 3600}
    ]


def test_opt_outs_per_day_and_per_campaign(dataset):
    assert [row["count"] for row in analytics.opt_outs_per_day(RANGE)] == [1, 0, 1]
    assert analytics.opt_outs_per_campaign(RANGE) == [{"campaign": "Diwali", "count": 1}]


def test_stuck_messages_counts_non_final_outbound_past_the_delay(stuck):
    rows = {row["status"]: row["count"] for row in analytics.stuck_messages()}
    assert rows == {"submitted": 2, "pending": 1}


def test_default_range_is_the_last_30_ist_days():
    now = datetime(2026, 11, 22, 20, 0, tzinfo=ZoneInfo("UTC"))  # 01:30 on the 23rd in IST
    r = analytics.default_range(now)
    assert (r.start, r.end, len(r.days)) == (date(2026, 10, 25), date(2026, 11, 23), 30)


# The page -------------------------------------------------------------------------------------


def test_staff_sees_every_panel_with_a_chart(client, staff_user, dataset):
    client.force_login(staff_user)
    response = client.get(reverse("dashboard:index"), {"start": "2026-11-01", "end": "2026-11-03"})
    assert response.status_code == 200
    html = response.content.decode()
    for key in analytics.PANELS:
        assert f'id="panel-{key}"' in html
    assert html.count('<svg class="chart"') == 4
    assert "Diwali" in html


def test_agent_is_refused(client, agent_user):
    client.force_login(agent_user)
    assert client.get(reverse("dashboard:index")).status_code == 403
    assert client.get(reverse("dashboard:export", args=["outbound"])).status_code == 403


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(reverse("dashboard:index"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_reversed_range_is_a_400_with_the_field(client, staff_user):
    client.force_login(staff_user)
    response = client.get(reverse("dashboard:index"), {"start": "2026-11-05", "end": "2026-11-01"})
    assert response.status_code == 400
    assert "start: The start must be on or before the end." in response.content.decode()


def test_a_malformed_date_is_a_400(client, staff_user):
    client.force_login(staff_user)
    response = client.get(reverse("dashboard:index"), {"start": "yesterday"})
    assert response.status_code == 400


def test_panel_csv_has_the_panel_numbers_and_is_audited(client, staff_user, dataset):
    client.force_login(staff_user)
    response = client.get(
        reverse("dashboard:export", args=["outbound"]), {"start": "2026-11-01", "end": "2026-11-03"}
    )
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["day", "sent", "delivered", "failed"],
        ["2026-11-01", "4", "3", "1"],
        ["2026-11-02", "2", "1", "1"],
        ["2026-11-03", "1", "0", "1"],
    ]
    entry = AuditLog.objects.get(action="export")
    assert (entry.actor, entry.target) == (staff_user, "dashboard:outbound")


def test_panel_csv_neutralises_formulas(client, staff_user, dataset):
    dataset["t1"].name = "=HYPERLINK(1)"
    dataset["t1"].save()
    client.force_login(staff_user)
    response = client.get(
        reverse("dashboard:export", args=["templates"]),
        {"start": "2026-11-01", "end": "2026-11-03"},
    )
    body = b"".join(response.streaming_content).decode()
    assert "'=HYPERLINK(1)" in body


def test_unknown_panel_is_404(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/dashboard/export/nope.csv").status_code == 404


def test_inbox_and_admin_link_to_the_dashboard_for_staff(client, staff_user):
    client.force_login(staff_user)
    for url in (reverse("inbox:list"), reverse("admin:index")):
        assert reverse("dashboard:index") in client.get(url).content.decode()


def test_opt_out_counts_ignore_revocations(dataset):
    OptOut.objects.update(revoked_at=ist(5, 0))
    assert [row["count"] for row in analytics.opt_outs_per_day(RANGE)] == [1, 0, 1]


# The rollup the page reads -------------------------------------------------------------------


def test_the_rollup_gives_the_same_numbers_as_the_messages(dataset):
    from conversations.models import RollupDay

    live = {key: analytics.panel_rows(key, RANGE) for key in analytics.PANELS}
    assert analytics.all_panels(RANGE) == live
    assert set(RollupDay.objects.values_list("day", flat=True)) == set(RANGE.days)


def test_a_built_day_is_read_from_the_rollup_until_rebuilt(dataset):
    from conversations.services import rollups

    analytics.all_panels(RANGE)
    Message.objects.filter(status=MessageStatus.FAILED).update(status=MessageStatus.DELIVERED)
    assert analytics.all_panels(RANGE)["outbound"][0]["failed"] == 1
    rollups.refresh_days(RANGE)
    assert analytics.all_panels(RANGE)["outbound"][0]["failed"] == 0
    assert analytics.all_panels(RANGE) == {
        key: analytics.panel_rows(key, RANGE) for key in analytics.PANELS
    }


def test_todays_rollup_is_rebuilt_when_older_than_allowed(db, settings):
    from conversations.models import RollupDay

    settings.DASHBOARD_ROLLUP_MAX_AGE_SECONDS = 60
    today = analytics.DateRange(analytics.today_ist(), analytics.today_ist())
    analytics.all_panels(today)
    MessageFactory(status=MessageStatus.DELIVERED)
    assert analytics.all_panels(today)["outbound"][0]["sent"] == 0  # fresh enough: not rebuilt
    RollupDay.objects.update(refreshed_at=timezone.now() - timedelta(seconds=61))
    assert analytics.all_panels(today)["outbound"][0]["sent"] == 1


def test_the_beat_task_rebuilds_yesterday_and_today(db):
    from conversations.models import RollupDay
    from conversations.tasks import refresh_dashboard_rollup_task

    refresh_dashboard_rollup_task()
    today = analytics.today_ist()
    assert set(RollupDay.objects.values_list("day", flat=True)) == {
        today,
        today - timedelta(days=1),
    }
