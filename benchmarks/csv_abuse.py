"""Benchmark of hostile CSV uploads: what `import_csv` spends on each, in time and memory.

    .venv/bin/python benchmarks/csv_abuse.py --gigabytes 2

Builds, in a temporary directory (or --dir), the files a shop or an attacker could upload:

* a valid events CSV of about --gigabytes GiB (10,000 customers, events with a JSON payload
  of ~150 bytes, so ~8M rows for 2 GiB; the customers file is imported first);
* a zip bomb renamed .csv: a real ZIP of --bomb-gigabytes GiB of zeros, streamed through
  zipfile, a few MB on disk;
* a sparse file of zeros of --gigabytes GiB (os.truncate: no block written), as a
  preallocated or corrupt upload;
* a header of 10,000 columns, and a file of rows of 10,000 fields each (every tenth row a
  good one);
* a single line of --gigabytes GiB without a newline, between two good rows;
* an unclosed quote with 100,000 good rows on either side;
* 10 million blank lines and 10 million lines of commas, then one good row.

Each file is imported by `import_csv` (with a rejects file) in a child process of its own,
so the peak RSS printed (the child's ru_maxrss) is that file's alone; "baseline" is a child
that only set Django up. The database is SQLite in a temporary CRM_VAR_DIR, migrated
first; DATABASE_URL and REDIS_URL are ignored so that no shared database or broker is
touched. Needs about 2 x --gigabytes of free disk (plus the wide-rows file, ~300 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GIB = 1024**3
CUSTOMERS = 10_000
EVENTS_HEADER = "customer,kind,occurred_at,payload\n"
ORDERS_HEADER = ["external_id", "customer", "placed_at", "total", "currency", "status"]


# --- Building the files -------------------------------------------------------------------------


def write_customers(path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("external_id,signed_up_at,name,country\n")
        handle.writelines(
            f"C{n:07d},2024-01-{1 + n % 28:02d},Customer {n},DE\n" for n in range(CUSTOMERS)
        )


def write_events(path: Path, size: int) -> int:
    """Valid events until the file reaches `size` bytes; returns the number of rows."""
    kinds = ("visit", "product_view", "add_to_cart", "search", "wishlist", "login")
    start = 1_735_689_600  # 2025-01-01T00:00:00Z
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(EVENTS_HEADER)
        written = len(EVENTS_HEADER)
        while written < size:
            chunk = []
            for n in range(rows, rows + 10_000):
                moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + n))
                chunk.append(
                    f"C{n % CUSTOMERS:07d},{kinds[n % 6]},{moment},"
                    f'"{{""sku"": ""SKU-{n % 99_991:05d}"", ""path"": ""/products/'
                    f'summer-linen-dress-{n % 977}"", ""referrer"": ""https://www.example.com'
                    f'/search?q=linen+dress&page={n % 7}"", ""session"": ""s{n:012d}""}}"\n'
                )
            text = "".join(chunk)
            handle.write(text)
            written += len(text)
            rows += len(chunk)
    return rows


def write_zip_bomb(path: Path, size: int) -> None:
    """A real ZIP of `size` bytes of zeros, compressed as it is written."""
    block = bytes(8 << 20)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("events.csv", "w", force_zip64=True) as member,
    ):
        for _ in range(size // len(block)):
            member.write(block)


def order(n: int) -> str:
    return f"O{n:09d},C{n % CUSTOMERS:07d},2025-03-01T10:00:00Z,{10 + n % 90}.50,EUR,delivered"


def write_columns(path: Path, columns: int, rows: int) -> None:
    """A header of `columns` columns (the orders' own first) and `rows` rows as wide."""
    extra = columns - len(ORDERS_HEADER)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(ORDERS_HEADER + [f"col_{i}" for i in range(extra)]) + "\n")
        filler = "," + ",".join(f"v{i}" for i in range(extra)) + "\n"
        handle.writelines(order(n) + filler for n in range(rows))


def write_wide_rows(path: Path, fields: int, rows: int) -> None:
    """The orders header, then rows of `fields` fields; every tenth row is a good one."""
    filler = "," + ",".join(f"v{i}" for i in range(fields - len(ORDERS_HEADER))) + "\n"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(ORDERS_HEADER) + "\n")
        handle.writelines(
            order(10_000_000 + n) + ("\n" if n % 10 == 0 else filler) for n in range(rows)
        )


def write_single_line(path: Path, size: int) -> None:
    """A good row, `size` bytes without a newline, a newline, a good row."""
    block = b"9" * (8 << 20)
    with open(path, "wb") as handle:
        handle.write((",".join(ORDERS_HEADER) + "\n" + order(20_000_000) + "\n").encode())
        handle.write(b"O,C0000001,")
        for _ in range(size // len(block)):
            handle.write(block)
        handle.write(("\n" + order(20_000_001) + "\n").encode())


def write_unclosed_quote(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(ORDERS_HEADER) + "\n")
        handle.writelines(order(30_000_000 + n) + "\n" for n in range(rows))
        handle.write('O-QUOTE,C0000001,"2025-03-01,10.00,EUR,delivered\n')
        handle.writelines(order(31_000_000 + n) + "\n" for n in range(rows))


def write_blank_lines(path: Path, lines: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(ORDERS_HEADER) + "\n")
        for text in ("\n", ",,,,,\n"):
            for _ in range(lines // 100_000):
                handle.write(text * 100_000)
        handle.write(order(40_000_000) + "\n")


# --- Importing, one child process per file ------------------------------------------------------


def import_one(kind: str, path: Path, rejects: Path) -> dict[str, object]:
    """Runs in the child: import the file, return the figures (baseline: kind 'none')."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from crm.importers import ImportFileError, import_csv

    result: dict[str, object] = {"rows": 0, "loaded": 0, "bad": 0, "message": ""}
    started = time.monotonic()
    if kind != "none":
        try:
            report = import_csv(kind=kind, path=path, rejects_path=rejects)
        except ImportFileError as exc:
            result["message"] = f"refused: {exc}"
        else:
            result.update(rows=report.rows_read, loaded=report.loaded, bad=report.bad)
            result["message"] = "; ".join(f"line {b.line}: {b.error}" for b in report.first_bad[:2])
    result["seconds"] = time.monotonic() - started
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_child(kind: str, path: Path, env: dict[str, str]) -> dict[str, object]:
    rejects = path.with_name(f"rejects-{path.name}")
    completed = subprocess.run(
        [sys.executable, __file__, "--one", kind, str(path), str(rejects)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"import of {path.name} failed:\n{completed.stderr}")
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    rejects.unlink(missing_ok=True)
    return figures


def size_of(path: Path) -> str:
    """Apparent size, and the disk actually used where that differs (sparse, compressed)."""
    size = path.stat().st_size
    used = path.stat().st_blocks * 512
    text = f"{size / GIB:.2f} GiB" if size >= GIB / 10 else f"{size / 2**20:.1f} MiB"
    return text + (f", {used / 2**20:.1f} MiB on disk" if used < size / 2 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.0, help="big files' size (2)")
    parser.add_argument("--bomb-gigabytes", type=float, default=1.0, help="zeros zipped (1)")
    parser.add_argument("--dir", type=Path, help="build the files here, and keep them")
    parser.add_argument(
        "--one", nargs=3, metavar=("KIND", "FILE", "REJECTS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()

    if args.one:
        kind, path, rejects = args.one
        print(json.dumps(import_one(kind, Path(path), Path(rejects))))
        return

    size = int(args.gigabytes * GIB)
    with tempfile.TemporaryDirectory(prefix="csv-abuse-") as temp:
        directory = args.dir or Path(temp)
        directory.mkdir(parents=True, exist_ok=True)
        var = Path(temp) / "var"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(CRM_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE="config.settings.local", DEBUG="0")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True
        )
        print(
            f"SQLite in {var}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
            f"free disk {shutil.disk_usage(directory).free / GIB:.0f} GiB"
        )

        builders = [
            ("customers", "customers.csv", lambda p: write_customers(p)),
            ("events", "events.csv", lambda p: write_events(p, size)),
            (
                "events",
                "zip-bomb.csv",
                lambda p: write_zip_bomb(p, int(args.bomb_gigabytes * GIB)),
            ),
            ("events", "sparse-zeros.csv", lambda p: (p.touch(), os.truncate(p, size))),
            ("orders", "columns-10000.csv", lambda p: write_columns(p, 10_000, 1_000)),
            ("orders", "rows-of-10000-fields.csv", lambda p: write_wide_rows(p, 10_000, 5_000)),
            ("orders", "single-line.csv", lambda p: write_single_line(p, size)),
            ("orders", "unclosed-quote.csv", lambda p: write_unclosed_quote(p, 100_000)),
            ("orders", "blank-lines.csv", lambda p: write_blank_lines(p, 10_000_000)),
        ]
        figures = run_child("none", directory / "none", env)
        baseline = figures["peak_rss_mib"]
        print(f"baseline (Django set up, nothing imported): peak RSS {baseline:.0f} MiB")
        for kind, name, build in builders:
            path = directory / name
            started = time.monotonic()
            build(path)
            built = time.monotonic() - started
            figures = run_child(kind, path, env)
            print(
                f"{name} ({size_of(path)}, built in {built:.1f} s): {figures['seconds']:.3f} s, "
                f"{figures['rows']:,} rows read, {figures['loaded']:,} loaded, "
                f"{figures['bad']:,} bad; peak RSS {figures['peak_rss_mib']:.0f} MiB"
            )
            if figures["message"]:
                print(f"    {figures['message']}")
            if not args.dir:
                path.unlink()  # keep the disk free for the next file
            sys.stdout.flush()
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
