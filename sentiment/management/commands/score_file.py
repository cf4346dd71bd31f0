"""Score a CSV/TSV export of customer feedback without touching the database.

The output is written spreadsheet-safe (crm.csvsafe): it echoes customers' text, and a
cell like `=HYPERLINK(...)` must not run as a formula where the file is opened. Input
cells are unescaped first, so a file we wrote (this command's output, an import's
rejects) is read as the original text and scoring it again writes it back unchanged.
The input is read with the importer's guards (crm.importers.open_csv): an archive, a zip
bomb or a binary file renamed .csv is refused from its first 8 KB, and an overlong field or
line (a 2 GB file without a newline) is one row with an error, never read into memory.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from crm.csvsafe import safe_writer, unescape
from crm.importers import CsvSource, ImportFileError, LineTooLong, open_csv
from sentiment.analysis import EMPTY, TextAnalysis, analyze_texts
from sentiment.analyzers import Analyzer, get_analyzer

OUTPUT_COLUMNS = ["label", "score", "confidence", "language", "aspects", "error"]
BATCH = 256


def _dialect(path: Path) -> str:
    return "excel-tab" if path.suffix.lower() == ".tsv" else "excel"


def _bad_encoding(value: str) -> str | None:
    """A message naming the first byte that is not UTF-8, or None (read with surrogateescape)."""
    for position, char in enumerate(value):
        if "\udc80" <= char <= "\udcff":
            return (
                f"text is not valid UTF-8 (byte 0x{ord(char) - 0xDC00:02x} at character {position})"
            )
    return None


def _clean(value: str) -> str:
    """The value as valid UTF-8 for the output: undecodable bytes become U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _aspects(result: TextAnalysis) -> str:
    return ";".join(f"{a.aspect}:{a.label}" for a in result.aspects.values())


def _fields(result: TextAnalysis) -> list[str]:
    return [
        result.label,
        "" if result.score is None else f"{result.score:.4f}",
        "" if result.confidence is None else f"{result.confidence:.4f}",
        result.language,
        _aspects(result),
        "empty text" if result.label == EMPTY else "",
    ]


class Command(BaseCommand):
    help = (
        "Score the text column of a CSV (a .tsv extension means tab-separated) and write every "
        "input row plus label, score, confidence, language, aspects and error. Rows that cannot "
        "be scored (empty text, bad encoding, wrong number of fields) get an error, not a crash."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", type=Path)
        parser.add_argument("--text-column", required=True)
        parser.add_argument(
            "--analyzer", default="transformer", choices=["vader", "transformer", "combined"]
        )
        parser.add_argument("--output", type=Path, required=True)

    def handle(
        self, *args: Any, input: Path, text_column: str, analyzer: str, output: Path, **options: Any
    ) -> None:
        if not input.is_file():
            raise CommandError(f"{input} does not exist.")
        try:
            instance = get_analyzer(analyzer)
        except Exception as exc:
            raise CommandError(f"Analyzer {analyzer!r} cannot load: {exc}") from exc
        counts = {"rows": 0, "scored": 0, "errors": 0}
        try:
            with open_csv(input, dialect=_dialect(input)) as source:  # refuses before writing
                try:
                    with output.open("w", encoding="utf-8", newline="") as target:
                        self._score_file(source, target, output, text_column, instance, counts)
                except ImportFileError:
                    output.unlink(missing_ok=True)  # only a header was to be written
                    raise
        except ImportFileError as exc:
            raise CommandError(f"{input} was not scored. {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{counts['rows']} rows written to {output}: {counts['scored']} scored by "
                f"{instance.name} {instance.version}, {counts['errors']} with an error."
            )
        )

    def _score_file(
        self,
        source: CsvSource,
        target: Any,
        output: Path,
        text_column: str,
        instance: Analyzer,
        counts: dict[str, int],
    ) -> None:
        try:
            header = [unescape(_clean(name)) for name in next(source.reader, [])]
        except (csv.Error, LineTooLong) as exc:
            raise ImportFileError(f"Its header row cannot be read: {exc}.") from None
        if text_column not in header:
            raise ImportFileError(f"It has no column {text_column!r}; its columns: "
                                  f"{', '.join(header)}.")  # fmt: skip
        column = header.index(text_column)
        writer = safe_writer(target, dialect=_dialect(output))
        writer.writerow(header + OUTPUT_COLUMNS)
        with tqdm(unit="row", file=sys.stderr, disable=None) as bar:
            for batch in self._batches(source, len(header), column):
                self._score(instance, batch, column, writer, counts)
                bar.update(len(batch))

    def _batches(
        self, source: CsvSource, width: int, column: int
    ) -> Iterator[list[tuple[list[str], str | None]]]:
        """Batches of (row padded to the header's width, error or None); blank lines are
        skipped, an unreadable line is a row of empty fields with its error."""
        batch: list[tuple[list[str], str | None]] = []
        for line, row, error in source.records():
            if error:
                error = f"line {line}: {error}"
            elif len(row) != width:
                error = f"line {line}: {len(row)} fields, the header has {width}"
            row = (row + [""] * width)[:width]
            error = error or _bad_encoding(row[column])
            batch.append((row, error))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _score(
        self,
        analyzer: Analyzer,
        batch: list[tuple[list[str], str | None]],
        column: int,
        writer: Any,
        counts: dict[str, int],
    ) -> None:
        todo = [i for i, (_, error) in enumerate(batch) if error is None]
        analyses = analyze_texts(analyzer, [batch[i][0][column] for i in todo])
        results = dict(zip(todo, analyses, strict=True))
        for i, (row, error) in enumerate(batch):
            result = results.get(i)
            fields = ["", "", "", "", "", error or ""] if result is None else _fields(result)
            counts["rows"] += 1
            counts["scored"] += result is not None and result.scored
            counts["errors"] += bool(fields[-1])
            writer.writerow([_clean(value) for value in row] + fields)
