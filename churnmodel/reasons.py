"""Reasons for a churn score, in words a person reads, with the evidence behind them.

A reason is a group of related features (the order gap, browsing, tickets, what the
customer wrote about delivery...). Its weight is the sum of its features' exact
contributions to the model's log-odds (ChurnPredictor.contributions), so the weights of
all groups plus the model's bias add up to the score before calibration: positive pushes
the risk up, negative down. Reasons that come from text link to the texts and quote the
sentence that carried the sentiment.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from churnmodel.features import EVENT_KINDS, is_text_feature

TOP_UP = 3
TOP_DOWN = 2
EVIDENCE_PER_REASON = 3


def group_of(column: str) -> str:
    """The reason group of a feature or of its missing-value indicator."""
    name = column.removesuffix("__missing")
    if name.startswith("negative_"):
        return "aspect:" + name.removeprefix("negative_")
    if name in ("recency_days", "gap_ratio", "usual_gap_days"):
        return "recency"
    if name.startswith("orders_"):
        return "frequency"
    if name.startswith("spend_") or name == "avg_order_value":
        return "spend"
    if name.startswith(("returns_", "cancellations_")):
        return "returns"
    if name.startswith(EVENT_KINDS) or name.startswith("days_since_last_"):
        return "browsing"
    if name.startswith("tickets_") or name in ("solve_hours_avg",):
        return "tickets"
    if name in ("reviews_total", "rating_avg", "low_ratings"):
        return "reviews"
    if is_text_feature(name):  # what customers wrote (aspects were taken above)
        return "sentiment"
    if name == "late_deliveries":
        return "deliveries"
    return name.removesuffix("_days")


def _n(value: Any) -> int:
    try:
        return round(float(value))
    except (TypeError, ValueError, OverflowError):  # None, NaN, infinity
        return 0


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def describe(group: str, row: Any) -> str:
    """The plain-words statement of a reason group for one customer's feature row."""
    import math

    def value(name: str) -> float:
        v = row.get(name, math.nan)
        return float(v) if v is not None else math.nan

    if group == "recency":
        days, gap = _n(value("recency_days")), value("usual_gap_days")
        if _n(value("orders_total")) == 0:
            return f"no order since signing up {_plural(days, 'day')} ago"
        if math.isfinite(gap) and gap > 0:
            return f"no order for {_plural(days, 'day')}, usually every {_n(gap)}"
        return f"no order for {_plural(days, 'day')}, one order so far"
    if group == "frequency":
        return (
            f"{_plural(_n(value('orders_90d')), 'order')} in the last 90 days, "
            f"{_n(value('orders_365d'))} in the last year"
        )
    if group == "spend":
        from django.conf import settings

        currency = settings.CRM_DEFAULT_CURRENCY
        aov = value("avg_order_value")
        per_order = f", {aov:.0f} {currency} per order" if math.isfinite(aov) else ""
        return f"spent {value('spend_365d'):.0f} {currency} in the last year{per_order}"
    if group == "tenure":
        return f"customer for {_plural(_n(value('tenure_days')), 'day')}"
    if group == "browsing":
        visits, trend = _n(value("visit_30d")), _n(value("visit_trend_30d"))
        last = value("days_since_last_visit")
        since = f"; last visit {_n(last)} days ago" if math.isfinite(last) else "; no visit yet"
        change = f" ({trend:+d} on the 30 days before)" if trend else ""
        seen = _plural(visits, "visit") if visits else "no visits"
        return f"{seen} in the last 30 days{change}{since}"
    if group == "deliveries":
        return f"{_plural(_n(value('late_deliveries')), 'late delivery', 'late deliveries')}"
    if group == "returns":
        returns, cancels = _n(value("returns_365d")), _n(value("cancellations_365d"))
        return (
            f"{_plural(returns, 'return')} and {_plural(cancels, 'cancellation')} in the last year"
        )
    if group == "tickets":
        recent, still_open = _n(value("tickets_90d")), _n(value("tickets_open"))
        reopened = _n(value("tickets_reopened_90d"))
        if recent == 0 and still_open == 0:
            return "no support tickets in the last 90 days"
        text = f"{_plural(recent, 'support ticket')} in the last 90 days, {still_open} still open"
        return text + (f", {reopened} reopened" if reopened else "")
    if group == "reviews":
        total, low, avg = _n(value("reviews_total")), _n(value("low_ratings")), value("rating_avg")
        if total == 0:
            return "no reviews written"
        among = f"among {_plural(total, 'review')} (average {avg:.1f} stars)"
        return f"{_plural(low, 'low rating')} {among}"
    if group == "sentiment":
        scored = _n(value("texts_scored"))
        if scored == 0:
            return "no reviews or messages to read"
        negative = _n(value("share_negative") * scored) if scored else 0
        last = value("sentiment_last")
        tone = "negative" if last < -0.05 else "positive" if last > 0.05 else "neutral"
        return f"{negative} of {_plural(scored, 'text')} negative, the latest {tone}"
    if group.startswith("aspect:"):
        aspect = group.removeprefix("aspect:")
        count = _n(value(f"negative_{aspect}"))
        return f"{_plural(count, 'negative mention')} of {aspect.replace('_', ' ')}"
    return group.replace("_", " ")


def reasons_for(contributions: Any, frame: Any) -> list[list[dict[str, Any]]]:
    """Per row: the TOP_UP groups pushing risk up most and TOP_DOWN pushing it down, each
    {key, direction, weight, text}; `contributions` columns are matrix columns."""
    groups: dict[str, list[str]] = defaultdict(list)
    for column in contributions.columns:
        groups[group_of(column)].append(column)
    summed = {key: contributions[cols].sum(axis=1).to_numpy() for key, cols in groups.items()}
    keys = list(summed)
    out: list[list[dict[str, Any]]] = []
    rows = frame.to_dict("records")
    for i, row in enumerate(rows):
        weights = sorted(((summed[k][i], k) for k in keys), reverse=True)
        up = [(w, k) for w, k in weights if w > 0.01][:TOP_UP]
        down = [(w, k) for w, k in reversed(weights) if w < -0.01][:TOP_DOWN]
        out.append(
            [
                {
                    "key": key,
                    "direction": "up" if weight > 0 else "down",
                    "weight": round(float(weight), 3),
                    "text": describe(key, row),
                }
                for weight, key in (*up, *down)
            ]
        )
    return out


def attach_evidence(
    reasons: dict[int, list[dict[str, Any]]], cutoff: datetime
) -> dict[int, list[dict[str, Any]]]:
    """Add `text_ids` and `evidence` (quoted sentences) to reasons that come from text:
    the customer's negative texts for "sentiment" pushing risk up, and the sentences that
    mention an aspect negatively for "aspect:<name>". Two queries for all customers."""
    from django.conf import settings
    from django.db.models import F

    from crm.models import CustomerText
    from sentiment.models import AspectMention, SentimentScore
    from sentiment.selectors import with_effective_label

    wants_sentiment = [c for c, rs in reasons.items() if any(r["key"] == "sentiment" for r in rs)]
    wants_aspects = [c for c, rs in reasons.items() if any(r["key"][:7] == "aspect:" for r in rs)]
    quotes: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
    if wants_sentiment:
        annotated: Any = with_effective_label(
            CustomerText.objects.filter(customer__in=wants_sentiment, written_at__lte=cutoff)
        )
        negative = list(
            annotated.filter(effective_label="negative")
            .order_by("-written_at", "-pk")
            .values_list("customer_id", "pk")
        )
        evidence = dict(
            SentimentScore.objects.filter(
                text__in=[pk for _, pk in negative],
                analyzer=settings.SENTIMENT_PRIMARY_ANALYZER,
                content_hash=F("text__content_hash"),
            ).values_list("text_id", "evidence")
        )
        for customer, pk in negative:
            found = (evidence.get(pk) or {}).get("negative") or {}
            quotes[(customer, "sentiment")].append((pk, found.get("text", "")))
    if wants_aspects:
        mentions = (
            AspectMention.objects.filter(
                label="negative",
                score__analyzer=settings.SENTIMENT_PRIMARY_ANALYZER,
                score__content_hash=F("score__text__content_hash"),
                score__text__customer__in=wants_aspects,
                score__text__written_at__lte=cutoff,
            )
            .order_by("-score__text__written_at")
            .values_list("score__text__customer_id", "aspect", "score__text_id", "sentence")
        )
        for customer, aspect, text_id, sentence in mentions:
            quotes[(customer, f"aspect:{aspect}")].append((text_id, sentence))
    for customer, rs in reasons.items():
        for reason in rs:
            found = quotes.get((customer, reason["key"]), [])[:EVIDENCE_PER_REASON]
            if found and reason["direction"] == "up":
                reason["text_ids"] = [pk for pk, _ in found]
                reason["evidence"] = [quote for _, quote in found if quote]
    return reasons
