"""Who churned at a cutoff: the label the churn model learns, point-in-time.

A customer counts at cutoff T if they had bought at least once by T; they churned if they
did not buy again in the window (T, T + horizon]. With target "activity", any order or
behaviour event counts as being active, before T and in the window. A window that the data
does not cover yet cannot be labelled: asking for it is an error naming the latest cutoff
that can be.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, Q, QuerySet

from crm.models import Event, Order

DEFAULT_HORIZON_DAYS = 60
TARGETS = ("purchase", "activity")


class IncompleteWindowError(ValueError):
    """The label window (T, T + horizon] ends after the newest data."""


def data_end(target: str = "purchase") -> datetime | None:
    """The newest order (or, for "activity", order or event) the CRM holds: label windows
    must end by then."""
    ends = [Order.objects.aggregate(end=Max("placed_at"))["end"]]
    if target == "activity":
        ends.append(Event.objects.aggregate(end=Max("occurred_at"))["end"])
    known = [end for end in ends if end is not None]
    return max(known) if known else None


def latest_cutoff(
    horizon_days: int = DEFAULT_HORIZON_DAYS, target: str = "purchase"
) -> datetime | None:
    end = data_end(target)
    return None if end is None else end - timedelta(days=horizon_days)


def churn_labels(
    cutoff: datetime,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    target: str = "purchase",
    active_days: int | None = None,
) -> Any:
    """A pandas Series indexed by customer id: 1.0 churned, 0.0 active again in the window;
    only customers not erased and active by `cutoff` (with `active_days`, active within that
    many days before it: those who left long ago have churned already, nothing to predict).
    Raises IncompleteWindowError if the window ends after the newest data (the message
    names the latest valid cutoff)."""
    import pandas as pd

    if target not in TARGETS:
        raise ValueError(f"Unknown churn target {target!r}; one of {', '.join(TARGETS)}.")
    latest = latest_cutoff(horizon_days, target)
    if latest is None or cutoff > latest:
        valid = "no orders yet" if latest is None else f"the latest is {latest:%Y-%m-%d}"
        raise IncompleteWindowError(
            f"Cutoff {cutoff:%Y-%m-%d} + {horizon_days} days ends after the newest order; {valid}."
        )
    end = cutoff + timedelta(days=horizon_days)
    since = cutoff - timedelta(days=active_days) if active_days else None
    # An erased customer asked to be forgotten: they are no training row of any model.
    sources: list[tuple[QuerySet[Any], str]] = [
        (Order.objects.filter(customer__is_erased=False), "placed_at")
    ]
    if target == "activity":
        sources.append((Event.objects.filter(customer__is_erased=False), "occurred_at"))
    before: set[int] = set()
    again: set[int] = set()
    for records, field in sources:
        rows = (
            records.filter(**{f"{field}__lte": end})
            .values("customer_id")
            .annotate(
                before=Max(field, filter=Q(**{f"{field}__lte": cutoff})),
                again=Max(field, filter=Q(**{f"{field}__gt": cutoff})),
            )
            .values_list("customer_id", "before", "again")
        )
        for customer, last_before, next_after in rows:
            if last_before is not None and (since is None or last_before > since):
                before.add(customer)
            if next_after is not None:
                again.add(customer)
    labels = {customer: 0.0 if customer in again else 1.0 for customer in before}
    return pd.Series(labels, name="churned", dtype=float).sort_index()
