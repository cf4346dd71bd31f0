"""One factory per model (factory_boy). Times are aware and in the past."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from crm.models import Customer, Event, Order, Review, Ticket, TicketMessage, TicketReopening


def days_ago(days: float) -> object:
    return timezone.now() - timedelta(days=days)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"C{n:06d}")
    name = factory.Faker("name")
    email = factory.LazyAttribute(lambda o: f"{o.external_id.lower()}@example.com")
    country = "DE"
    signed_up_at = factory.LazyFunction(lambda: days_ago(400))
    marketing_consent = True


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    external_id = factory.Sequence(lambda n: f"O{n:07d}")
    customer = factory.SubFactory(CustomerFactory)
    placed_at = factory.LazyFunction(lambda: days_ago(30))
    total = Decimal("49.90")
    currency = "EUR"
    item_count = 2
    status = Order.Status.DELIVERED
    delivered_at = factory.LazyAttribute(lambda o: o.placed_at + timedelta(days=3))
    promised_delivery_date = factory.LazyAttribute(
        lambda o: (o.placed_at + timedelta(days=4)).date()
    )


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    customer = factory.SubFactory(CustomerFactory)
    kind = Event.Kind.VISIT
    occurred_at = factory.Sequence(lambda n: days_ago(10) + timedelta(seconds=n))
    payload = factory.LazyFunction(dict)


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Review

    external_id = factory.Sequence(lambda n: f"R{n:07d}")
    customer = factory.SubFactory(CustomerFactory)
    product_ref = "SKU-1"
    rating = 5
    title = "Lovely"
    body = "The dress fits perfectly and arrived quickly. Great quality."
    created_at = factory.LazyFunction(lambda: days_ago(5))


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    external_id = factory.Sequence(lambda n: f"T{n:07d}")
    customer = factory.SubFactory(CustomerFactory)
    subject = "Where is my parcel?"
    channel = Ticket.Channel.EMAIL
    status = Ticket.Status.OPEN
    opened_at = factory.LazyFunction(lambda: days_ago(3))


class TicketReopeningFactory(factory.django.DjangoModelFactory):
    """A reopening; keep the ticket's reopened_count in step when using it directly."""

    class Meta:
        model = TicketReopening

    ticket = factory.SubFactory(TicketFactory)
    reopened_at = factory.LazyFunction(lambda: days_ago(1))


class TicketMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketMessage

    external_id = factory.Sequence(lambda n: f"M{n:07d}")
    ticket = factory.SubFactory(TicketFactory)
    author_kind = TicketMessage.Author.CUSTOMER
    body = "My parcel is two weeks late and nobody answers my emails. Very disappointed."
    created_at = factory.LazyFunction(lambda: days_ago(2))


class CustomerNoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "crm.CustomerNote"

    customer = factory.SubFactory(CustomerFactory)
    body = "Prefers a call in the morning; promised a refund of the shipping costs."
    created_at = factory.LazyFunction(lambda: days_ago(1))


class ImportJobFactory(factory.django.DjangoModelFactory):
    """A finished CSV import, as a worker leaves it (no files on disk unless a test writes
    them under the names given)."""

    class Meta:
        model = "crm.ImportJob"

    kind = "customers"
    file_name = factory.Sequence(lambda n: f"export-{n:04d}.csv")
    size_bytes = 2048
    uploaded_by = factory.SubFactory(UserFactory)
    status = "done"
    created_at = factory.LazyFunction(lambda: days_ago(1))
    started_at = factory.LazyFunction(lambda: days_ago(1))
    heartbeat_at = factory.LazyFunction(lambda: days_ago(1))
    finished_at = factory.LazyFunction(lambda: days_ago(1))
    rows_read = 10
    rows_loaded = 9
    rows_bad = 1
    report = factory.LazyFunction(
        lambda: {"created": 9, "first_bad": [{"line": 4, "error": "signed_up_at: bad"}]}
    )
