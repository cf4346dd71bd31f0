"""The CRM in the admin: every record can be looked up, added and corrected by hand.

Built for big tables (100,000 customers, millions of events and orders):

* foreign keys to customers, orders, tickets and users are autocomplete widgets, never a
  <select> of the whole table;
* every changelist selects the related rows it shows in its one list query
  (`list_select_related`), so the number of queries does not grow with the page;
* unfiltered lists of large tables are sized from PostgreSQL's row estimate instead of a
  COUNT(*) per page load (`LargeTablePaginator`);
* the customer page shows only the latest few orders, reviews and tickets, and links to the
  full lists filtered to that customer (`CustomerFilter`); events are only ever linked.

CustomerText is derived from reviews and messages (crm.texts), so it is view-only here, and
so are a ticket's reopen count and reopenings (history, recorded when a status moves back
to open). A status set to returned or cancelled by hand is dated now unless a time is typed
in, as through the API (Order.settle_status_times).
Saving a review or a ticket message, including a message in the ticket page's inline,
goes through the post_save receivers in crm.receivers, which keep its CustomerText in step.

CSV imports: "Import a CSV file" on the CSV imports list uploads a shop's export (streamed
to disk, refused over CRM_IMPORT_MAX_BYTES, crm.uploads) and queues its import; the job's
page shows the progress, then the bad rows and their rejects file to download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections, models, transaction
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, Textarea
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import content_disposition_header, urlencode
from django.utils.text import Truncator
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from crm.api.tokens import api_token_create, api_tokens_revoke
from crm.importers import KINDS
from crm.models import (
    ApiToken,
    Customer,
    CustomerText,
    Event,
    ImportJob,
    Order,
    OrderQuerySet,
    Review,
    Ticket,
    TicketMessage,
    import_kinds,
)
from crm.privacy import customer_erase, customer_export, export_json
from crm.services import import_job_create, import_job_requeue, ticket_reopenings_create
from crm.uploads import (
    ImportUploadHandler,
    StoredUpload,
    request_too_large,
    size_text,
    too_large_message,
)


def change_link(obj: models.Model, label: str | None = None) -> str:
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label if label is not None else str(obj))


def changelist_url(model: type[models.Model], **params: Any) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def customer_label(customer: Customer) -> str:
    """External id first (what the shop and the API use), then the name if not erased."""
    return f"{customer.external_id} · {customer.name}" if customer.name else customer.external_id


class LargeTablePaginator(Paginator):
    """Sizes an unfiltered list of a big table from PostgreSQL's statistics, not COUNT(*).

    A COUNT(*) over millions of events takes seconds and runs on every changelist load; the
    planner's estimate (pg_class.reltuples, kept fresh by autovacuum) is close enough to size
    the pager. Filtered lists, other databases and tables the estimate puts under
    `estimate_threshold` rows are counted exactly. After healthchecks' hc/api/admin.py.
    """

    estimate_threshold = 10_000

    @cached_property
    def count(self) -> int:
        estimate = self._estimate()
        if estimate is not None and estimate >= self.estimate_threshold:
            return estimate
        return super().count

    def _estimate(self) -> int | None:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or queryset.query.where:
            return None
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            # reltuples is -1 until the table is first analyzed: then the exact count is used.
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        return int(row[0]) if row else None


class CustomerFilter(admin.SimpleListFilter):
    """Narrows a list to one customer; the links on a customer's page use it.

    It offers only the customer already chosen (as a way back to the unfiltered list):
    offering every customer would render 100,000 links.
    """

    title = "customer"
    parameter_name = "customer"
    customer_path = "customer"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        value = self.value()
        if not value:
            return []  # no output: the filter is hidden until a link sets it
        if not value.isdigit():
            return [(value, value)]  # kept, so that queryset() can refuse it
        customer = Customer.objects.filter(pk=value).only("external_id", "name").first()
        return [(value, customer_label(customer) if customer else f"#{value} (deleted)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            raise IncorrectLookupParameters(f"Not a customer id: {value!r}")
        return queryset.filter(**{f"{self.customer_path}__pk": value})


class TicketCustomerFilter(CustomerFilter):
    customer_path = "ticket__customer"


class CustomerColumnMixin:
    """A "customer" column linking to the customer; needs "customer" in list_select_related."""

    @admin.display(description="customer", ordering="customer__external_id")
    def customer_column(self, obj: Any) -> str:
        return change_link(obj.customer, customer_label(obj.customer))


class LatestRowsFormSet(BaseInlineFormSet):
    """An inline formset holding only the first `limit` rows in the model's ordering.

    The model orderings are newest first, so these are the latest rows; a customer with
    thousands of orders still gets a page of bounded size.
    """

    limit = 10

    def get_queryset(self) -> QuerySet:
        if not hasattr(self, "_queryset"):
            self._queryset = super().get_queryset()[: self.limit]
        return self._queryset


class ReadOnlyAdminMixin:
    """No add, change or delete: for rows that are derived or computed, never typed in."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LatestRowsInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Read-only table of a customer's latest rows; the full list is linked above it."""

    formset = LatestRowsFormSet
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True


class LatestOrdersInline(LatestRowsInline):
    model = Order
    verbose_name_plural = f"latest {LatestRowsFormSet.limit} orders"
    fields = readonly_fields = (
        "external_id",
        "placed_at",
        "total",
        "currency",
        "status",
        "is_late",
    )

    @admin.display(boolean=True, description="late")
    def is_late(self, obj: Order) -> bool | None:
        return obj.is_late


class LatestReviewsInline(LatestRowsInline):
    model = Review
    verbose_name_plural = f"latest {LatestRowsFormSet.limit} reviews"
    fields = readonly_fields = ("external_id", "created_at", "rating", "title", "order")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("order")


class LatestTicketsInline(LatestRowsInline):
    model = Ticket
    verbose_name_plural = f"latest {LatestRowsFormSet.limit} tickets"
    fields = readonly_fields = (
        "external_id",
        "opened_at",
        "subject",
        "channel",
        "status",
        "priority",
    )


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "name",
        "email",
        "country",
        "signed_up_at",
        "marketing_consent",
        "is_erased",
    ]
    list_display_links = ["external_id", "name"]
    list_filter = ["marketing_consent", "is_erased", "country"]
    search_fields = ["external_id", "name", "email"]
    date_hierarchy = "signed_up_at"
    show_full_result_count = False
    paginator = LargeTablePaginator
    readonly_fields = ["records", "created_in_crm_at", "updated_in_crm_at"]
    fieldsets = [
        (None, {"fields": ["external_id", "name", "email", "phone", "country"]}),
        (None, {"fields": ["signed_up_at", "marketing_consent", "is_erased"]}),
        ("Activity", {"fields": ["records"]}),
        ("Record", {"fields": ["created_in_crm_at", "updated_in_crm_at"], "classes": ["collapse"]}),
    ]
    inlines = [LatestOrdersInline, LatestReviewsInline, LatestTicketsInline]
    actions = ["export_selected", "erase_selected"]

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crm.export_customer")

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crm.erase_customer")

    @admin.action(
        description="Export everything held about the customer (JSON)", permissions=["export"]
    )
    def export_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Download crm.privacy's export of one customer (an access request is one person's)."""
        customers = list(queryset[:2])
        if len(customers) != 1:
            self.message_user(request, "Select exactly one customer to export.", messages.WARNING)
            return None
        customer = customers[0]
        response = HttpResponse(
            export_json(customer_export(customer=customer)),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=f"customer-{customer.external_id}.json"
        )
        return response

    @admin.action(description="Erase personal data of selected customers", permissions=["erase"])
    def erase_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        """A confirmation page first (what goes, what stays), then crm.privacy's erasure of
        every selected customer in one transaction, each recorded with the user's name."""
        if request.POST.get("post") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Erase personal data: are you sure?",
                "queryset": queryset,
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
            }
            request.current_app = self.admin_site.name
            return TemplateResponse(request, "admin/crm/customer/erase_confirmation.html", context)
        customers = list(queryset.order_by("pk"))
        with transaction.atomic():
            for customer in customers:
                customer_erase(customer=customer, by=request.user, via="admin")
        ids = ", ".join(customer.external_id for customer in customers)
        self.message_user(
            request,
            f"Erased the personal data of {len(customers)} customer(s): {ids}.",
            messages.SUCCESS,
        )
        return None

    @admin.display(description="all records")
    def records(self, obj: Customer) -> str:
        """Links to every list filtered to this customer; events are never inlined."""
        if obj.pk is None:
            return "-"
        lists = [
            (Order, f"orders ({obj.orders.count()})"),
            (Review, f"reviews ({obj.reviews.count()})"),
            (Ticket, f"tickets ({obj.tickets.count()})"),
            (Event, "events"),
            (CustomerText, "texts"),
        ]
        return format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            ((changelist_url(model, customer=obj.pk), label) for model, label in lists),
        )


class LateFilter(admin.SimpleListFilter):
    """Delivered after the promised date, as Order.is_late decides it (in local dates)."""

    title = "delivered late"
    parameter_name = "late"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("yes", "Late"), ("no", "On time"), ("unknown", "Unknown")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        orders = cast(OrderQuerySet, queryset)
        if self.value() == "yes":
            return orders.late()
        if self.value() == "no":
            return orders.on_time()
        if self.value() == "unknown":
            return orders.lateness_unknown()
        return queryset


@admin.register(Order)
class OrderAdmin(CustomerColumnMixin, admin.ModelAdmin):
    list_display = [
        "external_id",
        "customer_column",
        "placed_at",
        "amount",
        "item_count",
        "status",
        "late",
        "delivered_at",
        "promised_delivery_date",
    ]
    list_filter = ["status", LateFilter, CustomerFilter]
    list_select_related = ["customer"]
    search_fields = ["^external_id", "^customer__external_id", "=customer__email", "coupon_code"]
    date_hierarchy = "placed_at"
    show_full_result_count = False
    paginator = LargeTablePaginator
    autocomplete_fields = ["customer"]
    readonly_fields = ["late", "created_in_crm_at", "updated_in_crm_at"]
    fieldsets = [
        (None, {"fields": ["external_id", "customer", "status"]}),
        ("Amount", {"fields": ["total", "currency", "item_count", "coupon_code"]}),
        (
            "Dates",
            {
                "fields": [
                    "placed_at",
                    "promised_delivery_date",
                    "delivered_at",
                    "late",
                    "returned_at",
                    "cancelled_at",
                ]
            },
        ),
        ("Record", {"fields": ["created_in_crm_at", "updated_in_crm_at"], "classes": ["collapse"]}),
    ]

    def save_model(self, request: HttpRequest, obj: Order, form: Any, change: bool) -> None:
        """Date a move to returned or cancelled (now, unless a time was typed in)."""
        stored = (
            Order.objects.filter(pk=obj.pk).values("status", "returned_at", "cancelled_at").first()
            if change
            else None
        )
        obj.settle_status_times(stored)
        super().save_model(request, obj, form, change)

    @admin.display(description="total", ordering="total")
    def amount(self, obj: Order) -> str:
        return f"{obj.total} {obj.currency}"

    @admin.display(boolean=True, description="late")
    def late(self, obj: Order) -> bool | None:
        return obj.is_late


@admin.register(Event)
class EventAdmin(CustomerColumnMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "kind", "customer_column", "payload_summary"]
    list_filter = ["kind", CustomerFilter]
    list_select_related = ["customer"]
    # Exact matches only: a substring search would scan every event.
    search_fields = ["=customer__external_id", "=customer__email"]
    date_hierarchy = "occurred_at"
    ordering = ["-occurred_at"]
    # Sorting by any other column sorts the whole table.
    sortable_by = ["occurred_at"]
    show_full_result_count = False
    paginator = LargeTablePaginator
    autocomplete_fields = ["customer"]

    @admin.display(description="payload")
    def payload_summary(self, obj: Event) -> str:
        return Truncator(str(obj.payload or "")).chars(80)


@admin.register(Review)
class ReviewAdmin(CustomerColumnMixin, admin.ModelAdmin):
    list_display = [
        "external_id",
        "customer_column",
        "rating",
        "title",
        "product_ref",
        "order",
        "created_at",
    ]
    list_filter = ["rating", CustomerFilter]
    list_select_related = ["customer", "order"]
    search_fields = [
        "^external_id",
        "title",
        "^product_ref",
        "^customer__external_id",
        "=customer__email",
    ]
    date_hierarchy = "created_at"
    show_full_result_count = False
    paginator = LargeTablePaginator
    autocomplete_fields = ["customer", "order"]
    readonly_fields = ["customer_text", "created_in_crm_at", "updated_in_crm_at"]
    fieldsets = [
        (None, {"fields": ["external_id", "customer", "order", "product_ref", "created_at"]}),
        ("Review", {"fields": ["rating", "title", "body", "customer_text"]}),
        ("Record", {"fields": ["created_in_crm_at", "updated_in_crm_at"], "classes": ["collapse"]}),
    ]

    @admin.display(description="customer text")
    def customer_text(self, obj: Review) -> str:
        text_id = CustomerText.objects.filter(review=obj.pk).values_list("pk", flat=True).first()
        if text_id is None:
            return "-"
        url = reverse("admin:crm_customertext_change", args=[text_id])
        return format_html('<a href="{}">text #{}</a>', url, text_id)


class TicketMessageInline(admin.TabularInline):
    model = TicketMessage
    fields = ["author_kind", "author_agent", "body", "created_at", "external_id"]
    readonly_fields = ["external_id"]
    autocomplete_fields = ["author_agent"]
    extra = 1
    formfield_overrides = {models.TextField: {"widget": Textarea(attrs={"rows": 3, "cols": 60})}}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("author_agent")


@admin.register(Ticket)
class TicketAdmin(CustomerColumnMixin, admin.ModelAdmin):
    list_display = [
        "external_id",
        "subject",
        "customer_column",
        "channel",
        "status",
        "priority",
        "opened_at",
        "solved_at",
        "assigned_agent",
        "reopened_count",
    ]
    list_display_links = ["external_id", "subject"]
    list_filter = [
        "status",
        "channel",
        "priority",
        ("assigned_agent", admin.EmptyFieldListFilter),
        CustomerFilter,
    ]
    list_select_related = ["customer", "assigned_agent"]
    search_fields = ["^external_id", "subject", "^customer__external_id", "=customer__email"]
    date_hierarchy = "opened_at"
    show_full_result_count = False
    paginator = LargeTablePaginator
    autocomplete_fields = ["customer", "assigned_agent"]
    readonly_fields = ["reopened_count", "reopenings", "created_in_crm_at", "updated_in_crm_at"]
    fieldsets = [
        (None, {"fields": ["external_id", "customer", "subject", "channel"]}),
        (
            "Handling",
            {
                "fields": [
                    "status",
                    "priority",
                    "assigned_agent",
                    "opened_at",
                    "solved_at",
                    "reopened_count",
                    "reopenings",
                ]
            },
        ),
        ("Record", {"fields": ["created_in_crm_at", "updated_in_crm_at"], "classes": ["collapse"]}),
    ]
    inlines = [TicketMessageInline]

    def save_model(self, request: HttpRequest, obj: Ticket, form: Any, change: bool) -> None:
        """Reopening a solved ticket by hand records a reopening, as it does through the API."""
        reopened = False
        if change and "status" in form.changed_data:
            stored = Ticket.objects.filter(pk=obj.pk).values("status", "reopened_count").first()
            if stored is not None:
                # The count is read-only here; start from the stored one, not the form's.
                obj.reopened_count = stored["reopened_count"]
                reopened = bool(obj.note_status_change(stored["status"]))
        super().save_model(request, obj, form, change)
        if reopened:
            ticket_reopenings_create(times_by_ticket={obj.pk: [timezone.now()]})

    @admin.display(description="reopened at")
    def reopenings(self, obj: Ticket) -> str:
        if obj.pk is None:
            return "-"
        times = [
            timezone.localtime(when).strftime("%Y-%m-%d %H:%M") if when else "unknown time"
            for when in obj.reopenings.values_list("reopened_at", flat=True)
        ]
        return ", ".join(times) or "-"


@admin.register(TicketMessage)
class TicketMessageAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "ticket_column",
        "customer_column",
        "author_kind",
        "author_agent",
        "created_at",
        "excerpt",
    ]
    list_filter = ["author_kind", TicketCustomerFilter]
    list_select_related = ["ticket__customer", "author_agent"]
    search_fields = [
        "^external_id",
        "^ticket__external_id",
        "ticket__subject",
        "^ticket__customer__external_id",
        "=ticket__customer__email",
    ]
    date_hierarchy = "created_at"
    show_full_result_count = False
    paginator = LargeTablePaginator
    autocomplete_fields = ["ticket", "author_agent"]
    readonly_fields = ["customer_text", "created_in_crm_at", "updated_in_crm_at"]
    fieldsets = [
        (None, {"fields": ["external_id", "ticket", "author_kind", "author_agent"]}),
        ("Message", {"fields": ["created_at", "body", "customer_text"]}),
        ("Record", {"fields": ["created_in_crm_at", "updated_in_crm_at"], "classes": ["collapse"]}),
    ]

    @admin.display(description="ticket", ordering="ticket__external_id")
    def ticket_column(self, obj: TicketMessage) -> str:
        return change_link(obj.ticket, Truncator(str(obj.ticket)).chars(60))

    @admin.display(description="customer", ordering="ticket__customer__external_id")
    def customer_column(self, obj: TicketMessage) -> str:
        return change_link(obj.ticket.customer, customer_label(obj.ticket.customer))

    @admin.display(description="body")
    def excerpt(self, obj: TicketMessage) -> str:
        return Truncator(obj.body).chars(80)

    @admin.display(description="customer text")
    def customer_text(self, obj: TicketMessage) -> str:
        text_id = CustomerText.objects.filter(message=obj.pk).values_list("pk", flat=True).first()
        if text_id is None:
            return "- (agent messages have none)" if obj.pk else "-"
        url = reverse("admin:crm_customertext_change", args=[text_id])
        return format_html('<a href="{}">text #{}</a>', url, text_id)


@admin.register(CustomerText)
class CustomerTextAdmin(ReadOnlyAdminMixin, CustomerColumnMixin, admin.ModelAdmin):
    """View-only: texts are derived from reviews and messages; edit those instead."""

    list_display = [
        "__str__",
        "source",
        "source_record",
        "customer_column",
        "written_at",
        "is_empty",
    ]
    list_filter = ["source", "is_empty", CustomerFilter]
    list_select_related = ["customer", "review", "message"]
    search_fields = [
        "^customer__external_id",
        "=customer__email",
        "^review__external_id",
        "^message__external_id",
    ]
    date_hierarchy = "written_at"
    show_full_result_count = False
    paginator = LargeTablePaginator
    fields = readonly_fields = (
        "customer_column",
        "source",
        "source_record",
        "written_at",
        "text",
        "content_hash",
        "is_empty",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The detail page reads the text from its source.
        return super().get_queryset(request).select_related("customer", "review", "message")

    @admin.display(description="from")
    def source_record(self, obj: CustomerText) -> str:
        source = obj.review if obj.review_id else obj.message
        return change_link(source, source.external_id) if source else "-"

    @admin.display(description="text")
    def text(self, obj: CustomerText) -> str:
        return obj.text


# --- API tokens -------------------------------------------------------------------------------

# The one page that ever shows a token's key; admin views are never cached, so neither is it.
KEY_SHOWN_ONCE_PAGE = """{% extends "admin/base_site.html" %}
{% block content %}
<p>The API token <strong>{{ token.name }}</strong> acts as <strong>{{ token.user }}</strong>.
Copy its key now: it is shown only this once and cannot be recovered; a lost key is
revoked and replaced.</p>
<p><code id="api-token-key" style="user-select: all; font-size: 1.2em">{{ key }}</code></p>
<p>The integration sends it with every request: <code>Authorization: Token &lt;key&gt;</code>
(or <code>Bearer &lt;key&gt;</code>).</p>
<p><a href="{{ changelist_url }}">Back to the API tokens</a></p>
{% endblock %}
"""


class ApiTokenForm(forms.ModelForm):
    """Refuses a token for a user with permissions the creator lacks: minting a token is
    otherwise a way to act as a superuser."""

    request: HttpRequest

    class Meta:
        model = ApiToken
        fields = ("name", "user", "rate")

    def clean_user(self) -> Any:
        user = self.cleaned_data["user"]
        creator = self.request.user
        if creator.is_superuser:
            return user
        if user.is_superuser or not user.get_all_permissions() <= creator.get_all_permissions():
            raise forms.ValidationError(
                "You may only create tokens for users whose permissions you hold yourself."
            )
        return user


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens of the integrations: create one (its key is shown once), revoke it."""

    form = ApiTokenForm
    list_display = (
        "name",
        "user",
        "key_prefix",
        "rate",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("user",)
    search_fields = ("name", "=key_prefix", "user__username")
    autocomplete_fields = ("user",)
    actions = ["revoke"]
    readonly_fields = ("key_prefix", "created_at", "last_used_at", "revoked_at")

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        if obj is None:
            return ("name", "user", "rate")
        return ("name", "user", "rate", *self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        # Another user would be another token: revoke this one and create that.
        return (*self.readonly_fields, "user") if obj is not None else self.readonly_fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request  # type: ignore[attr-defined]
        return form

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = api_token_create(name=obj.name, user=obj.user, rate=obj.rate)
        # The admin goes on with `obj` (history entry, redirect): make it the saved token.
        obj.pk, obj.key_prefix, obj.key_hash = token.pk, token.key_prefix, token.key_hash
        obj.created_at = token.created_at
        obj._state.adding, obj._state.db = False, token._state.db
        request._new_api_token_key = key  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        key = getattr(request, "_new_api_token_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        page = engines["django"].from_string(KEY_SHOWN_ONCE_PAGE)
        context = {
            **self.admin_site.each_context(request),
            "title": "Copy the new API token's key",
            "token": obj,
            "key": key,
            "changelist_url": reverse("admin:crm_apitoken_changelist"),
        }
        return HttpResponse(page.render(context, request))

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = api_tokens_revoke(token_ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            f"Revoked {revoked} token{'s' if revoked != 1 else ''}; their requests now get 401.",
            messages.SUCCESS,
        )


# --- CSV imports ------------------------------------------------------------------------------


class ImportUploadForm(forms.Form):
    # The kind comes first: browsers send fields in form order, so it is read even when
    # the file after it is refused as too large.
    kind = forms.ChoiceField(choices=import_kinds, help_text="What the file holds.")
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, comma-separated, header row first (as for manage.py import_csv).",
    )


_STATUS_COLOURS: dict[str, str] = {
    ImportJob.Status.QUEUED: "#777",
    ImportJob.Status.RUNNING: "#205493",
    ImportJob.Status.DONE: "#2e7d32",
    ImportJob.Status.FAILED: "#ba2121",
}


def _when(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """CSV files uploaded here ("Import a CSV file") and their imports, run by a worker.

    Jobs are records of what was loaded, by whom: they are never edited or deleted here.
    The upload page streams the file to CRM_IMPORT_DIR (crm.uploads) and refuses one over
    CRM_IMPORT_MAX_BYTES; the job's page shows the progress, then the report and the
    rejects file (bad rows with their line and error) to download.
    """

    change_list_template = "admin/crm/importjob/change_list.html"
    change_form_template = "admin/crm/importjob/change_form.html"
    list_display = [
        "created_at",
        "kind",
        "file_name",
        "size",
        "status_badge",
        "rows_loaded",
        "rows_bad",
        "uploaded_by",
    ]
    list_display_links = ["created_at", "file_name"]
    list_filter = ["status", "kind"]
    list_select_related = ["uploaded_by"]
    search_fields = ["file_name", "=uploaded_by__username"]
    actions = ["run_again"]
    fields = readonly_fields = (
        "kind",
        "file_name",
        "size",
        "uploaded_by",
        "created_at",
        "status_badge",
        "started_at",
        "finished_at",
        "progress",
        "error",
        "bad_rows",
        "summary",
    )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        # CSRF-exempt on the outside only: CsrfViewMiddleware would read the body (with
        # Django's default upload handlers) before the view installs its own; the view
        # checks the token itself once the handler is in place.
        upload = self.admin_site.admin_view(csrf_exempt(self.upload_view))
        rejects = self.admin_site.admin_view(self.rejects_view)
        return [
            path("upload/", upload, name="crm_importjob_upload"),
            path("<int:job_id>/rejects/", rejects, name="crm_importjob_rejects"),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """The admin's "add" links lead to the upload page: a job is made by uploading."""
        return HttpResponseRedirect(reverse("admin:crm_importjob_upload"))

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """The upload page. A body announced larger than the limit is refused before a byte
        of it is read; one that passes the limit while streaming is cut off there. Either
        way the form says so, with a 413, and nothing is left on disk."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return csrf_protect(self._upload_page)(request, ImportUploadForm())
        limit = settings.CRM_IMPORT_MAX_BYTES
        announced = request_too_large(request, limit)
        if announced is not None:
            refused = too_large_message(size=announced, limit=limit)
            return self._upload_page(request, ImportUploadForm(), refused=refused, status=413)
        handler = ImportUploadHandler(
            request, directory=Path(settings.CRM_IMPORT_DIR), max_bytes=limit
        )
        request.upload_handlers = [handler]

        @csrf_protect
        def receive(request: HttpRequest) -> HttpResponse:
            return self._upload_received(request, handler)

        try:
            return receive(request)
        finally:
            handler.discard()  # unless a job claimed the file

    def _upload_received(self, request: HttpRequest, handler: ImportUploadHandler) -> HttpResponse:
        files = request.FILES  # reads the body (if the CSRF check has not): the handler runs
        if handler.too_large:
            form = ImportUploadForm(initial={"kind": request.POST.get("kind")})
            refused = too_large_message(size=None, limit=handler.max_bytes)
            return self._upload_page(request, form, refused=refused, status=413)
        form = ImportUploadForm(request.POST, files)
        if not form.is_valid():
            return self._upload_page(request, form)
        upload = form.cleaned_data["file"]
        assert isinstance(upload, StoredUpload)  # the only upload handler of this view
        job = import_job_create(
            kind=form.cleaned_data["kind"],
            file_name=upload.name or upload.stored_name,
            size_bytes=upload.size or 0,
            upload_name=upload.stored_name,
            uploaded_by=cast(Any, request.user),
        )
        handler.claim()
        self.message_user(
            request,
            f"{job.file_name} ({size_text(job.size_bytes)}) is queued for import; this page "
            "shows its progress.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:crm_importjob_change", args=[job.pk]))

    def _upload_page(
        self,
        request: HttpRequest,
        form: ImportUploadForm,
        *,
        refused: str | None = None,
        status: int = 200,
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Import a CSV file",
            "opts": self.model._meta,
            "form": form,
            "refused": refused,
            "limit": size_text(settings.CRM_IMPORT_MAX_BYTES),
            "kinds": KINDS.values(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/crm/importjob/upload.html", context, status=status)

    def rejects_view(self, request: HttpRequest, job_id: int) -> FileResponse:
        """The job's rejects CSV as a download. The path comes from the job row (a name the
        upload made, checked again by ImportJob.rejects_path), never from the request."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, pk=job_id)
        rejects = job.rejects_path
        finished = job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED)
        if not finished or rejects is None or not rejects.is_file():
            raise Http404("This import has no file of rejected rows.")
        return FileResponse(
            rejects.open("rb"),
            as_attachment=True,
            filename=f"import-{job.pk}-{job.kind}-rejects.csv",
            content_type="text/csv; charset=utf-8",
        )

    @admin.action(description="Run the selected imports again", permissions=["add"])
    def run_again(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        """Queued ones whose message was lost, stalled ones, crashed ones (upload kept)."""
        ids = list(queryset.values_list("pk", flat=True))
        queued = sum(import_job_requeue(job_id=job_id) for job_id in ids)
        if queued:
            self.message_user(request, f"Queued {queued} import(s) again.", messages.SUCCESS)
        if len(ids) > queued:
            self.message_user(
                request,
                f"{len(ids) - queued} could not run again: done, running, or their file is "
                "gone (only a crashed or stalled import keeps it). Upload the file again.",
                messages.WARNING,
            )

    @admin.display(description="size", ordering="size_bytes")
    def size(self, obj: ImportJob) -> str:
        return size_text(obj.size_bytes)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: ImportJob) -> str:
        badge = format_html(
            '<span style="background:{};color:#fff;padding:1px 7px;border-radius:8px">{}</span>',
            _STATUS_COLOURS.get(obj.status, "#777"),
            obj.get_status_display(),
        )
        if obj.status == ImportJob.Status.QUEUED:
            return format_html("{} since {}", badge, _when(obj.created_at))
        if obj.status != ImportJob.Status.RUNNING:
            return badge
        if obj.is_stale:
            return format_html(
                "{} since {}: <strong>no progress since {}</strong>; its worker has probably "
                'stopped. "Run the selected imports again" starts it over.',
                badge,
                _when(obj.started_at),
                _when(obj.heartbeat_at),
            )
        return format_html("{} since {}", badge, _when(obj.started_at))

    @admin.display(description="rows")
    def progress(self, obj: ImportJob) -> str:
        return (
            f"{obj.rows_read:,} read, {obj.rows_loaded:,} loaded, {obj.rows_bad:,} bad"
            if obj.started_at
            else "-"
        )

    @admin.display(description="bad rows")
    def bad_rows(self, obj: ImportJob) -> str:
        deleted_at = obj.report.get("files_deleted_at")
        if deleted_at and obj.rows_bad:
            return (
                f"{obj.rows_bad:,} bad rows. They and the files of this import were deleted "
                f"on {deleted_at[:10]}, {settings.CRM_IMPORT_KEEP_DAYS} days after it "
                "(CRM_IMPORT_KEEP_DAYS): they held customers' data."
            )
        listed = obj.report.get("first_bad") or []
        download = ""
        if obj.rejects_name and obj.finished_at:
            url = reverse("admin:crm_importjob_rejects", args=[obj.pk])
            download = format_html(
                '<p><a href="{}">Download all {} bad rows</a> (CSV: line, error, then the '
                "row as it was; fix it and upload it again as it is)</p>",
                url,
                f"{obj.rows_bad:,}",
            )
        if not listed:
            return download or "-"
        title = f"The first {len(listed)} of {obj.rows_bad:,}" if obj.rows_bad > len(listed) else ""
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((bad.get("line"), bad.get("error")) for bad in listed),
        )
        return format_html(
            "{}<p>{}</p><table><thead><tr><th>line</th><th>error</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            download,
            title,
            rows,
        )

    @admin.display(description="report")
    def summary(self, obj: ImportJob) -> str:
        report = obj.report
        if not report:
            return "-"
        parts = [
            f"{report.get('created', 0):,} created, {report.get('updated', 0):,} updated, "
            f"{report.get('unchanged', 0):,} unchanged in {report.get('seconds', 0)} s"
        ]
        if report.get("skipped"):
            parts.append(f"{report['skipped']:,} customers skipped: erased on request")
        if report.get("duplicates"):
            shown = ", ".join(
                f"line {d['line']} over line {d['earlier_line']} ({d['key']})"
                for d in report.get("first_duplicates", [])[:5]
            )
            parts.append(
                f"{report['duplicates']:,} duplicates, the later row won"
                + (f": {shown}" if shown else "")
            )
        ignored = report.get("ignored_columns") or []
        if ignored:
            more = report.get("ignored_count", len(ignored)) - len(ignored)
            parts.append(
                "ignored columns: " + ", ".join(ignored) + (f" and {more:,} more" if more else "")
            )
        return format_html_join("", "<p>{}</p>", ((part,) for part in parts))
