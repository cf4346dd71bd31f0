"""Who churned at a cutoff: the label the churn model learns, point-in-time.

A customer counts at cutoff T if they had bought at least once by T; they churned if they
did not buy again in the window (T, T + horizon]. A window that the data does not cover
yet cannot be labelled: asking for it is an error naming the latest cutoff that can be.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, Q

from crm.models import Order

DEFAULT_HORIZON_DAYS = 60


class IncompleteWindowError(ValueError):
    """The label window (T, T + horizon] ends after the newest data."""


def data_end() -> datetime | None:
    """The newest order time the CRM holds: label windows must end by then."""
    return Order.objects.aggregate(end=Max("placed_at"))["end"]


def latest_cutoff(horizon_days: int = DEFAULT_HORIZON_DAYS) -> datetime | None:
    end = data_end()
    return None if end is None else end - timedelta(days=horizon_days)


def churn_labels(cutoff: datetime, horizon_days: int = DEFAULT_HORIZON_DAYS) -> Any:
    """A pandas Series indexed by customer id: 1.0 churned, 0.0 bought again in the window;
    only customers who had bought by `cutoff`. Raises IncompleteWindowError if the window
    ends after the newest order (the message names the latest valid cutoff)."""
    import pandas as pd

    latest = latest_cutoff(horizon_days)
    if latest is None or cutoff > latest:
        valid = "no orders yet" if latest is None else f"the latest is {latest:%Y-%m-%d}"
        raise IncompleteWindowError(
            f"Cutoff {cutoff:%Y-%m-%d} + {horizon_days} days ends after the newest order; {valid}."
        )
    end = cutoff + timedelta(days=horizon_days)
    rows = (
        Order.objects.filter(placed_at__lte=end)
        .values("customer_id")
        .annotate(
            before=Max("placed_at", filter=Q(placed_at__lte=cutoff)),
            again=Max("placed_at", filter=Q(placed_at__gt=cutoff)),
        )
        .filter(before__isnull=False)
        .values_list("customer_id", "again")
    )
    labels = {customer: 0.0 if again is not None else 1.0 for customer, again in rows}
    return pd.Series(labels, name="churned", dtype=float).sort_index()
