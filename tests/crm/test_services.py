"""CRM services: upserts and the rules they keep."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm.models import Event, Order, Ticket
from crm.services import events_upsert, ticket_upsert
from tests.factories import CustomerFactory, OrderFactory, TicketFactory, days_ago

pytestmark = pytest.mark.django_db


def test_reopening_a_solved_ticket_counts_a_reopen_and_clears_solved_at() -> None:
    """GIVEN a solved ticket WHEN the shop sends it back as open THEN it counts one reopen."""
    ticket = TicketFactory(status=Ticket.Status.SOLVED, solved_at=days_ago(1))

    ticket_upsert(external_id=ticket.external_id, customer=ticket.customer, status="open")

    ticket.refresh_from_db()
    assert (ticket.status, ticket.reopened_count, ticket.solved_at) == ("open", 1, None)


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
