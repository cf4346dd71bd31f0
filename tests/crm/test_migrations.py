"""Migrations of the crm app that move data: forwards keeps the facts, backwards works."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from crm.models import Order, Ticket

BEFORE = ("crm", "0003_drop_redundant_fk_indexes")
AFTER = ("crm", "0004_order_status_times_ticket_reopenings")


@pytest.fixture
def migrate() -> Iterator[MigrationExecutor]:
    """An executor; every app is migrated back to its latest state afterwards."""
    executor = MigrationExecutor(connection)
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_0004_leaves_return_times_unknown_and_keeps_reopen_counts_as_undated_reopenings(
    migrate: MigrationExecutor,
) -> None:
    """GIVEN the schema before 0004 with a returned order and a ticket reopened twice
    WHEN 0004 is applied, then unapplied, then applied again
    THEN the order's return time is unknown (NULL), the ticket has two reopenings of unknown
    time recorded at its last change, and going back and forth works."""
    migrate.migrate([BEFORE])
    old = migrate.loader.project_state([BEFORE]).apps
    now = timezone.now()
    customer = old.get_model("crm", "Customer").objects.create(
        external_id="C1", signed_up_at=now - timedelta(days=90)
    )
    old.get_model("crm", "Order").objects.create(
        external_id="O1", customer=customer, placed_at=now - timedelta(days=30), total=10,
        status="returned",
    )  # fmt: skip
    ticket = old.get_model("crm", "Ticket").objects.create(
        external_id="T1", customer=customer, subject="Late", opened_at=now - timedelta(days=9),
        status="open", reopened_count=2,
    )  # fmt: skip

    migrate = MigrationExecutor(connection)
    migrate.migrate([AFTER])

    assert Order.objects.get().returned_at is None
    reopened = Ticket.objects.get()
    assert reopened.reopened_count == reopened.reopenings.count() == 2
    assert set(reopened.reopenings.values_list("reopened_at", "recorded_at")) == {
        (None, ticket.updated_in_crm_at)
    }

    migrate = MigrationExecutor(connection)
    migrate.migrate([BEFORE])
    migrate = MigrationExecutor(connection)
    migrate.migrate([AFTER])
    assert Ticket.objects.get().reopenings.count() == 2
