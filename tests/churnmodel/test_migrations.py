"""Migrations of the churnmodel app that move data: forwards fills, backwards works."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from churnmodel.models import CurrentRisk
from tests.crm.test_migrations import migrate  # noqa: F401  (the fixture)

BEFORE = ("churnmodel", "0002_current_risk")
AFTER = ("churnmodel", "0003_fill_current_risk")


@pytest.mark.django_db(transaction=True)
def test_0003_gives_every_scored_customer_their_newest_risk_and_spend(
    migrate: MigrationExecutor,  # noqa: F811
) -> None:
    """GIVEN scores written before CurrentRisk was kept: two for one customer, none for
    another, and a cancelled and a year-old order beside a counted one
    WHEN 0003 is applied (then unapplied and applied again)
    THEN the scored customer's row is the newer score with the counted spend only."""
    migrate.migrate([BEFORE])
    old = migrate.loader.project_state([BEFORE]).apps
    now = timezone.now()
    customers = old.get_model("crm", "Customer").objects
    scored = customers.create(external_id="C1", signed_up_at=now - timedelta(days=900))
    customers.create(external_id="C2", signed_up_at=now - timedelta(days=90))
    orders = old.get_model("crm", "Order").objects
    for n, (days, total, status) in enumerate(
        ((10, 40, "delivered"), (20, 500, "cancelled"), (400, 70, "delivered"))
    ):
        orders.create(external_id=f"O{n}", customer=scored, total=total, status=status,
                      placed_at=now - timedelta(days=days))  # fmt: skip
    version = old.get_model("churnmodel", "ModelVersion").objects.create(
        algorithm="test", features=[], horizon_days=60, training_cutoffs=[],
        validation_cutoff=now, training_data_hash="-", metrics={}, artifact_path="-",
        artifact_sha256="-",
    )  # fmt: skip
    scores = old.get_model("churnmodel", "ChurnScore").objects
    common = {"customer": scored, "model_version": version, "horizon_days": 60}
    scores.create(**common, probability=0.2, band="low", scored_at=now - timedelta(days=2))
    scores.create(**common, probability=0.8, band="high", segment="lapsing", scored_at=now,
                  reasons=[{"direction": "down", "text": "Ordered 12 times"},
                           {"direction": "up", "text": "No order for 10 days"}])  # fmt: skip

    for step in ([AFTER], [BEFORE], [AFTER]):
        MigrationExecutor(connection).migrate(step)

    (row,) = CurrentRisk.objects.all()
    assert (row.customer.external_id, row.probability, row.band, row.segment) == (
        "C1", 0.8, "high", "lapsing")  # fmt: skip
    assert row.top_reason == "No order for 10 days" and row.spend_365d == 40
