"""Serializers of the CRM API: they parse and validate input and render output, nothing more.

Records are named by the shop's `external_id`, and so are references between them: an
order's `customer` is the customer's external id. Writes never happen here; the views hand
`validated_data` to the upsert functions in crm.services, which run `full_clean()` again,
so a rule enforced by the model holds whichever way a record arrives.

Field validators are copied from the models by ModelSerializer (rating 1..5, total >= 0,
text length, "not more than a day in the future"), which is what lets a 400 name the
field before anything reaches the database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import serializers

from crm.models import Customer, Event, Order, Review, Ticket, TicketMessage

# Context key under which a view hands a serializer references it has already loaded in
# one query ({model: {external_id: instance}}), so a batch of 1,000 items does not look up
# its customers one by one.
PRELOADED_REFS = "preloaded_refs"


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 datetime that must carry its UTC offset.

    A naive time from a shop in another time zone would be silently shifted by hours;
    refusing it makes the integration say what it means.
    """

    default_error_messages = {
        **serializers.DateTimeField.default_error_messages,
        "naive": "Give a UTC offset or Z, e.g. 2024-05-01T12:00:00+02:00.",
    }

    def enforce_timezone(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class ExternalIdRelatedField(serializers.SlugRelatedField):
    """A reference to another record by its external id, e.g. an order's `customer`.

    An unknown id is a validation error naming the field ("No customer with external id
    'X'."); a referenced record is never created on the fly.
    """

    def __init__(self, *, queryset: QuerySet[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(slug_field="external_id", queryset=queryset, **kwargs)
        if queryset is not None:
            name = queryset.model._meta.verbose_name
            self.error_messages["does_not_exist"] = f"No {name} with external id '{{value}}'."
            self.error_messages["invalid"] = f"Expected the {name}'s external id."

    def to_internal_value(self, data: Any) -> models.Model:
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        external_id = str(data)
        if "\x00" in external_id:
            # No stored id has one (they are refused on the way in), and PostgreSQL cannot
            # even compare with one: a 500 the API fuzz found.
            self.fail("does_not_exist", value=external_id)
        model = self.get_queryset().model  # type: ignore[union-attr] # writable: has one
        preloaded = self.context.get(PRELOADED_REFS, {}).get(model)
        if preloaded is None:
            return super().to_internal_value(external_id)
        if external_id not in preloaded:
            self.fail("does_not_exist", value=external_id)
        return preloaded[external_id]


def preload_refs(model: type[models.Model], refs: Iterable[Any]) -> dict[str, models.Model]:
    """Load the records named by `refs` (external ids; other values, and ids no record can
    have, ignored) in one query."""
    wanted = {
        str(ref)
        for ref in refs
        if isinstance(ref, str | int) and not isinstance(ref, bool) and "\x00" not in str(ref)
    }
    return model._default_manager.in_bulk(list(wanted), field_name="external_id")


no_slash = RegexValidator(
    r"^[^/]+$", message="Must not contain '/': the external id is part of the record's URL."
)


def external_id_field() -> serializers.CharField:
    """The shop's id of a record: required, at most 64 characters, usable in a URL."""
    return serializers.CharField(max_length=64, validators=[no_slash])


class RecordSerializer(serializers.ModelSerializer):
    """Base for the shop's records: external id, aware datetimes, CRM timestamps read-only."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: AwareDateTimeField,
    }

    # Declared rather than derived: the derived field carries a UniqueValidator, which
    # would refuse the second POST of a record instead of letting it update.
    external_id = external_id_field()

    TIMESTAMPS = ("created_in_crm_at", "updated_in_crm_at")


class CustomerSerializer(RecordSerializer):
    """A customer of the shop."""

    class Meta:
        model = Customer
        fields = (
            "external_id",
            "name",
            "email",
            "phone",
            "country",
            "signed_up_at",
            "marketing_consent",
            "is_erased",
            *RecordSerializer.TIMESTAMPS,
        )
        read_only_fields = ("is_erased", *RecordSerializer.TIMESTAMPS)


class OrderSerializer(RecordSerializer):
    """An order; `customer` is the customer's external id, `total` a decimal >= 0.

    `returned_at` / `cancelled_at` belong to a returned / cancelled order and may not be
    before `placed_at`. Left out (or null) when the order becomes returned or cancelled,
    the time of the request is stored; while it stays so, the stored time stands (null on
    such an order: unknown); when it leaves that status, the time is cleared.
    """

    customer = ExternalIdRelatedField(queryset=Customer.objects.all())
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$",
        required=False,
        help_text="ISO 4217 code; CRM_DEFAULT_CURRENCY when a new order names none.",
        error_messages={"invalid": "Use a three-letter ISO 4217 code, e.g. EUR."},
    )
    is_late = serializers.BooleanField(
        read_only=True,
        allow_null=True,
        help_text="Delivered after the promised date; null while either date is unknown.",
    )

    class Meta:
        model = Order
        fields = (
            "external_id",
            "customer",
            "placed_at",
            "total",
            "currency",
            "item_count",
            "status",
            "delivered_at",
            "returned_at",
            "cancelled_at",
            "promised_delivery_date",
            "coupon_code",
            "is_late",
            *RecordSerializer.TIMESTAMPS,
        )
        read_only_fields = RecordSerializer.TIMESTAMPS

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The model's own default is a constant; the configured one applies to new orders
        # only, so an update that omits the currency keeps the stored one.
        if self.instance is None and "currency" not in attrs:
            attrs["currency"] = settings.CRM_DEFAULT_CURRENCY
        return attrs


class ReviewSerializer(RecordSerializer):
    """A review (rating 1 to 5); `customer` and `order` are external ids."""

    customer = ExternalIdRelatedField(queryset=Customer.objects.all())
    order = ExternalIdRelatedField(queryset=Order.objects.all(), required=False, allow_null=True)

    class Meta:
        model = Review
        fields = (
            "external_id",
            "customer",
            "order",
            "product_ref",
            "rating",
            "title",
            "body",
            "created_at",
            *RecordSerializer.TIMESTAMPS,
        )
        read_only_fields = RecordSerializer.TIMESTAMPS


class TicketSerializer(RecordSerializer):
    """A support ticket; `customer` is the customer's external id.

    `reopened_count` is read-only: a move from solved/closed back to open or pending
    records a reopening dated at the request and raises it by one.
    """

    customer = ExternalIdRelatedField(queryset=Customer.objects.all())

    class Meta:
        model = Ticket
        fields = (
            "external_id",
            "customer",
            "subject",
            "channel",
            "status",
            "priority",
            "opened_at",
            "solved_at",
            "reopened_count",
            *RecordSerializer.TIMESTAMPS,
        )
        read_only_fields = ("reopened_count", *RecordSerializer.TIMESTAMPS)


class TicketMessageSerializer(RecordSerializer):
    """A message on a ticket; the ticket comes from the URL, so it is read-only here."""

    ticket: serializers.SlugRelatedField[Ticket] = serializers.SlugRelatedField(
        slug_field="external_id", read_only=True
    )

    class Meta:
        model = TicketMessage
        fields = (
            "external_id",
            "ticket",
            "author_kind",
            "body",
            "created_at",
            *RecordSerializer.TIMESTAMPS,
        )
        read_only_fields = RecordSerializer.TIMESTAMPS


# How deeply an event's payload may nest; shop events are flat or nearly so.
MAX_PAYLOAD_DEPTH = 16


def payload_problem(value: Any, depth: int = 0) -> str | None:
    """Why a JSON value cannot be stored as a payload, or None.

    PostgreSQL's jsonb refuses NUL characters and lone surrogates, and JSON has no
    infinity (`1e400` parses to one): each was a 500 the API fuzz found.
    """
    if depth > MAX_PAYLOAD_DEPTH:
        return f"Nested more than {MAX_PAYLOAD_DEPTH} levels deep."
    if isinstance(value, str):
        if "\x00" in value:
            return "Null characters are not allowed."
        if any("\ud800" <= char <= "\udfff" for char in value):
            return "Surrogate characters are not allowed."
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "Numbers must be finite."
    if isinstance(value, dict):
        for key, item in value.items():
            problem = payload_problem(key, depth + 1) or payload_problem(item, depth + 1)
            if problem:
                return problem
    if isinstance(value, list):
        for item in value:
            problem = payload_problem(item, depth + 1)
            if problem:
                return problem
    return None


class EventSerializer(serializers.ModelSerializer):
    """A behaviour event; `customer` is the customer's external id; `payload` any JSON
    object of finite numbers and plain text, at most MAX_PAYLOAD_DEPTH levels deep."""

    customer = ExternalIdRelatedField(queryset=Customer.objects.all())
    payload = serializers.DictField(required=False, default=dict)

    def validate_payload(self, value: dict[str, Any]) -> dict[str, Any]:
        problem = payload_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    serializer_field_mapping = RecordSerializer.serializer_field_mapping

    class Meta:
        model = Event
        fields = ("customer", "kind", "occurred_at", "payload")
        # No UniqueTogetherValidator from the natural key: sending an event again updates
        # its payload (events_upsert), it is not an error.
        validators: list[Any] = []


class EventBatchSerializer(serializers.Serializer):
    """The documented request body of POST /api/events/bulk/ (a bare list is accepted too)."""

    events = EventSerializer(many=True)


class EventBatchResultSerializer(serializers.Serializer):
    """How many events a batch stored."""

    stored = serializers.IntegerField(help_text="Distinct events stored or updated.")


def index_errors(errors: Mapping[int, Any] | Iterable[Any]) -> dict[str, Any]:
    """Per-item errors of a list serializer, keyed by the item's index as a string.

    DRF reports them as a dict keyed by index (LIST_SERIALIZER_ERRORS_AS_DICT, its default)
    or, in the deprecated format, as a list with an empty entry per valid item; both
    become {"3": {"kind": [...]}}.
    """
    items = errors.items() if isinstance(errors, Mapping) else enumerate(errors)
    return {str(index): error for index, error in items if error}
