"""Writes to the CRM. Every function is atomic and validates with full_clean() before saving.

Records the shop sends are upserted on their `external_id`: the first call creates, any
later call with the same id updates the fields it names and leaves the others alone.
Saving a review or a customer message announces its text to the pipeline after commit,
and saving an order or a ticket announces its customer's activity (see crm.receivers),
whichever function saved it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from crm.activity import announce_activity
from crm.models import Customer, Event, Order, Review, Ticket, TicketMessage, TicketReopening

M = TypeVar("M", bound=models.Model)


def _upsert(model: type[M], *, external_id: str, fields: Mapping[str, Any]) -> tuple[M, bool]:
    """Create the record or update the named fields of the existing one.

    Concurrent first writes of the same id race on the unique constraint; the loser's
    IntegrityError turns into an update of the winner's row, so both calls succeed.
    """
    with transaction.atomic():
        instance = (
            model._default_manager.select_for_update().filter(external_id=external_id).first()
        )
        if instance is None:
            instance = model(external_id=external_id, **fields)
            # Uniqueness is left to the database: a check here would race with a
            # concurrent create and answer 400 where the IntegrityError path updates.
            instance.full_clean(validate_unique=False)
            try:
                with transaction.atomic():
                    instance.save(force_insert=True)
                return instance, True
            except IntegrityError:
                instance = model._default_manager.select_for_update().get(external_id=external_id)
        changed = [name for name, value in fields.items() if getattr(instance, name) != value]
        for name in changed:
            setattr(instance, name, fields[name])
        instance.full_clean()
        if changed:
            # Field names may be FK names like "customer"; update_fields wants attnames too.
            instance.save(update_fields=[*changed, "updated_in_crm_at"])
        return instance, False


class CustomerErased(Exception):
    """The customer's personal data was erased at their request: the CRM takes none of it
    again (an old export replayed must not bring it back), nor new texts of theirs."""

    def __init__(self, external_id: str) -> None:
        super().__init__(
            f"Customer {external_id} was erased at their request; their personal data and "
            "texts are not stored again."
        )


def customer_upsert(*, external_id: str, **fields: Any) -> tuple[Customer, bool]:
    """Create or update a customer; returns (customer, created). Raises CustomerErased for
    an erased customer (row-locked check, so an erasure in flight is waited for)."""
    with transaction.atomic():
        erased = Customer.objects.select_for_update().filter(
            external_id=external_id, is_erased=True
        )
        if erased.exists():
            raise CustomerErased(external_id)
        return _upsert(Customer, external_id=external_id, fields=fields)


def order_upsert(*, external_id: str, customer: Customer, **fields: Any) -> tuple[Order, bool]:
    """Create or update an order of `customer`; returns (order, created).

    `returned_at` and `cancelled_at` follow Order.settle_status_times: an order that becomes
    returned (or cancelled) with no time given gets the time of this call, one that stays
    so keeps its stored time (None: unknown), one that leaves the status loses it.
    """
    with transaction.atomic():
        stored = (
            Order.objects.select_for_update()
            .filter(external_id=external_id)
            .values("status", "returned_at", "cancelled_at", "customer_id")
            .first()
        )
        settled = Order(
            status=fields.get("status", stored["status"] if stored else Order.Status.PLACED),
            returned_at=fields.get("returned_at"),
            cancelled_at=fields.get("cancelled_at"),
        )
        settled.settle_status_times(stored)
        fields = {
            **fields,
            "returned_at": settled.returned_at,
            "cancelled_at": settled.cancelled_at,
        }
        order, created = _upsert(
            Order, external_id=external_id, fields={"customer": customer, **fields}
        )
        if stored is not None and stored["customer_id"] != order.customer_id:
            announce_activity([stored["customer_id"]])  # it lost an order
        return order, created


def review_upsert(*, external_id: str, customer: Customer, **fields: Any) -> tuple[Review, bool]:
    """Create or update a review; its text is scored after commit if new or changed.
    Raises CustomerErased for an erased customer."""
    if customer.is_erased:
        raise CustomerErased(customer.external_id)
    return _upsert(Review, external_id=external_id, fields={"customer": customer, **fields})


def ticket_upsert(*, external_id: str, customer: Customer, **fields: Any) -> tuple[Ticket, bool]:
    """Create or update a ticket; a move from solved/closed back to open records a reopening.

    The reopening is dated now and raises `reopened_count` by one, in the same transaction.
    """
    with transaction.atomic():
        existing = Ticket.objects.select_for_update().filter(external_id=external_id).first()
        reopened = False
        if existing is not None and "status" in fields:
            previous = existing.status
            existing.status = fields["status"]
            changed = existing.note_status_change(previous)
            reopened = bool(changed)
            fields = {**fields, **{name: getattr(existing, name) for name in changed}}
        ticket, created = _upsert(
            Ticket, external_id=external_id, fields={"customer": customer, **fields}
        )
        if reopened:
            ticket_reopenings_create(times_by_ticket={ticket.pk: [timezone.now()]})
        if existing is not None and existing.customer_id != ticket.customer_id:
            announce_activity([existing.customer_id])  # it lost a ticket
        return ticket, created


def ticket_reopenings_create(*, times_by_ticket: Mapping[int, Sequence[datetime | None]]) -> None:
    """Store reopenings: ticket pk -> the time of each new one (None: unknown).

    History only: the caller raises each ticket's `reopened_count` by as many, in the same
    transaction, so that the count stays the number of reopenings.
    """
    rows = [
        TicketReopening(ticket_id=ticket_id, reopened_at=when)
        for ticket_id, times in times_by_ticket.items()
        for when in times
    ]
    if rows:
        TicketReopening.objects.bulk_create(rows, batch_size=1000)


def ticket_message_upsert(
    *, external_id: str, ticket: Ticket, **fields: Any
) -> tuple[TicketMessage, bool]:
    """Create or update a ticket message; customer-authored ones are scored after commit.
    Raises CustomerErased when the ticket's customer was erased."""
    if ticket.customer.is_erased:
        raise CustomerErased(ticket.customer.external_id)
    return _upsert(TicketMessage, external_id=external_id, fields={"ticket": ticket, **fields})


def events_upsert(*, events: Sequence[Event]) -> int:
    """Store a batch of events all-or-nothing; an event already stored updates its payload.

    Callers resolve each event's customer (one query per batch, not per event), so the
    customer is not looked up again here. Each event is validated first; if any is invalid,
    ValidationError is raised with errors keyed by the index in the batch, and nothing is
    written.
    """
    errors: dict[str, Any] = {}
    for index, event in enumerate(events):
        try:
            event.full_clean(
                exclude=["customer"], validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            # ValidationError cannot nest a dict in a dict: name the field in each message.
            errors[str(index)] = [
                f"{field}: {message}"
                for field, messages in exc.message_dict.items()
                for message in messages
            ]
    if errors:
        raise ValidationError(errors)
    # Within one batch, a repeated natural key keeps the later event (what the shop sent last).
    unique: dict[tuple, Event] = {}
    for event in events:
        unique[(event.customer_id, event.kind, event.occurred_at)] = event
    with transaction.atomic():
        Event.objects.bulk_create(
            list(unique.values()),
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["customer", "kind", "occurred_at"],
            update_fields=["payload"],
        )
    return len(unique)
