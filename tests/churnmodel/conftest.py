"""A small shop with a purchase history in which some customers stop buying."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Customer, Order

HISTORY_DAYS = 400


def build_shop(customers: int = 240, seed: int = 5, churn_share: float = 0.6) -> list[Customer]:
    """Each customer orders about every 7-30 days from the start; `churn_share` of them
    stop for good on a random day, the others keep buying until today."""
    rng = random.Random(seed)
    now = timezone.now()
    rows = Customer.objects.bulk_create(
        Customer(external_id=f"SHOP{i:04d}", signed_up_at=now - timedelta(days=HISTORY_DAYS + 5))
        for i in range(customers)
    )
    orders = []
    for customer in rows:
        gap = rng.choice((7, 14, 21, 30))
        stop = rng.uniform(0, HISTORY_DAYS) if rng.random() < churn_share else HISTORY_DAYS
        day = rng.uniform(0, gap)
        while day < stop:
            orders.append(
                Order(
                    customer=customer,
                    placed_at=now - timedelta(days=HISTORY_DAYS - day),
                    total=Decimal(rng.randrange(1500, 12000)) / 100,
                    status=Order.Status.DELIVERED,
                )
            )
            day += gap * rng.uniform(0.7, 1.3)
    Order.objects.bulk_create(orders)
    return rows


@pytest.fixture
def shop(db: None) -> list[Customer]:
    return build_shop()
