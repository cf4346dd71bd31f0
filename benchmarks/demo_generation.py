"""Benchmark generate_demo on the configured database: wall time, rows per table, peak RSS.

    CRM_VAR_DIR=/tmp/demo-bench-var .venv/bin/python manage.py migrate
    CRM_VAR_DIR=/tmp/demo-bench-var .venv/bin/python benchmarks/demo_generation.py

    # PostgreSQL
    createdb -h 127.0.0.1 -U postgres demobench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/demobench
    .venv/bin/python manage.py migrate && .venv/bin/python benchmarks/demo_generation.py

It runs the command in this process (so the peak RSS is the generator's) on whatever
DATABASE_URL / CRM_VAR_DIR point at, and refuses a database that already has customers
unless --flush is given, like the command itself. The ground truth goes to a temporary
directory unless --truth-file says otherwise.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--end-date", default=None, help="YYYY-MM-DD (default: today)")
    parser.add_argument("--truth-file", default=None)
    parser.add_argument("--flush", action="store_true", help="Delete existing CRM data first.")
    parser.add_argument(
        "--no-score", action="store_true", help="Do not announce texts to the sentiment worker."
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from crm.models import Customer, CustomerText, Event, Order, Review, Ticket, TicketMessage

    truth_file = args.truth_file or str(Path(tempfile.mkdtemp()) / "ground_truth.csv")
    options = {
        "customers": args.customers,
        "seed": args.seed,
        "truth_file": truth_file,
        "flush": args.flush,
        "no_score": args.no_score,
        "verbosity": 2,
    }
    if args.end_date:
        options["end_date"] = args.end_date
    database = connection.settings_dict
    print(f"Database: {connection.vendor} {database['NAME']}")
    print(f"generate_demo --customers {args.customers} --seed {args.seed}", flush=True)

    started = time.perf_counter()
    call_command("generate_demo", **options)
    wall = time.perf_counter() - started

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"\nWall time: {wall:.1f} s")
    print(f"Peak RSS: {peak_mb:.0f} MiB")
    print("Rows per table:")
    total = 0
    for model in (Customer, Order, Event, Review, Ticket, TicketMessage, CustomerText):
        count = model.objects.count()
        total += count
        print(f"  {model._meta.db_table:<22} {count:>12,}")
    print(f"  {'total':<22} {total:>12,}")
    print(f"Rows per second: {total / wall:,.0f}")
    if connection.vendor == "sqlite":
        size = Path(database["NAME"]).stat().st_size / 2**20
        print(f"SQLite file: {size:,.0f} MiB")
    print(f"Ground truth: {truth_file}")


if __name__ == "__main__":
    main()
