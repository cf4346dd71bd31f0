"""CRM services: upserts and the rules they keep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm.models import Event, Order, Ticket
from crm.services import events_upsert, order_upsert, ticket_upsert
from tests.factories import CustomerFactory, OrderFactory, TicketFactory, days_ago

pytestmark = pytest.mark.django_db


def test_reopening_a_solved_ticket_counts_a_reopen_and_clears_solved_at() -> None:
    """GIVEN a solved ticket WHEN the shop sends it back as open THEN it counts one reopen,
    recorded as a reopening dated at that moment."""
    ticket = TicketFactory(status=Ticket.Status.SOLVED, solved_at=days_ago(1))
    before = timezone.now()

    ticket_upsert(external_id=ticket.external_id, customer=ticket.customer, status="open")

    ticket.refresh_from_db()
    assert (ticket.status, ticket.reopened_count, ticket.solved_at) == ("open", 1, None)
    (reopening,) = ticket.reopenings.all()
    assert before <= reopening.reopened_at <= timezone.now()


def test_each_reopen_is_a_reopening_of_its_own_and_the_count_follows_them() -> None:
    """GIVEN a solved ticket WHEN it is reopened, solved again and reopened again
    THEN it has two reopenings in time order and a count of two."""
    ticket = TicketFactory(status=Ticket.Status.SOLVED, solved_at=days_ago(1))
    for status in ("open", "solved", "pending", "pending", "closed"):
        ticket_upsert(external_id=ticket.external_id, customer=ticket.customer, status=status)

    ticket.refresh_from_db()
    times = [r.reopened_at for r in ticket.reopenings.order_by("reopened_at")]
    assert ticket.reopened_count == len(times) == 2
    assert times[0] < times[1]


def test_moving_an_open_ticket_to_pending_is_not_a_reopen() -> None:
    ticket = TicketFactory(status=Ticket.Status.OPEN)
    ticket_upsert(external_id=ticket.external_id, customer=ticket.customer, status="pending")
    ticket.refresh_from_db()
    assert ticket.reopened_count == 0


def test_reopening_a_ticket_in_the_admin_counts_a_reopen(admin_client) -> None:
    ticket = TicketFactory(status=Ticket.Status.CLOSED, solved_at=days_ago(1))
    url = reverse("admin:crm_ticket_change", args=[ticket.pk])
    form = {
        "external_id": ticket.external_id,
        "customer": ticket.customer_id,
        "subject": ticket.subject,
        "channel": ticket.channel,
        "status": "open",
        "priority": ticket.priority,
        "opened_at_0": ticket.opened_at.strftime("%Y-%m-%d"),
        "opened_at_1": ticket.opened_at.strftime("%H:%M:%S"),
        "solved_at_0": ticket.solved_at.strftime("%Y-%m-%d"),
        "solved_at_1": ticket.solved_at.strftime("%H:%M:%S"),
        "reopened_count": 0,
        "messages-TOTAL_FORMS": 0,
        "messages-INITIAL_FORMS": 0,
    }

    response = admin_client.post(url, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    ticket.refresh_from_db()
    assert (ticket.reopened_count, ticket.solved_at) == (1, None)
    assert ticket.reopenings.count() == 1
    page = admin_client.get(url).content.decode()
    assert timezone.localtime(ticket.reopenings.get().reopened_at).strftime("%Y-%m-%d") in page


def test_an_order_that_becomes_returned_is_dated_now_and_keeps_that_time() -> None:
    """GIVEN a delivered order WHEN the shop sends it as returned without a time
    THEN it is dated at that call, and sending it as returned again keeps the time."""
    order = OrderFactory(status=Order.Status.DELIVERED)
    before = timezone.now()

    order_upsert(external_id=order.external_id, customer=order.customer, status="returned")
    order.refresh_from_db()
    returned_at = order.returned_at
    assert returned_at is not None and before <= returned_at <= timezone.now()

    order_upsert(external_id=order.external_id, customer=order.customer, status="returned")
    order.refresh_from_db()
    assert order.returned_at == returned_at


def test_a_new_cancelled_order_without_a_time_is_dated_now() -> None:
    customer = CustomerFactory()
    before = timezone.now()

    order, _ = order_upsert(
        external_id="O-new",
        customer=customer,
        placed_at=days_ago(2),
        total="10",
        status="cancelled",
    )

    assert order.cancelled_at is not None and before <= order.cancelled_at <= timezone.now()
    assert order.returned_at is None


def test_a_given_return_time_is_stored_as_given() -> None:
    order = OrderFactory(placed_at=days_ago(30))
    when = days_ago(10)

    order_upsert(
        external_id=order.external_id, customer=order.customer, status="returned", returned_at=when
    )

    order.refresh_from_db()
    assert order.returned_at == when


def test_a_return_before_the_order_was_placed_is_refused_naming_returned_at() -> None:
    order = OrderFactory(placed_at=days_ago(30))

    with pytest.raises(ValidationError) as raised:
        order_upsert(
            external_id=order.external_id,
            customer=order.customer,
            status="returned",
            returned_at=order.placed_at - timedelta(minutes=1),
        )

    assert raised.value.message_dict == {"returned_at": ["Returned before it was placed."]}
    order.refresh_from_db()
    assert (order.status, order.returned_at) == ("delivered", None)


def test_a_cancellation_time_on_an_order_that_is_not_cancelled_is_refused() -> None:
    order = OrderFactory(status=Order.Status.DELIVERED)

    with pytest.raises(ValidationError) as raised:
        order_upsert(
            external_id=order.external_id, customer=order.customer, cancelled_at=days_ago(1)
        )

    assert list(raised.value.message_dict) == ["cancelled_at"]


def test_an_order_leaving_cancelled_loses_its_cancellation_time() -> None:
    order = OrderFactory(
        status=Order.Status.CANCELLED, delivered_at=None, cancelled_at=days_ago(29)
    )

    order_upsert(external_id=order.external_id, customer=order.customer, status="placed")

    order.refresh_from_db()
    assert (order.status, order.cancelled_at) == ("placed", None)


def test_a_returned_order_of_unknown_time_stays_unknown_when_sent_again() -> None:
    """Orders returned before the CRM kept the time have none: it is not invented later."""
    order = OrderFactory(status=Order.Status.RETURNED, returned_at=None)

    order_upsert(
        external_id=order.external_id, customer=order.customer, status="returned", item_count=3
    )

    order.refresh_from_db()
    assert (order.item_count, order.returned_at) == (3, None)


def test_late_orders_by_query_agree_with_is_late() -> None:
    customer = CustomerFactory()
    late = OrderFactory(
        customer=customer, delivered_at=days_ago(5), promised_delivery_date=days_ago(8).date()
    )
    on_time = OrderFactory(customer=customer)
    unknown = OrderFactory(customer=customer, delivered_at=None)

    assert late.is_late and on_time.is_late is False and unknown.is_late is None
    assert list(Order.objects.late()) == [late]
    assert list(Order.objects.on_time()) == [on_time]
    assert list(Order.objects.lateness_unknown()) == [unknown]


def test_a_batch_with_one_bad_event_stores_none_and_names_its_index() -> None:
    customer = CustomerFactory()
    good = Event(customer=customer, kind="visit", occurred_at=days_ago(1))
    bad = Event(customer=customer, kind="teleport", occurred_at=days_ago(1))

    with pytest.raises(ValidationError) as raised:
        events_upsert(events=[good, bad])

    assert list(raised.value.message_dict) == ["1"]
    assert Event.objects.count() == 0
