"""The CSV import command: good rows load, bad rows are reported by line, re-runs change nothing."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm import importers
from crm.models import Customer, CustomerText, Event, Order, Review, Ticket, TicketMessage
from crm.signals import customer_texts_saved, customers_activity_saved
from tests.factories import (
    CustomerFactory,
    OrderFactory,
    ReviewFactory,
    TicketFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ORDER_HEADER = ["external_id", "customer", "placed_at", "total", "currency", "status"]
REVIEW_HEADER = ["external_id", "customer", "rating", "created_at", "title", "body"]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run_import(path: Path, kind: str, **options: object) -> str:
    out = io.StringIO()
    call_command("import_csv", str(path), kind=kind, stdout=out, **options)
    return out.getvalue()


def summary_count(output: str, label: str) -> int:
    """The number on the summary line `label:` of the command's output."""
    match = re.search(rf"^  {label}:\s+([\d,]+)", output, re.MULTILINE)
    assert match, f"no '{label}' line in:\n{output}"
    return int(match.group(1).replace(",", ""))


def order_row(external_id: str, customer: str = "C1", **overrides: str) -> list[str]:
    values = {
        "external_id": external_id,
        "customer": customer,
        "placed_at": "2025-03-01T10:00:00Z",
        "total": "49.90",
        "currency": "eur",
        "status": "delivered",
        **overrides,
    }
    return [values[name] for name in ORDER_HEADER]


def review_row(external_id: str, customer: str = "C1", **overrides: str) -> list[str]:
    values = {
        "external_id": external_id,
        "customer": customer,
        "rating": "4",
        "created_at": "2025-03-02 09:30:00+01:00",
        "title": "Nice",
        "body": "Arrived quickly, fits well.",
        **overrides,
    }
    return [values[name] for name in REVIEW_HEADER]


@pytest.fixture
def customer() -> Customer:
    return CustomerFactory(external_id="C1")


# --- Good files -------------------------------------------------------------------------------


def test_good_customers_and_orders_files_load(tmp_path: Path) -> None:
    customers = write_csv(
        tmp_path / "customers.csv",
        ["external_id", "signed_up_at", "name", "email", "country", "marketing_consent"],
        [
            ["C1", "2024-01-15", "Ann", "ann@example.com", "de", "yes"],
            ["C2", "2024-02-01T08:00:00+02:00", "Bob", "", "FR", "0"],
        ],
    )
    orders = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [order_row("O1"), order_row("O2", "C2", total="5", currency="", status="")],
    )

    run_import(customers, "customers")
    output = run_import(orders, "orders")

    ann = Customer.objects.get(external_id="C1")
    assert ann.country == "DE"  # Customer.clean() normalises it
    assert ann.marketing_consent is True
    assert ann.signed_up_at == datetime(2024, 1, 15, tzinfo=UTC)
    bob = Customer.objects.get(external_id="C2")
    assert bob.signed_up_at == datetime(2024, 2, 1, 6, tzinfo=UTC)
    assert bob.marketing_consent is False
    first, second = Order.objects.order_by("external_id")
    assert (first.customer, first.total, first.currency, first.status) == (
        ann,
        Decimal("49.90"),
        "EUR",
        "delivered",
    )
    assert (second.customer, second.currency, second.status) == (bob, "EUR", "placed")
    assert summary_count(output, "rows read") == 2
    assert "created 2" in output


def every_kind_files(tmp_path: Path) -> list[tuple[str, Path]]:
    """One good file per kind but customers, in load order; needs customer C1, order O1
    and agent 'agnes'."""
    files = {
        "events": (
            ["customer", "kind", "occurred_at", "payload"],
            [
                ["C1", "visit", "2025-03-01T10:00:00Z", ""],
                ["C1", "product_view", "2025-03-01T10:01:00Z", '{"sku": "A-1"}'],
            ],
        ),
        "reviews": (
            [*REVIEW_HEADER, "order", "product_ref"],
            [[*review_row("R1"), "O1", "SKU-9"]],
        ),
        "tickets": (
            [
                *("external_id", "customer", "subject", "opened_at"),
                *("channel", "priority", "status", "assigned_agent"),
            ],
            [["T1", "C1", "Parcel late", "2025-03-03", "chat", "urgent", "pending", "agnes"]],
        ),
        "ticket_messages": (
            ["external_id", "ticket", "created_at", "body", "author_kind", "author_agent"],
            [
                ["M1", "T1", "2025-03-03T10:00:00", "Where is it?", "customer", ""],
                ["M2", "T1", "2025-03-03T11:00:00", "On its way.", "agent", "agnes"],
            ],
        ),
    }
    return [
        (kind, write_csv(tmp_path / f"{kind}.csv", header, rows))
        for kind, (header, rows) in files.items()
    ]


def test_every_kind_loads_a_good_file(tmp_path: Path, customer: Customer) -> None:
    agent = UserFactory(username="agnes")
    OrderFactory(external_id="O1", customer=customer)

    for kind, path in every_kind_files(tmp_path):
        run_import(path, kind)

    assert Event.objects.get(kind="product_view").payload == {"sku": "A-1"}
    review = Review.objects.get(external_id="R1")
    assert (review.order.external_id, review.product_ref, review.rating) == ("O1", "SKU-9", 4)
    assert review.created_at == datetime(2025, 3, 2, 8, 30, tzinfo=UTC)
    ticket = Ticket.objects.get(external_id="T1")
    assert (ticket.channel, ticket.priority, ticket.assigned_agent) == (
        "chat",
        Ticket.Priority.URGENT,
        agent,
    )
    reply = TicketMessage.objects.get(external_id="M2")
    assert (reply.author_kind, reply.author_agent, reply.ticket) == ("agent", agent, ticket)
    # One text per review and per customer message; none for the agent's reply.
    assert CustomerText.objects.filter(review=review).count() == 1
    assert CustomerText.objects.filter(message__external_id="M1").count() == 1
    assert not CustomerText.objects.filter(message=reply).exists()


def test_timestamps_without_offset_are_utc_and_plain_dates_are_midnight(
    tmp_path: Path, customer: Customer
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [
            order_row("O1", placed_at="2025-03-01 10:00:00"),
            order_row("O2", placed_at="2025-03-01"),
            order_row("O3", placed_at="2025-03-01T12:00:00+02:00"),
        ],
    )

    run_import(path, "orders")

    placed = dict(Order.objects.values_list("external_id", "placed_at"))
    assert placed == {
        "O1": datetime(2025, 3, 1, 10, tzinfo=UTC),
        "O2": datetime(2025, 3, 1, tzinfo=UTC),
        "O3": datetime(2025, 3, 1, 10, tzinfo=UTC),
    }


def test_file_with_bom_and_unknown_columns_loads_with_a_notice(
    tmp_path: Path, customer: Customer
) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(
        "\ufeffexternal_id,customer,placed_at,total,shop_note\n"
        "O1,C1,2025-03-01T10:00:00Z,10.00,gift wrap\n".encode()
    )

    output = run_import(path, "orders")

    assert Order.objects.get().external_id == "O1"
    assert "Ignoring unknown column(s): shop_note." in output


# --- Idempotency and duplicates -------------------------------------------------------------


def test_rerunning_the_same_file_changes_nothing(tmp_path: Path, customer: Customer) -> None:
    """GIVEN orders and reviews imported once WHEN the same files are imported again
    THEN no row is added and every stored value, timestamps included, is the same."""
    orders = write_csv(tmp_path / "o.csv", ORDER_HEADER, [order_row(f"O{i}") for i in range(5)])
    reviews = write_csv(tmp_path / "r.csv", REVIEW_HEADER, [review_row(f"R{i}") for i in range(5)])
    run_import(orders, "orders")
    run_import(reviews, "reviews")
    before = (
        list(Order.objects.order_by("pk").values()),
        list(Review.objects.order_by("pk").values()),
        list(CustomerText.objects.order_by("pk").values()),
    )

    output = run_import(orders, "orders")
    run_import(reviews, "reviews")

    after = (
        list(Order.objects.order_by("pk").values()),
        list(Review.objects.order_by("pk").values()),
        list(CustomerText.objects.order_by("pk").values()),
    )
    assert after == before
    assert "created 0, updated 0, unchanged 5" in output


def test_rerunning_every_kind_changes_nothing(tmp_path: Path, customer: Customer) -> None:
    UserFactory(username="agnes")
    OrderFactory(external_id="O1", customer=customer)
    files = every_kind_files(tmp_path)
    models = (Event, Review, Ticket, TicketMessage, CustomerText)
    for kind, path in files:
        run_import(path, kind)
    before = [list(model.objects.order_by("pk").values()) for model in models]

    outputs = [run_import(path, kind) for kind, path in files]

    assert [list(model.objects.order_by("pk").values()) for model in models] == before
    assert all(summary_count(output, "bad rows") == 0 for output in outputs)
    assert all("created 0, updated 0, unchanged" in output for output in outputs)


def test_changed_row_on_rerun_updates_the_record(tmp_path: Path, customer: Customer) -> None:
    path = tmp_path / "orders.csv"
    run_import(write_csv(path, ORDER_HEADER, [order_row("O1")]), "orders")

    output = run_import(write_csv(path, ORDER_HEADER, [order_row("O1", total="12.50")]), "orders")

    assert Order.objects.get().total == Decimal("12.50")
    assert "created 0, updated 1, unchanged 0" in output


@pytest.mark.parametrize("batch_size", [2_000, 2], ids=["same batch", "across batches"])
def test_duplicate_external_id_in_one_file_later_row_wins_and_summary_says_so(
    tmp_path: Path, customer: Customer, batch_size: int
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [
            order_row("O1", total="1.00"),
            order_row("O2"),
            order_row("O3"),
            order_row("O1", total="2.00"),
        ],
    )

    output = run_import(path, "orders", batch_size=batch_size)

    assert Order.objects.count() == 3
    assert Order.objects.get(external_id="O1").total == Decimal("2.00")
    assert summary_count(output, "duplicates overridden") == 1
    assert "line 5 over line 2 (O1)" in output


def test_events_upsert_on_their_natural_key_updating_the_payload(
    tmp_path: Path, customer: Customer
) -> None:
    header = ["customer", "kind", "occurred_at", "payload"]
    path = tmp_path / "events.csv"
    run_import(
        write_csv(path, header, [["C1", "search", "2025-03-01T10:00:00Z", '{"q": "a"}']]), "events"
    )

    # The same instant written with another offset is the same event.
    rows = [["C1", "search", "2025-03-01T11:00:00+01:00", '{"q": "b"}']]
    run_import(write_csv(path, header, rows), "events")

    assert Event.objects.get().payload == {"q": "b"}


# --- Bad rows ---------------------------------------------------------------------------------


def test_unknown_customer_is_a_bad_row_with_its_line_number_and_good_rows_load(
    tmp_path: Path, customer: Customer
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [order_row("O1"), order_row("O2", customer="NOPE"), order_row("O3")],
    )

    output = run_import(path, "orders")

    assert set(Order.objects.values_list("external_id", flat=True)) == {"O1", "O3"}
    assert not Customer.objects.filter(external_id="NOPE").exists()
    assert "line 3: unknown customer 'NOPE'" in output


@pytest.mark.parametrize("rating", ["0", "6"])
def test_rating_outside_one_to_five_is_a_bad_row(
    tmp_path: Path, customer: Customer, rating: str
) -> None:
    path = write_csv(
        tmp_path / "reviews.csv", REVIEW_HEADER, [review_row("R1"), review_row("R2", rating=rating)]
    )

    output = run_import(path, "reviews")

    assert list(Review.objects.values_list("external_id", flat=True)) == ["R1"]
    assert "line 3: rating: Ensure this value is" in output


@pytest.mark.parametrize(
    ("total", "reason"),
    [
        ("-1.00", "total: Ensure this value is greater than or equal to 0."),
        ("12,50", "total: '12,50' is not a number (use . as the decimal separator)"),
        ("abc", "total: 'abc' is not a number"),
    ],
)
def test_negative_or_non_numeric_total_is_a_bad_row(
    tmp_path: Path, customer: Customer, total: str, reason: str
) -> None:
    path = write_csv(
        tmp_path / "orders.csv", ORDER_HEADER, [order_row("O1"), order_row("O2", total=total)]
    )

    output = run_import(path, "orders")

    assert list(Order.objects.values_list("external_id", flat=True)) == ["O1"]
    assert f"line 3: {reason}" in output


def test_unparsable_date_and_date_in_the_future_are_bad_rows(
    tmp_path: Path, customer: Customer
) -> None:
    in_two_days = (timezone.now() + timedelta(days=2)).isoformat()
    path = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [
            order_row("O1", placed_at="01/03/2025"),
            order_row("O2", placed_at=in_two_days),
            order_row("O3"),
        ],
    )

    output = run_import(path, "orders")

    assert list(Order.objects.values_list("external_id", flat=True)) == ["O3"]
    assert "line 2: placed_at: '01/03/2025' is not a date/time" in output
    assert "line 3: placed_at: Lies more than a day in the future." in output


def test_unknown_choice_values_are_bad_rows(tmp_path: Path, customer: Customer) -> None:
    path = write_csv(
        tmp_path / "orders.csv", ORDER_HEADER, [order_row("O1", status="shipped"), order_row("O2")]
    )

    output = run_import(path, "orders")

    assert list(Order.objects.values_list("external_id", flat=True)) == ["O2"]
    assert "line 2: status: Value 'shipped' is not a valid choice." in output


def test_text_over_the_limit_is_a_bad_row_and_not_truncated(
    tmp_path: Path, customer: Customer, settings: object
) -> None:
    settings.CRM_MAX_TEXT_LENGTH = 50  # type: ignore[attr-defined]
    path = write_csv(
        tmp_path / "reviews.csv",
        REVIEW_HEADER,
        [review_row("R1", body="x" * 51), review_row("R2", body="x" * 50)],
    )

    output = run_import(path, "reviews")

    assert list(Review.objects.values_list("external_id", flat=True)) == ["R2"]
    assert "line 2: body: Text is 51 characters long; the limit is 50." in output


def test_empty_review_text_loads_with_an_empty_customer_text(
    tmp_path: Path, customer: Customer
) -> None:
    path = write_csv(tmp_path / "reviews.csv", REVIEW_HEADER, [review_row("R1", title="", body="")])

    run_import(path, "reviews")

    text = CustomerText.objects.get(review__external_id="R1")
    assert text.is_empty is True


def test_row_that_is_not_valid_utf8_is_reported_with_its_line_and_the_rest_loads(
    tmp_path: Path, customer: Customer
) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(
        b"external_id,signed_up_at,name\n"
        b"C2,2024-01-01,Ann\n"
        b"C3,2024-01-01,M\xfcller\n"  # Latin-1, not UTF-8
        b"C4,2024-01-01,J\xc3\xbcrgen\n"
    )
    rejects = tmp_path / "rejects.csv"

    output = run_import(path, "customers", rejects=rejects)

    assert set(Customer.objects.values_list("name", flat=True)) >= {"Ann", "Jürgen"}
    assert not Customer.objects.filter(external_id="C3").exists()
    assert "line 3: not valid UTF-8 in column 'name'" in output
    # The rejected row is written back byte for byte, ready to be fixed and re-imported.
    assert b"C3,2024-01-01,M\xfcller" in rejects.read_bytes()


def test_row_with_the_wrong_number_of_fields_is_a_bad_row(
    tmp_path: Path, customer: Customer
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "external_id,customer,placed_at,total\n"
        "O1,C1,2025-03-01,10.00,surplus\n"
        'O2,C1,2025-03-01,"10.00"\n'
    )

    output = run_import(path, "orders")

    assert list(Order.objects.values_list("external_id", flat=True)) == ["O2"]
    assert "line 2: has 5 fields, the header has 4" in output


def test_row_with_a_nul_character_is_a_bad_row_on_every_database(
    tmp_path: Path, customer: Customer
) -> None:
    path = write_csv(
        tmp_path / "reviews.csv",
        REVIEW_HEADER,
        [review_row("R1", body="bad\x00byte"), review_row("R2")],
    )

    output = run_import(path, "reviews")

    assert list(Review.objects.values_list("external_id", flat=True)) == ["R2"]
    assert "line 2: contains a NUL character in column 'body'" in output


def test_oversized_field_is_a_bad_row_and_reading_carries_on(
    tmp_path: Path, customer: Customer, settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CSV field limit also stops an unclosed quote from swallowing the rest of the file.
    settings.CRM_MAX_TEXT_LENGTH = 10  # type: ignore[attr-defined]
    monkeypatch.setattr("crm.importers.MIN_FIELD_SIZE_LIMIT", 100)
    path = write_csv(
        tmp_path / "reviews.csv",
        REVIEW_HEADER,
        [review_row("R1", body="x" * 500), review_row("R2", body="short")],
    )

    output = run_import(path, "reviews")

    assert list(Review.objects.values_list("external_id", flat=True)) == ["R2"]
    assert "line 2: unreadable CSV: field larger than field limit (100)" in output


def test_line_numbers_count_physical_lines_of_multiline_fields(
    tmp_path: Path, customer: Customer
) -> None:
    path = write_csv(
        tmp_path / "reviews.csv",
        REVIEW_HEADER,
        [review_row("R1", body="line one\nline two\nline three"), review_row("R2", rating="9")],
    )

    output = run_import(path, "reviews")

    assert "line 5: rating:" in output


def test_rejects_file_holds_every_bad_row_with_line_and_error(
    tmp_path: Path, customer: Customer
) -> None:
    rows = [order_row(f"O{i}", customer="NOPE" if i % 2 else "C1") for i in range(50)]
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    rejects = tmp_path / "rejects.csv"

    output = run_import(path, "orders", rejects=rejects, batch_size=7)

    with open(rejects, newline="") as handle:
        rejected = list(csv.DictReader(handle))
    assert len(rejected) == 25
    assert rejected[0] == {
        "line": "3",
        "error": "unknown customer 'NOPE'",
        **dict(zip(ORDER_HEADER, rows[1], strict=True)),
    }
    assert [int(row["line"]) for row in rejected] == list(range(3, 52, 2))
    assert "First 20 of 25 bad rows" in output
    assert f"All bad rows, with line and error, are in {rejects}." in output
    assert Order.objects.count() == 25


def test_rejects_file_can_be_fixed_and_imported_again(tmp_path: Path, customer: Customer) -> None:
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, [order_row("O1", total="-5")])
    rejects = tmp_path / "rejects.csv"
    with pytest.raises(CommandError):
        run_import(path, "orders", rejects=rejects)
    rejects.write_text(rejects.read_text().replace(",-5,", ",5,"))

    output = run_import(rejects, "orders")

    assert Order.objects.get().total == Decimal("5")
    assert "Ignoring unknown column(s): line, error." in output


def test_row_the_database_refuses_is_a_bad_row_and_the_rest_of_its_batch_loads(
    tmp_path: Path, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a batch the database refuses because of one row (say, its customer was deleted
    since the lookup) WHEN it is imported THEN the batch is retried row by row."""
    write = importers._Loader._write

    def refuse_o2(self: importers._Loader, candidates: list) -> object:
        if any(candidate.key == "O2" for candidate in candidates):
            raise IntegrityError("FOREIGN KEY constraint failed")
        return write(self, candidates)

    monkeypatch.setattr(importers._Loader, "_write", refuse_o2)
    path = write_csv(
        tmp_path / "orders.csv", ORDER_HEADER, [order_row("O1"), order_row("O2"), order_row("O3")]
    )

    output = run_import(path, "orders")

    assert set(Order.objects.values_list("external_id", flat=True)) == {"O1", "O3"}
    assert "line 3: refused by the database: FOREIGN KEY constraint failed" in output


# --- Unusable files ---------------------------------------------------------------------------


def test_missing_required_columns_are_reported_once_before_any_row_and_nothing_loads(
    tmp_path: Path, customer: Customer
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        ["external_id", "placed_at", "currency"],
        [["O1", "2025-03-01", "EUR"], ["O2", "not a date", "EUR"]],
    )
    rejects = tmp_path / "rejects.csv"
    out = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("import_csv", str(path), kind="orders", rejects=rejects, stdout=out)

    message = str(raised.value)
    assert "Missing required column(s): customer, total." in message
    assert "Expected columns for orders: external_id*, customer*, placed_at*, total*" in message
    assert message.count("customer") == 2  # once missing, once expected: reported once
    assert out.getvalue() == ""  # no row was read, so no row is reported
    assert not rejects.exists()
    assert not Order.objects.exists()


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("")

    with pytest.raises(CommandError, match="The file is empty"):
        run_import(path, "customers")


def test_header_without_rows_succeeds_with_a_notice(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "customers.csv", ["external_id", "signed_up_at"], [])

    output = run_import(path, "customers")

    assert "The file has no data rows: nothing to load." in output


def test_file_where_nothing_can_be_loaded_raises_command_error(
    tmp_path: Path, customer: Customer
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [order_row("O1", customer="NOPE"), order_row("O2", total="-1")],
    )
    out = io.StringIO()

    with pytest.raises(CommandError, match="nothing could be loaded"):
        call_command("import_csv", str(path), kind="orders", stdout=out)

    assert "line 2: unknown customer 'NOPE'" in out.getvalue()  # the summary still prints
    assert not Order.objects.exists()


# --- Business rules shared with the other entry points ----------------------------------------


def test_erased_customer_is_not_brought_back_by_an_old_export(tmp_path: Path) -> None:
    CustomerFactory(external_id="C1", name="", email="", is_erased=True)
    path = write_csv(
        tmp_path / "customers.csv",
        ["external_id", "signed_up_at", "name", "email"],
        [["C1", "2024-01-01", "Ann", "ann@example.com"]],
    )

    output = run_import(path, "customers")

    erased = Customer.objects.get(external_id="C1")
    assert (erased.name, erased.email) == ("", "")
    assert summary_count(output, "skipped, erased") == 1


def test_erased_customers_reviews_and_ticket_messages_are_refused_with_their_line(
    tmp_path: Path,
) -> None:
    erased = CustomerFactory(external_id="GONE", name="", email="", is_erased=True)
    kept = CustomerFactory(external_id="C2")
    ticket = TicketFactory(external_id="T-GONE", customer=erased)
    TicketFactory(external_id="T2", customer=kept)
    reviews = write_csv(
        tmp_path / "reviews.csv",
        ["external_id", "customer", "rating", "created_at", "body"],
        [
            ["R1", "GONE", "1", "2024-01-01", "Still furious, call me on 0170 555 0101"],
            ["R2", "C2", "5", "2024-01-01", "Lovely"],
        ],
    )
    messages = write_csv(
        tmp_path / "messages.csv",
        ["external_id", "ticket", "author_kind", "created_at", "body"],
        [
            ["M1", "T-GONE", "customer", "2024-01-02", "My address is 1 Quiet Lane"],
            ["M2", "T2", "customer", "2024-01-02", "Where is my parcel?"],
        ],
    )

    review_output = run_import(reviews, "reviews")
    message_output = run_import(messages, "ticket_messages")

    assert "line 2: customer 'GONE' was erased at their request" in review_output
    assert "line 2: customer 'GONE' was erased at their request" in message_output
    assert list(Review.objects.values_list("external_id", flat=True)) == ["R2"]
    assert list(TicketMessage.objects.values_list("external_id", flat=True)) == ["M2"]
    assert not TicketMessage.objects.filter(ticket=ticket).exists()
    assert not CustomerText.objects.filter(customer=erased).exists()


def test_ticket_moved_from_solved_back_to_open_counts_a_reopen(
    tmp_path: Path, customer: Customer
) -> None:
    TicketFactory(
        external_id="T1",
        customer=customer,
        status=Ticket.Status.SOLVED,
        solved_at=timezone.now() - timedelta(days=1),
    )
    header = ["external_id", "customer", "subject", "opened_at", "status"]
    path = write_csv(
        tmp_path / "tickets.csv",
        header,
        [["T1", "C1", "Where is my parcel?", "2025-03-01", "open"]],
    )

    run_import(path, "tickets")
    run_import(path, "tickets")  # the same state again is not another reopen

    ticket = Ticket.objects.get()
    assert (ticket.status, ticket.reopened_count, ticket.solved_at) == ("open", 1, None)


def test_review_of_another_customers_order_is_a_bad_row(tmp_path: Path, customer: Customer) -> None:
    OrderFactory(external_id="O9", customer=CustomerFactory(external_id="C2"))
    path = write_csv(
        tmp_path / "reviews.csv", [*REVIEW_HEADER, "order"], [[*review_row("R1"), "O9"]]
    )

    with pytest.raises(CommandError):
        run_import(path, "reviews")

    assert not Review.objects.exists()


def test_ticket_messages_resolve_tickets_loaded_in_earlier_batches(
    tmp_path: Path, customer: Customer
) -> None:
    tickets = write_csv(
        tmp_path / "tickets.csv",
        ["external_id", "customer", "subject", "opened_at"],
        [[f"T{i}", "C1", "Late", "2025-03-01"] for i in range(3)],
    )
    messages = write_csv(
        tmp_path / "messages.csv",
        ["external_id", "ticket", "created_at", "body"],
        [[f"M{i}", f"T{i}", "2025-03-02", "Still waiting."] for i in range(3)],
    )

    run_import(tickets, "tickets", batch_size=1)
    run_import(messages, "ticket_messages", batch_size=1)

    assert dict(TicketMessage.objects.values_list("external_id", "ticket__external_id")) == {
        "M0": "T0",
        "M1": "T1",
        "M2": "T2",
    }


def test_review_import_without_text_columns_keeps_the_stored_text(
    tmp_path: Path, customer: Customer
) -> None:
    review = ReviewFactory(external_id="R1", customer=customer, rating=5, body="Great shoes.")
    path = write_csv(
        tmp_path / "reviews.csv",
        ["external_id", "customer", "rating", "created_at"],
        [["R1", "C1", "2", review.created_at.isoformat()]],
    )
    text_before = CustomerText.objects.get(review=review)

    run_import(path, "reviews")

    review.refresh_from_db()
    assert (review.rating, review.body) == (2, "Great shoes.")
    assert CustomerText.objects.get(review=review).content_hash == text_before.content_hash


# --- The pipeline and the database ------------------------------------------------------------


def test_bulk_upsert_sets_primary_keys_of_created_and_updated_rows(customer: Customer) -> None:
    """The text sync relies on it (SQLite >= 3.35 and PostgreSQL return rows on upsert)."""
    existing = ReviewFactory(external_id="R1", customer=customer)
    reviews = [
        Review(external_id=external_id, customer=customer, rating=3, created_at=timezone.now())
        for external_id in ("R1", "R2")
    ]

    Review.objects.bulk_create(
        reviews,
        update_conflicts=True,
        unique_fields=["external_id"],
        update_fields=["rating"],
    )

    assert [review.pk for review in reviews] == [
        existing.pk,
        Review.objects.get(external_id="R2").pk,
    ]


def test_reviews_import_announces_texts_once_per_batch(
    tmp_path: Path, customer: Customer, django_capture_on_commit_callbacks: object
) -> None:
    announced: list[list[int]] = []

    def receiver(sender: type, text_ids: list[int], **kwargs: object) -> None:
        announced.append(text_ids)

    customer_texts_saved.connect(receiver, dispatch_uid="test-import-announce")
    path = write_csv(
        tmp_path / "reviews.csv", REVIEW_HEADER, [review_row(f"R{i}") for i in range(5)]
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            run_import(path, "reviews", batch_size=2)
    finally:
        customer_texts_saved.disconnect(dispatch_uid="test-import-announce")

    assert [len(ids) for ids in announced] == [2, 2, 1]
    assert sorted(id_ for ids in announced for id_ in ids) == sorted(
        CustomerText.objects.values_list("pk", flat=True)
    )


def test_import_runs_a_bounded_number_of_queries_per_batch(
    tmp_path: Path, customer: Customer
) -> None:
    """The query count grows with the number of batches, never with the number of rows."""
    OrderFactory(external_id="O1", customer=customer)

    def queries_for(rows: int, name: str) -> int:
        reviews = [[*review_row(f"{name}{i}"), "O1"] for i in range(rows)]
        path = write_csv(tmp_path / f"{name}.csv", [*REVIEW_HEADER, "order"], reviews)
        with CaptureQueriesContext(connection) as queries:
            run_import(path, "reviews", batch_size=80)
        return len(queries)

    one_batch = queries_for(20, "A")
    four_batches = queries_for(320, "B")

    assert one_batch <= 15
    assert four_batches <= 4 * one_batch


def test_dates_in_the_promised_delivery_column_must_be_plain_dates(
    tmp_path: Path, customer: Customer
) -> None:
    header = [*ORDER_HEADER, "promised_delivery_date"]
    path = write_csv(
        tmp_path / "orders.csv",
        header,
        [[*order_row("O1"), "2025-03-05"], [*order_row("O2"), "next week"]],
    )

    output = run_import(path, "orders")

    assert Order.objects.get().promised_delivery_date == date(2025, 3, 5)
    assert "line 3: promised_delivery_date: 'next week' is not a date (use YYYY-MM-DD)" in output


# --- Returns, cancellations and reopens: point-in-time facts ----------------------------------


def test_return_and_cancellation_times_in_the_file_are_stored(
    tmp_path: Path, customer: Customer
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [*ORDER_HEADER, "returned_at", "cancelled_at"],
        [
            [*order_row("O1", status="returned"), "2025-03-09T12:00:00Z", ""],
            [*order_row("O2", status="cancelled"), "", "2025-03-01 11:30:00+01:00"],
            [*order_row("O3", status="delivered"), "", ""],
        ],
    )

    run_import(path, "orders")

    times = {o.external_id: (o.returned_at, o.cancelled_at) for o in Order.objects.all()}
    assert times == {
        "O1": (datetime(2025, 3, 9, 12, tzinfo=UTC), None),
        "O2": (None, datetime(2025, 3, 1, 10, 30, tzinfo=UTC)),
        "O3": (None, None),
    }


def test_a_return_before_the_order_was_placed_is_a_bad_row_naming_line_and_field(
    tmp_path: Path, customer: Customer
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        [*ORDER_HEADER, "returned_at"],
        [
            [*order_row("O1", status="returned"), "2025-03-05"],
            [*order_row("O2", status="returned"), "2025-02-28T23:59:00Z"],
            [*order_row("O3", status="delivered"), "2025-03-05"],
        ],
    )

    output = run_import(path, "orders")

    assert list(Order.objects.values_list("external_id", flat=True)) == ["O1"]
    assert "line 3: returned_at: Returned before it was placed." in output
    assert "line 4: returned_at: Only a returned order has this time" in output


def test_orders_that_become_returned_or_cancelled_without_a_time_are_dated_at_the_import(
    tmp_path: Path, customer: Customer
) -> None:
    """GIVEN a delivered order O1 and a file that returns it and creates a cancelled O2
    WHEN the file is imported twice
    THEN both are dated at the first import, and the second changes nothing."""
    OrderFactory(external_id="O1", customer=customer, status=Order.Status.DELIVERED)
    path = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [order_row("O1", status="returned"), order_row("O2", status="cancelled")],
    )
    before = timezone.now()

    run_import(path, "orders")
    after = timezone.now()
    first = {o.external_id: (o.returned_at, o.cancelled_at) for o in Order.objects.all()}
    output = run_import(path, "orders")

    returned_at, _ = first["O1"]
    _, cancelled_at = first["O2"]
    assert returned_at is not None and before <= returned_at <= after
    assert cancelled_at is not None and before <= cancelled_at <= after
    assert {o.external_id: (o.returned_at, o.cancelled_at) for o in Order.objects.all()} == first
    assert "unchanged 2" in output


def test_an_order_sent_back_to_delivered_loses_its_return_time(
    tmp_path: Path, customer: Customer
) -> None:
    OrderFactory(
        external_id="O1", customer=customer, status=Order.Status.RETURNED, returned_at=None
    )
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, [order_row("O1", status="returned")])
    run_import(path, "orders")
    assert Order.objects.get().returned_at is None  # stays returned: unknown stays unknown

    write_csv(path, ORDER_HEADER, [order_row("O1", status="delivered")])
    run_import(path, "orders")

    assert (Order.objects.get().status, Order.objects.get().returned_at) == ("delivered", None)


def test_a_return_time_column_without_a_status_column_is_refused_before_any_row(
    tmp_path: Path, customer: Customer
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        ["external_id", "customer", "placed_at", "total", "returned_at"],
        [["O1", "C1", "2025-03-01", "10", "2025-03-05"]],
    )

    with pytest.raises(CommandError, match="Column 'returned_at' needs the 'status' column"):
        run_import(path, "orders")

    assert not Order.objects.exists()


TICKET_HEADER = ["external_id", "customer", "subject", "opened_at", "status", "reopened_count"]


def test_an_imported_reopen_count_is_recorded_as_reopenings_of_unknown_time(
    tmp_path: Path, customer: Customer
) -> None:
    """GIVEN a file of tickets with the shop's reopen counts
    WHEN it is imported twice
    THEN each ticket has as many reopenings as its count, all without a time, and the
    second import changes nothing."""
    path = write_csv(
        tmp_path / "tickets.csv",
        TICKET_HEADER,
        [
            ["T1", "C1", "Late", "2025-03-01", "closed", "2"],
            ["T2", "C1", "Refund", "2025-03-02", "open", ""],
        ],
    )

    run_import(path, "tickets")
    output = run_import(path, "tickets")

    counts = {t.external_id: (t.reopened_count, t.reopenings.count()) for t in Ticket.objects.all()}
    assert counts == {"T1": (2, 2), "T2": (0, 0)}
    assert not Ticket.objects.get(external_id="T1").reopenings.exclude(reopened_at=None).exists()
    assert "unchanged 2" in output


def test_a_reopen_seen_in_the_file_is_dated_and_a_count_never_removes_reopenings(
    tmp_path: Path, customer: Customer
) -> None:
    """GIVEN a solved ticket with one reopening on record
    WHEN a file moves it back to open with a count of 3, then another says 1
    THEN the move is a reopening dated at the import, the third has no time, and the
    lower count leaves all three."""
    ticket = TicketFactory(
        external_id="T1",
        customer=customer,
        status=Ticket.Status.SOLVED,
        solved_at=timezone.now() - timedelta(days=1),
        reopened_count=1,
    )
    earlier = timezone.now() - timedelta(days=2)
    ticket.reopenings.create(reopened_at=earlier)
    path = write_csv(
        tmp_path / "tickets.csv", TICKET_HEADER, [["T1", "C1", "Late", "2025-03-01", "open", "3"]]
    )
    before = timezone.now()

    run_import(path, "tickets")
    after = timezone.now()
    write_csv(path, TICKET_HEADER, [["T1", "C1", "Late", "2025-03-01", "open", "1"]])
    run_import(path, "tickets")

    ticket.refresh_from_db()
    times = sorted(ticket.reopenings.values_list("reopened_at", flat=True), key=str)
    assert ticket.reopened_count == 3
    assert times[0] == earlier and times[2] is None
    assert before <= times[1] <= after


def test_a_reopen_without_a_count_column_is_dated_at_the_import(
    tmp_path: Path, customer: Customer
) -> None:
    TicketFactory(
        external_id="T1",
        customer=customer,
        status=Ticket.Status.CLOSED,
        solved_at=timezone.now() - timedelta(days=1),
    )
    path = write_csv(
        tmp_path / "tickets.csv",
        TICKET_HEADER[:-1],
        [["T1", "C1", "Late", "2025-03-01", "pending"]],
    )
    before = timezone.now()

    run_import(path, "tickets")

    ticket = Ticket.objects.get()
    (reopened_at,) = ticket.reopenings.values_list("reopened_at", flat=True)
    assert ticket.reopened_count == 1 and before <= reopened_at <= timezone.now()


def test_a_negative_reopen_count_is_a_bad_row(tmp_path: Path, customer: Customer) -> None:
    path = write_csv(
        tmp_path / "tickets.csv",
        TICKET_HEADER,
        [
            ["T1", "C1", "Late", "2025-03-01", "open", "-1"],
            ["T2", "C1", "Ok", "2025-03-01", "", ""],
        ],
    )

    output = run_import(path, "tickets")

    assert "line 2: reopened_count:" in output
    assert list(Ticket.objects.values_list("external_id", flat=True)) == ["T2"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["orders", "tickets"])
def test_orders_and_tickets_import_announces_their_customers_once_per_batch(
    tmp_path: Path, kind: str
) -> None:
    """GIVEN 5 rows of 3 customers in batches of 3, one row moving X4 away from a fourth
    WHEN imported (each batch commits) THEN each batch announces its customers once, the
    former customer of X4 included; a re-run announces none."""
    c1, c2, c3, c4 = (CustomerFactory(external_id=f"C{i}") for i in range(1, 5))
    owners = ["C1", "C1", "C2", "C3", "C3"]
    if kind == "orders":
        OrderFactory(external_id="X4", customer=c4)
        header = ORDER_HEADER
        rows = [order_row(f"X{i}", customer) for i, customer in enumerate(owners)]
    else:
        TicketFactory(external_id="X4", customer=c4)
        header = ["external_id", "customer", "subject", "opened_at"]
        rows = [[f"X{i}", customer, "Late", "2025-03-01"] for i, customer in enumerate(owners)]
    path = write_csv(tmp_path / f"{kind}.csv", header, rows)
    announced: list[list[int]] = []

    def receiver(sender: type, customer_ids: list[int], **kwargs: object) -> None:
        announced.append(customer_ids)

    customers_activity_saved.connect(receiver, dispatch_uid="test-import-activity")
    try:
        run_import(path, kind, batch_size=3)
        assert announced == [sorted([c1.pk, c2.pk]), sorted([c3.pk, c4.pk])]

        announced.clear()
        run_import(path, kind, batch_size=3)
        assert announced == []
    finally:
        customers_activity_saved.disconnect(dispatch_uid="test-import-activity")
