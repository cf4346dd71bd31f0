"""Benchmark of `import_csv`: generate customers and orders CSV files, import them, report speed.

    CRM_VAR_DIR=/tmp/csv-bench-var .venv/bin/python manage.py migrate
    CRM_VAR_DIR=/tmp/csv-bench-var .venv/bin/python benchmarks/import_orders.py --rows 1000000

Runs against whatever database the settings point at: SQLite by default
(DJANGO_SETTINGS_MODULE=config.settings.local), PostgreSQL with DATABASE_URL set. The
database must be migrated. The files are written row by row (never held in memory) into
--dir, or a temporary directory that is removed afterwards; the imports run in this
process through call_command, so the peak RSS printed (resource.getrusage) is the import's
high-water mark, generation included. --rerun imports the orders a second time to time
the idempotent path (every row read, compared, none written).

Half a percent of the order rows are bad on purpose (unknown customer, negative total,
unparsable date), so the validation and rejects paths are part of what is measured.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time used by this process so far: unlike wall time, not inflated by other load
    on the machine (the database server's own CPU is not included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_customers(path: Path, count: int, rng: random.Random) -> None:
    """`count` customers C0000000... who signed up in 2023-2024."""
    start = datetime(2023, 1, 1, tzinfo=UTC)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["external_id", "signed_up_at", "name", "email", "country", "marketing_consent"]
        )
        for number in range(count):
            signed_up = start + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
            writer.writerow(
                [
                    f"C{number:07d}",
                    signed_up.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    f"Customer {number}",
                    f"c{number}@example.com",
                    rng.choice(("DE", "FR", "NL", "AT", "IT")),
                    rng.choice(("true", "false")),
                ]
            )


def write_orders(path: Path, count: int, customers: int, rng: random.Random) -> int:
    """`count` orders of random customers; returns how many rows were made bad on purpose."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    statuses = ("placed", "delivered", "delivered", "delivered", "returned", "cancelled")
    bad = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "external_id",
                "customer",
                "placed_at",
                "total",
                "currency",
                "item_count",
                "status",
                "delivered_at",
                "promised_delivery_date",
                "coupon_code",
            ]
        )
        for number in range(count):
            placed = start + timedelta(seconds=rng.randrange(180 * 24 * 3600))
            status = rng.choice(statuses)
            delivered = placed + timedelta(hours=rng.randrange(24, 240))
            row = [
                f"O{number:08d}",
                f"C{rng.randrange(customers):07d}",
                placed.strftime("%Y-%m-%d %H:%M:%S+00:00"),
                f"{rng.randrange(500, 50_000) / 100:.2f}",
                "EUR",
                str(rng.randrange(1, 6)),
                status,
                delivered.isoformat() if status in ("delivered", "returned") else "",
                (placed + timedelta(days=5)).date().isoformat(),
                "WELCOME10" if rng.random() < 0.05 else "",
            ]
            if rng.random() < 0.005:
                bad += 1
                column, value = rng.choice(((1, "C-UNKNOWN"), (3, "-1.00"), (2, "yesterday")))
                row[column] = value
            writer.writerow(row)
    return bad


def run_import(path: Path, kind: str, batch_size: int, rejects: Path | None) -> str:
    """Run the command; return its output with a line on speed, CPU and memory appended."""
    from django.core.management import call_command

    out = io.StringIO()
    options: dict[str, object] = {
        "kind": kind,
        "batch_size": batch_size,
        "stdout": out,
        "verbosity": 2,  # a progress line per batch, with the running rate
    }
    if rejects is not None:
        options["rejects"] = rejects
    cpu = cpu_seconds()
    call_command("import_csv", str(path), **options)
    cpu = cpu_seconds() - cpu
    output = out.getvalue()
    rows = int(summary_value(output, "rows read"))
    output += (
        f"\n{kind}: {rate_of(output)} wall clock; {rows / cpu:,.0f} rows per CPU second "
        f"of this process; peak RSS {peak_rss_mb():.0f} MiB"
    )
    return output


def summary_value(output: str, label: str) -> str:
    line = next(line for line in output.splitlines() if line.strip().startswith(f"{label}:"))
    return line.split(":", 1)[1].split()[0].replace(",", "")


def rate_of(output: str) -> str:
    """The `(12,345 rows/s)` figure from the command's summary line."""
    first = next(line for line in output.splitlines() if line.startswith("Imported"))
    return first[first.rindex("(") + 1 : first.rindex(")")]


def summary_of(output: str) -> str:
    """The command's summary, without the per-batch progress and the list of bad rows."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Imported"))
    end = next(i for i, line in enumerate(lines) if i > start and "bad rows:" in line)
    return "\n".join(lines[start : end + 1])


def progress_of(output: str, points: int = 10) -> str:
    """About `points` of the per-batch progress lines: does the rate hold as tables grow?"""
    lines = [line for line in output.splitlines() if line.startswith("  batch ")]
    step = max(len(lines) // points, 1)
    return "\n".join(lines[step - 1 :: step])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="order rows (1,000,000)")
    parser.add_argument("--customers", type=int, default=100_000, help="customers (100,000)")
    parser.add_argument("--batch-size", type=int, default=2_000)
    parser.add_argument("--dir", type=Path, help="keep the files here instead of a temp dir")
    parser.add_argument("--rerun", action="store_true", help="import the orders a second time")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(
        f"database: {engine} {connection.settings_dict['NAME']}, DEBUG={settings.DEBUG}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )

    with tempfile.TemporaryDirectory(prefix="csv-bench-") as temp:
        directory = args.dir or Path(temp)
        directory.mkdir(parents=True, exist_ok=True)
        rng = random.Random(args.seed)
        customers_csv = directory / "customers.csv"
        orders_csv = directory / "orders.csv"

        started = time.monotonic()
        write_customers(customers_csv, args.customers, rng)
        bad = write_orders(orders_csv, args.rows, args.customers, rng)
        size = orders_csv.stat().st_size / 2**20
        print(
            f"generated {args.customers:,} customers and {args.rows:,} orders "
            f"({size:,.0f} MiB, {bad:,} bad on purpose) in {time.monotonic() - started:.0f} s; "
            f"peak RSS {peak_rss_mb():.0f} MiB"
        )

        output = run_import(customers_csv, "customers", args.batch_size, None)
        print(output.splitlines()[-1])

        output = run_import(orders_csv, "orders", args.batch_size, directory / "rejects.csv")
        print(progress_of(output))
        print(summary_of(output))
        print(output.splitlines()[-1])

        if args.rerun:
            output = run_import(orders_csv, "orders", args.batch_size, None)
            print(summary_of(output))
            print(output.splitlines()[-1].replace("orders:", "orders again (idempotent):"))
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
