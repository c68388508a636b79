"""Server-side SVG charts: no JavaScript, no CDN, readable without colour (titles per point)."""

from django.utils.html import format_html, format_html_join

WIDTH = 640
HEIGHT = 200
PAD_LEFT = 40
PAD_BOTTOM = 22
PAD_TOP = 10


def _n(number):
    return f"{number:.1f}"


def _scale(maximum):
    return maximum if maximum > 0 else 1


def _axis(maximum, label_every, labels):
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    lines = [
        format_html(
            '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>',
            PAD_LEFT,
            HEIGHT - PAD_BOTTOM,
            WIDTH,
            HEIGHT - PAD_BOTTOM,
        ),
        format_html(
            '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
            PAD_LEFT - 4,
            PAD_TOP + 8,
            maximum,
        ),
        format_html(
            '<text class="tick" x="{}" y="{}" text-anchor="end">0</text>',
            PAD_LEFT - 4,
            PAD_TOP + plot_h,
        ),
    ]
    step = (WIDTH - PAD_LEFT) / max(len(labels), 1)
    for index, label in enumerate(labels):
        if index % label_every == 0:
            lines.append(
                format_html(
                    '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                    _n(PAD_LEFT + step * (index + 0.5)),
                    HEIGHT - 6,
                    label,
                )
            )
    return lines


def bar_chart(labels, values, *, label, css="bar", label_every=1):
    """One bar per label; `values` are non-negative numbers."""
    maximum = max(values, default=0)
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = (WIDTH - PAD_LEFT) / max(len(labels), 1)
    bars = format_html_join(
        "",
        '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
        (
            (
                css,
                _n(PAD_LEFT + step * index + step * 0.1),
                _n(PAD_TOP + plot_h - plot_h * value / _scale(maximum)),
                _n(step * 0.8),
                _n(plot_h * value / _scale(maximum)),
                name,
                value,
            )
            for index, (name, value) in enumerate(zip(labels, values, strict=True))
        ),
    )
    return _svg(label, [*_axis(maximum, label_every, labels), bars])


def line_chart(labels, series, *, label, label_every=1):
    """Several lines over the same labels; `series` is [(name, css class, values)]."""
    maximum = max((max(values, default=0) for _, _, values in series), default=0)
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = (WIDTH - PAD_LEFT) / max(len(labels), 1)
    parts = _axis(maximum, label_every, labels)
    for name, css, values in series:
        points = " ".join(
            f"{PAD_LEFT + step * (index + 0.5):.1f},"
            f"{PAD_TOP + plot_h - plot_h * value / _scale(maximum):.1f}"
            for index, value in enumerate(values)
        )
        parts.append(format_html('<polyline class="line {}" points="{}"/>', css, points))
        parts.append(
            format_html_join(
                "",
                '<circle class="dot {}" cx="{}" cy="{}" r="2.5"><title>{} {}: {}</title></circle>',
                (
                    (
                        css,
                        _n(PAD_LEFT + step * (index + 0.5)),
                        _n(PAD_TOP + plot_h - plot_h * value / _scale(maximum)),
                        point_label,
                        name,
                        value,
                    )
                    for index, (point_label, value) in enumerate(zip(labels, values, strict=True))
                ),
            )
        )
    return _svg(label, parts)


def _svg(label, parts):
    return format_html(
        '<svg class="chart" role="img" viewBox="0 0 {} {}" width="100%" aria-label="{}">{}</svg>',
        WIDTH,
        HEIGHT,
        label,
        format_html_join("", "{}", ((part,) for part in parts)),
    )
