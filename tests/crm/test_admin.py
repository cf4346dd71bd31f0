"""Admin tests for the crm app: every page opens, forms save, lists stay cheap as rows grow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.admin import LargeTablePaginator
from crm.models import Customer, CustomerText, Event, Order, Review, Ticket, TicketMessage
from tests.factories import (
    CustomerFactory,
    EventFactory,
    OrderFactory,
    ReviewFactory,
    TicketFactory,
    TicketMessageFactory,
    TicketReopeningFactory,
)

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Page:
    """How to make one row of a registered model, and a search term that finds it."""

    model: type[models.Model]
    make: Callable[[], models.Model]
    search: Callable[[Any], str]

    def url(self, view: str, *args: object) -> str:
        meta = self.model._meta
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


PAGES = [
    Page(Customer, CustomerFactory, lambda c: c.email),
    Page(Order, OrderFactory, lambda o: o.external_id),
    Page(Event, EventFactory, lambda e: e.customer.external_id),
    Page(Review, lambda: ReviewFactory(title=f"Lovely {uuid4().hex[:8]}"), lambda r: r.title[-8:]),
    Page(Ticket, TicketFactory, lambda t: t.external_id),
    Page(TicketMessage, TicketMessageFactory, lambda m: m.ticket.customer.email),
    Page(CustomerText, lambda: ReviewFactory().customer_text, lambda t: t.customer.external_id),
]
EDITABLE = [page for page in PAGES if page.model is not CustomerText]


def page_id(page: Page) -> str:
    return page.model._meta.model_name


def date_and_time(value: Any) -> tuple[str, str]:
    """The two halves of the admin's split date/time widget."""
    local = timezone.localtime(value)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")


class ChangeForm(HTMLParser):
    """What a browser would submit from the admin's change form on a rendered page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._in_form = False
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []
        self.feed(html)

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._in_form = attr.get("id", "").endswith("_form")
        if not self._in_form or "disabled" in attr:
            return
        name = attr.get("name")
        if tag == "input" and name:
            kind = attr.get("type", "text")
            if kind in ("submit", "button", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attr:
                return
            self._add(name, attr.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select:
            self._options.append((attr.get("value", ""), "selected" in attr))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select:
            chosen = [value for value, selected in self._options if selected]
            if not chosen and self._options:
                chosen = [self._options[0][0]]  # what a browser sends for a single select
            for value in chosen:
                self._add(self._select, value)
            self._select = None
        elif tag == "textarea" and self._textarea:
            # Browsers drop the newline right after <textarea>.
            self._add(self._textarea, "".join(self._text).removeprefix("\n"))
            self._textarea = None


def form_errors(response: Any) -> object:
    return response.context and response.context.get("errors")


# Smoke tests: every page of every registered model.


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_changelist_lists_the_row(admin_client, page: Page) -> None:
    obj = page.make()
    response = admin_client.get(page.url("changelist"))
    assert response.status_code == 200
    assert obj in response.context["cl"].result_list


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_changelist_search_finds_the_row(admin_client, page: Page) -> None:
    obj = page.make()
    page.make()  # another row, of another customer
    response = admin_client.get(page.url("changelist"), {"q": page.search(obj)})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [obj]


@pytest.mark.parametrize("page", EDITABLE, ids=page_id)
def test_add_page_opens(admin_client, page: Page) -> None:
    assert admin_client.get(page.url("add")).status_code == 200


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_change_page_opens(admin_client, page: Page) -> None:
    obj = page.make()
    assert admin_client.get(page.url("change", obj.pk)).status_code == 200


@pytest.mark.parametrize("page", EDITABLE, ids=page_id)
def test_change_page_saves_unchanged(admin_client, page: Page) -> None:
    """GIVEN a row WHEN its change form is submitted as rendered THEN it saves without errors.

    Covers the autocomplete widgets, the read-only inlines on the customer page and the
    editable message inline on the ticket page.
    """
    obj = page.make()
    if isinstance(obj, Customer):
        OrderFactory(customer=obj)
        ReviewFactory(customer=obj)
        TicketFactory(customer=obj)
    if isinstance(obj, Ticket):
        TicketMessageFactory(ticket=obj)
    url = page.url("change", obj.pk)
    form = ChangeForm(admin_client.get(url).content.decode())
    response = admin_client.post(url, form.data)
    assert response.status_code == 302, form_errors(response)


def test_customer_text_cannot_be_added_changed_or_deleted(admin_client) -> None:
    text = ReviewFactory().customer_text
    page = PAGES[-1]
    assert admin_client.get(page.url("add")).status_code == 403
    change = admin_client.get(page.url("change", text.pk))
    assert change.status_code == 200
    assert b'name="content_hash"' not in change.content
    assert reverse("admin:crm_review_change", args=[text.review_id]).encode() in change.content
    assert admin_client.post(page.url("change", text.pk), {}).status_code == 403
    assert admin_client.post(page.url("delete", text.pk), {"post": "yes"}).status_code == 403
    assert CustomerText.objects.filter(pk=text.pk).exists()


# Saving through the admin keeps the customer texts in step.


def test_adding_a_review_creates_its_customer_text(admin_client) -> None:
    customer = CustomerFactory()
    written_on, written_at = date_and_time(timezone.now() - timedelta(hours=2))
    response = admin_client.post(
        reverse("admin:crm_review_add"),
        {
            "external_id": "R-admin-1",
            "customer": customer.pk,
            "order": "",
            "product_ref": "SKU-9",
            "created_at_0": written_on,
            "created_at_1": written_at,
            "rating": 2,
            "title": "Too small",
            "body": "The shoes run two sizes small.",
        },
    )
    assert response.status_code == 302, form_errors(response)
    review = Review.objects.get(external_id="R-admin-1")
    assert review.customer == customer
    text = CustomerText.objects.get(review=review)
    assert text.customer == customer
    assert text.source == CustomerText.Source.REVIEW
    assert not text.is_empty


def test_review_with_an_order_of_another_customer_is_refused(admin_client) -> None:
    order = OrderFactory()
    written_on, written_at = date_and_time(timezone.now())
    response = admin_client.post(
        reverse("admin:crm_review_add"),
        {
            "external_id": "R-admin-2",
            "customer": CustomerFactory().pk,
            "order": order.pk,
            "created_at_0": written_on,
            "created_at_1": written_at,
            "rating": 4,
        },
    )
    assert response.status_code == 200
    assert "order" in response.context["adminform"].form.errors
    assert not Review.objects.filter(external_id="R-admin-2").exists()


def _ticket_form(customer: Customer, messages: list[dict[str, str]]) -> dict[str, Any]:
    opened_on, opened_at = date_and_time(timezone.now() - timedelta(days=1))
    data: dict[str, Any] = {
        "external_id": "T-admin-1",
        "customer": customer.pk,
        "subject": "Refund please",
        "channel": Ticket.Channel.EMAIL,
        "status": Ticket.Status.OPEN,
        "priority": Ticket.Priority.NORMAL,
        "assigned_agent": "",
        "opened_at_0": opened_on,
        "opened_at_1": opened_at,
        "solved_at_0": "",
        "solved_at_1": "",
        "reopened_count": 0,
        "messages-TOTAL_FORMS": len(messages),
        "messages-INITIAL_FORMS": 0,
        "messages-MIN_NUM_FORMS": 0,
        "messages-MAX_NUM_FORMS": 1000,
    }
    for index, message in enumerate(messages):
        written_on, written_at = date_and_time(timezone.now() - timedelta(hours=index + 1))
        data |= {
            f"messages-{index}-id": "",
            f"messages-{index}-ticket": "",
            f"messages-{index}-author_agent": "",
            f"messages-{index}-created_at_0": written_on,
            f"messages-{index}-created_at_1": written_at,
        }
        data |= {f"messages-{index}-{key}": value for key, value in message.items()}
    return data


def test_adding_a_ticket_with_an_inline_customer_message_creates_its_customer_text(
    admin_client,
) -> None:
    """GIVEN a new ticket with a customer message and an agent reply in the inline
    WHEN the ticket add form is saved
    THEN both messages exist and only the customer's has a CustomerText.
    """
    customer = CustomerFactory()
    data = _ticket_form(
        customer,
        [
            {"author_kind": "customer", "body": "I returned the jacket a month ago."},
            {"author_kind": "agent", "body": "Sorry, we are on it."},
        ],
    )
    response = admin_client.post(reverse("admin:crm_ticket_add"), data)
    assert response.status_code == 302, form_errors(response)
    ticket = Ticket.objects.get(external_id="T-admin-1")
    customer_message = ticket.messages.get(author_kind=TicketMessage.Author.CUSTOMER)
    agent_message = ticket.messages.get(author_kind=TicketMessage.Author.AGENT)
    text = CustomerText.objects.get(message=customer_message)
    assert text.customer == customer
    assert text.source == CustomerText.Source.TICKET_MESSAGE
    assert not CustomerText.objects.filter(message=agent_message).exists()


def test_editing_a_message_inline_updates_its_customer_text(admin_client) -> None:
    message = TicketMessageFactory()
    text = message.customer_text
    old_hash = text.content_hash
    url = reverse("admin:crm_ticket_change", args=[message.ticket_id])
    form = ChangeForm(admin_client.get(url).content.decode())
    assert form.data["messages-0-id"] == [str(message.pk)]
    form.data["messages-0-body"] = ["Found it in the neighbour's garden, thanks!"]
    response = admin_client.post(url, form.data)
    assert response.status_code == 302, form_errors(response)
    text.refresh_from_db()
    assert text.content_hash != old_hash


# Pages that must stay cheap on big tables.


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, django_assert_max_num_queries, page: Page
) -> None:
    """GIVEN a list of 5 rows, each of another customer (and ticket, order...)
    WHEN it grows to 50
    THEN rendering it takes no more queries: related rows come with the list query.
    """
    url = page.url("changelist")
    for _ in range(5):
        page.make()
    admin_client.get(url)  # the first request of a session does one-off work
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    for _ in range(45):
        page.make()
    with django_assert_max_num_queries(len(few)):
        response = admin_client.get(url)
    assert len(response.context["cl"].result_list) == 50


def test_customer_search_by_email_finds_the_customer(admin_client) -> None:
    ann = CustomerFactory(name="Ann Example", email="ann.example@shop.test")
    CustomerFactory(name="Bob Other", email="bob@shop.test")
    response = admin_client.get(reverse("admin:crm_customer_changelist"), {"q": "ann.example@"})
    assert list(response.context["cl"].result_list) == [ann]
    assert "Ann Example" in response.content.decode()


def test_customer_page_shows_only_the_latest_orders_and_links_to_the_rest(
    admin_client, django_assert_max_num_queries
) -> None:
    customer = CustomerFactory()
    orders = [
        OrderFactory(customer=customer, placed_at=timezone.now() - timedelta(days=days))
        for days in range(1, 26)
    ]
    EventFactory.create_batch(30, customer=customer)
    url = reverse("admin:crm_customer_change", args=[customer.pk])
    admin_client.get(url)
    with django_assert_max_num_queries(40):
        response = admin_client.get(url)
    page = response.content.decode()
    shown = [order.external_id for order in orders if order.external_id in page]
    assert shown == [order.external_id for order in orders[:10]]
    events_url = reverse("admin:crm_event_changelist") + f"?customer={customer.pk}"
    assert events_url in page
    assert "orders (25)" in page
    assert 'name="events-' not in page


def test_event_list_filtered_to_a_customer_shows_only_their_events(admin_client) -> None:
    customer = CustomerFactory()
    theirs = EventFactory.create_batch(3, customer=customer)
    EventFactory.create_batch(2)
    response = admin_client.get(reverse("admin:crm_event_changelist"), {"customer": customer.pk})
    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == set(theirs)
    assert customer.external_id in response.content.decode()


def test_customer_filter_with_a_malformed_id_is_reported_not_a_crash(admin_client) -> None:
    response = admin_client.get(reverse("admin:crm_event_changelist"), {"customer": "abc"})
    assert response.status_code == 302
    assert response.url.endswith("?e=1")


def test_event_list_does_not_count_the_whole_table_twice(admin_client) -> None:
    EventFactory.create_batch(3)
    response = admin_client.get(reverse("admin:crm_event_changelist"), {"kind": "visit"})
    assert response.context["cl"].show_full_result_count is False
    assert response.context["cl"].full_result_count is None


def test_late_filter_lists_only_orders_delivered_after_the_promised_date(admin_client) -> None:
    placed = timezone.now() - timedelta(days=20)
    late = OrderFactory(placed_at=placed, delivered_at=placed + timedelta(days=9))
    on_time = OrderFactory(placed_at=placed, delivered_at=placed + timedelta(days=1))
    unknown = OrderFactory(placed_at=placed, delivered_at=None)
    url = reverse("admin:crm_order_changelist")
    for value, expected in [("yes", late), ("no", on_time), ("unknown", unknown)]:
        response = admin_client.get(url, {"late": value})
        assert list(response.context["cl"].result_list) == [expected]


def test_large_table_paginator_sizes_only_unfiltered_lists_from_the_estimate() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the row estimate is PostgreSQL's")
    EventFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_event")

    class EstimatingPaginator(LargeTablePaginator):
        estimate_threshold = 1

    with CaptureQueriesContext(connection) as queries:
        unfiltered = EstimatingPaginator(Event.objects.all(), 100).count
    assert unfiltered == 3
    assert ["reltuples" in query["sql"] for query in queries] == [True]
    with CaptureQueriesContext(connection) as queries:
        filtered = EstimatingPaginator(Event.objects.filter(kind=Event.Kind.VISIT), 100).count
    assert filtered == 3
    assert "COUNT(" in queries[-1]["sql"].upper()


# Point-in-time facts: dated when set by hand, history shown read-only.


def test_setting_an_order_to_returned_by_hand_dates_it_now(admin_client) -> None:
    """GIVEN a delivered order WHEN its status is set to returned in the admin, no time typed
    THEN it is saved with a return time of that moment."""
    order = OrderFactory(status=Order.Status.DELIVERED)
    url = reverse("admin:crm_order_change", args=[order.pk])
    form = ChangeForm(admin_client.get(url).content.decode())
    form.data["status"] = [Order.Status.RETURNED]
    before = timezone.now().replace(microsecond=0)

    response = admin_client.post(url, form.data)

    assert response.status_code == 302, form_errors(response)
    order.refresh_from_db()
    assert order.returned_at is not None and before <= order.returned_at <= timezone.now()


def test_a_typed_in_return_time_before_placing_is_refused_on_the_form(admin_client) -> None:
    order = OrderFactory(status=Order.Status.DELIVERED)
    url = reverse("admin:crm_order_change", args=[order.pk])
    form = ChangeForm(admin_client.get(url).content.decode())
    day, time = date_and_time(order.placed_at - timedelta(days=1))
    form.data |= {"status": ["returned"], "returned_at_0": [day], "returned_at_1": [time]}

    response = admin_client.post(url, form.data)

    assert response.status_code == 200
    assert "returned_at" in response.context["adminform"].form.errors
    order.refresh_from_db()
    assert (order.status, order.returned_at) == ("delivered", None)


def test_ticket_page_shows_its_reopenings_and_the_count_cannot_be_typed_in(admin_client) -> None:
    ticket = TicketFactory(status=Ticket.Status.OPEN, reopened_count=2)
    TicketReopeningFactory(ticket=ticket, reopened_at=timezone.now() - timedelta(days=1))
    TicketReopeningFactory(ticket=ticket, reopened_at=None)
    url = reverse("admin:crm_ticket_change", args=[ticket.pk])

    page = admin_client.get(url).content.decode()

    assert "unknown time" in page
    assert (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%d") in page
    assert 'name="reopened_count"' not in page
