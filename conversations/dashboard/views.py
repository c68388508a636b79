"""Dashboard pages: staff only (agents get 403); each panel also downloads as CSV."""

from datetime import timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_GET

from ..services import analytics, audit, exports
from . import charts


class RangeForm(forms.Form):
    start = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    end = forms.DateField(required=False, input_formats=["%Y-%m-%d"])

    def clean(self):
        data = super().clean()
        default = analytics.default_range()
        end = data.get("end") or default.end
        start = data.get("start") or (end - timedelta(days=analytics.DEFAULT_DAYS - 1))
        if start > end:
            self.add_error("start", "The start must be on or before the end.")
        elif (end - start).days + 1 > analytics.MAX_DAYS:
            self.add_error("start", f"At most {analytics.MAX_DAYS} days at a time.")
        else:
            data["range"] = analytics.DateRange(start, end)
        return data


def staff_view(view):
    """Signed in (else the login page) and staff (else 403), GET only."""

    def check(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("The dashboard is for staff.")
        return view(request, *args, **kwargs)

    check.__name__ = view.__name__
    check.__doc__ = view.__doc__
    return login_required(require_GET(check))


def _charts(data):
    outbound = data["outbound"]
    days = [row["day"].strftime("%d %b") for row in outbound]
    every = max(1, len(days) // 10)
    return {
        "outbound": charts.line_chart(
            days,
            [
                ("sent", "sent", [row["sent"] for row in outbound]),
                ("delivered", "delivered", [row["delivered"] for row in outbound]),
                ("failed", "failed", [row["failed"] for row in outbound]),
            ],
            label="Messages sent, delivered and failed per day",
            label_every=every,
        ),
        "inbound": charts.bar_chart(
            [f"{row['hour']:02d}" for row in data["inbound"]],
            [row["count"] for row in data["inbound"]],
            label="Inbound messages by hour of the day",
            label_every=2,
        ),
        "optouts": charts.bar_chart(
            [row["day"].strftime("%d %b") for row in data["optouts"]],
            [row["count"] for row in data["optouts"]],
            label="Opt-outs per day",
            css="bar optout",
            label_every=every,
        ),
        "failures": charts.bar_chart(
            [str(row["detailed_status_code"] or "?") for row in data["failures"][:12]],
            [row["count"] for row in data["failures"][:12]],
            label="Failures by Exotel reason (DetailedStatusCode)",
            css="bar failed",
        ),
    }


def _display(column, value):
    if value is None:
        return "—"
    if column == "average_seconds":
        minutes, seconds = divmod(int(value), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"
    if column in ("rate", "reply_rate"):
        return f"{value}%"
    if hasattr(value, "strftime"):
        return value.strftime("%d %b %Y %H:%M") if hasattr(value, "hour") else f"{value:%d %b %Y}"
    return value


def _table(columns, rows):
    """The panel's numbers as an HTML table (built here: much faster than template loops)."""
    head = format_html_join(
        "", '<th scope="col">{}</th>', ((c.replace("_", " "),) for c in columns)
    )
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (format_html_join("", "<td>{}</td>", ((_display(c, row.get(c)),) for c in columns)),)
            for row in rows
        ),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def _panel_list(data, chart_svgs):
    return [
        {
            "key": key,
            "title": panel.title,
            "note": panel.note,
            "rows": bool(data[key]),
            "table": _table(panel.columns, data[key]),
            "chart": chart_svgs.get(key),
        }
        for key, panel in analytics.PANELS.items()
    ]


@staff_view
def dashboard(request):
    form = RangeForm(request.GET or None)
    if request.GET and not form.is_valid():
        return render(request, "dashboard/index.html", {"form": form}, status=400)
    date_range = form.cleaned_data["range"] if request.GET else analytics.default_range()
    data = analytics.all_panels(date_range)
    return render(
        request,
        "dashboard/index.html",
        {
            "form": form,
            "range": date_range,
            "panels": _panel_list(data, _charts(data)),
            "querystring": f"start={date_range.start:%Y-%m-%d}&end={date_range.end:%Y-%m-%d}",
        },
    )


@staff_view
def export_panel(request, key):
    if key not in analytics.PANELS:
        raise Http404("No such panel.")
    form = RangeForm(request.GET)
    if not form.is_valid():
        return render(request, "dashboard/index.html", {"form": form}, status=400)
    date_range = form.cleaned_data["range"]
    header, rows = analytics.panel_table(key, date_range)
    audit.record_action(
        "export",
        request=request,
        target=f"dashboard:{key}",
        start=str(date_range.start),
        end=str(date_range.end),
        rows=len(rows),
    )
    return exports.stream_csv(
        f"dashboard-{key}-{date_range.start}-{date_range.end}.csv", header, rows
    )
