"""Bulk CSV import of the shop's records: one declarative spec per kind, one streaming loader.

`import_csv(kind=..., path=...)` reads a CSV file row by row and loads it in batches
(default 2,000 rows), each batch in its own transaction:

* **Refused up front.** Before any row is read, the first 8 KB are sniffed (`_sniff`): an
  archive or compressed file (ZIP, gzip, bzip2, xz, 7z, zstd, RAR), an Excel workbook
  (xlsx is a ZIP, xls an OLE file), a PDF, UTF-16/32 text, or NUL bytes in the header
  line or in bulk (a binary file, a preallocated file of zeros) stop the import with an
  ImportFileError that says what the file is. Nothing is ever decompressed, so a zip bomb
  renamed .csv costs one 8 KB read. A header wider than CRM_IMPORT_MAX_COLUMNS is refused
  too. Nothing is loaded then.
* **Streaming.** Only the current batch is held in memory; bad rows go straight to the
  rejects file; the keys already loaded (to report duplicates across batches) live in a
  temporary table, not in a Python set. Memory stays flat whatever the file size, and
  whatever its lines: a field longer than the field size limit is a bad row (an unclosed
  quote cannot swallow the rest of the file), a physical line longer than four times
  that limit is skipped to its end piece by piece without ever being held whole (a 2 GB
  file without a newline), and a batch also ends once its lines reach
  MAX_BATCH_CHARACTERS, so rows near those limits, or of thousands of fields, cannot pile
  up by the batch. Blank lines and lines of commas only are skipped.
* **Validation reuses the models.** Each cell is parsed into a Python value (the only rules
  here are *formats*: ISO 8601, `.` decimals, booleans...), then an unsaved instance is
  checked with `full_clean()`: field choices, validators (future dates, text length,
  rating 1-5, non-negative totals) and the model's own `clean()` are the same as for the
  API and the admin.
* **References in bulk.** Columns holding another record's external id (`customer`,
  `order`, `ticket`) or an agent's username are resolved with one query per column per
  batch. An unknown id makes the row bad; a record is never invented. Each batch commits
  before the next one resolves, so a file may refer to records of earlier batches.
* **Idempotent upserts.** Rows are matched on their `external_id` (events: on the natural
  key customer, kind, occurred_at). Existing rows are read first (one query) so that rows
  that would not change are not written at all; new and changed rows go through
  `bulk_create(update_conflicts=True)`. Re-running a file changes nothing, not even
  `updated_in_crm_at`. Columns absent from the file are left alone on update.
* **Texts.** After a batch of reviews or ticket messages is written, their CustomerText
  rows are synced and the changed ones announced once per batch after commit
  (crm.texts), so the pipeline gets one notification per batch, not one per row.
* **Activity.** The customers of a batch's new and changed orders and tickets are announced
  once per batch after commit (crm.activity), for the churn model to re-score.
* **Point-in-time facts.** An order that becomes returned or cancelled without a time in
  the file is dated at the import (Order.settle_status_times, as for the API). A ticket
  moved from solved/closed back to open records a reopening dated at the import; a
  `reopened_count` above the reopenings recorded adds undated ones (see _ticket_merge).

Cells are read as our own CSV writers write them (crm.csvsafe): a cell starting with
quotes before `=`, `+`, `-`, `@`, a tab or a carriage return loses one quote (`'=SUM(A1)`
is the text `=SUM(A1)`), everywhere, header included (`_records`). That is how the rejects
file, and any CSV we produce, keeps a spreadsheet from running customers' text as a
formula; a rejects file fixed and imported again so restores the original text exactly.
A text that truly starts with `'=` must be written `''=` (our writers do that).

Timestamps are ISO 8601 (`2025-03-01T10:00:00Z`, `2025-03-01 10:00:00+01:00`) or plain
dates (`2025-03-01`, midnight). A timestamp without an offset is taken as **UTC**, whatever
TIME_ZONE says, so the same file means the same instants on every server.
"""

from __future__ import annotations

import csv
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    connection,
    models,
    reset_queries,
    transaction,
)
from django.utils import timezone

from crm.activity import announce_activity
from crm.csvsafe import safe_writer, unescape
from crm.models import Customer, Event, Order, Review, Ticket, TicketMessage, TimeStamped
from crm.services import ticket_reopenings_create
from crm.texts import announce_texts, sync_message_texts, sync_review_texts

DEFAULT_BATCH_SIZE = 2_000
# Every per-batch lookup is a single `IN (...)` query. SQLite >= 3.32 accepts 32,766
# parameters per statement (and >= 3.35 is needed anyway for RETURNING on upserts);
# the events lookup uses two lists of batch size, hence this cap.
MAX_BATCH_SIZE = 10_000
REPORTED_BAD_ROWS = 20
REPORTED_DUPLICATES = 20
# A field longer than this is a bad row. The limit also stops a stray, unclosed quote from
# reading the rest of a 1 GB file into a single field.
MIN_FIELD_SIZE_LIMIT = 1_000_000
# A physical line of four times the field limit (at least this) is a bad row, skipped
# without being held: no honest row comes near it (it holds one or two texts, each at most
# half the field limit), and it bounds what one line costs to a few MB.
MIN_LINE_LIMIT = 4 * MIN_FIELD_SIZE_LIMIT
# A batch ends at batch_size rows or once its lines hold this many characters, whichever
# comes first: the rows of a batch are in memory until it is written, and a row near the
# line limit, or one of 10,000 fields (about 60 bytes of Python objects each), costs a
# thousand times an ordinary one.
MAX_BATCH_CHARACTERS = 8_000_000
# How much of the file is looked at to recognise a binary or compressed file.
SNIFF_BYTES = 8192


class ImportFileError(Exception):
    """The file cannot be imported at all (not CSV text, unusable header); nothing was loaded.

    The message is for the person who chose the file: it says what is wrong and what to do.
    """


class LineTooLong(Exception):
    """A physical line reached the line limit; it was skipped to its end without being kept."""

    def __init__(self, number: int, limit: int) -> None:
        super().__init__(f"line {number} is longer than {limit:,} characters")
        self.number = number
        self.limit = limit


class CellError(ValueError):
    """A cell that cannot be turned into a value; the message is the reason shown to the user."""


# --- Cell parsers: text in, Python value out, CellError with a reason otherwise --------------
# An empty cell never reaches a parser: it means "the model's default" (or "missing" for a
# required column), see _Loader._parse.


def _shorten(cell: str, width: int = 40) -> str:
    return cell if len(cell) <= width else cell[: width - 1] + "…"


def parse_text(cell: str) -> str:
    """Free text, kept as written (leading and trailing spaces included)."""
    return cell


def parse_string(cell: str) -> str:
    """A short value (name, code, id): surrounding spaces removed."""
    return cell.strip()


def parse_choice(cell: str) -> str:
    """A choice value, case-insensitive; the model field's choices decide what is valid."""
    return cell.strip().lower()


def parse_datetime(cell: str) -> datetime:
    """ISO 8601 date-time or plain date, returned aware in UTC; a naive value *is* UTC."""
    try:
        value = datetime.fromisoformat(cell.strip())
    except ValueError:
        raise CellError(
            f"'{_shorten(cell)}' is not a date/time "
            "(use ISO 8601, e.g. 2025-03-01T10:00:00Z or 2025-03-01)"
        ) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_date(cell: str) -> date:
    """A calendar date, YYYY-MM-DD."""
    try:
        return date.fromisoformat(cell.strip())
    except ValueError:
        raise CellError(f"'{_shorten(cell)}' is not a date (use YYYY-MM-DD)") from None


def parse_decimal(cell: str) -> Decimal:
    """A decimal number with `.` as the separator and no thousands separator."""
    try:
        value = Decimal(cell.strip())
    except InvalidOperation:
        raise CellError(
            f"'{_shorten(cell)}' is not a number (use . as the decimal separator)"
        ) from None
    if not value.is_finite():
        raise CellError(f"'{_shorten(cell)}' is not a finite number")
    return value


def parse_integer(cell: str) -> int:
    """A whole number."""
    try:
        return int(cell.strip())
    except ValueError:
        raise CellError(f"'{_shorten(cell)}' is not a whole number") from None


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def parse_boolean(cell: str) -> bool:
    """true/false, 1/0 or yes/no, case-insensitive."""
    try:
        return _BOOLEANS[cell.strip().lower()]
    except KeyError:
        raise CellError(
            f"'{_shorten(cell)}' is not a boolean (use true/false, 1/0, yes/no)"
        ) from None


_PRIORITIES = {priority.label.lower(): priority.value for priority in Ticket.Priority}


def parse_priority(cell: str) -> int:
    """A ticket priority by name (low, normal, high, urgent) or number (1-4)."""
    value = cell.strip().lower()
    if value in _PRIORITIES:
        return _PRIORITIES[value]
    try:
        return int(value)  # out-of-range numbers are refused by the field's choices
    except ValueError:
        raise CellError(
            f"'{_shorten(cell)}' is not a priority (use low, normal, high, urgent or 1-4)"
        ) from None


def parse_json_object(cell: str) -> dict:
    """A JSON object such as {"sku": "A-1"}."""
    try:
        value = json.loads(cell)
    except json.JSONDecodeError as exc:
        raise CellError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, dict):
        raise CellError("must be a JSON object ({...})")
    return value


# --- References: one query per column per batch ----------------------------------------------


def _customers(ids: set[str]) -> dict[str, int]:
    return dict(Customer.objects.filter(external_id__in=ids).values_list("external_id", "pk"))


def _orders(ids: set[str]) -> dict[str, Order]:
    # Review.clean() compares the order's customer with the review's: hand it a partial
    # Order that carries customer_id so the check costs no query.
    rows = Order.objects.filter(external_id__in=ids).values_list("external_id", "pk", "customer_id")
    return {
        external_id: Order(pk=pk, customer_id=customer_id) for external_id, pk, customer_id in rows
    }


def _tickets(ids: set[str]) -> dict[str, int]:
    return dict(Ticket.objects.filter(external_id__in=ids).values_list("external_id", "pk"))


class Refused(str):
    """What a reference resolves to when the record exists but may not be used: why."""


def _erased(external_id: str) -> Refused:
    return Refused(
        f"customer '{_shorten(external_id)}' was erased at their request; their texts are "
        "not stored again"
    )


def _text_customers(ids: set[str]) -> dict[str, int | Refused]:
    """Customers a review may belong to: an erased one's new texts are refused (as by the
    API), so an old export replayed cannot bring them back."""
    rows = Customer.objects.filter(external_id__in=ids)
    return {
        external_id: _erased(external_id) if erased else pk
        for external_id, pk, erased in rows.values_list("external_id", "pk", "is_erased")
    }


def _text_tickets(ids: set[str]) -> dict[str, int | Refused]:
    """Tickets a message may belong to: none of an erased customer (see _text_customers)."""
    rows = Ticket.objects.filter(external_id__in=ids).values_list(
        "external_id", "pk", "customer__external_id", "customer__is_erased"
    )
    return {
        external_id: _erased(customer) if erased else pk
        for external_id, pk, customer, erased in rows
    }


def _agents(usernames: set[str]) -> dict[str, int]:
    users = get_user_model()._default_manager
    return dict(users.filter(username__in=usernames).values_list("username", "pk"))


@dataclass(frozen=True)
class Reference:
    """How a column naming another record becomes a foreign key."""

    label: str  # in messages: "unknown customer 'X'"
    resolve: Callable[[set[str]], dict[str, Any]]  # batch values -> pk or partial instance
    attribute: str  # model constructor keyword the resolved value goes to


# --- The declarative spec ----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One CSV column: the model field of the same name, how to parse it, what it means."""

    name: str
    doc: str
    parse: Callable[[str], Any] = parse_string
    required: bool = False
    reference: Reference | None = None
    # Value for an empty cell (and for new rows when the column is absent); None means the
    # model field's own default.
    default: Callable[[], Any] | None = None


def _keep(instance: models.Model, existing: dict[str, Any] | None, present: frozenset) -> bool:
    return True


# A written row with the row as stored before (None: it is new).
Written = list[tuple[Any, dict[str, Any] | None]]


@dataclass(frozen=True)
class Kind:
    """Everything the loader needs to know about one kind of record."""

    name: str
    model: type[models.Model]
    doc: str
    columns: tuple[Column, ...]
    # Model fields identifying a record: the upsert's conflict target and the duplicate key.
    key: tuple[str, ...] = ("external_id",)
    # Adjusts an instance against the stored row (None for a new record) before comparing
    # and writing; returns False to leave the stored row alone. Gets the set of columns
    # present in the file.
    merge: Callable[[models.Model, dict[str, Any] | None, frozenset[str]], bool] = _keep
    # Extra fields `merge` reads from the stored row, and those it may write.
    merge_reads: tuple[str, ...] = ()
    merge_writes: Callable[[frozenset[str]], tuple[str, ...]] = lambda present: ()
    # Whether the stored rows are locked until the batch commits (see _Loader._stored).
    lock_stored: bool = False
    # Runs in the batch's transaction after its rows are written (with their pks).
    after_write: Callable[[Written, frozenset[str]], None] | None = None
    # Columns that only make sense with another column: {"returned_at": "status"}.
    needs: tuple[tuple[str, str], ...] = ()
    # Keeps CustomerText in step with the saved rows; returns the ids to announce.
    sync_texts: Callable[[list[Any]], list[int]] | None = None
    # Columns the text depends on (besides required ones). When one is absent from the
    # file, the stored value stands, so the texts are synced from the rows as stored.
    text_columns: tuple[str, ...] = ()

    @property
    def required(self) -> list[str]:
        return [column.name for column in self.columns if column.required]

    def describe_columns(self) -> str:
        """`external_id*, customer*, ...`, as in error messages and --help."""
        return ", ".join(f"{c.name}{'*' if c.required else ''}" for c in self.columns)


def _customer_merge(
    instance: models.Model, existing: dict[str, Any] | None, present: frozenset
) -> bool:
    # An erased customer asked for their personal data to be removed: an old export must not
    # bring it back. Their row is skipped (and counted); their orders and reviews still load.
    return existing is None or not existing["is_erased"]


def _order_merge(
    instance: models.Model, existing: dict[str, Any] | None, present: frozenset
) -> bool:
    # Returned and cancelled times as for the API (Order.settle_status_times): an order
    # that becomes returned with no time in the file is dated now, one that stays returned
    # keeps its stored time, so re-running the file changes nothing. Without a status
    # column (then the file has no time columns either) status and times are left alone.
    if "status" in present:
        assert isinstance(instance, Order)
        instance.settle_status_times(existing)
    return True


def _announce_customers(written: Written, present: frozenset) -> None:
    # Customers of the written rows, and the former customer of a row that moved.
    ids = {instance.customer_id for instance, _ in written}
    ids.update(stored["customer_id"] for _, stored in written if stored is not None)
    announce_activity(ids)


def _ticket_merge(
    instance: models.Model, existing: dict[str, Any] | None, present: frozenset
) -> bool:
    # The reopen rule of the model (Ticket.note_status_change), as for the API and the admin,
    # and the shop's own count when the file has a reopened_count column: the count becomes
    # the larger of the two (reopenings are history, never deleted). A new ticket takes the
    # file's count as it is. _ticket_reopenings records the difference.
    # A file whose rows for one ticket close and then reopen it, in different batches,
    # counts that reopen again on every re-run: each batch is a state the shop sent.
    assert isinstance(instance, Ticket)
    if existing is None:
        return True
    given = instance.reopened_count  # 0 when the column is absent or the cell empty
    instance.reopened_count = existing["reopened_count"]
    if "status" in present:
        if "solved_at" not in present:
            instance.solved_at = existing["solved_at"]
        instance.note_status_change(existing["status"])
    instance.reopened_count = max(instance.reopened_count, given)
    return True


def _ticket_reopenings(written: Written, present: frozenset) -> None:
    # One reopening per unit the count rose by: a move back to open seen in this row is
    # dated now, like a reopen through the API; the rest of a count the file raised (a
    # new ticket's count, a count from the shop's own tool) have no known time.
    now = timezone.now()
    times: dict[int, list[datetime | None]] = {}
    for ticket, stored in written:
        new = ticket.reopened_count - (stored["reopened_count"] if stored else 0)
        if new <= 0:
            continue
        seen = (
            stored is not None and "status" in present and ticket.is_reopened_from(stored["status"])
        )
        dated = 1 if seen else 0
        times[ticket.pk] = [now] * dated + [None] * (new - dated)
    ticket_reopenings_create(times_by_ticket=times)
    _announce_customers(written, present)


CUSTOMER = Reference("customer", _customers, "customer_id")

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            name="customers",
            model=Customer,
            doc="Customers; an erased customer is never re-imported.",
            columns=(
                Column("external_id", "The shop's customer id.", required=True),
                Column("signed_up_at", "Sign-up time.", parse_datetime, required=True),
                Column("name", "Full name."),
                Column("email", "E-mail address."),
                Column("phone", "Phone number."),
                Column("country", "ISO 3166-1 alpha-2 code, e.g. DE."),
                Column(
                    "marketing_consent", "true/false, 1/0, yes/no; empty = false.", parse_boolean
                ),
            ),
            merge=_customer_merge,
            merge_reads=("is_erased",),
            lock_stored=True,
        ),
        Kind(
            name="orders",
            model=Order,
            doc="Orders of known customers.",
            columns=(
                Column("external_id", "The shop's order id.", required=True),
                Column(
                    "customer", "The customer's external id.", required=True, reference=CUSTOMER
                ),
                Column("placed_at", "When the order was placed.", parse_datetime, required=True),
                Column(
                    "total", "Order total, e.g. 49.90; not negative.", parse_decimal, required=True
                ),
                Column(
                    "currency",
                    "ISO 4217 code; empty = CRM_DEFAULT_CURRENCY.",
                    default=lambda: settings.CRM_DEFAULT_CURRENCY,
                ),
                Column("item_count", "Number of items; empty = 1.", parse_integer),
                Column(
                    "status",
                    "placed, delivered, returned or cancelled; empty = placed.",
                    parse_choice,
                ),
                Column("delivered_at", "Delivery time.", parse_datetime),
                Column(
                    "returned_at",
                    "Return time (returned orders only; needs status). Empty: the import's "
                    "time if the order becomes returned, else the stored time.",
                    parse_datetime,
                ),
                Column(
                    "cancelled_at",
                    "Cancellation time (cancelled orders only; needs status). Empty: as for "
                    "returned_at.",
                    parse_datetime,
                ),
                Column(
                    "promised_delivery_date", "Promised delivery date (YYYY-MM-DD).", parse_date
                ),
                Column("coupon_code", "Coupon used, if any."),
            ),
            merge=_order_merge,
            merge_reads=("status", "returned_at", "cancelled_at", "customer_id"),
            merge_writes=lambda present: (
                ("returned_at", "cancelled_at") if "status" in present else ()
            ),
            after_write=_announce_customers,
            needs=(("returned_at", "status"), ("cancelled_at", "status")),
        ),
        Kind(
            name="events",
            model=Event,
            doc="Behaviour events, one per (customer, kind, occurred_at); a repeat updates it.",
            columns=(
                Column(
                    "customer", "The customer's external id.", required=True, reference=CUSTOMER
                ),
                Column(
                    "kind",
                    "visit, product_view, add_to_cart, search, wishlist or login.",
                    parse_choice,
                    required=True,
                ),
                Column("occurred_at", "When it happened.", parse_datetime, required=True),
                Column(
                    "payload", 'A JSON object, e.g. {"sku": "A-1"}; empty = {}.', parse_json_object
                ),
            ),
            key=("customer", "kind", "occurred_at"),
        ),
        Kind(
            name="reviews",
            model=Review,
            doc="Product reviews; title and body are scored by the sentiment pipeline.",
            columns=(
                Column("external_id", "The shop's review id.", required=True),
                Column(
                    "customer",
                    "The customer's external id (not an erased customer's).",
                    required=True,
                    reference=Reference("customer", _text_customers, "customer_id"),
                ),
                Column("rating", "1 to 5.", parse_integer, required=True),
                Column("created_at", "When it was written.", parse_datetime, required=True),
                Column(
                    "order",
                    "External id of the reviewed order (of the same customer).",
                    reference=Reference("order", _orders, "order"),
                ),
                Column("product_ref", "The product's reference (SKU)."),
                Column("title", "Title.", parse_text),
                Column(
                    "body",
                    "Text, at most CRM_MAX_TEXT_LENGTH characters; may be empty.",
                    parse_text,
                ),
            ),
            sync_texts=sync_review_texts,
            text_columns=("title", "body"),
        ),
        Kind(
            name="tickets",
            model=Ticket,
            doc="Support tickets; a move from solved/closed back to open records a reopening.",
            columns=(
                Column("external_id", "The shop's ticket id.", required=True),
                Column(
                    "customer", "The customer's external id.", required=True, reference=CUSTOMER
                ),
                Column("subject", "Subject line.", required=True),
                Column("opened_at", "When it was opened.", parse_datetime, required=True),
                Column("channel", "email, chat, phone or web; empty = email.", parse_choice),
                Column("status", "open, pending, solved or closed; empty = open.", parse_choice),
                Column(
                    "priority", "low, normal, high, urgent or 1-4; empty = normal.", parse_priority
                ),
                Column("solved_at", "When it was solved.", parse_datetime),
                Column(
                    "assigned_agent",
                    "Username of the assigned agent.",
                    reference=Reference("agent", _agents, "assigned_agent_id"),
                ),
                Column(
                    "reopened_count",
                    "The shop's reopen count: adds undated reopenings up to it, never removes "
                    "any. Empty: reopens are counted from status changes only.",
                    parse_integer,
                ),
            ),
            merge=_ticket_merge,
            merge_reads=("status", "reopened_count", "solved_at", "customer_id"),
            merge_writes=lambda present: (
                ("reopened_count", "solved_at") if "status" in present else ()
            ),
            lock_stored=True,
            after_write=_ticket_reopenings,
        ),
        Kind(
            name="ticket_messages",
            model=TicketMessage,
            doc="Messages on tickets; customer-authored ones are scored by the sentiment pipeline.",
            columns=(
                Column("external_id", "The shop's message id.", required=True),
                Column(
                    "ticket",
                    "The ticket's external id.",
                    required=True,
                    reference=Reference("ticket", _text_tickets, "ticket_id"),
                ),
                Column("created_at", "When it was written.", parse_datetime, required=True),
                Column(
                    "body",
                    "Text, at most CRM_MAX_TEXT_LENGTH characters; may be empty.",
                    parse_text,
                ),
                Column("author_kind", "customer or agent; empty = customer.", parse_choice),
                Column(
                    "author_agent",
                    "Username of the agent who wrote it.",
                    reference=Reference("agent", _agents, "author_agent_id"),
                ),
            ),
            sync_texts=sync_message_texts,
            text_columns=("body", "author_kind"),
        ),
    )
}


# --- The report --------------------------------------------------------------------------------


@dataclass
class BadRow:
    line: int  # physical line where the record starts; the header is line 1
    error: str


@dataclass
class Override:
    line: int  # the row that won
    earlier_line: int  # the row it replaced
    key: str


@dataclass
class ImportReport:
    """What an import did. `loaded` counts the rows accepted; a file with none failed."""

    kind: str
    ignored_columns: list[str] = field(default_factory=list)
    rows_read: int = 0
    bad: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    duplicates: int = 0
    batches: int = 0
    seconds: float = 0.0
    first_bad: list[BadRow] = field(default_factory=list)
    first_duplicates: list[Override] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        return self.rows_read - self.bad

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0


# --- The loader ----------------------------------------------------------------------------------


def import_csv(
    *,
    kind: str,
    path: Path,
    rejects_path: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    notify: Callable[[str], None] | None = None,
    on_batch: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Load one CSV file of `kind` (a key of KINDS); return what happened.

    Raises ImportFileError before reading any row if the file is not CSV text (an archive,
    a workbook, a binary or UTF-16 file: see _sniff), is empty, or its header is unusable
    (a required column missing or named twice, more than CRM_IMPORT_MAX_COLUMNS columns);
    nothing is loaded then. Otherwise every row is either loaded or reported as bad (in the
    report, and all of them in `rejects_path`: `line` and `error`, then the row's fields,
    written spreadsheet-safe). `notify` receives one-line notices (ignored columns),
    `on_batch` the running report after each batch.

    Idempotent: loading the same file again writes nothing. Batches commit one by one, so an
    interrupted import leaves the earlier batches loaded; running it again completes it.
    """
    spec = KINDS[kind]
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}")
    report = ImportReport(kind=kind)
    started = time.monotonic()
    with open_csv(path) as source:
        lines = source.lines
        header, positions = _read_header(source.reader, spec)
        report.ignored_columns = [
            name.strip() or "(blank)"
            for index, name in enumerate(header)
            if index not in positions.values()
        ]
        if report.ignored_columns and notify:
            notify(f"Ignoring unknown column(s): {', '.join(report.ignored_columns)}.")
        with _Rejects(rejects_path, header) as rejects, _SeenKeys() as seen:
            loader = _Loader(spec, header, positions, report, rejects, seen)
            batch: list[tuple[int, list[str], str | None]] = []
            batch_start = lines.characters
            for record in source.records():
                report.rows_read += 1
                batch.append(record)
                if (
                    len(batch) >= batch_size
                    or lines.characters - batch_start >= MAX_BATCH_CHARACTERS
                ):
                    loader.load(batch)
                    batch = []
                    batch_start = lines.characters
                    _after_batch(report, on_batch, started)
            if batch:
                loader.load(batch)
                _after_batch(report, on_batch, started)
            loader.flush()
    report.seconds = time.monotonic() - started
    return report


def _after_batch(
    report: ImportReport, on_batch: Callable[[ImportReport], None] | None, started: float
) -> None:
    report.batches += 1
    report.seconds = time.monotonic() - started
    if settings.DEBUG:
        # With DEBUG on, Django keeps the SQL of every query; a long import would grow
        # without bound (and these statements are large).
        reset_queries()
    if on_batch:
        on_batch(report)


@dataclass(frozen=True)
class CsvSource:
    """A CSV file being read with the importer's guards (see open_csv). Read the header
    from `reader` (it raises csv.Error or LineTooLong for an unreadable one), then the rows
    from `records()`; `lines` counts physical lines and characters read."""

    reader: Any
    lines: _Lines

    def records(self) -> Iterator[tuple[int, list[str], str | None]]:
        """(line, fields, error) per row: see _records."""
        return _records(self.reader, self.lines)


@contextmanager
def open_csv(path: Path, *, dialect: str = "excel") -> Iterator[CsvSource]:
    """`path` open for reading as CSV with the limits that keep a hostile file harmless.

    Raises ImportFileError at once for a file that is not CSV text (an archive, a zip bomb,
    a workbook, a binary or UTF-16 file: _sniff). Then a field over the field limit, a line
    over the line limit or a CSV syntax error is one bad row and never held in memory
    whole; undecodable bytes are kept as lone surrogates (errors="surrogateescape") for the
    caller to report.
    """
    _sniff(path)
    field_limit = max(MIN_FIELD_SIZE_LIMIT, 2 * settings.CRM_MAX_TEXT_LENGTH)
    with (
        open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle,
        csv_field_limit(field_limit),
    ):
        lines = _Lines(handle, max(MIN_LINE_LIMIT, 4 * field_limit))
        yield CsvSource(csv.reader(lines, dialect=dialect), lines)


@contextmanager
def csv_field_limit(limit: int) -> Iterator[None]:
    """csv's field size limit set to `limit` within the block (it is process-wide)."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


# --- What is not a CSV --------------------------------------------------------------------------

_ADVICE = "export it as CSV (UTF-8) and upload that. Nothing was loaded."
_PACKED = "unpack it and upload the CSV file inside. Nothing was loaded."
# (first bytes, what the file is, what to do); a file starting so is refused as it is.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (or an Excel workbook)", _ADVICE),
    (b"PK\x05\x06", "an empty ZIP archive", _ADVICE),
    (b"PK\x07\x08", "a ZIP archive (spanned)", _ADVICE),
    (b"\x1f\x8b", "a gzip-compressed file", _PACKED),
    (b"\xfd7zXZ\x00", "an xz-compressed file", _PACKED),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", _PACKED),
    (b"\x28\xb5\x2f\xfd", "a Zstandard-compressed file", _PACKED),
    (b"Rar!\x1a\x07", "a RAR archive", _PACKED),
    (b"%PDF-", "a PDF document", _ADVICE),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an Excel 97-2003 workbook (.xls) or another old Office document",
        _ADVICE,
    ),
    (b"\xff\xfe\x00\x00", "UTF-32 text", "re-export it as CSV UTF-8. Nothing was loaded."),
    (b"\x00\x00\xfe\xff", "UTF-32 text", "re-export it as CSV UTF-8. Nothing was loaded."),
    (b"\xff\xfe", "UTF-16 text", "re-export it as CSV UTF-8. Nothing was loaded."),
    (b"\xfe\xff", "UTF-16 text", "re-export it as CSV UTF-8. Nothing was loaded."),
)
# bzip2: "BZh", the block size, then the magic of a block or of the end of the stream (so
# that a header starting "BZh" is not mistaken for one).
_BZIP2 = re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)")


def _sniff(path: Path) -> None:
    """Refuse a file that is not CSV text, from its first SNIFF_BYTES bytes only.

    Archives, compressed files, workbooks and PDFs are recognised by their signature and
    never opened further: a zip bomb is refused at the cost of an 8 KB read, whatever it
    would expand to. NUL bytes mean UTF-16 (every other byte NUL, as Excel's "Unicode
    text") or binary data (one in the header line, or more than 8 making over 1% of the
    sample: a stray NUL in a data row stays that row's problem, a bad row). An empty file
    passes; the header check reports it.
    """
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    for signature, what, advice in _SIGNATURES:
        if head.startswith(signature):
            if signature == b"PK\x03\x04":
                what = _zip_content(head)
            raise ImportFileError(f"This file is {what}, not a CSV: {advice}")
    if _BZIP2.match(head):
        raise ImportFileError(f"This file is a bzip2-compressed file, not a CSV: {_PACKED}")
    nuls = head.count(0)
    if not nuls:
        return
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if max(even, odd) >= len(head) // 4 and min(even, odd) <= max(even, odd) // 10:
        raise ImportFileError(
            "This file looks like UTF-16 text (every other byte is zero), not a UTF-8 CSV: "
            "re-export it as CSV UTF-8. Nothing was loaded."
        )
    first_line = re.split(rb"[\r\n]", head, maxsplit=1)[0]
    if b"\x00" in first_line or (nuls > 8 and nuls * 100 > len(head)):
        raise ImportFileError(
            "This file is not CSV text: it has NUL bytes near its start (a binary file, or "
            "a file of zeros). Export the data as CSV (UTF-8) and upload that. Nothing was "
            "loaded."
        )


def _zip_content(head: bytes) -> str:
    """What a ZIP file is, from the names of its first entries (stored uncompressed)."""
    if b"xl/" in head or b"[Content_Types].xml" in head:
        return "an Excel workbook (.xlsx, a ZIP archive)"
    if b"application/vnd.oasis.opendocument.spreadsheet" in head:
        return "an OpenDocument spreadsheet (.ods, a ZIP archive)"
    return "a ZIP archive (or an Excel workbook)"


# --- Reading rows -------------------------------------------------------------------------------


class _Lines:
    """The file's physical lines for csv.reader: counted, none held longer than `limit`.

    Iterating a text file returns whole lines, so a 2 GB file without a newline would be
    read into memory before csv's field limit could object. Here a line that reaches
    `limit` characters is read on to its end in pieces of `limit`, dropped, and reported by
    raising LineTooLong; csv.reader passes the exception on and starts afresh on the next
    line. `number` is the last physical line read, `characters` how many were returned.
    """

    __slots__ = ("characters", "limit", "number", "readline")

    def __init__(self, handle: TextIO, limit: int) -> None:
        self.readline = handle.readline
        self.limit = limit
        self.number = 0
        self.characters = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.readline(self.limit)
        if not line:
            raise StopIteration
        self.number += 1
        if len(line) == self.limit and line[-1] not in "\r\n":
            while rest := self.readline(self.limit):
                if rest[-1] in "\r\n":
                    break
            raise LineTooLong(self.number, self.limit)
        self.characters += len(line)
        return line


def _read_header(reader: Any, spec: Kind) -> tuple[list[str], dict[str, int]]:
    """The header as written (spreadsheet escapes removed), and the position of each known
    column (by normalised name)."""
    expected = f"Expected columns for {spec.name}: {spec.describe_columns()} (* = required)."
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(f"The file is empty. {expected}") from None
    except csv.Error as exc:
        raise ImportFileError(f"The header row cannot be read: {exc}. {expected}") from None
    except LineTooLong as exc:
        raise ImportFileError(
            f"The first line is longer than {exc.limit:,} characters: this is not a CSV "
            f"header. {expected} Nothing was loaded."
        ) from None
    limit = settings.CRM_IMPORT_MAX_COLUMNS
    if len(header) > limit:
        raise ImportFileError(
            f"The header has {len(header):,} columns; at most {limit:,} are accepted "
            f"(CRM_IMPORT_MAX_COLUMNS). {expected} Nothing was loaded."
        )
    header = [unescape(name) for name in header]
    if _has_undecodable(header):
        raise ImportFileError(f"The header row is not valid UTF-8. {expected}")
    known = {column.name for column in spec.columns}
    positions: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = raw.strip().lower()
        if name in known:
            if name in positions:
                raise ImportFileError(f"Column '{name}' appears twice in the header. {expected}")
            positions[name] = index
    missing = [name for name in spec.required if name not in positions]
    if missing:
        raise ImportFileError(
            f"Missing required column(s): {', '.join(missing)}. Found: "
            f"{', '.join(header) or '(none)'}. {expected} Nothing was loaded."
        )
    for name, needed in spec.needs:
        if name in positions and needed not in positions:
            raise ImportFileError(
                f"Column '{name}' needs the '{needed}' column as well. {expected} "
                "Nothing was loaded."
            )
    return header, positions


def _records(reader: Any, lines: _Lines) -> Iterator[tuple[int, list[str], str | None]]:
    """(line, fields, error) per record, skipping blank lines (commas only count as blank);
    a CSV syntax error or an overlong line is a bad row without fields.

    `line` is where the record starts (a quoted field may span lines). The fields are cell
    values: a spreadsheet escape (`'=...`) is removed here, for the loader and the rejects
    file alike (crm.csvsafe).
    """
    previous_end = lines.number
    while True:
        line = previous_end + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The reader drops the rest of the faulty line and carries on with the next.
            span = lines.number - line
            where = f" (lines {line} to {lines.number}: an unclosed quote?)" if span else ""
            yield line, [], f"unreadable CSV: {exc}{where}"
        except LineTooLong as exc:
            what = "the line" if exc.number == line else f"line {exc.number}"
            yield line, [], f"unreadable CSV: {what} is longer than {exc.limit:,} characters"
        else:
            if any(fields):
                # One C-level join tells the rows without a quote, nearly all, at no cost.
                if "'" in "".join(fields):
                    fields = [unescape(cell) for cell in fields]
                yield line, fields, None
        previous_end = lines.number


def _has_undecodable(fields: list[str]) -> bool:
    # Bytes that are not UTF-8 were decoded to lone surrogates (errors="surrogateescape"),
    # which cannot be encoded back: one C-level call per row instead of a scan per field.
    try:
        "".join(fields).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _encoding_problem(fields: list[str], header: list[str]) -> str | None:
    """Why a row's text cannot be stored as it is, or None (the common case, checked fast)."""
    joined = "".join(fields)
    if _has_undecodable([joined]):
        return _undecodable_message(fields, header)
    if "\x00" in joined:
        # PostgreSQL refuses NUL in text where SQLite stores it: refuse it on both alike.
        index = next(i for i, value in enumerate(fields) if "\x00" in value)
        column = header[index] if index < len(header) else f"#{index + 1}"
        return f"contains a NUL character in column '{column}'"
    return None


def _undecodable_message(fields: list[str], header: list[str]) -> str:
    for index, value in enumerate(fields):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            column = header[index] if index < len(header) else f"#{index + 1}"
            raw = value.encode("utf-8", "surrogateescape")
            shown = raw if len(raw) <= 40 else raw[:40] + b"..."
            return f"not valid UTF-8 in column '{column}': {shown!r}"
    return "not valid UTF-8"


class _Rejects:
    """The optional rejects CSV: `line`, `error`, then the row's fields as they were read.

    Written spreadsheet-safe (crm.csvsafe): it is meant to be opened, fixed and imported
    again, and the importer removes the escapes, so the fixed rows load the original text.
    """

    def __init__(self, path: Path | None, header: list[str]) -> None:
        self.path = path
        self.header = header
        self.handle: TextIO | None = None
        self.writer: Any = None

    def __enter__(self) -> _Rejects:
        if self.path is not None:
            # surrogateescape writes undecodable bytes back exactly as they were read.
            self.handle = open(  # closed in __exit__
                self.path, "w", encoding="utf-8", errors="surrogateescape", newline=""
            )
            self.writer = safe_writer(self.handle)
            self.writer.writerow(["line", "error", *self.header])
        return self

    def write(self, line: int, error: str, fields: list[str]) -> None:
        if self.writer is not None:
            self.writer.writerow([line, error, *fields])

    def __exit__(self, *exc_info: object) -> None:
        if self.handle is not None:
            self.handle.close()


class _SeenKeys:
    """The keys loaded so far by this import, with the line that loaded each.

    Kept in a temporary table of the import's own connection, so that reporting duplicates
    across batches costs no memory per row (a set of ten million ids would). Its inserts
    share each batch's transaction, so a batch that rolls back forgets its keys too.
    """

    def __init__(self) -> None:
        self.table = connection.ops.quote_name(f"crm_import_seen_{uuid.uuid4().hex[:12]}")

    def __enter__(self) -> _SeenKeys:
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.table} (k TEXT PRIMARY KEY, line INTEGER)"
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
        except DatabaseError:
            # The connection is broken (the error being raised says why); the table goes
            # with it.
            if exc_info[0] is None:
                raise

    def claim(self, lines: dict[str, int]) -> dict[str, int]:
        """Record `key -> line` for a batch; return the earlier line of keys seen before."""
        keys = list(lines)
        marks = ", ".join(["%s"] * len(keys))
        with connection.cursor() as cursor:
            # The table name is generated above; every value is a bound parameter.
            cursor.execute(f"SELECT k, line FROM {self.table} WHERE k IN ({marks})", keys)  # noqa: S608
            earlier = dict(cursor.fetchall())
            values = ", ".join(["(%s, %s)"] * len(keys))
            cursor.execute(
                f"INSERT INTO {self.table} (k, line) VALUES {values} "  # noqa: S608
                "ON CONFLICT (k) DO UPDATE SET line = excluded.line",
                [item for pair in lines.items() for item in pair],
            )
        return earlier


@dataclass
class _Candidate:
    """A valid row waiting to be written."""

    line: int
    fields: list[str]
    instance: Any
    key: Any


@dataclass
class _Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    overrides: list[Override] = field(default_factory=list)


class _Loader:
    """Validates and writes the batches of one import."""

    def __init__(
        self,
        spec: Kind,
        header: list[str],
        positions: dict[str, int],
        report: ImportReport,
        rejects: _Rejects,
        seen: _SeenKeys,
    ) -> None:
        self.spec = spec
        self.header = header
        self.width = len(header)
        self.report = report
        self.rejects = rejects
        self.seen = seen
        model = spec.model
        self.present = frozenset(positions)
        self.columns = [(c, positions[c.name]) for c in spec.columns if c.name in positions]
        self.references = [(c, index) for c, index in self.columns if c.reference]
        # Absent columns with a default of their own (currency) still apply to new rows.
        self.absent_defaults = {
            c.name: c.default for c in spec.columns if c.default and c.name not in positions
        }
        key_fields = set(spec.key)
        self.foreign_keys = [f.name for f in model._meta.concrete_fields if f.is_relation]
        attname = {f.name: f.attname for f in model._meta.concrete_fields}  # customer: customer_id
        self.key_attnames = [attname[name] for name in spec.key]
        update = [c.name for c, _ in self.columns if c.name not in key_fields]
        update += [name for name in spec.merge_writes(self.present) if name not in update]
        self.compare_attnames = [attname[name] for name in update]
        self.stored_attnames = list(
            dict.fromkeys(["pk", *self.key_attnames, *self.compare_attnames, *spec.merge_reads])
        )
        if update and issubclass(model, TimeStamped):
            update.append("updated_in_crm_at")
        self.update_fields = update
        self.texts_complete = all(name in positions for name in spec.text_columns)
        self.pending: list[tuple[int, str, list[str]]] = []

    # Rows -------------------------------------------------------------------------------

    def reject(self, line: int, fields: list[str], error: str) -> None:
        """Count a bad row; it is reported in line order by the next flush()."""
        self.report.bad += 1
        self.pending.append((line, error, fields))

    def flush(self) -> None:
        """Report the bad rows found so far in line order (a batch finds them out of order)."""
        first_bad = self.report.first_bad
        for line, error, fields in sorted(self.pending, key=lambda bad: bad[0]):
            if len(first_bad) < REPORTED_BAD_ROWS:
                first_bad.append(BadRow(line, error))
            self.rejects.write(line, error, fields)
        self.pending = []

    def load(self, records: list[tuple[int, list[str], str | None]]) -> None:
        """Validate a batch (records that could not be read carry their error), then write
        its valid rows in one transaction."""
        parsed: list[tuple[int, list[str], dict[str, Any]]] = []
        for line, fields, error in records:
            if error is None and len(fields) != self.width:
                # Checked first, so a row of 10,000 fields costs nothing more.
                error = f"has {len(fields):,} fields, the header has {self.width:,}"
            if error is None:
                error = _encoding_problem(fields, self.header)
            if error is not None:
                self.reject(line, fields, error)
            else:
                values, errors = self._parse(fields)
                if errors:
                    self.reject(line, fields, "; ".join(errors))
                else:
                    parsed.append((line, fields, values))
        resolved = {}
        for column, _ in self.references:
            assert column.reference is not None
            wanted = {values[column.name] for _, _, values in parsed} - {None}
            resolved[column.name] = column.reference.resolve(wanted) if wanted else {}
        candidates: dict[Any, _Candidate] = {}
        overrides: list[Override] = []
        for line, fields, values in parsed:
            candidate = self._build(line, fields, values, resolved)
            if candidate is None:
                continue
            earlier = candidates.pop(candidate.key, None)
            if earlier is not None:
                overrides.append(Override(line, earlier.line, _key_text(candidate.key)))
            candidates[candidate.key] = candidate
        self._count_overrides(overrides)
        if candidates:
            self._write_batch(list(candidates.values()))
        self.flush()

    def _parse(self, fields: list[str]) -> tuple[dict[str, Any], list[str]]:
        values: dict[str, Any] = {}
        errors: list[str] = []
        for column, index in self.columns:
            cell = fields[index]
            if not cell.strip():
                if column.required:
                    errors.append(f"{column.name}: required, but empty")
                elif column.default:
                    values[column.name] = column.default()
                elif column.reference:
                    values[column.name] = None
                # else: left out, so the model field's default applies
                continue
            if column.reference:
                values[column.name] = cell.strip()
                continue
            try:
                values[column.name] = column.parse(cell)
            except CellError as exc:
                errors.append(f"{column.name}: {exc}")
        return values, errors

    def _build(
        self,
        line: int,
        fields: list[str],
        values: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
    ) -> _Candidate | None:
        kwargs = {name: make() for name, make in self.absent_defaults.items()}
        errors = []
        for column, _ in self.references:
            reference = column.reference
            assert reference is not None
            external_id = values.pop(column.name)
            if external_id is None:
                kwargs[reference.attribute] = None
                continue
            target = resolved[column.name].get(external_id)
            if target is None:
                errors.append(f"unknown {reference.label} '{_shorten(external_id)}'")
            elif isinstance(target, Refused):
                errors.append(target)
            kwargs[reference.attribute] = target
        if errors:
            self.reject(line, fields, "; ".join(errors))
            return None
        instance = self.spec.model(**kwargs, **values)
        try:
            # Foreign keys were resolved above; uniqueness is the upsert's business.
            instance.full_clean(
                exclude=self.foreign_keys, validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            self.reject(line, fields, _describe(exc))
            return None
        key = tuple(getattr(instance, attname) for attname in self.key_attnames)
        return _Candidate(line, fields, instance, key if len(key) > 1 else key[0])

    def _count_overrides(self, overrides: list[Override]) -> None:
        report = self.report
        report.duplicates += len(overrides)
        room = REPORTED_DUPLICATES - len(report.first_duplicates)
        report.first_duplicates.extend(overrides[: max(room, 0)])

    # Writes -----------------------------------------------------------------------------

    def _write_batch(self, candidates: list[_Candidate]) -> None:
        try:
            with transaction.atomic():
                outcome = self._write(candidates)
        except (IntegrityError, DataError):
            # Something only the database could see (say, a customer deleted since the
            # lookup). Retry row by row so that one row cannot sink the batch.
            outcome = _Outcome()
            for candidate in candidates:
                candidate.instance.pk = None
                try:
                    with transaction.atomic():
                        single = self._write([candidate])
                except (IntegrityError, DataError) as exc:
                    self.reject(candidate.line, candidate.fields, f"refused by the database: {exc}")
                    continue
                outcome.created += single.created
                outcome.updated += single.updated
                outcome.unchanged += single.unchanged
                outcome.skipped += single.skipped
                outcome.overrides += single.overrides
        report = self.report
        report.created += outcome.created
        report.updated += outcome.updated
        report.unchanged += outcome.unchanged
        report.skipped += outcome.skipped
        self._count_overrides(outcome.overrides)

    def _write(self, candidates: list[_Candidate]) -> _Outcome:
        """Upsert the new and changed rows of a batch; runs inside the batch's transaction."""
        outcome = _Outcome()
        earlier = self.seen.claim({_key_text(c.key): c.line for c in candidates})
        for candidate in candidates:
            key = _key_text(candidate.key)
            if key in earlier:
                outcome.overrides.append(Override(candidate.line, earlier[key], key))
        stored = self._stored(candidates)
        to_write = []
        written: Written = []
        for candidate in candidates:
            instance = candidate.instance
            row = stored.get(candidate.key)
            if not self.spec.merge(instance, row, self.present):
                outcome.skipped += 1
                continue
            if row is None:
                outcome.created += 1
            elif all(getattr(instance, name) == row[name] for name in self.compare_attnames):
                outcome.unchanged += 1
                continue
            else:
                outcome.updated += 1
            to_write.append(instance)
            written.append((instance, row))
        if not to_write:
            return outcome
        model = self.spec.model
        if self.update_fields:
            model._default_manager.bulk_create(
                to_write,
                update_conflicts=True,
                unique_fields=list(self.spec.key),
                update_fields=self.update_fields,
            )
        else:  # only key columns in the file: an existing row has nothing to update
            model._default_manager.bulk_create(to_write, ignore_conflicts=True)
        if self.spec.after_write is not None:
            self._ensure_pks(to_write)
            self.spec.after_write(written, self.present)
        if self.spec.sync_texts is not None:
            self._ensure_pks(to_write)
            if not self.texts_complete:
                to_write = list(model._default_manager.filter(pk__in=[i.pk for i in to_write]))
            announce_texts(self.spec.sync_texts(to_write))
        return outcome

    def _stored(self, candidates: list[_Candidate]) -> dict[Any, dict[str, Any]]:
        """The stored rows of a batch by key.

        Kinds whose update depends on the stored row in a way a concurrent write must not
        undo (`lock_stored`: an erased customer, a ticket's reopen count and reopenings) lock
        those rows until the batch commits, so a concurrent erasure or reopen is not lost.
        The others are last-writer-wins upserts: a row read as unchanged and skipped is as if
        written just before the concurrent change, and locking every row of a re-run would
        cost a write per row on PostgreSQL. (An order's return time read here may so be
        overwritten by a concurrent status change: last writer wins, as for its status.)
        """
        manager = self.spec.model._default_manager.all()
        if self.spec.lock_stored:
            manager = manager.select_for_update()
        if self.spec.key == ("external_id",):
            rows = manager.filter(external_id__in=[c.key for c in candidates])
        else:
            # Events: a superset (these customers at these times), narrowed by key below.
            rows = manager.filter(
                customer_id__in={c.instance.customer_id for c in candidates},
                occurred_at__in={c.instance.occurred_at for c in candidates},
            )
        stored = {}
        for row in rows.values(*self.stored_attnames):
            key = tuple(row[name] for name in self.key_attnames)
            stored[key if len(key) > 1 else key[0]] = row
        return stored

    def _ensure_pks(self, instances: list[Any]) -> None:
        # bulk_create sets pks on upserts where the database can return rows (PostgreSQL,
        # SQLite >= 3.35); elsewhere fetch them in one query.
        missing = [instance for instance in instances if instance.pk is None]
        if missing:
            pks = dict(
                self.spec.model._default_manager.filter(
                    external_id__in=[instance.external_id for instance in missing]
                ).values_list("external_id", "pk")
            )
            for instance in missing:
                instance.pk = pks[instance.external_id]


def _key_text(key: Any) -> str:
    if isinstance(key, tuple):
        return "|".join(
            value.isoformat() if hasattr(value, "isoformat") else str(value) for value in key
        )
    return str(key)


def _describe(error: ValidationError) -> str:
    """`rating: Ensure this value is less than or equal to 5.; ...` from a full_clean error."""
    parts = []
    for name, messages in error.message_dict.items():
        text = " ".join(messages)
        parts.append(text if name == NON_FIELD_ERRORS else f"{name}: {text}")
    return "; ".join(parts)
