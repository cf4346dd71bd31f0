"""customers_activity_saved: the customers whose orders or tickets changed, once per commit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import Order
from crm.services import order_upsert, ticket_upsert
from crm.signals import customers_activity_saved
from tests.factories import CustomerFactory, OrderFactory, TicketFactory, days_ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def announced() -> Iterator[list[list[int]]]:
    """The customer_ids of every send, in order."""
    sends: list[list[int]] = []

    def receiver(sender: type, customer_ids: list[int], **kwargs: object) -> None:
        sends.append(customer_ids)

    customers_activity_saved.connect(receiver, dispatch_uid="test-activity")
    yield sends
    customers_activity_saved.disconnect(dispatch_uid="test-activity")


def test_writes_in_one_transaction_are_announced_once_with_each_customer_once(
    announced: list[list[int]], django_capture_on_commit_callbacks: Any
) -> None:
    """GIVEN two customers WHEN one transaction writes two orders of the first and a ticket
    of the second THEN one send after commit names both, each once, in id order."""
    ann, bob = CustomerFactory(), CustomerFactory()
    announced.clear()  # the factories' own saves

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        order_upsert(external_id="O1", customer=ann, placed_at=days_ago(3), total="10")
        order_upsert(external_id="O2", customer=ann, placed_at=days_ago(2), total="12")
        ticket_upsert(external_id="T1", customer=bob, subject="Late", opened_at=days_ago(1))
        assert announced == []  # not before the commit

    assert announced == [sorted([ann.pk, bob.pk])]


def test_earlier_unsent_announcements_do_not_swallow_later_ones(
    announced: list[list[int]], django_capture_on_commit_callbacks: Any
) -> None:
    """Orders made before the captured block wait for a commit that never comes in a test:
    the block's own writes are still sent, and only theirs."""
    OrderFactory()
    customer = CustomerFactory()

    with django_capture_on_commit_callbacks(execute=True):
        order_upsert(external_id="O1", customer=customer, placed_at=days_ago(3), total="10")

    assert announced == [[customer.pk]]


def test_nothing_is_announced_for_writes_rolled_back_in_a_savepoint(
    announced: list[list[int]], django_capture_on_commit_callbacks: Any
) -> None:
    customer = CustomerFactory()

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        order_upsert(external_id="O1", customer=customer, placed_at=days_ago(3), total="10")
        raise RuntimeError("the request failed after the write")

    assert callbacks == []
    assert announced == []
    assert not Order.objects.exists()


def test_an_order_sent_again_unchanged_announces_nothing(
    announced: list[list[int]], django_capture_on_commit_callbacks: Any
) -> None:
    order = OrderFactory()

    with django_capture_on_commit_callbacks(execute=True):
        order_upsert(external_id=order.external_id, customer=order.customer, total=order.total)

    assert announced == []


def test_moving_an_order_to_another_customer_announces_both(
    announced: list[list[int]], django_capture_on_commit_callbacks: Any
) -> None:
    order = OrderFactory()
    other = CustomerFactory()

    with django_capture_on_commit_callbacks(execute=True):
        order_upsert(external_id=order.external_id, customer=other)

    assert announced == [sorted([order.customer_id, other.pk])]


def test_an_api_write_and_an_admin_save_each_announce_their_customer_once(
    announced: list[list[int]],
    django_capture_on_commit_callbacks: Any,
    admin_client: Any,
    admin_user: Any,
) -> None:
    ticket = TicketFactory(status="solved", solved_at=days_ago(1))
    order = OrderFactory()
    api = APIClient()
    api.force_authenticate(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(f"/api/tickets/{ticket.external_id}/", {"status": "open"}, "json")
    assert response.status_code == 200
    assert announced == [[ticket.customer_id]]

    announced.clear()
    url = reverse("admin:crm_order_change", args=[order.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, _order_form(order, status="returned"))
    assert response.status_code == 302
    assert announced == [[order.customer_id]]


def _order_form(order: Order, **changes: str) -> dict[str, Any]:
    placed = timezone.localtime(order.placed_at)
    return {
        "external_id": order.external_id,
        "customer": order.customer_id,
        "status": order.status,
        "total": order.total,
        "currency": order.currency,
        "item_count": order.item_count,
        "coupon_code": "",
        "placed_at_0": placed.strftime("%Y-%m-%d"),
        "placed_at_1": placed.strftime("%H:%M:%S"),
        **changes,
    }


@pytest.mark.django_db(transaction=True)
def test_real_commits_announce_once_and_a_rollback_announces_nothing(
    announced: list[list[int]],
) -> None:
    """With real transactions: a committed one sends once, a rolled-back one never, and a
    write outside any transaction (autocommit) sends at once."""
    customer = CustomerFactory()
    announced.clear()

    with pytest.raises(RuntimeError), transaction.atomic():
        order_upsert(external_id="O1", customer=customer, placed_at=days_ago(3), total="10")
        raise RuntimeError("rolled back")
    assert announced == []

    with transaction.atomic():
        order_upsert(external_id="O1", customer=customer, placed_at=days_ago(3), total="10")
        order_upsert(external_id="O2", customer=customer, placed_at=days_ago(2), total="11")
    assert announced == [[customer.pk]]

    order_upsert(external_id="O1", customer=customer, total="9")  # its own transaction
    assert announced == [[customer.pk], [customer.pk]]


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_breaks_no_write(announced: list[list[int]]) -> None:
    def broken(**kwargs: object) -> None:
        raise ConnectionError("broker down")

    customers_activity_saved.connect(broken, dispatch_uid="test-activity-broken")
    try:
        order, _ = order_upsert(
            external_id="O1", customer=CustomerFactory(), placed_at=days_ago(3), total="10"
        )
    finally:
        customers_activity_saved.disconnect(dispatch_uid="test-activity-broken")

    assert Order.objects.filter(pk=order.pk).exists()
    assert announced == [[order.customer_id]]
