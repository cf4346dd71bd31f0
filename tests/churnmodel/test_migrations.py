"""Migrations of the churnmodel app that move data: forwards fills, backwards works."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

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

    after = MigrationExecutor(connection).loader.project_state([AFTER]).apps
    (row,) = after.get_model("churnmodel", "CurrentRisk").objects.all()
    assert (row.customer.external_id, row.probability, row.band, row.segment) == (
        "C1", 0.8, "high", "lapsing")  # fmt: skip
    assert row.top_reason == "No order for 10 days" and row.spend_365d == 40


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_fills_complaints_and_last_contacts_of_existing_current_risk_rows(
    migrate: MigrationExecutor,  # noqa: F811
) -> None:
    """GIVEN current risk rows from before complaints and last contacts were kept, a recent
    negative delivery mention, a treated and a held-out intervention
    WHEN churnmodel 0005 and interventions 0008 are applied (and reversed, and again)
    THEN the complaint and the treated contact are on the rows, the hold-out is not."""
    from django.conf import settings

    start = [("churnmodel", "0004_task_ids_complaints_contacts"), ("interventions", "0007_roles")]
    end = [("churnmodel", "0005_fill_complaints"), ("interventions", "0008_fill_last_contacts")]
    migrate.migrate(start)
    old = migrate.loader.project_state(start).apps
    now = timezone.now()
    customers = old.get_model("crm", "Customer").objects
    unhappy = customers.create(external_id="C1", signed_up_at=now - timedelta(days=900))
    held = customers.create(external_id="C2", signed_up_at=now - timedelta(days=900))
    risks = old.get_model("churnmodel", "CurrentRisk").objects
    for customer in (unhappy, held):
        risks.create(customer=customer, probability=0.7, band="high", spend_365d=0,
                     scored_at=now)  # fmt: skip
    review = old.get_model("crm", "Review").objects.create(
        external_id="R1", customer=unhappy, rating=1, body="Late.", created_at=now)  # fmt: skip
    text = old.get_model("crm", "CustomerText").objects.create(
        customer=unhappy, review=review, source="review", written_at=now - timedelta(days=3),
        content_hash="h",
    )  # fmt: skip
    score = old.get_model("sentiment", "SentimentScore").objects.create(
        text=text, analyzer=settings.SENTIMENT_PRIMARY_ANALYZER, analyzer_version="1",
        content_hash="h", label="negative", score=-0.8, scored_at=now,
    )  # fmt: skip
    old.get_model("sentiment", "AspectMention").objects.create(
        score=score, aspect="delivery", label="negative", polarity=-0.8)  # fmt: skip
    rule = old.get_model("interventions", "Rule").objects.create(name="r", action="call")
    interventions = old.get_model("interventions", "Intervention").objects
    for customer, group, status, days in ((unhappy, "treated", "done", 5),
                                          (held, "control", "held_out", 4)):  # fmt: skip
        interventions.create(customer=customer, rule=rule, group=group, action="call",
                             status=status, decided_at=now - timedelta(days=days),
                             month="2026-11")  # fmt: skip

    for step in (end, start, end):
        MigrationExecutor(connection).migrate(step)

    after = MigrationExecutor(connection).loader.project_state(end).apps
    rows = {r.customer.external_id: r for r in after.get_model("churnmodel", "CurrentRisk")
            .objects.all()}  # fmt: skip
    assert rows["C1"].complaints == ",delivery," and rows["C2"].complaints == ""
    assert rows["C1"].last_contact_at is not None and rows["C2"].last_contact_at is None
