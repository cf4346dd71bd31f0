"""Point-in-time churn features for every customer at a cutoff, in a handful of SQL queries.

Every feature for cutoff T reads only records dated at or before T: orders by `placed_at`
(deliveries by `delivered_at`), events by `occurred_at`, reviews and messages by their
`created_at`, tickets by `opened_at` (solved by `solved_at`). A test proves it: adding any
record dated after T never changes T's features. Each query is one set-based aggregate over
all customers (conditional aggregation per window), never a loop over customers; the
derived features (gaps, ratios, trends) are computed column-wise in pandas.

Returns and cancellations count by `returned_at` / `cancelled_at` (an order returned
after T was not returned at T; a null time is unknown and never counts), ticket reopens by
their TicketReopening time (or, undated, by when the CRM recorded them).

Text features come two ways: per analyzer (mean, minimum, share negative of its scores),
and from each text's effective label (sentiment.selectors.with_effective_label: an
agent's override wins over the models), with the last, time-decayed and 30-day change of
the score, and negative mentions per aspect. Texts marked "unsupported language" or
"empty" have no score and count nowhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, F, Max, Min, Q, QuerySet, Sum

from crm.models import Customer, Event, Order, Review, Ticket

WINDOWS = (30, 90, 365)
EVENT_KINDS = tuple(Event.Kind.values)
ANALYZED_LABELS = ("negative", "neutral", "positive")  # "unsupported" and "empty" are ignored
ANALYZERS = ("vader", "transformer")
HALF_LIFE_DAYS = 30


def _frame(rows: QuerySet, aggregates: dict[str, Any], customer: str = "customer_id") -> Any:
    """The per-customer aggregate rows as a DataFrame indexed by customer id, every
    aggregate a column even when no customer has a row. `customer` is the path from the
    rows to the customer's id."""
    import pandas as pd

    # An alias of its own: naming it "customer_id" would clash with the field on rows'
    # models that have one.
    grouped = rows.values(group_customer=F(customer)).annotate(**aggregates)
    records = grouped.values_list("group_customer", *aggregates)
    columns = ["customer_id", *aggregates]
    return pd.DataFrame.from_records(list(records), columns=columns).set_index("customer_id")


def _order_features(cutoff: datetime, customers: QuerySet[Customer]) -> Any:
    orders = Order.objects.db_manager(customers.db).filter(
        customer__in=customers, placed_at__lte=cutoff
    )
    aggregates: dict[str, Any] = {
        "orders_total": Count("pk"),
        "spend_total": Sum("total"),
        "first_order_at": Min("placed_at"),
        "last_order_at": Max("placed_at"),
        # Known at T: delivered late by T, or promised before T and still not delivered.
        "late_deliveries": Count(
            "pk",
            filter=Q(delivered_at__lte=cutoff, delivered_at__date__gt=F("promised_delivery_date"))
            | Q(promised_delivery_date__lt=cutoff.date())
            & (Q(delivered_at__isnull=True) | Q(delivered_at__gt=cutoff)),
        ),
    }
    for days in WINDOWS:
        since = cutoff - timedelta(days=days)
        aggregates[f"orders_{days}d"] = Count("pk", filter=Q(placed_at__gt=since))
        aggregates[f"spend_{days}d"] = Sum("total", filter=Q(placed_at__gt=since))
    previous = Q(
        placed_at__gt=cutoff - timedelta(days=60), placed_at__lte=cutoff - timedelta(days=30)
    )
    aggregates["orders_prev_30d"] = Count("pk", filter=previous)
    year = cutoff - timedelta(days=365)
    aggregates["returns_365d"] = Count(
        "pk", filter=Q(returned_at__gt=year, returned_at__lte=cutoff)
    )
    aggregates["cancellations_365d"] = Count(
        "pk", filter=Q(cancelled_at__gt=year, cancelled_at__lte=cutoff)
    )
    return _frame(orders, aggregates)


def _event_features(cutoff: datetime, customers: QuerySet[Customer]) -> Any:
    events = Event.objects.db_manager(customers.db).filter(
        customer__in=customers, occurred_at__lte=cutoff
    )
    last_30 = Q(occurred_at__gt=cutoff - timedelta(days=30))
    prev_30 = Q(
        occurred_at__gt=cutoff - timedelta(days=60), occurred_at__lte=cutoff - timedelta(days=30)
    )
    aggregates: dict[str, Any] = {
        "last_visit_at": Max("occurred_at", filter=Q(kind=Event.Kind.VISIT)),
        "last_event_at": Max("occurred_at"),
    }
    for kind in EVENT_KINDS:
        aggregates[f"{kind}_30d"] = Count("pk", filter=last_30 & Q(kind=kind))
        aggregates[f"{kind}_prev_30d"] = Count("pk", filter=prev_30 & Q(kind=kind))
    return _frame(events, aggregates)


def _ticket_features(cutoff: datetime, customers: QuerySet[Customer]) -> Any:
    tickets = Ticket.objects.db_manager(customers.db).filter(
        customer__in=customers, opened_at__lte=cutoff
    )
    solved = Q(solved_at__lte=cutoff)
    return _frame(
        tickets,
        {
            "tickets_total": Count("pk"),
            "tickets_90d": Count("pk", filter=Q(opened_at__gt=cutoff - timedelta(days=90))),
            "tickets_open": Count("pk", filter=Q(solved_at__isnull=True) | Q(solved_at__gt=cutoff)),
            "solve_time_avg": Avg(F("solved_at") - F("opened_at"), filter=solved),
        },
    )


def _reopen_features(cutoff: datetime, customers: QuerySet[Customer]) -> Any:
    from django.db.models.functions import Coalesce

    from crm.models import TicketReopening

    reopenings = (
        TicketReopening.objects.db_manager(customers.db)
        .annotate(known_at=Coalesce("reopened_at", "recorded_at"))
        .filter(ticket__customer__in=customers, known_at__lte=cutoff)
    )
    return _frame(
        reopenings,
        {"tickets_reopened_90d": Count("pk", filter=Q(known_at__gt=cutoff - timedelta(days=90)))},
        customer="ticket__customer_id",
    )


def _review_features(cutoff: datetime, customers: QuerySet[Customer]) -> Any:
    reviews = Review.objects.db_manager(customers.db).filter(
        customer__in=customers, created_at__lte=cutoff
    )
    return _frame(
        reviews,
        {
            "reviews_total": Count("pk"),
            "rating_avg": Avg("rating"),
            "low_ratings": Count("pk", filter=Q(rating__lte=2)),
        },
    )


def _text_features(cutoff: datetime, customers: QuerySet[Customer]) -> Any:
    """Per analyzer: mean, minimum and count of the scores of the customer's texts written
    by T, and the share read negative. Texts marked "unsupported language" or "empty" have
    no score and do not count."""
    import pandas as pd

    from sentiment.models import SentimentScore

    frames = []
    for analyzer in ANALYZERS:
        scores = SentimentScore.objects.db_manager(customers.db).filter(
            analyzer=analyzer,
            text__customer__in=customers,
            text__written_at__lte=cutoff,
            content_hash=F("text__content_hash"),
            label__in=ANALYZED_LABELS,
        )
        aggregates = {
            f"{analyzer}_texts": Count("pk"),
            f"{analyzer}_mean": Avg("score"),
            f"{analyzer}_min": Min("score"),
            f"{analyzer}_negative": Count("pk", filter=Q(label="negative")),
        }
        frames.append(_frame(scores, aggregates, customer="text__customer_id"))
    return pd.concat(frames, axis=1)


def _effective_text_features(cutoff: datetime, customers: QuerySet[Customer]) -> Any:
    """From each text's effective label (an agent's override, else the primary analyzer's)
    and score: the share read negative, the last text's score, a time-decayed mean (half-
    life HALF_LIFE_DAYS), and the change of the mean over the last 30 days
    against the texts before them. One query over the texts, then column-wise pandas."""
    import numpy as np
    import pandas as pd

    from crm.models import CustomerText
    from sentiment.selectors import with_effective_label

    # Any: the type checker cannot see the annotations with_effective_label adds.
    annotated: Any = with_effective_label(
        CustomerText.objects.db_manager(customers.db).filter(
            customer__in=customers, written_at__lte=cutoff
        )
    )
    texts = annotated.filter(effective_label__in=ANALYZED_LABELS).values_list(
        "customer_id", "written_at", "effective_label", "effective_score"
    )
    columns = ["customer_id", "written_at", "label", "score"]
    df = pd.DataFrame.from_records(list(texts), columns=columns)
    names = [
        "texts_scored",
        "share_negative",
        "sentiment_last",
        "sentiment_decayed",
        "sentiment_change_30d",
    ]
    if df.empty:
        return pd.DataFrame(columns=names, index=pd.Index([], name="customer_id"))
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    age = (pd.Timestamp(cutoff) - pd.to_datetime(df["written_at"], utc=True)).dt.total_seconds()
    df["weight"] = np.power(0.5, age / 86400 / HALF_LIFE_DAYS)
    df["weighted"] = df["weight"] * df["score"]
    df["negative"] = (df["label"] == "negative").astype(float)
    df["recent"] = age <= 30 * 86400
    groups = df.sort_values("written_at").groupby("customer_id")
    out = pd.DataFrame(
        {
            "texts_scored": groups.size().astype(float),
            "share_negative": groups["negative"].mean(),
            "sentiment_last": groups["score"].last(),
            "sentiment_decayed": groups["weighted"].sum()
            / df[df["score"].notna()].groupby("customer_id")["weight"].sum(),
        }
    )
    recent = df[df["recent"]].groupby("customer_id")["score"].mean()
    older = df[~df["recent"]].groupby("customer_id")["score"].mean()
    out["sentiment_change_30d"] = recent - older
    return out


def _aspect_features(cutoff: datetime, customers: QuerySet[Customer]) -> Any:
    """Negative mentions per aspect in the customer's texts written by T (primary analyzer,
    current content)."""
    from django.conf import settings

    from sentiment.models import Aspect, AspectMention

    mentions = AspectMention.objects.db_manager(customers.db).filter(
        label="negative",
        score__analyzer=settings.SENTIMENT_PRIMARY_ANALYZER,
        score__content_hash=F("score__text__content_hash"),
        score__text__written_at__lte=cutoff,
        score__text__customer__in=customers,
    )
    aggregates = {
        f"negative_{aspect}": Count("pk", filter=Q(aspect=aspect)) for aspect in Aspect.values
    }
    return _frame(mentions, aggregates, customer="score__text__customer_id")


def feature_frame(
    cutoff: datetime, customers: QuerySet[Customer] | None = None, *, using: str | None = None
) -> Any:
    """One row per customer who had signed up by `cutoff` (index: customer id), features as
    columns (FEATURES, in that order); counts are 0 and unknown values NaN where a customer
    has no such records. `using` names the database (all queries go to the customers'
    database).

    Reads only records dated at or before `cutoff` (see the module docstring).
    """
    import numpy as np
    import pandas as pd

    customers = (customers if customers is not None else Customer.objects.all()).filter(
        signed_up_at__lte=cutoff
    )
    if using is not None:
        customers = customers.using(using)
    base = pd.DataFrame.from_records(
        customers.values("pk", "signed_up_at"), columns=["pk", "signed_up_at"]
    ).set_index("pk")
    frame = base
    for part in (
        _order_features,
        _event_features,
        _ticket_features,
        _reopen_features,
        _review_features,
        _text_features,
        _effective_text_features,
        _aspect_features,
    ):
        frame = frame.join(part(cutoff, customers), how="left")
    counts = [
        c
        for c in frame.columns
        if c.startswith(
            ("orders_", "tickets_", "reviews_", "low_", "late_", "returns_", "cancellations_")
        )
    ]
    counts += [f"{kind}{suffix}" for kind in EVENT_KINDS for suffix in ("_30d", "_prev_30d")]
    counts += ["spend_total", *(f"spend_{d}d" for d in WINDOWS)]
    counts += [f"{a}_{suffix}" for a in ANALYZERS for suffix in ("texts", "negative")]
    counts += ["texts_scored", *(c for c in frame.columns if c.startswith("negative_"))]
    for column in counts:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0.0)

    def days_since(column: str) -> Any:
        values = pd.to_datetime(frame[column], utc=True)
        return (pd.Timestamp(cutoff) - values).dt.total_seconds() / 86400

    out = pd.DataFrame(index=frame.index)
    out["tenure_days"] = days_since("signed_up_at")
    # Never ordered: days since signing up, the time they have gone without an order.
    out["recency_days"] = days_since("last_order_at").fillna(out["tenure_days"])
    out["days_since_last_visit"] = days_since("last_visit_at")
    out["days_since_last_event"] = days_since("last_event_at")
    for days in WINDOWS:
        out[f"orders_{days}d"] = frame[f"orders_{days}d"]
        out[f"spend_{days}d"] = frame[f"spend_{days}d"].astype(float)
    out["orders_total"] = frame["orders_total"]
    out["spend_total"] = frame["spend_total"].astype(float)
    out["orders_trend_30d"] = frame["orders_30d"] - frame["orders_prev_30d"]
    out["avg_order_value"] = out["spend_total"] / out["orders_total"].where(out["orders_total"] > 0)
    span = (
        pd.to_datetime(frame["last_order_at"], utc=True)
        - pd.to_datetime(frame["first_order_at"], utc=True)
    ).dt.total_seconds() / 86400
    out["usual_gap_days"] = span / (out["orders_total"] - 1).where(out["orders_total"] > 1)
    out["gap_ratio"] = out["recency_days"] / out["usual_gap_days"].where(out["usual_gap_days"] > 0)
    out["late_deliveries"] = frame["late_deliveries"]
    out["returns_365d"] = frame["returns_365d"]
    out["cancellations_365d"] = frame["cancellations_365d"]
    for kind in EVENT_KINDS:
        out[f"{kind}_30d"] = frame[f"{kind}_30d"]
        out[f"{kind}_trend_30d"] = frame[f"{kind}_30d"] - frame[f"{kind}_prev_30d"]
    out["tickets_total"] = frame["tickets_total"]
    out["tickets_90d"] = frame["tickets_90d"]
    out["tickets_open"] = frame["tickets_open"]
    out["tickets_reopened_90d"] = frame["tickets_reopened_90d"]
    # PostgreSQL returns an interval (timedelta), SQLite microseconds: both become hours.
    solve = frame["solve_time_avg"].map(
        lambda v: (
            v.total_seconds() if hasattr(v, "total_seconds") else np.nan if v is None else v / 1e6
        )
    )
    out["solve_hours_avg"] = pd.to_numeric(solve, errors="coerce") / 3600
    out["reviews_total"] = frame["reviews_total"]
    out["rating_avg"] = pd.to_numeric(frame["rating_avg"], errors="coerce")
    out["low_ratings"] = frame["low_ratings"]
    for analyzer in ANALYZERS:
        texts = frame[f"{analyzer}_texts"]
        out[f"{analyzer}_texts"] = texts
        out[f"{analyzer}_mean"] = pd.to_numeric(frame[f"{analyzer}_mean"], errors="coerce")
        out[f"{analyzer}_min"] = pd.to_numeric(frame[f"{analyzer}_min"], errors="coerce")
        out[f"{analyzer}_share_negative"] = frame[f"{analyzer}_negative"] / texts.where(texts > 0)
    for column in ("texts_scored", "share_negative", "sentiment_last", "sentiment_decayed",
                   "sentiment_change_30d"):  # fmt: skip
        out[column] = pd.to_numeric(frame[column], errors="coerce")
    for column in (c for c in frame.columns if c.startswith("negative_")):
        out[column] = frame[column]
    return out.astype(float).sort_index()


def feature_names() -> list[str]:
    """The features this code computes, in order: what a trained model must read."""
    from django.utils import timezone

    return list(feature_frame(timezone.now(), Customer.objects.none()).columns)


# Features that come from what customers wrote: left out by the training's ablation.
TEXT_FEATURE_PREFIXES = (*(f"{a}_" for a in ANALYZERS), "texts_scored", "share_negative",
                         "sentiment_", "negative_")  # fmt: skip


def is_text_feature(name: str) -> bool:
    return name.startswith(TEXT_FEATURE_PREFIXES)
