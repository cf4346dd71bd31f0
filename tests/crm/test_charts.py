"""Server-rendered SVG charts: well-formed, one mark per datum, readable axes, escaped text."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from crm.charts import (
    Chart,
    Series,
    bar_chart,
    interval_chart,
    line_chart,
    scatter_with_diagonal,
)

NS = "{http://www.w3.org/2000/svg}"
NASTY_LABELS = ["<script>alert(1)</script>", '" onerror="x']


def parse(markup: str) -> ET.Element:
    """Parse as XML, which fails on anything not well-formed."""
    return ET.fromstring(markup)  # noqa: S314 - our own output, parsed by a test


def child(el: ET.Element, tag: str) -> ET.Element:
    found = el.find(tag)
    assert found is not None, f"no <{tag}>"
    return found


def num(el: ET.Element, attribute: str) -> float:
    return float(el.attrib[attribute])


def svg_root(chart: Chart) -> ET.Element:
    return parse(chart.svg)


def svg_elements(chart: Chart, tag: str) -> list[ET.Element]:
    return list(svg_root(chart).iter(NS + tag))


def svg_texts(chart: Chart) -> list[str]:
    """The visible text of every <text> element (tooltips left out)."""
    return [el.text or "" for el in svg_elements(chart, "text")]


def table_rows(chart: Chart) -> list[list[str]]:
    table = parse(chart.table)
    return [["".join(cell.itertext()) for cell in row] for row in table.iter("tr")][1:]


def table_headers(chart: Chart) -> list[str]:
    return [th.text or "" for th in child(parse(chart.table), "thead").iter("th")]


def weekly(
    start: date, weeks: int, value: float = 0.5
) -> list[tuple[date | datetime | float, float]]:
    return [(start + timedelta(weeks=i), value) for i in range(weeks)]


def test_line_chart_svg_is_an_accessible_responsive_image() -> None:
    chart = line_chart("Churn risk", [Series("risk", weekly(date(2026, 9, 1), 4))])

    root = svg_root(chart)
    assert root.tag == NS + "svg"
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Churn risk"
    assert child(root, NS + "title").text == "Churn risk"
    assert root.get("width") == "100%"
    assert re.fullmatch(r"0 0 \d+(\.\d)? \d+(\.\d)?", root.attrib["viewBox"])
    assert chart.title == "Churn risk"
    assert child(parse(chart.table), "caption").text == "Churn risk"


def test_line_chart_draws_a_dot_per_point_a_line_per_series_and_a_table_row_per_point() -> None:
    price = Series("price", weekly(date(2026, 9, 7), 5, 3))
    delivery = Series("delivery", weekly(date(2026, 9, 7), 3, 1))
    single = Series("returns", [(date(2026, 9, 7), 2)])

    chart = line_chart("Negative mentions", [price, delivery, single])

    assert len(svg_elements(chart, "circle")) == 5 + 3 + 1
    assert len(svg_elements(chart, "polyline")) == 2  # a single point makes no line
    assert len(table_rows(chart)) == 9
    assert table_headers(chart) == ["Series", "Date", "Value"]
    assert ["delivery", "21 Sep 2026", "1"] in table_rows(chart)


def test_series_get_distinct_colours_and_a_legend_only_when_there_are_several() -> None:
    series = [Series(name, weekly(date(2026, 9, 7), 3)) for name in ("price", "delivery")]

    several = line_chart("Mentions", series)
    one = line_chart("Mentions", series[:1])

    colours = {line.get("stroke") for line in svg_elements(several, "polyline")}
    assert len(colours) == 2
    assert {"price", "delivery"} <= set(svg_texts(several))
    assert "price" not in svg_texts(one)


def test_a_three_month_range_is_labelled_by_month() -> None:
    chart = line_chart("Risk", [Series("risk", weekly(date(2026, 9, 1), 13))])

    ticks = [el.text for el in svg_elements(chart, "text") if el.get("class") == "tick"]
    assert ticks == ["Sep 2026", "Oct 2026", "Nov 2026"]


def test_a_range_of_a_few_weeks_is_labelled_by_day_on_mondays() -> None:
    chart = line_chart("Risk", [Series("risk", weekly(date(2026, 9, 2), 5))])

    ticks = [el.text for el in svg_elements(chart, "text") if el.get("class") == "tick"]
    assert ticks == ["7 Sep", "14 Sep", "21 Sep", "28 Sep"]


def test_aware_datetimes_are_shown_in_the_current_time_zone() -> None:
    late_evening_utc = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)

    with timezone.override("Europe/Berlin"):
        chart = line_chart("Sentiment", [Series("score", [(late_evening_utc, 0.4)])])

    assert table_rows(chart) == [["3 Nov 2026, 00:30", "0.4"]]


def test_numeric_x_axis_gets_round_tick_labels() -> None:
    chart = line_chart("Lift", [Series("lift", [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0)])])

    ticks = [el.text for el in svg_elements(chart, "text") if el.get("class") == "tick"]
    assert ticks == ["0", "0.2", "0.4", "0.6", "0.8", "1"]
    assert table_headers(chart) == ["x", "Value"]


def test_mixing_dates_and_numbers_on_the_x_axis_is_refused() -> None:
    with pytest.raises(ValueError, match="not a mix"):
        line_chart("Bad", [Series("s", [(date(2026, 1, 1), 1.0), (3.0, 2.0)])])


def test_guides_are_dashed_lines_with_their_label_and_listed_in_the_caption() -> None:
    chart = line_chart(
        "Churn risk",
        [Series("risk", weekly(date(2026, 9, 1), 4, 0.2))],
        y_min=0,
        y_max=1,
        percent=True,
        guides=[(0.3, "Medium risk"), (0.6, "High risk")],
    )

    guides = [line for line in svg_elements(chart, "line") if line.get("class") == "guide"]
    assert len(guides) == 2
    assert all(line.get("stroke-dasharray") for line in guides)
    assert {"Medium risk", "High risk"} <= set(svg_texts(chart))
    caption = "".join(child(parse(chart.table), "caption").itertext())
    assert "Medium risk: 30%" in caption
    assert "High risk: 60%" in caption


def test_percent_line_chart_labels_ticks_and_values_as_percentages() -> None:
    chart = line_chart(
        "Churn risk",
        [Series("risk", [(date(2026, 9, 1), 0.425), (date(2026, 9, 8), 0.4)])],
        y_min=0,
        y_max=1,
        percent=True,
        y_label="Probability",
    )

    assert {"0%", "20%", "40%", "60%", "80%", "100%"} <= set(svg_texts(chart))
    assert table_rows(chart) == [["1 Sep 2026", "42.5%"], ["8 Sep 2026", "40%"]]
    assert table_headers(chart) == ["Date", "Probability"]


def test_sentiment_scores_keep_their_sign() -> None:
    chart = line_chart(
        "Sentiment",
        [Series("score", [(date(2026, 9, 1), -0.75), (date(2026, 9, 2), 0.3)])],
        y_min=-1,
        y_max=1,
    )

    assert {"-1", "-0.5", "0", "0.5", "1"} <= set(svg_texts(chart))
    assert [row[1] for row in table_rows(chart)] == ["-0.75", "0.3"]


@pytest.mark.parametrize(
    "series",
    [[], [Series("risk", [])], [Series("a", []), Series("b", [])]],
    ids=["no series", "empty series", "several empty series"],
)
def test_line_chart_without_data_says_so(series: list[Series]) -> None:
    chart = line_chart("Churn risk", series)

    assert svg_texts(chart) == ["No data yet"]
    assert not svg_elements(chart, "circle")
    assert table_rows(chart) == [["No data yet"]]


def test_bar_chart_draws_one_bar_per_item_with_its_label_and_value() -> None:
    bars = [("days since last order", 0.31), ("orders", 0.12), ("negative reviews", 0.05)]

    chart = bar_chart("Feature importance", bars, value_label="Importance")

    assert len(svg_elements(chart, "rect")) == 3
    texts = svg_texts(chart)
    assert {"days since last order", "orders", "negative reviews"} <= set(texts)
    assert {"0.31", "0.12", "0.05", "Importance"} <= set(texts)
    assert table_rows(chart) == [
        ["days since last order", "0.31"],
        ["orders", "0.12"],
        ["negative reviews", "0.05"],
    ]
    assert table_headers(chart) == ["Name", "Importance"]


def test_longer_bars_are_wider_and_negative_bars_lie_left_of_positive_ones() -> None:
    chart = bar_chart("Coefficients", [("a", 2.0), ("b", 1.0), ("c", -1.0)])

    a, b, c = svg_elements(chart, "rect")
    assert num(a, "width") == pytest.approx(2 * num(b, "width"), abs=0.2)
    assert num(c, "x") + num(c, "width") == pytest.approx(num(b, "x"), abs=0.2)


def test_bar_chart_percent_values_have_at_most_one_decimal() -> None:
    chart = bar_chart("Share", [("a", 0.4), ("b", 0.12345)], percent=True)

    assert {"40%", "12.3%"} <= set(svg_texts(chart))
    assert [row[1] for row in table_rows(chart)] == ["40%", "12.3%"]


def test_long_bar_labels_are_shortened_in_the_svg_but_complete_in_the_table() -> None:
    label = "customers who wrote a negative review about delivery"

    chart = bar_chart("Importance", [(label, 0.2)])

    assert label not in svg_texts(chart)
    assert any(text.endswith("…") for text in svg_texts(chart))
    assert table_rows(chart) == [[label, "0.2"]]


def test_interval_chart_draws_a_dot_and_interval_per_row_around_a_zero_line() -> None:
    chart = interval_chart(
        "Uplift per rule",
        [("Win-back voucher", 0.032, -0.01, 0.074), ("Call at-risk", -0.02, -0.05, 0.01)],
    )

    assert len(svg_elements(chart, "circle")) == 2
    groups = [g for g in svg_elements(chart, "g") if g.get("class") == "interval"]
    assert len(groups) == 2
    zero = [line for line in svg_elements(chart, "line") if line.get("class") == "zero"]
    assert len(zero) == 1
    assert table_rows(chart) == [
        ["Win-back voucher", "+3.2%", "-1% to +7.4%"],
        ["Call at-risk", "-2%", "-5% to +1%"],
    ]
    assert "+3.2% (-1% to +7.4%)" in svg_texts(chart)


def test_interval_chart_rows_without_numbers_say_not_enough_data_yet() -> None:
    chart = interval_chart(
        "Uplift per rule",
        [("New rule", None, None, None), ("Old rule", 0.05, 0.01, 0.09), ("Half", 0.1, None, 0.2)],
    )

    assert len(svg_elements(chart, "circle")) == 1
    assert svg_texts(chart).count("not enough data yet") == 2
    rows = table_rows(chart)
    assert rows[0] == ["New rule", "not enough data yet"]
    assert rows[2] == ["Half", "not enough data yet"]


def test_interval_chart_with_only_empty_rows_still_renders() -> None:
    chart = interval_chart("Uplift", [("New rule", None, None, None)])

    assert "not enough data yet" in svg_texts(chart)
    assert not svg_elements(chart, "circle")


def test_interval_chart_can_show_plain_numbers() -> None:
    chart = interval_chart("Revenue uplift", [("Voucher", 12.5, -3.0, 28.0)], percent=False)

    assert table_rows(chart) == [["Voucher", "+12.5", "-3 to +28"]]


def test_calibration_chart_has_the_diagonal_and_a_dot_per_bin() -> None:
    points = [(0.1, 0.08), (0.5, 0.55), (0.9, 0.8)]

    chart = scatter_with_diagonal("Calibration", points, x_label="Predicted", y_label="Observed")

    assert len(svg_elements(chart, "circle")) == 3
    (diagonal,) = [line for line in svg_elements(chart, "line") if line.get("class") == "diagonal"]
    assert diagonal.get("stroke-dasharray")
    # From the bottom-left corner (0, 0) to the top-right one (1, 1).
    assert num(diagonal, "x1") < num(diagonal, "x2")
    assert num(diagonal, "y1") > num(diagonal, "y2")
    assert {"Predicted", "Observed", "0%", "100%"} <= set(svg_texts(chart))
    assert table_headers(chart) == ["Predicted", "Observed"]
    assert table_rows(chart) == [["10%", "8%"], ["50%", "55%"], ["90%", "80%"]]


@pytest.mark.parametrize(
    "chart",
    [
        bar_chart("Importance", []),
        interval_chart("Uplift", []),
        scatter_with_diagonal("Calibration", [], x_label="Predicted", y_label="Observed"),
    ],
    ids=["bar", "interval", "scatter"],
)
def test_other_charts_without_data_say_so(chart: Chart) -> None:
    assert svg_texts(chart) == ["No data yet"]
    assert table_rows(chart) == [["No data yet"]]


def nasty_charts(label: str) -> list[Chart]:
    """Every chart kind, with the label in every text slot it has."""
    return [
        line_chart(
            label,
            [Series(label, weekly(date(2026, 9, 1), 3)), Series("other", [])],
            y_label=label,
            x_label=label,
            guides=[(0.5, label)],
        ),
        bar_chart(label, [(label, 1.0)], value_label=label),
        interval_chart(label, [(label, 0.1, 0.0, 0.2), (label, None, None, None)]),
        scatter_with_diagonal(label, [(0.2, 0.3)], x_label=label, y_label=label),
    ]


@pytest.mark.parametrize("label", NASTY_LABELS)
def test_text_from_users_is_escaped_in_svg_and_table(label: str) -> None:
    for chart in nasty_charts(label):
        for markup in (str(chart.svg), str(chart.table)):
            assert label not in markup
            assert "<script" not in markup
            # Still well-formed, and the label came through as text, not as markup.
            root = parse(markup)
            assert not [el for el in root.iter() if "onerror" in el.attrib]
            assert label in "".join(root.itertext())
        assert svg_root(chart).get("aria-label") == label


def test_svg_coordinates_have_at_most_one_decimal() -> None:
    points = [(date(2026, 9, 1) + timedelta(days=i), 1 / 3 + i / 7) for i in range(30)]

    chart = line_chart("Sentiment", [Series("score", points)])

    geometry = {"x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "width", "height", "points"}
    root = svg_root(chart)
    values = [
        value
        for el in root.iter()
        if el is not root  # its width is "100%"
        for name, value in el.attrib.items()
        if name in geometry
    ]
    assert values
    assert not [v for v in values if re.search(r"\.\d\d", v)]
