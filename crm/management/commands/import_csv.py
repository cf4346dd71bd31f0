"""`manage.py import_csv --kind KIND FILE`: load a shop's CSV export (see crm.importers).

Exit status is non-zero only when the file cannot be used at all (unreadable, empty, a
required column missing) or when it has rows and not a single one could be loaded;
otherwise the good rows load, and the bad ones are listed in the summary (all of them in
--rejects). A header without rows loads nothing and succeeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)

from crm.importers import (
    DEFAULT_BATCH_SIZE,
    KINDS,
    MAX_BATCH_SIZE,
    REPORTED_BAD_ROWS,
    ImportFileError,
    ImportReport,
    import_csv,
)


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the column tables of the epilog as written."""


def _columns_help() -> str:
    """The column reference of every kind, from the spec in crm.importers."""
    lines = ["columns (* = required; other columns are ignored with a notice):"]
    for kind in KINDS.values():
        lines.append(f"\n  --kind {kind.name}: {kind.doc}")
        width = max(len(column.name) for column in kind.columns) + 1
        for column in kind.columns:
            name = f"{column.name}{'*' if column.required else ''}"
            lines.append(f"    {name:<{width}}  {column.doc}")
    lines.append(
        "\ntimestamps: ISO 8601 (2025-03-01T10:00:00Z, 2025-03-01 10:00:00+01:00) or a plain "
        "date (2025-03-01, midnight);\nwithout an offset they are UTC. Decimals use '.'."
    )
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Load customers, orders, events, reviews, tickets or ticket messages from a CSV file. "
        "Rows are upserted on their external id, so re-running a file changes nothing. Bad "
        "rows are reported with their line number and the good ones still load."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs.setdefault("epilog", _columns_help())
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The CSV file (UTF-8, comma-separated).")
        parser.add_argument(
            "--kind", required=True, choices=list(KINDS), help="What the file holds."
        )
        parser.add_argument(
            "--rejects",
            type=Path,
            metavar="REJECTS.csv",
            help=(
                "Write every bad row here: line, error, then the row's original fields (a "
                "cell starting with = + - @ gets a leading ', read back without it)."
            ),
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Rows per batch and transaction (default {DEFAULT_BATCH_SIZE:,}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        rejects: Path | None = options["rejects"]
        batch_size: int = options["batch_size"]
        verbosity: int = options["verbosity"]
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE:,}.")
        if not path.is_file():
            raise CommandError(f"{path}: no such file.")
        if rejects is not None and rejects.resolve() == path.resolve():
            raise CommandError("--rejects must not be the file being imported.")

        def progress(report: ImportReport) -> None:
            if verbosity >= 2:
                self.stdout.write(
                    f"  batch {report.batches:,}: {report.rows_read:,} rows read, "
                    f"{report.bad:,} bad ({report.rows_per_second:,.0f} rows/s)"
                )

        try:
            report = import_csv(
                kind=options["kind"],
                path=path,
                rejects_path=rejects,
                batch_size=batch_size,
                notify=lambda message: self.stdout.write(self.style.WARNING(message)),
                on_batch=progress,
            )
        except ImportFileError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        except OSError as exc:
            raise CommandError(f"{exc.filename or path}: {exc.strerror or exc}") from exc
        self._summarise(report, path, rejects)
        if report.rows_read == 0:
            # A header and no rows is a valid export of nothing new, not a broken file.
            self.stdout.write(self.style.WARNING("The file has no data rows: nothing to load."))
        elif report.loaded == 0:
            raise CommandError(
                f"{path}: nothing could be loaded "
                f"({report.rows_read:,} rows read, {report.bad:,} bad)."
            )

    def _summarise(self, report: ImportReport, path: Path, rejects: Path | None) -> None:
        write = self.stdout.write
        write(
            f"Imported {report.kind} from {path} in {report.seconds:.1f} s "
            f"({report.rows_per_second:,.0f} rows/s)."
        )
        write(f"  rows read:             {report.rows_read:>12,}")
        write(
            f"  loaded:                {report.loaded:>12,}  (records created {report.created:,}, "
            f"updated {report.updated:,}, unchanged {report.unchanged:,})"
        )
        if report.skipped:
            write(
                f"  skipped, erased:       {report.skipped:>12,}  "
                "(customers erased on request are not re-imported)"
            )
        write(f"  bad rows:              {report.bad:>12,}")
        if report.duplicates:
            shown = ", ".join(
                f"line {d.line} over line {d.earlier_line} ({d.key})"
                for d in report.first_duplicates[:5]
            )
            more = " ..." if report.duplicates > 5 else ""
            write(
                f"  duplicates overridden: {report.duplicates:>12,}  "
                f"(the later row wins: {shown}{more})"
            )
        if report.bad:
            listed = len(report.first_bad)
            title = (
                "Bad rows" if listed == report.bad else f"First {listed} of {report.bad:,} bad rows"
            )
            write(self.style.WARNING(f"{title}:"))
            for bad in report.first_bad:
                write(f"  line {bad.line}: {bad.error}")
            if rejects is not None:
                write(f"All bad rows, with line and error, are in {rejects}.")
            elif report.bad > REPORTED_BAD_ROWS:
                write("Use --rejects FILE to get all of them.")
