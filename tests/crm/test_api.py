"""The CRM REST API: upserts by external id, validation, permissions, bulk events, lists."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from crm.api.tokens import api_token_create
from crm.models import Customer, CustomerText, Event, Order, Review, Ticket, TicketMessage
from tests.factories import (
    CustomerFactory,
    EventFactory,
    OrderFactory,
    ReviewFactory,
    TicketFactory,
    TicketMessageFactory,
    UserFactory,
    days_ago,
)

pytestmark = pytest.mark.django_db

MODELS = ("customer", "order", "review", "ticket", "ticketmessage", "event")

ClientFor = Callable[..., APIClient]


def iso(value: Any) -> str:
    return value.isoformat()


def in_days(days: float) -> str:
    return iso(timezone.now() + timedelta(days=days))


@pytest.fixture
def client_for() -> ClientFor:
    """An API client authenticated by token as a new user holding exactly `codenames`."""

    def make(*codenames: str) -> APIClient:
        user = UserFactory()
        perms = Permission.objects.filter(content_type__app_label="crm", codename__in=codenames)
        assert perms.count() == len(codenames), "unknown permission codename"
        user.user_permissions.set(perms)
        _, key = api_token_create(name="test integration", user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return make


@pytest.fixture
def api(client_for: ClientFor) -> APIClient:
    """A shop integration allowed to read and write every CRM record."""
    return client_for(*(f"{action}_{m}" for m in MODELS for action in ("add", "change", "view")))


@pytest.fixture
def reader(client_for: ClientFor) -> APIClient:
    """A user who may only read."""
    return client_for(*(f"view_{m}" for m in MODELS))


def customer_payload(external_id: str = "C-1", **overrides: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "name": "Ann Example",
        "email": "ann@example.com",
        "country": "de",
        "signed_up_at": iso(days_ago(100)),
        "marketing_consent": True,
        **overrides,
    }


def order_payload(customer: Customer, external_id: str = "O-1", **overrides: Any) -> dict:
    return {
        "external_id": external_id,
        "customer": customer.external_id,
        "placed_at": iso(days_ago(10)),
        "total": "59.90",
        "currency": "EUR",
        "item_count": 2,
        "status": "placed",
        **overrides,
    }


def review_payload(customer: Customer, external_id: str = "R-1", **overrides: Any) -> dict:
    return {
        "external_id": external_id,
        "customer": customer.external_id,
        "rating": 2,
        "title": "Too small",
        "body": "The shoes are a size too small and the return label was missing.",
        "created_at": iso(days_ago(2)),
        **overrides,
    }


def ticket_payload(customer: Customer, external_id: str = "T-1", **overrides: Any) -> dict:
    return {
        "external_id": external_id,
        "customer": customer.external_id,
        "subject": "Parcel missing",
        "channel": "chat",
        "opened_at": iso(days_ago(3)),
        **overrides,
    }


def message_payload(external_id: str = "M-1", **overrides: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "body": "Still nothing arrived, this is the third time I write.",
        "created_at": iso(days_ago(1)),
        **overrides,
    }


# --- Upserts --------------------------------------------------------------------------------


def test_posting_a_customer_twice_creates_then_updates_without_duplicating(api: APIClient) -> None:
    """GIVEN no customer C-1 WHEN it is posted twice with a new name THEN one row, renamed."""
    first = api.post("/api/customers/", customer_payload(), format="json")
    assert first.status_code == 201, first.json()
    assert first.json()["country"] == "DE"

    second = api.post("/api/customers/", customer_payload(name="Ann Other"), format="json")

    assert second.status_code == 200, second.json()
    assert Customer.objects.get().name == "Ann Other"
    assert api.get("/api/customers/C-1/").json()["name"] == "Ann Other"


def test_posting_an_order_twice_creates_then_updates_without_duplicating(api: APIClient) -> None:
    customer = CustomerFactory()
    assert api.post("/api/orders/", order_payload(customer), format="json").status_code == 201

    again = api.post("/api/orders/", order_payload(customer, status="delivered"), format="json")

    assert again.status_code == 200
    order = Order.objects.get()
    assert (order.status, order.total, order.customer) == ("delivered", Decimal("59.90"), customer)
    assert again.json()["customer"] == customer.external_id
    assert again.json()["total"] == "59.90"


def test_posting_a_review_twice_creates_then_updates_and_keeps_one_customer_text(
    api: APIClient,
) -> None:
    """GIVEN a customer WHEN a review is posted, then posted again edited THEN one review and
    one CustomerText, whose hash follows the edit."""
    customer = CustomerFactory()
    created = api.post("/api/reviews/", review_payload(customer), format="json")
    assert created.status_code == 201, created.json()
    text = CustomerText.objects.get(review__external_id="R-1")
    assert text.customer == customer and not text.is_empty

    edited = api.post("/api/reviews/", review_payload(customer, body="Fine now."), format="json")

    assert edited.status_code == 200
    assert Review.objects.get().body == "Fine now."
    assert CustomerText.objects.get().content_hash != text.content_hash


def test_posting_a_ticket_twice_creates_then_updates_without_duplicating(api: APIClient) -> None:
    customer = CustomerFactory()
    assert api.post("/api/tickets/", ticket_payload(customer), format="json").status_code == 201

    again = api.post("/api/tickets/", ticket_payload(customer, status="solved"), format="json")

    assert again.status_code == 200
    assert Ticket.objects.get().status == "solved"


def test_posting_a_ticket_message_twice_creates_then_updates_without_duplicating(
    api: APIClient,
) -> None:
    ticket = TicketFactory(external_id="T-9")
    url = "/api/tickets/T-9/messages/"
    created = api.post(url, message_payload(), format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["ticket"] == "T-9"
    assert CustomerText.objects.filter(message__external_id="M-1").exists()

    again = api.post(url, message_payload(body="Arrived today, thanks."), format="json")

    assert again.status_code == 200
    assert TicketMessage.objects.get().body == "Arrived today, thanks."
    assert [m["external_id"] for m in api.get(url).json()["results"]] == ["M-1"]
    assert TicketMessage.objects.get().ticket == ticket


def test_an_agent_message_is_stored_without_customer_text(api: APIClient) -> None:
    TicketFactory(external_id="T-9")
    payload = message_payload(author_kind="agent", body="We are on it.")

    response = api.post("/api/tickets/T-9/messages/", payload, format="json")

    assert response.status_code == 201
    assert response.json()["author_kind"] == "agent"
    assert not CustomerText.objects.exists()


def test_put_on_an_unknown_external_id_creates_and_on_a_known_one_updates(api: APIClient) -> None:
    payload = customer_payload()
    del payload["external_id"]
    assert api.put("/api/customers/C.7/", payload, format="json").status_code == 201

    response = api.put("/api/customers/C.7/", {**payload, "phone": "+49 1"}, format="json")

    assert response.status_code == 200
    assert Customer.objects.get().external_id == "C.7"
    assert response.json()["phone"] == "+49 1"


def test_patch_changes_only_the_fields_sent(api: APIClient) -> None:
    order = OrderFactory(status="placed", coupon_code="WELCOME")

    response = api.patch(f"/api/orders/{order.external_id}/", {"status": "returned"}, "json")

    assert response.status_code == 200, response.json()
    order.refresh_from_db()
    assert (order.status, order.coupon_code) == ("returned", "WELCOME")


def test_patch_on_an_unknown_external_id_is_404(api: APIClient) -> None:
    response = api.patch("/api/orders/NOPE/", {"status": "returned"}, format="json")

    assert response.status_code == 404
    assert "NOPE" in response.json()["detail"]


def test_put_with_a_body_external_id_other_than_the_url_is_rejected(api: APIClient) -> None:
    response = api.put("/api/customers/C-1/", customer_payload("C-2"), format="json")

    assert response.status_code == 400
    assert "external_id" in response.json()
    assert not Customer.objects.exists()


def test_reopening_a_solved_ticket_through_the_api_counts_a_reopen(api: APIClient) -> None:
    ticket = TicketFactory(status="solved", solved_at=days_ago(1))
    before = timezone.now()

    response = api.patch(f"/api/tickets/{ticket.external_id}/", {"status": "open"}, "json")

    assert response.status_code == 200
    assert (response.json()["reopened_count"], response.json()["solved_at"]) == (1, None)
    (reopened_at,) = ticket.reopenings.values_list("reopened_at", flat=True)
    assert before <= reopened_at <= timezone.now()


def test_reopened_count_cannot_be_sent(api: APIClient) -> None:
    ticket = TicketFactory(status="open")

    response = api.patch(f"/api/tickets/{ticket.external_id}/", {"reopened_count": 5}, "json")

    assert response.json()["reopened_count"] == 0
    assert not ticket.reopenings.exists()


def test_an_order_posted_as_returned_with_its_time_stores_and_shows_it(api: APIClient) -> None:
    customer = CustomerFactory()
    payload = order_payload(
        customer, status="returned", placed_at=iso(days_ago(20)), returned_at=iso(days_ago(5))
    )

    response = api.post("/api/orders/", payload, format="json")

    assert response.status_code == 201, response.json()
    order = Order.objects.get()
    assert order.returned_at == datetime.fromisoformat(payload["returned_at"])
    assert datetime.fromisoformat(response.json()["returned_at"]) == order.returned_at
    assert response.json()["cancelled_at"] is None


def test_an_order_patched_to_cancelled_without_a_time_is_dated_at_the_request(
    api: APIClient,
) -> None:
    order = OrderFactory(status="placed", delivered_at=None)
    before = timezone.now()

    response = api.patch(f"/api/orders/{order.external_id}/", {"status": "cancelled"}, "json")

    assert response.status_code == 200, response.json()
    cancelled_at = datetime.fromisoformat(response.json()["cancelled_at"])
    assert before <= cancelled_at <= timezone.now()


def test_a_return_before_the_order_was_placed_is_a_400_naming_returned_at(
    api: APIClient,
) -> None:
    order = OrderFactory(placed_at=days_ago(10))

    response = api.patch(
        f"/api/orders/{order.external_id}/",
        {"status": "returned", "returned_at": iso(days_ago(11))},
        "json",
    )

    assert response.status_code == 400
    assert response.json() == {"returned_at": ["Returned before it was placed."]}
    order.refresh_from_db()
    assert (order.status, order.returned_at) == ("delivered", None)


def test_a_cancellation_time_on_a_delivered_order_is_a_400_naming_cancelled_at(
    api: APIClient,
) -> None:
    payload = order_payload(CustomerFactory(), status="delivered", cancelled_at=iso(days_ago(1)))

    response = api.post("/api/orders/", payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["cancelled_at"]
    assert not Order.objects.exists()


def test_a_return_time_in_the_future_is_a_400_naming_returned_at(api: APIClient) -> None:
    payload = order_payload(CustomerFactory(), status="returned", returned_at=in_days(3))

    response = api.post("/api/orders/", payload, format="json")

    assert response.status_code == 400
    assert "returned_at" in response.json()


def test_a_new_order_without_currency_gets_the_configured_default(
    api: APIClient, settings: Any
) -> None:
    settings.CRM_DEFAULT_CURRENCY = "USD"
    payload = order_payload(CustomerFactory())
    del payload["currency"]

    response = api.post("/api/orders/", payload, format="json")

    assert response.status_code == 201
    assert Order.objects.get().currency == "USD"


def test_an_update_without_currency_keeps_the_stored_one(api: APIClient) -> None:
    order = OrderFactory(currency="GBP")
    payload = order_payload(order.customer, order.external_id, placed_at=iso(order.placed_at))
    del payload["currency"]

    response = api.post("/api/orders/", payload, format="json")

    assert response.status_code == 200, response.json()
    order.refresh_from_db()
    assert order.currency == "GBP"


def test_an_empty_review_text_is_accepted_and_marked_nothing_to_score(api: APIClient) -> None:
    payload = review_payload(CustomerFactory(), title="", body="")

    response = api.post("/api/reviews/", payload, format="json")

    assert response.status_code == 201, response.json()
    assert CustomerText.objects.get(review__external_id="R-1").is_empty


# --- Validation -----------------------------------------------------------------------------


def test_an_unknown_customer_reference_is_a_400_and_creates_no_customer(api: APIClient) -> None:
    payload = order_payload(CustomerFactory.build(external_id="GHOST"))

    response = api.post("/api/orders/", payload, format="json")

    assert response.status_code == 400
    assert response.json() == {"customer": ["No customer with external id 'GHOST'."]}
    assert not Customer.objects.exists() and not Order.objects.exists()


def test_an_unknown_order_reference_on_a_review_is_a_400_naming_order(api: APIClient) -> None:
    payload = review_payload(CustomerFactory(), order="O-404")

    response = api.post("/api/reviews/", payload, format="json")

    assert response.status_code == 400
    assert response.json() == {"order": ["No order with external id 'O-404'."]}


def test_a_review_of_another_customers_order_is_a_400_naming_order(api: APIClient) -> None:
    order = OrderFactory()
    payload = review_payload(CustomerFactory(), order=order.external_id)

    response = api.post("/api/reviews/", payload, format="json")

    assert response.status_code == 400
    assert "another customer" in response.json()["order"][0]
    assert not Review.objects.exists()


@pytest.mark.parametrize("rating", [0, 6])
def test_a_rating_outside_one_to_five_is_a_400_naming_rating(api: APIClient, rating: int) -> None:
    payload = review_payload(CustomerFactory(), rating=rating)

    response = api.post("/api/reviews/", payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["rating"]


@pytest.mark.parametrize("total", ["-0.01", "twelve", -5])
def test_a_negative_or_non_numeric_total_is_a_400_naming_total(api: APIClient, total: Any) -> None:
    response = api.post("/api/orders/", order_payload(CustomerFactory(), total=total), "json")

    assert response.status_code == 400
    assert list(response.json()) == ["total"]


@pytest.mark.parametrize("currency", ["EURO", "E1", ""])
def test_a_currency_that_is_not_three_letters_is_a_400_naming_currency(
    api: APIClient, currency: str
) -> None:
    response = api.post("/api/orders/", order_payload(CustomerFactory(), currency=currency), "json")

    assert response.status_code == 400
    assert list(response.json()) == ["currency"]


DATED = [
    ("/api/customers/", "signed_up_at"),
    ("/api/orders/", "placed_at"),
    ("/api/reviews/", "created_at"),
    ("/api/tickets/", "opened_at"),
]


def payload_for(url: str) -> dict[str, Any]:
    if url == "/api/customers/":
        return customer_payload()
    customer = CustomerFactory()
    maker = {"/api/orders/": order_payload, "/api/reviews/": review_payload}
    return maker.get(url, ticket_payload)(customer)


@pytest.mark.parametrize(("url", "field"), DATED)
@pytest.mark.parametrize("value", ["yesterday", "2024-13-45T10:00:00Z"])
def test_an_unparsable_date_is_a_400_naming_the_field(
    api: APIClient, url: str, field: str, value: str
) -> None:
    response = api.post(url, {**payload_for(url), field: value}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert "format" in response.json()[field][0]


@pytest.mark.parametrize(("url", "field"), DATED)
def test_a_date_three_days_in_the_future_is_a_400_naming_the_field(
    api: APIClient, url: str, field: str
) -> None:
    response = api.post(url, {**payload_for(url), field: in_days(3)}, format="json")

    assert response.status_code == 400
    assert response.json() == {field: ["Lies more than a day in the future."]}


def test_a_message_dated_in_the_future_is_a_400_naming_created_at(api: APIClient) -> None:
    TicketFactory(external_id="T-9")
    payload = message_payload(created_at=in_days(3))

    response = api.post("/api/tickets/T-9/messages/", payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["created_at"]


def test_a_datetime_without_utc_offset_is_a_400(api: APIClient) -> None:
    payload = customer_payload(signed_up_at="2024-05-01T12:00:00")

    response = api.post("/api/customers/", payload, format="json")

    assert response.status_code == 400
    assert "UTC offset" in response.json()["signed_up_at"][0]


def test_a_delivery_before_the_order_was_placed_is_a_400_naming_delivered_at(
    api: APIClient,
) -> None:
    payload = order_payload(CustomerFactory(), delivered_at=iso(days_ago(20)))

    response = api.post("/api/orders/", payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["delivered_at"]


def test_a_review_body_over_the_limit_is_a_400_naming_body_and_the_limit(
    api: APIClient, settings: Any
) -> None:
    limit = settings.CRM_MAX_TEXT_LENGTH
    payload = review_payload(CustomerFactory(), body="x" * (limit + 1))

    response = api.post("/api/reviews/", payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["body"]
    assert f"the limit is {limit}" in response.json()["body"][0]
    assert not Review.objects.exists()


def test_a_message_body_over_the_limit_is_a_400_naming_body(api: APIClient, settings: Any) -> None:
    TicketFactory(external_id="T-9")
    payload = message_payload(body="x" * (settings.CRM_MAX_TEXT_LENGTH + 1))

    response = api.post("/api/tickets/T-9/messages/", payload, format="json")

    assert response.status_code == 400
    assert "limit" in response.json()["body"][0]


def test_a_body_exactly_at_the_limit_is_accepted(api: APIClient, settings: Any) -> None:
    payload = review_payload(CustomerFactory(), body="x" * settings.CRM_MAX_TEXT_LENGTH)

    assert api.post("/api/reviews/", payload, format="json").status_code == 201


@pytest.mark.parametrize("external_id", ["", "a/b", "x" * 65])
def test_a_missing_or_unusable_external_id_is_a_400_naming_external_id(
    api: APIClient, external_id: str
) -> None:
    response = api.post("/api/customers/", customer_payload(external_id), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["external_id"]


def test_a_message_on_an_unknown_ticket_is_a_404_naming_the_ticket(api: APIClient) -> None:
    response = api.post("/api/tickets/NOPE/messages/", message_payload(), format="json")

    assert response.status_code == 404
    assert "NOPE" in response.json()["detail"]
    assert api.get("/api/tickets/NOPE/messages/").status_code == 404


def test_a_message_id_of_another_ticket_is_refused_not_moved(api: APIClient) -> None:
    message = TicketMessageFactory(external_id="M-1", ticket__external_id="T-1")
    TicketFactory(external_id="T-2")

    response = api.post("/api/tickets/T-2/messages/", message_payload("M-1"), format="json")

    assert response.status_code == 400
    assert "'T-1'" in response.json()["external_id"][0]
    message.refresh_from_db()
    assert message.ticket.external_id == "T-1"


# --- Authentication and permissions ---------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/customers/", "/api/events/", "/api/tickets/T/messages/"])
def test_a_request_without_token_is_401_with_a_token_challenge(url: str) -> None:
    response = APIClient().get(url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_request_with_an_unknown_token_is_401() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.post("/api/customers/", customer_payload(), format="json").status_code == 401


def test_a_read_only_user_can_get_but_not_post(reader: APIClient) -> None:
    """GIVEN a user with only view permissions WHEN they read and write THEN 200, then 403."""
    CustomerFactory(external_id="C-1")

    assert reader.get("/api/customers/").status_code == 200
    assert reader.get("/api/customers/C-1/").status_code == 200
    assert reader.post("/api/customers/", customer_payload(), format="json").status_code == 403
    assert reader.patch("/api/customers/C-1/", {"name": "X"}, format="json").status_code == 403
    assert reader.post("/api/events/bulk/", [], format="json").status_code == 403
    assert Customer.objects.get().name != "X"


def test_a_user_without_view_permission_cannot_list(client_for: ClientFor) -> None:
    client = client_for("add_customer")

    assert client.get("/api/customers/").status_code == 403


def test_a_user_who_may_only_add_cannot_update_through_post(client_for: ClientFor) -> None:
    """GIVEN a user with add but not change permission WHEN they post a new and then a known
    customer THEN the first is created and the second refused."""
    client = client_for("add_customer")

    assert client.post("/api/customers/", customer_payload(), format="json").status_code == 201
    again = client.post("/api/customers/", customer_payload(name="Changed"), format="json")

    assert again.status_code == 403
    assert Customer.objects.get().name == "Ann Example"


# --- Events ---------------------------------------------------------------------------------


def events_for(customers: list[Customer], count: int, start: datetime | None = None) -> list[dict]:
    start = start or days_ago(5)
    return [
        {
            "customer": customers[i % len(customers)].external_id,
            "kind": "visit",
            "occurred_at": iso(start + timedelta(seconds=i)),
            "payload": {"page": f"/p/{i}"},
        }
        for i in range(count)
    ]


def test_a_batch_of_1000_events_is_stored(api: APIClient) -> None:
    customers = CustomerFactory.create_batch(10)

    response = api.post("/api/events/bulk/", events_for(customers, 1000), format="json")

    assert response.status_code == 201, response.json()
    assert response.json() == {"stored": 1000}
    assert Event.objects.count() == 1000


def test_a_batch_of_1001_events_is_refused_naming_the_limit(api: APIClient) -> None:
    customers = CustomerFactory.create_batch(2)

    response = api.post("/api/events/bulk/", events_for(customers, 1001), format="json")

    assert response.status_code == 400
    assert "At most 1000 events" in response.json()["events"][0]
    assert not Event.objects.exists()


def test_one_bad_event_in_ten_stores_none_and_reports_its_index(api: APIClient) -> None:
    events = events_for([CustomerFactory()], 10)
    events[3]["kind"] = "teleport"
    events[7]["occurred_at"] = in_days(3)

    response = api.post("/api/events/bulk/", {"events": events}, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"3", "7"}
    assert list(errors["3"]) == ["kind"] and list(errors["7"]) == ["occurred_at"]
    assert not Event.objects.exists()


def test_an_event_of_an_unknown_customer_reports_its_index_and_field(api: APIClient) -> None:
    events = events_for([CustomerFactory()], 3)
    events[1]["customer"] = "GHOST"

    response = api.post("/api/events/bulk/", events, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"1": {"customer": ["No customer with external id 'GHOST'."]}}
    }
    assert not Customer.objects.filter(external_id="GHOST").exists()


def test_posting_the_same_events_again_does_not_duplicate_them(api: APIClient) -> None:
    """GIVEN 20 stored events WHEN the batch is posted again with new payloads
    THEN still 20 events, with the new payloads."""
    events = events_for([CustomerFactory()], 20)
    assert api.post("/api/events/bulk/", events, format="json").status_code == 201
    for event in events:
        event["payload"] = {"again": True}

    response = api.post("/api/events/bulk/", events, format="json")

    assert response.status_code == 201
    assert Event.objects.count() == 20
    assert all(e.payload == {"again": True} for e in Event.objects.all())


@pytest.mark.parametrize("body", [{"events": "nope"}, {"something": []}, "text"])
def test_a_batch_that_is_not_a_list_is_a_400_naming_events(api: APIClient, body: Any) -> None:
    response = api.post("/api/events/bulk/", body, format="json")

    assert response.status_code == 400
    assert "events" in response.json()


def test_events_are_listed_per_customer(reader: APIClient) -> None:
    ann, bob = CustomerFactory(external_id="ANN"), CustomerFactory()
    EventFactory.create_batch(3, customer=ann)
    EventFactory.create_batch(2, customer=bob)

    response = reader.get("/api/events/", {"customer": "ANN"})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 3
    assert {e["customer"] for e in response.json()["results"]} == {"ANN"}


def test_the_events_list_pages_by_cursor_without_counting_the_table(reader: APIClient) -> None:
    """GIVEN 150 events WHEN the list is read THEN the first page has 100 and a next cursor."""
    ann = CustomerFactory(external_id="ANN")
    EventFactory.create_batch(150, customer=ann)

    first = reader.get("/api/events/").json()
    second = reader.get(first["next"]).json()

    assert "count" not in first
    assert len(first["results"]) == 100 and len(second["results"]) == 50
    assert second["next"] is None


def test_orders_filter_by_customer_external_id_and_status(reader: APIClient) -> None:
    ann = CustomerFactory(external_id="ANN")
    OrderFactory(customer=ann, status="delivered", external_id="O-A1")
    OrderFactory(customer=ann, status="returned", external_id="O-A2")
    OrderFactory(status="delivered")

    response = reader.get("/api/orders/", {"customer": "ANN", "status": "delivered"})

    assert [o["external_id"] for o in response.json()["results"]] == ["O-A1"]


def test_lists_filter_by_updated_since(reader: APIClient) -> None:
    old, new = TicketFactory(), TicketFactory()
    Ticket.objects.filter(pk=old.pk).update(updated_in_crm_at=days_ago(30))

    response = reader.get("/api/tickets/", {"updated_since": iso(days_ago(1))})

    assert [t["external_id"] for t in response.json()["results"]] == [new.external_id]


def test_lists_are_paginated_with_limit_and_offset(reader: APIClient) -> None:
    ReviewFactory.create_batch(5)

    page = reader.get("/api/reviews/", {"limit": 2, "offset": 2}).json()

    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"]


def make_customers(n: int) -> None:
    CustomerFactory.create_batch(n)


def make_orders(n: int) -> None:
    OrderFactory.create_batch(n)


def make_reviews(n: int) -> None:
    for _ in range(n):
        order = OrderFactory()
        ReviewFactory(customer=order.customer, order=order)


def make_tickets(n: int) -> None:
    TicketFactory.create_batch(n)


def make_messages(n: int) -> None:
    ticket = Ticket.objects.filter(external_id="T-LIST").first() or TicketFactory(
        external_id="T-LIST"
    )
    TicketMessageFactory.create_batch(n, ticket=ticket)


def make_events(n: int) -> None:
    for _ in range(n):
        EventFactory()


# Token + user, user permissions, group permissions, COUNT, page: 5 queries, whatever the
# number of rows (plus, on a token's first request of the minute, one UPDATE of its
# last_used_at: the test warms the token up first). The messages list also loads its ticket
# (a 404 if unknown); the events list pages by cursor and so runs no COUNT.
LISTS = [
    ("/api/customers/", make_customers, 5),
    ("/api/orders/", make_orders, 5),
    ("/api/reviews/", make_reviews, 5),
    ("/api/tickets/", make_tickets, 5),
    ("/api/tickets/T-LIST/messages/", make_messages, 6),
    ("/api/events/", make_events, 4),
]


@pytest.mark.parametrize(("url", "make", "queries"), LISTS)
def test_list_query_count_is_fixed_and_does_not_grow_with_rows(
    reader: APIClient,
    django_assert_num_queries: Any,
    url: str,
    make: Callable[[int], None],
    queries: int,
) -> None:
    """GIVEN 2 rows, then 25 WHEN the list is read each time THEN the same number of queries."""
    make(2)
    reader.get(url)  # stamps the token's last_used_at
    with CaptureQueriesContext(connection) as few:
        assert len(reader.get(url).json()["results"]) == 2
    make(23)

    with django_assert_num_queries(queries):
        response = reader.get(url)

    assert len(few) == queries
    assert len(response.json()["results"]) == 25


def test_the_openapi_schema_is_served_and_lists_the_api_paths() -> None:
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/customers/",
        "/api/customers/{external_id}/",
        "/api/orders/",
        "/api/orders/{external_id}/",
        "/api/reviews/",
        "/api/reviews/{external_id}/",
        "/api/tickets/",
        "/api/tickets/{external_id}/",
        "/api/tickets/{ticket_external_id}/messages/",
        "/api/tickets/{ticket_external_id}/messages/{external_id}/",
        "/api/events/",
        "/api/events/bulk/",
    ):
        assert path in paths
