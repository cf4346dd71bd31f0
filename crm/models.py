"""The shop's facts: customers, their orders, behaviour events, reviews and tickets.

Every record the shop sends us carries the shop's own `external_id`; ingestion upserts on
it, so sending the same record twice updates it instead of duplicating it. Events have no
id of their own and are deduplicated on (customer, kind, occurred_at), which doubles as
the index the churn features aggregate over.

Facts the churn model reads as of a past moment carry their own time: an order's
`returned_at` / `cancelled_at` and each `TicketReopening`. An empty time there means
*unknown* (a row recorded before the CRM kept it, or a count imported without dates); it
never means "now".

"Customer text" (what the sentiment pipeline scores) is a review's title and body, or a
customer-authored ticket message. Each one has a `CustomerText` row so the pipeline has a
single id space to enqueue, sweep and join on, whatever the source.

Also here, besides the facts: ImportJob, a CSV file uploaded in the admin and its import.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


def new_external_id() -> str:
    """An id for records created by hand in the admin, where the shop sent none."""
    return f"crm-{uuid.uuid4().hex[:16]}"


def validate_not_in_future(value: date | datetime | None) -> None:
    """Refuse timestamps more than a day ahead: a clock or parsing error, not a fact."""
    if value is None:
        return
    limit = timezone.now() + timedelta(days=1)
    too_late = value > limit if isinstance(value, datetime) else value > limit.date()
    if too_late:
        raise ValidationError("Lies more than a day in the future.", code="future")


def validate_text_length(value: str) -> None:
    """Texts longer than CRM_MAX_TEXT_LENGTH are refused rather than truncated."""
    limit = settings.CRM_MAX_TEXT_LENGTH
    if value and len(value) > limit:
        raise ValidationError(
            f"Text is {len(value)} characters long; the limit is {limit}.", code="too_long"
        )


# Foreign keys to the customer (and a message's ticket) carry no index of their own: each
# table has a composite index that starts with that column, which serves the same lookups,
# and one index fewer per row matters on bulk imports of millions of rows.


class TimeStamped(models.Model):
    created_in_crm_at = models.DateTimeField(auto_now_add=True)
    updated_in_crm_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Customer(TimeStamped):
    external_id = models.CharField(max_length=64, unique=True, default=new_external_id)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True, db_index=True)
    phone = models.CharField(max_length=40, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code.")
    signed_up_at = models.DateTimeField(validators=[validate_not_in_future])
    marketing_consent = models.BooleanField(default=False)
    is_erased = models.BooleanField(default=False, help_text="Personal fields removed on request.")

    class Meta:
        ordering = ["-signed_up_at"]

    def __str__(self) -> str:
        return f"{self.name or 'Customer'} ({self.external_id})"

    def clean(self) -> None:
        if self.country:
            self.country = self.country.upper()
            if len(self.country) != 2 or not self.country.isalpha():
                raise ValidationError({"country": "Use a two-letter ISO 3166-1 code."})


class OrderQuerySet(models.QuerySet):
    """Delivery lateness as a query, the same rule as Order.is_late (in local dates); the
    orders that count as spend."""

    _known = Q(delivered_at__isnull=False, promised_delivery_date__isnull=False)
    # __date converts with the current time zone, like timezone.localdate in is_late.
    _late = Q(delivered_at__date__gt=F("promised_delivery_date"))

    def late(self) -> OrderQuerySet:
        return self.filter(self._known & self._late)

    def on_time(self) -> OrderQuerySet:
        return self.filter(self._known & ~self._late)

    def lateness_unknown(self) -> OrderQuerySet:
        return self.exclude(self._known)

    def spend_in_year_to(self, at: datetime) -> OrderQuerySet:
        """The orders that count as a customer's spend in the 365 days up to `at`: placed
        in that year and not cancelled (a cancelled order earned the shop nothing)."""
        return self.filter(placed_at__gt=at - timedelta(days=365), placed_at__lte=at).exclude(
            status=Order.Status.CANCELLED
        )


class Order(TimeStamped):
    class Status(models.TextChoices):
        PLACED = "placed"
        DELIVERED = "delivered"
        RETURNED = "returned"
        CANCELLED = "cancelled"

    external_id = models.CharField(max_length=64, unique=True, default=new_external_id)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="orders", db_index=False
    )
    placed_at = models.DateTimeField(validators=[validate_not_in_future])
    total = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(max_length=3, default="EUR")
    item_count = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLACED)
    delivered_at = models.DateTimeField(null=True, blank=True, validators=[validate_not_in_future])
    returned_at = models.DateTimeField(
        null=True,
        blank=True,
        validators=[validate_not_in_future],
        help_text="When the order was returned; empty on a returned order means unknown.",
    )
    cancelled_at = models.DateTimeField(
        null=True,
        blank=True,
        validators=[validate_not_in_future],
        help_text="When the order was cancelled; empty on a cancelled order means unknown.",
    )
    promised_delivery_date = models.DateField(null=True, blank=True)
    coupon_code = models.CharField(max_length=40, blank=True)

    objects = OrderQuerySet.as_manager()

    # The status each time belongs to: only a returned order has a return time.
    STATUS_TIMES = {Status.RETURNED: "returned_at", Status.CANCELLED: "cancelled_at"}

    class Meta:
        ordering = ["-placed_at"]
        indexes = [models.Index(fields=["customer", "placed_at"], name="order_customer_time")]

    def __str__(self) -> str:
        return self.external_id

    def clean(self) -> None:
        if self.currency:
            self.currency = self.currency.upper()
        errors = {}
        if self.delivered_at and self.placed_at and self.delivered_at < self.placed_at:
            errors["delivered_at"] = "Delivered before it was placed."
        for status, name in self.STATUS_TIMES.items():
            when = getattr(self, name)
            if when is None:
                continue
            if self.status != status:
                errors[name] = f"Only a {status} order has this time; the status is {self.status}."
            elif self.placed_at and when < self.placed_at:
                errors[name] = f"{status.label} before it was placed."
        if errors:
            raise ValidationError(errors)

    def settle_status_times(self, stored: Mapping[str, Any] | None) -> list[str]:
        """Fill in returned_at / cancelled_at for the status this order is about to be saved with.

        Call before saving, with this order carrying the new status and the times the caller
        was given (None: none given), and `stored` the row as stored (its "status",
        "returned_at" and "cancelled_at"; None for a new order). For each of the two times:

        * given: it stands (clean() refuses it on an order without that status);
        * the order becomes returned (a new order, or another status before) and no time was
          given: now, the moment the CRM learns of it;
        * the order stays returned and no time was given: the stored time (None: unknown);
        * the order is not returned: None, so a time is dropped when its status is left.

        Returns the names of the fields it set.
        """
        previous = stored["status"] if stored is not None else None
        changed = []
        for status, name in self.STATUS_TIMES.items():
            if getattr(self, name) is not None or self.status != status:
                continue
            if previous == status:
                assert stored is not None
                setattr(self, name, stored[name])
            else:
                setattr(self, name, timezone.now())
            changed.append(name)
        return changed

    @property
    def is_late(self) -> bool | None:
        """Whether delivery missed its promised date; None when either date is unknown."""
        if not self.promised_delivery_date or not self.delivered_at:
            return None
        return timezone.localdate(self.delivered_at) > self.promised_delivery_date


class Event(models.Model):
    class Kind(models.TextChoices):
        VISIT = "visit"
        PRODUCT_VIEW = "product_view"
        ADD_TO_CART = "add_to_cart"
        SEARCH = "search"
        WISHLIST = "wishlist"
        LOGIN = "login"

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    occurred_at = models.DateTimeField(validators=[validate_not_in_future])
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            # The natural key, and the index for per-customer, per-kind time-range
            # aggregation over tens of millions of rows (customer first, then kind, then time).
            models.UniqueConstraint(
                fields=["customer", "kind", "occurred_at"], name="event_natural_key"
            ),
        ]
        indexes = [
            # Per-customer time ranges across all kinds ("days since last visit").
            models.Index(fields=["customer", "occurred_at"], name="event_customer_time"),
            # Newest-first lists and date drill-down across all customers (admin, API).
            models.Index(fields=["occurred_at"], name="event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} at {self.occurred_at:%Y-%m-%d %H:%M}"


class Review(TimeStamped):
    external_id = models.CharField(max_length=64, unique=True, default=new_external_id)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="reviews", db_index=False
    )
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="reviews"
    )
    product_ref = models.CharField("product reference", max_length=100, blank=True)
    rating = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    title = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True, validators=[validate_text_length])
    created_at = models.DateTimeField(validators=[validate_not_in_future])

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["customer", "created_at"], name="review_customer_time")]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__gte=1) & Q(rating__lte=5), name="review_rating_1_to_5"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.title or self.external_id}"

    def clean(self) -> None:
        if self.order and self.customer_id and self.order.customer_id != self.customer_id:
            raise ValidationError({"order": "That order belongs to another customer."})

    @property
    def text(self) -> str:
        """The customer text scored for this review: title and body."""
        return "\n".join(part for part in (self.title.strip(), self.body.strip()) if part)


class Ticket(TimeStamped):
    class Channel(models.TextChoices):
        EMAIL = "email"
        CHAT = "chat"
        PHONE = "phone"
        WEB = "web"

    class Status(models.TextChoices):
        OPEN = "open"
        PENDING = "pending"
        SOLVED = "solved"
        CLOSED = "closed"

    class Priority(models.IntegerChoices):
        LOW = 1
        NORMAL = 2
        HIGH = 3
        URGENT = 4

    external_id = models.CharField(max_length=64, unique=True, default=new_external_id)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="tickets", db_index=False
    )
    subject = models.CharField(max_length=300)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    opened_at = models.DateTimeField(validators=[validate_not_in_future])
    solved_at = models.DateTimeField(null=True, blank=True, validators=[validate_not_in_future])
    reopened_count = models.PositiveIntegerField(
        default=0,
        help_text="Times the ticket went from solved/closed back to open or pending: the "
        "number of its reopenings, kept in step with them.",
    )
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )

    CLOSED_STATUSES = (Status.SOLVED, Status.CLOSED)

    class Meta:
        ordering = ["-opened_at"]
        indexes = [
            models.Index(fields=["customer", "opened_at"], name="ticket_customer_time"),
            models.Index(fields=["status", "priority"], name="ticket_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} ({self.external_id})"

    def clean(self) -> None:
        if self.solved_at and self.opened_at and self.solved_at < self.opened_at:
            raise ValidationError({"solved_at": "Solved before it was opened."})

    @property
    def is_open(self) -> bool:
        return self.status not in self.CLOSED_STATUSES

    def is_reopened_from(self, previous_status: str | None) -> bool:
        """Whether moving from `previous_status` to this ticket's status is a reopen."""
        return previous_status in self.CLOSED_STATUSES and self.status not in self.CLOSED_STATUSES

    def note_status_change(self, previous_status: str | None) -> list[str]:
        """Count a move from solved/closed back to open or pending as a reopen.

        Call before saving, with the status the row had; returns the fields it changed so
        the caller can add them to update_fields. The caller records the TicketReopening
        (crm.services.ticket_reopenings_create) once the ticket is saved, in the same transaction.
        """
        if self.is_reopened_from(previous_status):
            self.reopened_count += 1
            self.solved_at = None
            return ["reopened_count", "solved_at"]
        return []


class TicketReopening(models.Model):
    """One move of a ticket from solved/closed back to open or pending, with its time.

    History, never edited: the ticket's `reopened_count` is the number of these rows.
    `reopened_at` is empty when the time is unknown: reopens counted before the CRM kept
    their times (migration 0004) and reopen counts imported from CSV without dates.
    `recorded_at` is when the CRM learned of it, so a point-in-time reader can still tell
    whether an undated reopen was known at a cutoff.
    """

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="reopenings", db_index=False
    )
    reopened_at = models.DateTimeField(
        null=True, blank=True, validators=[validate_not_in_future], help_text="Empty: unknown."
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["reopened_at", "pk"]
        indexes = [models.Index(fields=["ticket", "reopened_at"], name="reopening_ticket_time")]

    def __str__(self) -> str:
        when = f"{self.reopened_at:%Y-%m-%d %H:%M}" if self.reopened_at else "an unknown time"
        return f"reopened at {when}"


class TicketMessage(TimeStamped):
    class Author(models.TextChoices):
        CUSTOMER = "customer"
        AGENT = "agent"

    external_id = models.CharField(max_length=64, unique=True, default=new_external_id)
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    author_kind = models.CharField(max_length=8, choices=Author.choices, default=Author.CUSTOMER)
    author_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ticket_messages",
    )
    body = models.TextField(blank=True, validators=[validate_text_length])
    created_at = models.DateTimeField(validators=[validate_not_in_future])

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="message_ticket_time")]

    def __str__(self) -> str:
        return f"{self.author_kind} message on {self.ticket_id}"

    @property
    def text(self) -> str:
        return self.body.strip()


def text_digest(text: str) -> str:
    """The content hash a score is tied to: an edited text is a new text to score."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CustomerText(models.Model):
    """One piece of customer-written text that the sentiment pipeline scores.

    Exactly one of `review` / `message` is set. `content_hash` changes when the text is
    edited, which is how the pipeline knows an old score no longer applies.
    """

    class Source(models.TextChoices):
        REVIEW = "review"
        TICKET_MESSAGE = "ticket_message"

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="texts", db_index=False
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    review = models.OneToOneField(
        Review, on_delete=models.CASCADE, null=True, blank=True, related_name="customer_text"
    )
    message = models.OneToOneField(
        TicketMessage,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="customer_text",
    )
    written_at = models.DateTimeField()
    content_hash = models.CharField(max_length=64)
    is_empty = models.BooleanField(default=False, help_text="Nothing to score: blank text.")

    class Meta:
        ordering = ["-written_at"]
        indexes = [
            models.Index(fields=["customer", "written_at"], name="text_customer_time"),
            # The voice dashboard's live week and recent-text lists: texts by time.
            models.Index(fields=["written_at"], name="text_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(source="review", review__isnull=False, message__isnull=True)
                    | Q(source="ticket_message", review__isnull=True, message__isnull=False)
                ),
                name="text_has_exactly_one_source",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} text #{self.pk}"

    @property
    def text(self) -> str:
        """The text itself, read from its source (select_related review and message)."""
        if self.review is not None:
            return self.review.text
        if self.message is not None:
            return self.message.text
        return ""  # unreachable: the check constraint requires one source


class CustomerNote(models.Model):
    """A note an agent keeps on a customer (what was promised, what to avoid): shown on the
    customer's page in the timeline, never sent anywhere."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    body = models.TextField(validators=[validate_text_length])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="note_customer_time")]

    def __str__(self) -> str:
        return f"Note on {self.customer_id}"


class Erasure(models.Model):
    """The audit trail of one erasure of a customer's personal data (crm.privacy).

    Who erased whom and when, and how many rows of each kind were deleted or blanked, so a
    data-protection request can be proven to have been carried out. It names the customer
    only by the shop's `external_id` (the key the shop itself sent, needed to answer the
    request) and holds nothing else personal. Erasing an already erased customer writes
    another entry: each request is on record.
    """

    # The audit outlives the customer's row: deleting it later keeps the external id here.
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, related_name="erasures"
    )
    customer_external_id = models.CharField(max_length=64)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The user who asked for it; empty on the command line.",
    )
    erased_by_name = models.CharField(
        max_length=150, help_text="Who erased it, kept even if that user is deleted."
    )
    erased_at = models.DateTimeField(default=timezone.now)
    via = models.CharField(max_length=16, help_text="Where the erasure was asked for.")
    counts = models.JSONField(
        default=dict, blank=True, help_text="Rows deleted or blanked, by kind."
    )

    class Meta:
        ordering = ["-erased_at"]
        permissions = [
            ("export_customer", "Can export everything held about a customer"),
            ("erase_customer", "Can erase a customer's personal data"),
        ]

    def __str__(self) -> str:
        return f"Erasure of {self.customer_external_id} at {self.erased_at:%Y-%m-%d %H:%M}"


# A DRF throttle rate: a count per second, minute, hour or day ("120/min").
RATE_PATTERN = r"^[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)$"


class ApiToken(models.Model):
    """The key one integration (a shop system, a sync job) uses to call the API.

    The integration acts as `user`, with that user's permissions; give each integration
    its own user holding just the permissions it needs. Only a SHA-256 of the key is
    stored: the key itself is shown once, when the token is created (crm.api.tokens), and
    cannot be recovered, only revoked and replaced. `key_prefix` (its first characters)
    lets people tell tokens apart without revealing them.
    """

    name = models.CharField(max_length=100, help_text="The integration, e.g. 'Shop ERP sync'.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="The integration acts as this user, with its permissions.",
    )
    key_prefix = models.CharField(max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    rate = models.CharField(
        max_length=20,
        blank=True,
        validators=[
            RegexValidator(
                RATE_PATTERN, message="Give requests per period, e.g. 120/min, 10/s, 5000/day."
            )
        ],
        help_text="Requests allowed per period, e.g. 120/min; empty: the default rate "
        "(API_TOKEN_RATE).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    # last_used_at is written at most this often per token: a busy integration must not
    # turn every API read into a write.
    LAST_USED_PRECISION = timedelta(minutes=1)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @staticmethod
    def hash_key(key: str) -> str:
        """The stored form of a key. A fast hash is enough: keys are long and random, so
        there is no dictionary to try, unlike passwords."""
        return hashlib.sha256(key.encode()).hexdigest()

    def mark_used(self) -> None:
        """Record that the token was just used, unless that was recorded within the last
        LAST_USED_PRECISION; one UPDATE of that column only, so it races with nothing."""
        now = timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < self.LAST_USED_PRECISION:
            return
        ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
        self.last_used_at = now


def import_kinds() -> list[tuple[str, str]]:
    """The kinds of CSV file crm.importers loads, as choices (read when used: the importers
    import this module)."""
    from crm.importers import KINDS

    return [(name, name.replace("_", " ")) for name in KINDS]


# An upload's stored file name: made by crm.uploads, never taken from a request.
STORED_IMPORT_NAME = r"^[0-9a-f]{32}(-rejects)?\.csv$"


class ImportJobQuerySet(models.QuerySet):
    def claimable(self, now: datetime) -> ImportJobQuerySet:
        """Jobs a worker may start: queued, or running without progress for STALE_AFTER
        (their worker died; the import is idempotent, so starting it over is safe)."""
        stale = now - ImportJob.STALE_AFTER
        return self.filter(
            Q(status=ImportJob.Status.QUEUED)
            | Q(status=ImportJob.Status.RUNNING, heartbeat_at__lt=stale)
        )


class ImportJob(models.Model):
    """One CSV file uploaded in the admin and its import by a worker (crm.services).

    queued -> running -> done or failed; every move is a conditional UPDATE, so a duplicate
    task delivery starts nothing. The upload and the rejects CSV (bad rows with their line
    and error) live in CRM_IMPORT_DIR under random names crm.uploads made; only names of
    that form are ever opened (`upload_path`, `rejects_path`), and the admin serves the
    rejects file from this row, never from a path in the request.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    # A running job whose last batch is older than this has lost its worker. A batch of
    # 2,000 rows takes about a second; ten minutes leaves room for a slow one.
    STALE_AFTER = timedelta(minutes=10)

    kind = models.CharField(max_length=32, choices=import_kinds)
    file_name = models.CharField(max_length=255, help_text="The name of the uploaded file.")
    size_bytes = models.PositiveBigIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=8, choices=Status, default=Status.QUEUED)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When the running import last finished a batch."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_read = models.PositiveBigIntegerField(default=0)
    rows_loaded = models.PositiveBigIntegerField(default=0)
    rows_bad = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the import failed.")
    report = models.JSONField(
        default=dict, blank=True, help_text="Counts, ignored columns, the first bad rows."
    )
    upload_name = models.CharField(
        max_length=64,
        blank=True,
        validators=[RegexValidator(STORED_IMPORT_NAME)],
        help_text="The stored upload in CRM_IMPORT_DIR; empty once deleted.",
    )
    rejects_name = models.CharField(
        max_length=64,
        blank=True,
        validators=[RegexValidator(STORED_IMPORT_NAME)],
        help_text="The rejects CSV in CRM_IMPORT_DIR; empty when there were no bad rows.",
    )

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "CSV import"

    def __str__(self) -> str:
        return f"{self.file_name} ({self.kind}, {self.created_at:%Y-%m-%d %H:%M})"

    @property
    def upload_path(self) -> Path | None:
        return _stored_import_path(self.upload_name)

    @property
    def rejects_path(self) -> Path | None:
        return _stored_import_path(self.rejects_name)

    @property
    def is_stale(self) -> bool:
        """Running, but no batch finished for STALE_AFTER: its worker has probably died."""
        return (
            self.status == self.Status.RUNNING
            and self.heartbeat_at is not None
            and self.heartbeat_at < timezone.now() - self.STALE_AFTER
        )


def _stored_import_path(name: str) -> Path | None:
    """The file `name` in CRM_IMPORT_DIR; None for an empty or malformed name, so that a
    tampered row cannot point anywhere else."""
    if not name or not re.fullmatch(STORED_IMPORT_NAME, name):
        return None
    return Path(settings.CRM_IMPORT_DIR) / name
