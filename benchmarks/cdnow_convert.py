"""Convert the CDNOW purchase log into the customers and orders CSV files of `import_csv`.

    .venv/bin/python benchmarks/cdnow_convert.py ../shared/data/churn/cdnow/CDNOW_master.txt
    # then run the two import_csv commands it prints (customers first, then orders)

Why: the churn model needs real purchase histories, not only the demo shop's simulated
ones. CDNOW (69,659 CD purchases of the 23,570 customers who first bought in January to
March 1997, followed until June 1998) is the classic public one. Loaded through the same
importer as a shop's export, it lets `churn_train --validation-cutoff 1997-12-31
--horizon-days 180` run on real data: the features see 1997, the labels the first half
of 1998.

Input: one transaction a line, whitespace-separated: customer id, date (YYYYMMDD), number
of CDs, dollar value. The distributed file has no header, but some copies (ours included)
start with a `customer_id date number_of_cds dollar_value` line; a first line that does
not start with a number is skipped as a header. Any other line that is not four valid
fields stops the conversion with its line number: nothing is guessed or dropped.

Output (in --output, default /tmp/cdnow), each file written to `*.part` and renamed, so a
half-written file is never imported:

* `customers.csv`: external_id `cdnow-<id>` (the id as written, zero-padded), name
  `CDNOW <id>`, signed_up_at = midnight UTC of the first purchase. CDNOW records no
  sign-up, and the first purchase is when the customer became one.
* `orders.csv`: one order per transaction, external_id `cdnow-<id>-<row>` where row is
  the transaction's position in the file (1 = first data line, the header not counted);
  placed_at = noon UTC of its date (the log has dates only; a customer's several purchases
  on one day stay separate orders with the same time); total = the dollar value (USD,
  zero kept: the importer accepts totals >= 0); item_count = the number of CDs; status
  delivered; no delivery dates, so lateness is unknown rather than invented.

Noon rather than midnight keeps every order after its customer's sign-up; note that a
cutoff given as a plain date is midnight, so orders of the cutoff day itself fall after
it (in the label window).

Reads the whole log into memory (a few tens of MB for CDNOW's 70,000 lines); needs no
Django and no database.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = Path(tempfile.gettempdir()) / "cdnow"  # /tmp/cdnow unless TMPDIR says otherwise
ID_PREFIX = "cdnow-"
CURRENCY = "USD"
STATUS = "delivered"  # the neutral, completed status (placed, delivered, returned, cancelled)
CUSTOMER_HEADER = ["external_id", "signed_up_at", "name"]
ORDER_HEADER = ["external_id", "customer", "placed_at", "total", "currency", "item_count", "status"]
CENT = Decimal("0.01")


class ConversionError(ValueError):
    """A line of the log that is not a transaction; the message names the line."""


@dataclass(frozen=True)
class Transaction:
    """One line of the log. `row` counts data lines from 1 (a header is not counted)."""

    row: int
    customer: str
    day: date
    cds: int
    dollars: Decimal


def parse_line(text: str, line: int, row: int) -> Transaction:
    """One whitespace-separated line -> Transaction; ConversionError naming `line` if not."""
    fields = text.split()
    if len(fields) != 4:
        raise ConversionError(f"line {line}: {len(fields)} fields, expected 4: {text.strip()!r}")
    customer, day_text, cds_text, dollars_text = fields
    if not customer.isdigit():
        raise ConversionError(f"line {line}: customer id {customer!r} is not a number")
    try:
        day = datetime.strptime(day_text, "%Y%m%d").date()
    except ValueError:
        raise ConversionError(f"line {line}: {day_text!r} is not a date (YYYYMMDD)") from None
    try:
        cds = int(cds_text)
    except ValueError:
        raise ConversionError(f"line {line}: {cds_text!r} CDs is not a whole number") from None
    try:
        dollars = Decimal(dollars_text)
    except InvalidOperation:
        raise ConversionError(f"line {line}: {dollars_text!r} is not an amount") from None
    if cds < 0 or not dollars.is_finite() or dollars < 0:
        raise ConversionError(f"line {line}: negative or infinite quantity: {text.strip()!r}")
    if dollars != dollars.quantize(CENT):
        # Rounding would change the data silently; the importer keeps two decimals.
        raise ConversionError(f"line {line}: {dollars_text!r} has more than two decimals")
    return Transaction(row=row, customer=customer, day=day, cds=cds, dollars=dollars)


def read_transactions(path: Path) -> tuple[list[Transaction], bool]:
    """Every transaction of the log in file order, and whether a header line was skipped.

    Blank lines are ignored; any other malformed line raises ConversionError."""
    transactions: list[Transaction] = []
    header = False
    with open(path, encoding="ascii", newline="") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            if line == 1 and not text.split()[0].isdigit():
                header = True
                continue
            transactions.append(parse_line(text, line, row=len(transactions) + 1))
    return transactions, header


def first_purchases(transactions: Iterable[Transaction]) -> dict[str, date]:
    """Customer id -> the day of their first purchase, in customer id order."""
    first: dict[str, date] = {}
    for transaction in transactions:
        known = first.get(transaction.customer)
        if known is None or transaction.day < known:
            first[transaction.customer] = transaction.day
    return dict(sorted(first.items(), key=lambda item: (int(item[0]), item[0])))


def customer_id(customer: str) -> str:
    return f"{ID_PREFIX}{customer}"


def _write_atomically(path: Path, header: list[str], rows: Iterable[list[str]]) -> None:
    """Write the CSV file to `path.part`, then rename it over `path`."""
    part = path.with_name(path.name + ".part")
    with open(part, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(part, path)


def write_customers(path: Path, first: dict[str, date]) -> None:
    """customers.csv: one row per customer, signed up at midnight UTC of the first purchase."""
    _write_atomically(
        path,
        CUSTOMER_HEADER,
        (
            [customer_id(customer), f"{day.isoformat()}T00:00:00Z", f"CDNOW {customer}"]
            for customer, day in first.items()
        ),
    )


def write_orders(path: Path, transactions: Iterable[Transaction]) -> None:
    """orders.csv: one delivered order per transaction, placed at noon UTC of its day."""
    _write_atomically(
        path,
        ORDER_HEADER,
        (
            [
                f"{customer_id(t.customer)}-{t.row}",
                customer_id(t.customer),
                f"{t.day.isoformat()}T12:00:00Z",
                f"{t.dollars:.2f}",
                CURRENCY,
                str(t.cds),
                STATUS,
            ]
            for t in transactions
        ),
    )


def import_commands(customers_csv: Path, orders_csv: Path) -> list[str]:
    """The import_csv commands that load the two files, customers first."""
    commands = []
    for kind, path in (("customers", customers_csv), ("orders", orders_csv)):
        rejects = path.with_name(f"{path.stem}.rejects.csv")
        commands.append(
            f"python manage.py import_csv --kind {kind} {shlex.quote(str(path))} "
            f"--rejects {shlex.quote(str(rejects))}"
        )
    return commands


@dataclass(frozen=True)
class Summary:
    """What a conversion wrote, for the report."""

    header_skipped: bool
    customers: int
    orders: int
    zero_total: int
    zero_cds: int
    same_day: int  # orders whose customer bought more than once that day
    first_day: date
    last_day: date


def convert(source: Path, output: Path) -> Summary:
    """Write customers.csv and orders.csv for `source` into `output` (created if need be;
    existing files are replaced)."""
    transactions, header = read_transactions(source)
    if not transactions:
        raise ConversionError("no transactions")
    first = first_purchases(transactions)
    output.mkdir(parents=True, exist_ok=True)
    write_customers(output / "customers.csv", first)
    write_orders(output / "orders.csv", transactions)
    per_day = Counter((t.customer, t.day) for t in transactions)
    days = [t.day for t in transactions]
    return Summary(
        header_skipped=header,
        customers=len(first),
        orders=len(transactions),
        zero_total=sum(1 for t in transactions if t.dollars == 0),
        zero_cds=sum(1 for t in transactions if t.cds == 0),
        same_day=sum(count for count in per_day.values() if count > 1),
        first_day=min(days),
        last_day=max(days),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("input", type=Path, help="CDNOW_master.txt")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"folder for customers.csv and orders.csv (default {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args(argv)
    source: Path = args.input
    output: Path = args.output.resolve()
    try:
        summary = convert(source, output)
    except (ConversionError, OSError, UnicodeDecodeError) as exc:
        print(f"{source}: {exc}", file=sys.stderr)
        return 1
    print(f"read {source}{' (header line skipped)' if summary.header_skipped else ''}")
    print(f"  customers:                 {summary.customers:>8,}")
    print(f"  orders:                    {summary.orders:>8,}")
    print(f"    with total 0.00:         {summary.zero_total:>8,}  (kept)")
    print(f"    with 0 CDs:              {summary.zero_cds:>8,}")
    print(f"    same customer, same day: {summary.same_day:>8,}  (separate orders, same time)")
    print(f"  dates:                     {summary.first_day} to {summary.last_day}")
    customers_csv, orders_csv = output / "customers.csv", output / "orders.csv"
    print(f"wrote {customers_csv}\nwrote {orders_csv}")
    print(f"\nTo import, from {ROOT} (DATABASE_URL / CRM_VAR_DIR naming the target database):")
    for command in import_commands(customers_csv, orders_csv):
        print(f"  {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
