"""REST endpoints of the CRM: upsert, list and retrieve the shop's records; events in bulk.

The views are thin: they parse (serializers), check permission, call one upsert function
from crm.services and render. Records are addressed by the shop's `external_id`.

Upsert: POST to a collection, or PUT to /<kind>/<external_id>/, creates the record (201)
or updates it (200) when the id is known; fields left out of an update keep their stored
value. PATCH updates a known record (404 otherwise). Because one POST may create or
update, it needs `add_<model>` to create and `change_<model>` to update.
"""

from __future__ import annotations

from datetime import UTC
from functools import cached_property
from typing import Any

import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.fields import empty
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.pagination import TimeCursorPagination
from crm.api.parsers import JSONParser
from crm.api.serializers import (
    PRELOADED_REFS,
    CustomerSerializer,
    EventBatchResultSerializer,
    EventBatchSerializer,
    EventSerializer,
    OrderSerializer,
    ReviewSerializer,
    TicketMessageSerializer,
    TicketSerializer,
    external_id_field,
    index_errors,
    preload_refs,
)
from crm.models import Customer, Event, Order, Review, Ticket, TicketMessage
from crm.services import (
    customer_upsert,
    events_upsert,
    order_upsert,
    review_upsert,
    ticket_message_upsert,
    ticket_upsert,
)

# --- Filters ------------------------------------------------------------------------------


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time, moved to UTC before it reaches the query.

    Both were 500s the API fuzz found: SQLite overflowed on 9999-12-31T23:59-14:00 (now a
    400 naming the parameter), and PostgreSQL refuses offsets beyond 15:59 that Python
    accepts (-18:22), which UTC does not carry.
    """

    def to_python(self, value: Any) -> Any:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise DjangoValidationError("Datetime value out of range.", code="overflow") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """django-filter's ISO 8601 filter, compared in UTC (UtcDateTimeField)."""

    field_class = UtcDateTimeField


class UpdatedSinceFilterSet(django_filters.FilterSet):
    """`updated_since`: records changed in the CRM at or after a time, for incremental sync."""

    updated_since = IsoDateTimeFilter(
        field_name="updated_in_crm_at",
        lookup_expr="gte",
        help_text="Only records created or changed in the CRM at or after this ISO 8601 time.",
    )


def customer_ref_filter() -> django_filters.CharFilter:
    return django_filters.CharFilter(
        field_name="customer__external_id", help_text="The customer's external id."
    )


class CustomerFilter(UpdatedSinceFilterSet):
    class Meta:
        model = Customer
        fields = ["email", "country", "is_erased"]


class OrderFilter(UpdatedSinceFilterSet):
    customer = customer_ref_filter()
    placed_since = IsoDateTimeFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = IsoDateTimeFilter(field_name="placed_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["customer", "status"]


class ReviewFilter(UpdatedSinceFilterSet):
    customer = customer_ref_filter()
    order = django_filters.CharFilter(
        field_name="order__external_id", help_text="The order's external id."
    )

    class Meta:
        model = Review
        fields = ["customer", "order", "rating"]


class TicketFilter(UpdatedSinceFilterSet):
    customer = customer_ref_filter()

    class Meta:
        model = Ticket
        fields = ["customer", "status", "channel", "priority"]


class TicketMessageFilter(UpdatedSinceFilterSet):
    class Meta:
        model = TicketMessage
        fields = ["author_kind"]


class EventFilter(django_filters.FilterSet):
    customer = customer_ref_filter()
    occurred_since = IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["customer", "kind"]


# --- Upsert viewsets ----------------------------------------------------------------------


def upsert_schema(kind: str, serializer: type[serializers.Serializer]) -> Any:
    """OpenAPI docs shared by the upsert viewsets: writes answer 201 when they create."""
    both = {
        200: OpenApiResponse(serializer, description=f"An existing {kind} was updated."),
        201: OpenApiResponse(serializer, description=f"A new {kind} was created."),
    }
    return extend_schema_view(
        list=extend_schema(summary=f"List {kind}s"),
        retrieve=extend_schema(summary=f"Get one {kind} by its external id"),
        create=extend_schema(
            summary=f"Create or update a {kind} (upsert on external_id)",
            description="Creates the record (201), or updates it (200) if the external id "
            "is already known; fields left out keep their stored value.",
            responses=both,
        ),
        update=extend_schema(summary=f"Create or update the {kind} at this URL", responses=both),
        partial_update=extend_schema(summary=f"Update some fields of a known {kind}"),
    )


class UpsertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """List, retrieve, and upsert records by external id through a service function.

    Subclasses set `queryset` (with the select_related its serializer needs, so a list page
    costs a constant number of queries), `serializer_class`, `filterset_class`,
    `references` (foreign keys an update may omit) and implement `perform_upsert`.
    """

    lookup_field = "external_id"
    # External ids may contain dots (the router's default refuses them).
    lookup_value_regex = "[^/]+"
    parser_classes = [JSONParser]
    references: tuple[str, ...] = ()

    def perform_upsert(self, external_id: str, fields: dict[str, Any]) -> tuple[models.Model, bool]:
        """Call the service that creates or updates the record; return (record, created)."""
        raise NotImplementedError

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # No stored id contains NUL (the serializers refuse it), and PostgreSQL refuses to
        # even compare with one: a NUL in the URL was a 500 before it was a 404.
        for value in kwargs.values():
            if "\x00" in str(value):
                raise NotFound("No record has an external id with a NUL character.")

    def find_existing(self, external_id: str) -> models.Model | None:
        """The stored record with this external id, if any."""
        return self.get_queryset().filter(external_id=external_id).first()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """POST to the collection: upsert on the body's external_id."""
        external_id = None
        if isinstance(request.data, dict):
            # Cleaned the way the serializer will clean it (trimmed, checked), so the
            # record looked up is the one the service will write.
            try:
                external_id = external_id_field().run_validation(
                    request.data.get("external_id", empty)
                )
            except ValidationError as exc:
                raise ValidationError({"external_id": exc.detail}) from exc
        return self._upsert(request, external_id, request.data, partial=False)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """PUT (or PATCH) on a record's URL: the URL names the record."""
        external_id = self.kwargs[self.lookup_field]
        data = request.data
        if isinstance(data, dict):
            sent = data.get("external_id", external_id)
            if str(sent).strip() != external_id:
                raise ValidationError(
                    {"external_id": [f"Does not match the URL's external id '{external_id}'."]}
                )
            data = {**data, "external_id": external_id}
        return self._upsert(request, external_id, data, partial=kwargs.get("partial", False))

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def _upsert(
        self, request: Request, external_id: str | None, data: Any, *, partial: bool
    ) -> Response:
        instance = self.find_existing(external_id) if external_id else None
        if instance is None and partial:
            raise NotFound(f"No {self._model_name()} with external id '{external_id}'.")
        self._check_write_permission(request, creating=instance is None)
        serializer = self.get_serializer(instance, data=data, partial=partial)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        # Required by the serializer; for PUT and PATCH, the URL's id was put in the data.
        external_id = fields.pop("external_id")
        if instance is not None:
            # The service functions take the references as arguments; a PATCH may omit them.
            for name in self.references:
                fields.setdefault(name, getattr(instance, name))
        record, created = self.perform_upsert(external_id, fields)
        return Response(
            self.get_serializer(record).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def _check_write_permission(self, request: Request, *, creating: bool) -> None:
        """Creating needs `add_<model>`, updating `change_<model>`, whatever the method.

        ModelPermissions has checked the method's permission already (POST: add, PUT and
        PATCH: change); an upsert may turn out to be the other kind of write.
        """
        opts = self.get_queryset().model._meta
        codename = f"{'add' if creating else 'change'}_{opts.model_name}"
        if not request.user.has_perm(f"{opts.app_label}.{codename}"):
            self.permission_denied(
                request,
                message=f"You may not {'create' if creating else 'change'} "
                f"{opts.verbose_name_plural}.",
            )

    def _model_name(self) -> str:
        return str(self.get_queryset().model._meta.verbose_name)


@upsert_schema("customer", CustomerSerializer)
class CustomerViewSet(UpsertViewSet):
    """Customers of the shop, addressed by their external id."""

    queryset = Customer.objects.order_by("-signed_up_at", "-pk")
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter

    def perform_upsert(self, external_id: str, fields: dict[str, Any]) -> tuple[Customer, bool]:
        return customer_upsert(external_id=external_id, **fields)


@upsert_schema("order", OrderSerializer)
class OrderViewSet(UpsertViewSet):
    """Orders; `customer` is the customer's external id."""

    queryset = Order.objects.select_related("customer").order_by("-placed_at", "-pk")
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    references = ("customer",)

    def perform_upsert(self, external_id: str, fields: dict[str, Any]) -> tuple[Order, bool]:
        return order_upsert(external_id=external_id, **fields)


@upsert_schema("review", ReviewSerializer)
class ReviewViewSet(UpsertViewSet):
    """Product reviews; each one's title and body are scored for sentiment after saving."""

    queryset = Review.objects.select_related("customer", "order").order_by("-created_at", "-pk")
    serializer_class = ReviewSerializer
    filterset_class = ReviewFilter
    references = ("customer",)

    def perform_upsert(self, external_id: str, fields: dict[str, Any]) -> tuple[Review, bool]:
        return review_upsert(external_id=external_id, **fields)


@upsert_schema("ticket", TicketSerializer)
class TicketViewSet(UpsertViewSet):
    """Support tickets; moving a solved or closed ticket back to open counts a reopen."""

    queryset = Ticket.objects.select_related("customer").order_by("-opened_at", "-pk")
    serializer_class = TicketSerializer
    filterset_class = TicketFilter
    references = ("customer",)

    def perform_upsert(self, external_id: str, fields: dict[str, Any]) -> tuple[Ticket, bool]:
        return ticket_upsert(external_id=external_id, **fields)


@upsert_schema("ticket message", TicketMessageSerializer)
@extend_schema(
    parameters=[
        OpenApiParameter(
            "ticket_external_id",
            OpenApiTypes.STR,
            OpenApiParameter.PATH,
            description="The ticket's external id.",
        )
    ]
)
class TicketMessageViewSet(UpsertViewSet):
    """Messages of one ticket, under /tickets/<ticket_external_id>/messages/.

    A message id is unique across tickets; posting a known message id under another ticket
    is refused rather than moving the message.
    """

    serializer_class = TicketMessageSerializer
    filterset_class = TicketMessageFilter

    def get_queryset(self) -> QuerySet[TicketMessage]:
        return (
            TicketMessage.objects.filter(ticket__external_id=self.kwargs.get("ticket_external_id"))
            .select_related("ticket")
            .order_by("created_at", "pk")
        )

    @cached_property
    def ticket(self) -> Ticket:
        external_id = self.kwargs["ticket_external_id"]
        ticket = Ticket.objects.filter(external_id=external_id).first()
        if ticket is None:
            raise NotFound(f"No ticket with external id '{external_id}'.")
        return ticket

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.ticket  # noqa: B018 - an unknown ticket is a 404, not an empty list
        return super().list(request, *args, **kwargs)

    def find_existing(self, external_id: str) -> TicketMessage | None:
        message = (
            TicketMessage.objects.select_related("ticket").filter(external_id=external_id).first()
        )
        if message is not None and message.ticket_id != self.ticket.pk:
            raise ValidationError(
                {
                    "external_id": [
                        f"Message '{external_id}' belongs to ticket '{message.ticket.external_id}'."
                    ]
                }
            )
        return message

    def perform_upsert(
        self, external_id: str, fields: dict[str, Any]
    ) -> tuple[TicketMessage, bool]:
        return ticket_message_upsert(external_id=external_id, ticket=self.ticket, **fields)


# --- Events -------------------------------------------------------------------------------

bulk_errors_response = OpenApiResponse(
    inline_serializer(
        "EventBatchErrors",
        {
            "errors": serializers.DictField(
                child=serializers.DictField(),
                help_text="Field errors of each invalid event, keyed by its index.",
            ),
            "events": serializers.ListField(
                child=serializers.CharField(),
                help_text="Set instead when the batch itself is malformed or too long.",
            ),
        },
    ),
    description="Nothing was stored.",
)


class EventCursorPagination(TimeCursorPagination):
    ordering = ("-occurred_at", "-pk")
    page_size = 100


@extend_schema_view(list=extend_schema(summary="List behaviour events"))
class EventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Behaviour events: listed per customer, written in batches."""

    queryset = Event.objects.select_related("customer").order_by("-occurred_at", "-pk")
    serializer_class = EventSerializer
    # The events table grows to tens of millions of rows: no COUNT(*) per page.
    pagination_class = EventCursorPagination
    filterset_class = EventFilter
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Store a batch of events, all or nothing",
        description=(
            'A JSON list of events, or {"events": [...]}, at most '
            f"{settings.CRM_MAX_EVENTS_PER_REQUEST} per request. An event already stored "
            "(same customer, kind and occurred_at) has its payload updated, never duplicated. "
            "If any event is invalid nothing is stored and the errors are keyed by index."
        ),
        request=EventBatchSerializer,
        responses={201: EventBatchResultSerializer, 400: bulk_errors_response},
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request: Request) -> Response:
        items = request.data.get("events") if isinstance(request.data, dict) else request.data
        if not isinstance(items, list):
            raise ValidationError({"events": ['Send a JSON list of events, or {"events": [...]}.']})
        limit = settings.CRM_MAX_EVENTS_PER_REQUEST
        if len(items) > limit:
            raise ValidationError(
                {"events": [f"At most {limit} events per request; got {len(items)}."]}
            )
        refs = (item.get("customer") for item in items if isinstance(item, dict))
        context = {
            **self.get_serializer_context(),
            PRELOADED_REFS: {Customer: preload_refs(Customer, refs)},
        }
        serializer = EventSerializer(data=items, many=True, context=context)
        if not serializer.is_valid():
            raise ValidationError({"errors": index_errors(serializer.errors)})
        try:
            stored = events_upsert(events=[Event(**item) for item in serializer.validated_data])
        except DjangoValidationError as exc:
            # The serializer applies the model's validators, so this is a backstop that
            # keeps the documented shape if the model ever checks more than they do.
            raise ValidationError({"errors": exc.message_dict}) from exc
        return Response({"stored": stored}, status=status.HTTP_201_CREATED)
