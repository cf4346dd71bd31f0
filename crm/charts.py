"""Charts drawn on the server as inline SVG, each with a data table as its text alternative.

The web UI has no JavaScript build and loads nothing from other hosts, so a chart is a
string the template drops into the page: `chart.svg` is a complete, responsive `<svg>`
element (width 100%, height from its viewBox) with role="img" and the title as its
accessible name, and `chart.table` is the same data as a `<table>` for screen readers and
for anyone who wants the numbers (the template puts it in a `<details>`). The title is not
drawn inside the SVG: the page's heading shows it.

Titles, series names and labels may come from customers or marketers, so all markup is
built by `_el`, which escapes every attribute value and every plain-text child; the only
`mark_safe` joins fragments that are already escaped. Coordinates are rounded to one
decimal to keep the markup small. Text and axes use `currentColor`, so a chart follows the
page's text colour (a dark theme included); series use a fixed colour-blind-safe palette.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import dateformat, timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

XValue = datetime | date | float
_Scale = Callable[[float], float]

# Okabe-Ito colours without the yellow, which is unreadable on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
NO_DATA = "No data yet"
NOT_ENOUGH_DATA = "not enough data yet"

_WIDTH = 640.0
_CHAR_WIDTH = 7.0  # rough width of one character at font-size 12, for layout only
_LABEL_CHARS = 28  # longer row labels are shortened in the SVG (the table has them in full)
_EPOCH = date(1970, 1, 1)
_EPOCH_DATETIME = datetime(1970, 1, 1)  # naive on purpose: local wall-clock time, see _x_number
_MUTED = {"fill_opacity": "0.75"}
_AXIS = {"stroke": "currentColor", "stroke_opacity": "0.5"}
_GRID = {"stroke": "currentColor", "stroke_opacity": "0.15"}
_DASHED = {"stroke": "currentColor", "stroke_opacity": "0.6", "stroke_dasharray": "5 4"}


@dataclass(frozen=True)
class Series:
    """One named line: (x, y) points where x is a date, a datetime or a number."""

    name: str
    points: Sequence[tuple[XValue, float]]


@dataclass(frozen=True)
class Chart:
    """A rendered chart: the `<svg>` and its text alternative, both safe to output as-is."""

    title: str
    svg: SafeString
    table: SafeString


# --- public chart builders ---------------------------------------------------------------


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    y_min: float | None = None,
    y_max: float | None = None,
    y_label: str = "",
    guides: Sequence[tuple[float, str]] = (),
    percent: bool = False,
    x_label: str = "",
) -> Chart:
    """Draw one line with a dot per point for each series, over a time or numeric x axis.

    y_min/y_max fix the y range (e.g. 0..1 for a probability); otherwise it is rounded
    outwards from the data and the guides. `guides` are dashed horizontal lines with a
    label, such as risk band thresholds; the table's caption lists them too. A legend
    appears when there is more than one series. All x values must be of one kind,
    dates/datetimes or numbers, else ValueError. Aware datetimes are shown in the current
    time zone. x_label names the x column of the table (default "Date", or "x").
    """
    multi = len(series) > 1
    y_header = y_label or "Value"
    note = "; ".join(f"{label}: {_fmt(value, percent=percent)}" for value, label in guides)
    note = f"Guide lines: {note}" if note else ""
    all_points = [(x, float(y)) for s in series for x, y in s.points]
    if not all_points:
        headers = ["Series"] if multi else []
        return _empty_chart(title, [*headers, x_label or "Date", y_header], note)

    is_time = _is_time_axis([x for x, _ in all_points])
    headers = [*(["Series"] if multi else []), x_label or ("Date" if is_time else "x"), y_header]
    xs = [_x_number(x) for x, _ in all_points]
    x_lo, x_hi = min(xs), max(xs)
    if is_time:
        if x_hi - x_lo < 2:  # a day or less: widen so that day ticks have room
            x_lo, x_hi = math.floor(x_lo) - 1, math.ceil(x_hi) + 1
        x_ticks = _date_ticks(x_lo, x_hi)
    else:
        x_lo, x_hi, ticks = _nice_range(x_lo, x_hi, target=6)
        x_ticks = [(t, _fmt(t, percent=False)) for t in ticks]
    ys = [y for _, y in all_points] + [value for value, _ in guides]
    y_lo, y_hi, ticks = _y_range(ys, y_min, y_max)
    y_ticks = [(t, _fmt(t, percent=percent)) for t in ticks]

    left = max(36.0, max(_text_width(label) for _, label in y_ticks) + 14)
    right = _WIDTH - 32
    top = 28.0 if y_label else 12.0
    bottom = top + 220
    legend, legend_height = _legend([s.name for s in series], left, bottom + 40)
    height = bottom + 30 + (legend_height if multi else 0)

    def sx(v: float) -> float:
        return left + (v - x_lo) / (x_hi - x_lo) * (right - left)

    def sy(v: float) -> float:
        v = min(max(v, y_lo), y_hi)  # out-of-range values sit on the edge, not outside
        return bottom - (v - y_lo) / (y_hi - y_lo) * (bottom - top)

    parts = [_el("text", y_label, x=4, y=14, **_MUTED)] if y_label else []
    parts += _y_axis(y_ticks, sy, left, right)
    parts += _x_axis(x_ticks, sx, bottom, left, right)
    for value, label in guides:
        if y_lo <= value <= y_hi:
            y = sy(value)
            parts.append(_el("line", class_="guide", x1=left, y1=y, x2=right, y2=y, **_DASHED))
            parts.append(
                _el("text", label, x=right - 2, y=y - 4, text_anchor="end", font_size=11, **_MUTED)
            )

    rows: list[list[str]] = []
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        points = sorted(((_x_number(x), x, float(y)) for x, y in s.points), key=lambda p: p[0])
        if len(points) > 1:
            coords = " ".join(f"{_c(sx(n))},{_c(sy(y))}" for n, _, y in points)
            parts.append(
                _el(
                    "polyline",
                    points=coords,
                    fill="none",
                    stroke=colour,
                    stroke_width=2,
                    stroke_dasharray=_dash(i),
                )
            )
        for n, x, y in points:
            row = [*([s.name] if multi else []), _x_text(x), _fmt(y, percent=percent)]
            point_text = f"{row[-2]} → {row[-1]}"
            tooltip = _el("title", f"{s.name}: {point_text}" if multi else point_text)
            parts.append(_el("circle", tooltip, cx=sx(n), cy=sy(y), r=3, fill=colour))
            rows.append(row)
    if multi:
        parts += legend
    return Chart(title, _svg(title, height, parts), _table(title, headers, rows, note))


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float]],
    *,
    percent: bool = False,
    value_label: str = "",
) -> Chart:
    """Draw one horizontal bar per (label, value), labels on the left, values printed.

    Bars keep the given order (sort before calling, e.g. largest importance first).
    Negative values grow left from the zero line. value_label names the values, above
    the bars and in the table's header.
    """
    headers = ["Name", value_label or "Value"]
    if not bars:
        return _empty_chart(title, headers)
    values = [float(v) for _, v in bars]
    texts = [_fmt(v, percent=percent) for v in values]
    lo, hi = min(0.0, *values), max(0.0, *values)
    if lo == hi:  # all zero
        hi = 1.0
    label_width, labels = _row_labels([label for label, _ in bars])
    text_width = max(_text_width(t) for t in texts) + 8
    left = label_width + (text_width if lo < 0 else 0)
    right = _WIDTH - (text_width if hi > 0 else 8)
    top = 26.0 if value_label else 8.0
    row_height = 24.0
    height = top + row_height * len(bars) + 8

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (right - left)

    zero = sx(0.0)
    parts = [_el("text", value_label, x=left, y=16, **_MUTED)] if value_label else []
    for i, ((full, _), shown, value, text) in enumerate(
        zip(bars, labels, values, texts, strict=True)
    ):
        mid = top + i * row_height + row_height / 2
        end = sx(value)
        parts.append(_row_label(full, shown, label_width - 8, mid + 4))
        parts.append(
            _el(
                "rect",
                _el("title", f"{full}: {text}"),
                class_="bar",
                x=min(zero, end),
                y=mid - 7,
                width=abs(end - zero),
                height=14,
                fill=PALETTE[1] if value < 0 else PALETTE[0],
            )
        )
        if value >= 0:
            parts.append(_el("text", text, x=end + 4, y=mid + 4))
        else:
            parts.append(_el("text", text, x=end - 4, y=mid + 4, text_anchor="end"))
    parts.append(_el("line", class_="zero", x1=zero, y1=top, x2=zero, y2=height - 8, **_AXIS))
    rows = [[label, text] for (label, _), text in zip(bars, texts, strict=True)]
    return Chart(title, _svg(title, height, parts), _table(title, headers, rows))


def interval_chart(
    title: str,
    rows: Sequence[tuple[str, float | None, float | None, float | None]],
    *,
    percent: bool = True,
) -> Chart:
    """Draw each (label, estimate, low, high) as a dot on its 95% interval, around zero.

    Meant for effects that can be negative, such as the uplift of a rule: values are
    signed ("+3.2%") and a vertical line marks zero, so an interval that crosses it is
    visibly inconclusive. A row with any of the three numbers missing is written as
    "not enough data yet" instead of being drawn.
    """
    headers = ["Name", "Estimate", "95% interval"]
    if not rows:
        return _empty_chart(title, headers)

    def fmt(v: float) -> str:
        return _fmt(v, percent=percent, signed=True)

    # Each row as its label and its (estimate, low, high), or None when one is missing.
    drawn = [
        (label, None if est is None or low is None or high is None else (est, low, high))
        for label, est, low, high in rows
    ]
    numbers = [v for _, values in drawn if values for v in values]
    if numbers:
        lo, hi, ticks = _nice_range(min(0.0, *numbers), max(0.0, *numbers), target=5)
    else:
        lo, hi, ticks = _nice_range(-0.1, 0.1, target=4)
    summaries = [
        f"{fmt(values[0])} ({fmt(values[1])} to {fmt(values[2])})" if values else ""
        for _, values in drawn
    ]
    label_width, labels = _row_labels([label for label, _ in drawn])
    left = label_width
    right = _WIDTH - max(_text_width(s) + 12 for s in [*summaries, "+10%"])
    top, row_height = 8.0, 26.0
    bottom = top + row_height * len(rows)

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (right - left)

    parts = [_el("line", x1=sx(t), y1=top, x2=sx(t), y2=bottom, **_GRID) for t in ticks]
    parts += _x_axis([(t, fmt(t)) for t in ticks], sx, bottom, left, right)
    table_rows: list[list[str]] = []
    for i, ((label, values), shown, summary) in enumerate(
        zip(drawn, labels, summaries, strict=True)
    ):
        mid = top + i * row_height + row_height / 2
        parts.append(_row_label(label, shown, label_width - 8, mid + 4))
        if values is None:
            parts.append(
                _el(
                    "text",
                    NOT_ENOUGH_DATA,
                    class_="no-data",
                    x=left + 4,
                    y=mid + 4,
                    font_style="italic",
                    **_MUTED,
                )
            )
            table_rows.append([label, NOT_ENOUGH_DATA])
            continue
        est, low, high = values
        x_low, x_high = sx(low), sx(high)
        whiskers = (
            _el("line", x1=x_low, y1=mid, x2=x_high, y2=mid),
            _el("line", x1=x_low, y1=mid - 5, x2=x_low, y2=mid + 5),
            _el("line", x1=x_high, y1=mid - 5, x2=x_high, y2=mid + 5),
        )
        parts.append(_el("g", *whiskers, class_="interval", stroke=PALETTE[0], stroke_width=2))
        tooltip = _el("title", f"{label}: {summary}")
        parts.append(_el("circle", tooltip, cx=sx(est), cy=mid, r=4, fill=PALETTE[0]))
        parts.append(_el("text", summary, x=right + 8, y=mid + 4))
        table_rows.append([label, fmt(est), f"{fmt(low)} to {fmt(high)}"])
    zero = sx(0.0)
    parts.append(_el("line", class_="zero", x1=zero, y1=top, x2=zero, y2=bottom, **_AXIS))
    return Chart(title, _svg(title, bottom + 28, parts), _table(title, headers, table_rows))


def scatter_with_diagonal(
    title: str,
    points: Sequence[tuple[float, float]],
    *,
    x_label: str,
    y_label: str,
    percent: bool = True,
) -> Chart:
    """Draw (x, y) points on 0..1 axes with the dashed diagonal y = x.

    Made for calibration, (predicted, observed): a well-calibrated model's points lie on
    the diagonal, and points above it mean the model under-predicts. Values outside 0..1
    are drawn on the edge.
    """
    headers = [x_label, y_label]
    if not points:
        return _empty_chart(title, headers)
    size, left, top = 280.0, 52.0, 28.0
    right, bottom = left + size, top + size
    ticks = [(t, _fmt(t, percent=percent)) for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)]

    def sx(v: float) -> float:
        return left + min(max(v, 0.0), 1.0) * size

    def sy(v: float) -> float:
        return bottom - min(max(v, 0.0), 1.0) * size

    parts = [_el("text", y_label, x=4, y=14, **_MUTED)]
    parts += _y_axis(ticks, sy, left, right)
    parts += _x_axis(ticks, sx, bottom, left, right)
    parts.append(_el("line", x1=left, y1=top, x2=left, y2=bottom, **_AXIS))
    middle = (left + right) / 2
    parts.append(_el("text", x_label, x=middle, y=bottom + 36, text_anchor="middle", **_MUTED))
    parts.append(_el("line", class_="diagonal", x1=left, y1=bottom, x2=right, y2=top, **_DASHED))
    rows: list[list[str]] = []
    for x, y in sorted((float(x), float(y)) for x, y in points):
        row = [_fmt(x, percent=percent), _fmt(y, percent=percent)]
        tooltip = _el("title", f"{x_label}: {row[0]}, {y_label}: {row[1]}")
        parts.append(_el("circle", tooltip, cx=sx(x), cy=sy(y), r=4, fill=PALETTE[0]))
        rows.append(row)
    svg = _svg(title, bottom + 48, parts, width=right + 24)
    return Chart(title, svg, _table(title, headers, rows))


# --- markup ------------------------------------------------------------------------------


def _join(parts: Iterable[SafeString]) -> SafeString:
    """Concatenate fragments that are each already escaped."""
    return mark_safe("".join(parts))  # noqa: S308 - every part comes from format_html/_el


def _el(tag: str, *children: str, **attrs: str | float | None) -> SafeString:
    """One element. Plain-str children and every attribute value are escaped.

    SafeString children (other elements) are kept as they are. Attribute names drop a
    trailing underscore (class_) and turn other underscores into hyphens; a None value
    leaves the attribute out; numbers are written as coordinates (one decimal at most).
    """
    attributes = _join(
        format_html(
            ' {}="{}"',
            name.rstrip("_").replace("_", "-"),
            value if isinstance(value, str) else _c(value),
        )
        for name, value in attrs.items()
        if value is not None
    )
    if not children:
        return format_html("<{}{}/>", tag, attributes)
    content = _join(conditional_escape(child) for child in children)
    return format_html("<{}{}>{}</{}>", tag, attributes, content, tag)


def _svg(
    title: str, height: float, parts: list[SafeString], *, width: float = _WIDTH
) -> SafeString:
    return _el(
        "svg",
        _el("title", title),
        *parts,
        xmlns="http://www.w3.org/2000/svg",
        class_="chart",
        viewBox=f"0 0 {_c(width)} {_c(height)}",
        width="100%",
        role="img",
        aria_label=title,
        font_family="system-ui, sans-serif",
        font_size=12,
        fill="currentColor",
    )


def _table(title: str, headers: list[str], rows: list[list[str]], note: str = "") -> SafeString:
    """A data table with one row per item; the first cell of a row is its header cell.

    A row shorter than the header row has its last cell span the remaining columns.
    Without rows, the body is one row saying "No data yet".
    """
    caption = _el("caption", title, _el("small", f" ({note})") if note else "")
    head = _el("thead", _el("tr", *(_el("th", h, scope="col") for h in headers)))
    body: list[SafeString] = []
    for row in rows:
        cells = [_el("th", row[0], scope="row")]
        cells += [_el("td", cell) for cell in row[1:-1]]
        if len(row) > 1:
            span = len(headers) - len(row) + 1
            cells.append(_el("td", row[-1], colspan=span if span > 1 else None))
        body.append(_el("tr", *cells))
    if not rows:
        body.append(_el("tr", _el("td", NO_DATA, colspan=len(headers))))
    return _el("table", caption, head, _el("tbody", *body), class_="chart-data")


def _empty_chart(title: str, headers: list[str], note: str = "") -> Chart:
    """The "No data yet" chart: a short SVG with the message, a table with one message row."""
    message = _el(
        "text", NO_DATA, class_="no-data", x=_WIDTH / 2, y=64, text_anchor="middle", **_MUTED
    )
    return Chart(title, _svg(title, 120, [message]), _table(title, headers, [], note))


def _y_axis(
    ticks: list[tuple[float, str]], sy: _Scale, left: float, right: float
) -> list[SafeString]:
    """Horizontal grid lines, each with its label to the left of the plot."""
    parts = []
    for t, label in ticks:
        y = sy(t)
        parts.append(_el("line", x1=left, y1=y, x2=right, y2=y, **_GRID))
        parts.append(_el("text", label, x=left - 6, y=y + 4, text_anchor="end", **_MUTED))
    return parts


def _x_axis(
    ticks: list[tuple[float, str]], sx: _Scale, bottom: float, left: float, right: float
) -> list[SafeString]:
    """The baseline, and a tick mark with a centred label below it for each tick."""
    parts = [_el("line", x1=left, y1=bottom, x2=right, y2=bottom, **_AXIS)]
    for t, label in ticks:
        x = sx(t)
        parts.append(_el("line", x1=x, y1=bottom, x2=x, y2=bottom + 4, **_AXIS))
        parts.append(
            _el("text", label, class_="tick", x=x, y=bottom + 17, text_anchor="middle", **_MUTED)
        )
    return parts


def _legend(names: list[str], left: float, first_y: float) -> tuple[list[SafeString], float]:
    """Swatch-and-name items wrapped into rows; returns the markup and its height."""
    parts: list[SafeString] = []
    x, y = left, first_y
    for i, name in enumerate(names):
        item_width = 26 + _text_width(name) + 16
        if x > left and x + item_width > _WIDTH - 8:
            x, y = left, y + 18
        swatch = _el(
            "line",
            x1=x,
            y1=y - 4,
            x2=x + 20,
            y2=y - 4,
            stroke=PALETTE[i % len(PALETTE)],
            stroke_width=3,
            stroke_dasharray=_dash(i),
        )
        parts.append(_el("g", swatch, _el("text", name, x=x + 26, y=y), class_="legend-item"))
        x += item_width
    return parts, y - first_y + 22


def _dash(index: int) -> str | None:
    """Series beyond the palette's length repeat a colour, so they get a dash pattern too."""
    repeat = index // len(PALETTE)
    return ("6 3", "2 3")[(repeat - 1) % 2] if repeat else None


def _row_label(full: str, shown: str, x: float, y: float) -> SafeString:
    """A right-aligned row label; a shortened one carries the full text as a tooltip."""
    tooltip = _el("title", full) if shown != full else ""
    return _el("text", shown, tooltip, x=x, y=y, text_anchor="end")


def _row_labels(labels: list[str]) -> tuple[float, list[str]]:
    """The width of the label column and the labels, shortened to fit it."""
    shown = [s if len(s) <= _LABEL_CHARS else s[: _LABEL_CHARS - 1] + "…" for s in labels]
    return max(_text_width(s) for s in shown) + 12, shown


# --- numbers and scales ------------------------------------------------------------------


def _c(value: float) -> str:
    """A coordinate with at most one decimal."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def _text_width(text: str) -> float:
    return len(text) * _CHAR_WIDTH


def _fmt(value: float, *, percent: bool, signed: bool = False) -> str:
    """A value for people: "42%" or "42.5%" as percent, else up to three significant digits.

    signed adds "+" to positive values, for effects around zero.
    """
    if percent:
        text, suffix = _strip_zeros(f"{value * 100:.1f}"), "%"
    else:
        suffix = ""
        magnitude = abs(value)
        if magnitude >= 1000:
            text = f"{value:,.0f}"
        elif magnitude == 0:
            text = "0"
        else:
            decimals = min(4, max(0, 2 - math.floor(math.log10(magnitude))))
            text = _strip_zeros(f"{value:.{decimals}f}")
    if text == "-0":
        text = "0"
    if signed and text != "0" and not text.startswith("-"):
        text = "+" + text
    return text + suffix


def _strip_zeros(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def _nice_step(span: float, target: int) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about `target` intervals."""
    raw = span / target
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5):
        if raw <= multiple * magnitude * (1 + 1e-9):
            return multiple * magnitude
    return 10 * magnitude


def _nice_range(lo: float, hi: float, *, target: int = 5) -> tuple[float, float, list[float]]:
    """Widen [lo, hi] to round numbers and return it with evenly spaced ticks."""
    if hi - lo < 1e-12:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo, target)
    nice_lo = math.floor(lo / step + 1e-9) * step
    nice_hi = math.ceil(hi / step - 1e-9) * step
    return nice_lo, nice_hi, _ticks_within(nice_lo, nice_hi, step)


def _ticks_within(lo: float, hi: float, step: float) -> list[float]:
    """Multiples of step in [lo, hi], rounded so that 0.30000000000000004 reads 0.3."""
    ticks = []
    k = math.ceil(lo / step - 1e-9)
    while k * step <= hi + step * 1e-9:
        ticks.append(round(k * step, 10) + 0.0)  # + 0.0 turns -0.0 into 0.0
        k += 1
    return ticks


def _y_range(
    values: list[float], y_min: float | None, y_max: float | None
) -> tuple[float, float, list[float]]:
    """The y domain and its ticks: fixed ends where given, else the data rounded outwards."""
    if y_min is not None and y_max is not None:
        if y_min >= y_max:
            raise ValueError(f"y_min ({y_min}) must be below y_max ({y_max})")
        lo, hi = y_min, y_max
    else:
        data_lo, data_hi = min(values), max(values)
        if y_min is not None:
            data_lo, data_hi = y_min, max(data_hi, y_min)
        if y_max is not None:
            data_lo, data_hi = min(data_lo, y_max), y_max
        nice_lo, nice_hi, ticks = _nice_range(data_lo, data_hi)
        if y_min is None and y_max is None:
            return nice_lo, nice_hi, ticks
        # The free end is rounded outwards, so it always lies beyond the fixed one.
        lo = y_min if y_min is not None else nice_lo
        hi = y_max if y_max is not None else nice_hi
    return lo, hi, _ticks_within(lo, hi, _nice_step(hi - lo, 5))


# --- time axis ---------------------------------------------------------------------------


def _is_time_axis(xs: list[XValue]) -> bool:
    kinds = {isinstance(x, date) for x in xs}
    if len(kinds) > 1:
        raise ValueError("x values must be all dates/datetimes or all numbers, not a mix")
    return kinds == {True}


def _local(x: datetime) -> datetime:
    """Naive wall-clock time in the current time zone (naive input is taken as such)."""
    return timezone.localtime(x).replace(tzinfo=None) if timezone.is_aware(x) else x


def _x_number(x: XValue) -> float:
    """Days since 1970-01-01 for dates (local wall-clock time for datetimes), else x itself.

    Wall-clock days put midnight ticks at local midnight and keep a date and a datetime
    of the same day in the same place.
    """
    if isinstance(x, datetime):
        return (_local(x) - _EPOCH_DATETIME).total_seconds() / 86400
    if isinstance(x, date):
        return float((x - _EPOCH).days)
    return float(x)


def _x_text(x: XValue) -> str:
    if isinstance(x, datetime):
        return dateformat.format(_local(x), "j M Y, H:i")
    if isinstance(x, date):
        return dateformat.format(x, "j M Y")
    return _fmt(x, percent=False)


def _date_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    """Readable ticks: months ("Nov 2026") over more than 75 days, else days ("3 Nov").

    At most about seven; weekly and fortnightly ticks fall on Mondays to line up with
    weekly data, and monthly ticks on the first of the month.
    """
    span = hi - lo
    ticks: list[tuple[float, str]] = []
    if span > 75:
        months = span / 30.44
        step = next((s for s in (1, 2, 3, 6, 12, 24, 60) if months / s <= 6), 120)
        start = _EPOCH + timedelta(days=math.floor(lo))
        index = start.year * 12 + start.month - 1  # months since year 0
        index += -index % step
        while (value := _x_number(day := date(index // 12, index % 12 + 1, 1))) <= hi:
            if value >= lo:
                ticks.append((value, dateformat.format(day, "M Y")))
            index += step
        return ticks
    step = next((s for s in (1, 2, 7, 14) if span / s <= 7), 28)
    day_number = math.ceil(lo - 1e-9)
    day_number += (4 - day_number) % step  # 1970-01-05, day 4, was a Monday
    while day_number <= hi + 1e-9:
        day = _EPOCH + timedelta(days=day_number)
        ticks.append((float(day_number), dateformat.format(day, "j M")))
        day_number += step
    return ticks
