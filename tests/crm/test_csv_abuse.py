"""Hostile or broken uploads: archives and binaries renamed .csv, 10,000 columns, giant lines,
and customers' text that a spreadsheet would run as a formula."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given
from hypothesis import strategies as st

from crm import importers
from crm.csvsafe import safe_writer, spreadsheet_safe, unescape
from crm.importers import ImportFileError, import_csv
from crm.models import Customer, Order, Review
from tests.crm.test_import_csv import ORDER_HEADER, REVIEW_HEADER, order_row, review_row, write_csv
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

FORMULAS = [
    '=HYPERLINK("http://evil","x")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "\t=1+1",
]


@pytest.fixture
def customer() -> Customer:
    return CustomerFactory(external_id="C1")


def refused(path: Path, kind: str = "orders", **options: object) -> tuple[str, float]:
    """The ImportFileError message of importing `path`, and how long refusing it took."""
    started = time.monotonic()
    with pytest.raises(ImportFileError) as raised:
        import_csv(kind=kind, path=path, **options)  # type: ignore[arg-type]
    return str(raised.value), time.monotonic() - started


def zip_of_zeros(path: Path, megabytes: int) -> Path:
    """A real ZIP holding `megabytes` MB of zeros, streamed: a few KB on disk."""
    block = bytes(1 << 20)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("orders.csv", "w", force_zip64=True) as member,
    ):
        for _ in range(megabytes):
            member.write(block)
    return path


# --- Not a CSV at all: refused from the first bytes, before any row --------------------------


def test_a_zip_bomb_renamed_csv_is_refused_at_once_without_being_unpacked(
    tmp_path: Path, customer: Customer
) -> None:
    bomb = zip_of_zeros(tmp_path / "orders.csv", megabytes=100)
    rejects = tmp_path / "rejects.csv"
    assert bomb.stat().st_size < 1_000_000  # 100 MB of zeros once unpacked

    message, seconds = refused(bomb, rejects_path=rejects)

    assert message.startswith(
        "This file is a ZIP archive (or an Excel workbook), not a CSV: export it as CSV "
        "(UTF-8) and upload that."
    )
    assert seconds < 1
    assert not rejects.exists()
    assert not Order.objects.exists()


def test_the_command_names_the_file_and_says_it_is_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(gzip.compress(b"external_id,signed_up_at\nC1,2024-01-01\n"))

    with pytest.raises(CommandError, match=r"customers.csv: This file is a gzip-compressed file"):
        call_command("import_csv", str(path), kind="customers", stdout=io.StringIO())

    assert not Customer.objects.exists()


def _xlsx(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as workbook:
        workbook.writestr("[Content_Types].xml", "<Types/>")
        workbook.writestr("xl/workbook.xml", "<workbook/>")
    return path


CSV_TEXT = b"external_id,customer,placed_at,total\nO1,C1,2025-03-01,10.00\n"


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (lambda path: _xlsx(path).read_bytes(), "an Excel workbook (.xlsx"),
        (lambda path: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "(.xls)"),
        (lambda path: b"PK\x05\x06" + bytes(18), "an empty ZIP archive"),
        (lambda path: gzip.compress(CSV_TEXT), "a gzip-compressed file"),
        (lambda path: bz2.compress(CSV_TEXT), "a bzip2-compressed file"),
        (lambda path: bz2.compress(b""), "a bzip2-compressed file"),
        (lambda path: lzma.compress(CSV_TEXT), "an xz-compressed file"),
        (lambda path: b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(30), "a 7-Zip archive"),
        (lambda path: b"\x28\xb5\x2f\xfd\x04\x00" + CSV_TEXT, "a Zstandard-compressed file"),
        (lambda path: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
    ],
    ids=["xlsx", "xls", "empty zip", "gzip", "bzip2", "empty bzip2", "xz", "7z", "zstd", "pdf"],
)
def test_archives_workbooks_and_pdfs_are_refused_by_what_they_are(
    tmp_path: Path, customer: Customer, content: object, what: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(content(path))  # type: ignore[operator]

    message, _ = refused(path)

    assert what in message and "not a CSV" in message and "Nothing was loaded." in message
    assert not Order.objects.exists()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_a_utf16_export_is_refused_with_the_advice_to_re_export_as_utf8(
    tmp_path: Path, customer: Customer, encoding: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(CSV_TEXT.decode().encode(encoding))

    message, _ = refused(path)

    assert "UTF-16" in message or "UTF-32" in message
    assert "re-export it as CSV UTF-8" in message
    assert not Order.objects.exists()


def test_a_sparse_2_gb_file_of_zeros_is_refused_in_an_instant(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.touch()
    os.truncate(path, 2 * 1024**3)  # 2 GB, no block written

    message, seconds = refused(path)

    assert "NUL bytes near its start" in message and "not CSV text" in message
    assert seconds < 2


def test_a_nul_in_the_header_refuses_the_file_but_one_in_a_data_row_is_a_bad_row(
    tmp_path: Path, customer: Customer
) -> None:
    header_nul = tmp_path / "a.csv"
    header_nul.write_bytes(b"external_id,cust\x00omer,placed_at,total\nO1,C1,2025-03-01,1\n")
    row_nul = tmp_path / "b.csv"
    row_nul.write_bytes(CSV_TEXT + b"O2,C1,2025-03-01,1\x00\n")

    assert "NUL bytes" in refused(header_nul)[0]
    report = import_csv(kind="orders", path=row_nul)

    assert (report.loaded, report.bad) == (1, 1)
    assert report.first_bad[0].line == 3


# --- Too many columns --------------------------------------------------------------------------


def test_a_header_of_10000_columns_is_refused_naming_the_count_and_the_limit(
    tmp_path: Path, customer: Customer
) -> None:
    header = ORDER_HEADER + [f"extra_{i}" for i in range(10_000 - len(ORDER_HEADER))]
    path = write_csv(tmp_path / "orders.csv", header, [order_row("O1") + [""] * 9_994])

    message, _ = refused(path)

    assert "The header has 10,000 columns; at most 200 are accepted" in message
    assert "Nothing was loaded." in message
    assert not Order.objects.exists()


def test_the_column_limit_is_a_setting(tmp_path: Path, customer: Customer, settings) -> None:
    settings.CRM_IMPORT_MAX_COLUMNS = 6
    six = write_csv(tmp_path / "six.csv", ORDER_HEADER, [order_row("O1")])
    seven = write_csv(tmp_path / "seven.csv", [*ORDER_HEADER, "note"], [[*order_row("O2"), ""]])

    import_csv(kind="orders", path=six)
    message, _ = refused(seven)

    assert "The header has 7 columns; at most 6 are accepted" in message
    assert list(Order.objects.values_list("external_id", flat=True)) == ["O1"]


def test_a_row_of_10000_fields_is_a_bad_row_and_the_others_load(
    tmp_path: Path, customer: Customer
) -> None:
    wide = order_row("O2") + [f"x{i}" for i in range(10_000 - len(ORDER_HEADER))]
    path = write_csv(
        tmp_path / "orders.csv", ORDER_HEADER, [order_row("O1"), wide, order_row("O3")]
    )
    rejects = tmp_path / "rejects.csv"

    report = import_csv(kind="orders", path=path, rejects_path=rejects)

    assert set(Order.objects.values_list("external_id", flat=True)) == {"O1", "O3"}
    assert [(bad.line, bad.error) for bad in report.first_bad] == [
        (3, "has 10,000 fields, the header has 6")
    ]
    with open(rejects, newline="") as handle:
        assert len(list(csv.reader(handle))[1]) == 10_002  # line, error, every field


def test_a_batch_ends_early_when_its_rows_hold_many_characters(
    tmp_path: Path, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN rows of ~10,000 characters and a budget of 25,000 per batch
    WHEN 10 rows are imported with a batch size of 2,000 THEN they go in batches of 3."""
    monkeypatch.setattr(importers, "MAX_BATCH_CHARACTERS", 25_000)
    rows = [[*order_row(f"O{i}"), "x" * 10_000] for i in range(10)]
    path = write_csv(tmp_path / "orders.csv", [*ORDER_HEADER, "shop_note"], rows)

    report = import_csv(kind="orders", path=path, batch_size=2_000)

    assert report.batches == 4
    assert (report.rows_read, report.loaded) == (10, 10)


# --- Huge lines, unclosed quotes, empty lines --------------------------------------------------


def _orders_around(path: Path, middle: str, before: int = 2, after: int = 2) -> Path:
    """Good orders O0.. before, then `middle` written as it is, then good orders after."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ORDER_HEADER)
        writer.writerows(order_row(f"B{i}") for i in range(before))
        handle.write(middle)
        writer.writerows(order_row(f"A{i}") for i in range(after))
    return path


def test_a_5_mb_line_is_a_bad_row_naming_its_line_and_the_rows_around_it_load(
    tmp_path: Path, customer: Customer
) -> None:
    path = _orders_around(tmp_path / "orders.csv", "O9,C1," + "9" * 5_000_000 + "\n")

    report = import_csv(kind="orders", path=path)

    assert set(Order.objects.values_list("external_id", flat=True)) == {"B0", "B1", "A0", "A1"}
    assert [(bad.line, bad.error) for bad in report.first_bad] == [
        (4, "unreadable CSV: the line is longer than 4,000,000 characters")
    ]


def test_a_giant_line_is_skipped_without_ever_being_held_in_memory(
    tmp_path: Path, customer: Customer, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    settings.CRM_MAX_TEXT_LENGTH = 1_000
    monkeypatch.setattr(importers, "MIN_FIELD_SIZE_LIMIT", 10_000)
    monkeypatch.setattr(importers, "MIN_LINE_LIMIT", 40_000)
    path = _orders_around(tmp_path / "orders.csv", "x" * 5_000_000)  # no newline till A0

    tracemalloc.start()
    try:
        report = import_csv(kind="orders", path=path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 2_000_000  # the 5 MB line was never in memory at once
    assert report.first_bad[0].error == "unreadable CSV: the line is longer than 40,000 characters"
    # The line ran on into A0's row, which goes with it; A1 loads.
    assert set(Order.objects.values_list("external_id", flat=True)) == {"B0", "B1", "A1"}


def test_an_unclosed_quote_is_one_bad_row_naming_the_lines_it_swallowed(
    tmp_path: Path, customer: Customer, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    """GIVEN a quote opened on line 4 and never closed, and a field limit of 100 characters
    WHEN imported THEN the rows before load, the quote swallows rows up to the limit, is
    reported as one bad row with the lines it spans, and reading resumes after it."""
    settings.CRM_MAX_TEXT_LENGTH = 10
    monkeypatch.setattr(importers, "MIN_FIELD_SIZE_LIMIT", 100)
    path = _orders_around(tmp_path / "orders.csv", 'O9,C1,"2025-03-01,10\n', after=6)

    report = import_csv(kind="orders", path=path)

    (bad,) = report.first_bad
    assert bad.line == 4
    assert bad.error.startswith("unreadable CSV: field larger than field limit (100)")
    assert bad.error.endswith("(lines 4 to 6: an unclosed quote?)")
    # Lines 5 and 6 (A0, A1) were inside the quote; everything after line 6 loads.
    loaded = set(Order.objects.values_list("external_id", flat=True))
    assert loaded == {"B0", "B1", "A2", "A3", "A4", "A5"}


def test_a_million_blank_lines_and_lines_of_commas_are_skipped_quickly(
    tmp_path: Path, customer: Customer
) -> None:
    blanks = "\n" * 500_000 + ",,,,,\r\n" * 500_000
    path = _orders_around(tmp_path / "orders.csv", blanks, before=1, after=0)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("O9,NOPE,2025-03-01,1,EUR,\n")
    started = time.monotonic()

    report = import_csv(kind="orders", path=path)

    assert time.monotonic() - started < 20
    assert (report.rows_read, report.loaded) == (2, 1)
    assert report.first_bad[0].line == 1_000_003  # blank lines still count as lines
    assert report.first_bad[0].error == "unknown customer 'NOPE'"


# --- Formula injection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("-2+3", "'-2+3"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-", "'-"),
        ("'=x", "''=x"),
        ("-5", "-5"),
        ("+3.2", "+3.2"),
        ("-1.5e3", "-1.5e3"),
        (-5, "-5"),
        (None, ""),
        ("it's -5 degrees", "it's -5 degrees"),
        ("'quoted'", "'quoted'"),
        ("", ""),
    ],
)
def test_cells_that_could_start_a_formula_get_a_quote_and_numbers_do_not(
    value: object, written: str
) -> None:
    assert spreadsheet_safe(value) == written


@given(st.text(alphabet=st.sampled_from("'=+-@\t\r5.eE x"), max_size=8) | st.text(max_size=20))
def test_unescape_gives_back_exactly_what_was_escaped(value: str) -> None:
    escaped = spreadsheet_safe(value)
    assert unescape(escaped) == value
    assert escaped[:1] not in ("=", "+", "@", "\t", "\r")
    if escaped.startswith("-"):
        float(escaped)  # only a plain number may start with a minus


def test_the_safe_writer_escapes_every_cell() -> None:
    out = io.StringIO()
    safe_writer(out).writerow(["=1+1", -5, "ok", "@x"])

    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=1+1", "-5", "ok", "'@x"]


def test_formulas_in_the_rejects_file_are_neutralised_and_load_back_exactly_once_fixed(
    tmp_path: Path, customer: Customer
) -> None:
    """GIVEN reviews whose title and body are formulas, bad for a rating of -5
    WHEN imported with --rejects THEN the rejects file quotes every formula cell but leaves
    -5 a number; once the ratings are fixed it loads, and the texts are the originals."""
    rows = [
        review_row(f"R{i}", rating="-5", title=formula, body=formula)
        for i, formula in enumerate(FORMULAS)
    ]
    path = write_csv(tmp_path / "reviews.csv", REVIEW_HEADER, rows)
    rejects = tmp_path / "rejects.csv"
    report = import_csv(kind="reviews", path=path, rejects_path=rejects)
    assert report.bad == len(FORMULAS)

    with open(rejects, encoding="utf-8", newline="") as handle:
        rejected = list(csv.DictReader(handle))
    assert [row["body"] for row in rejected] == ["'" + formula for formula in FORMULAS]
    assert {row["rating"] for row in rejected} == {"-5"}
    assert rejected[0]["title"] == '\'=HYPERLINK("http://evil","x")'

    fixed = tmp_path / "fixed.csv"
    with open(fixed, "w", encoding="utf-8", newline="") as handle:  # as a text editor would
        writer = csv.DictWriter(handle, fieldnames=list(rejected[0]))
        writer.writeheader()
        writer.writerows({**row, "rating": "4"} for row in rejected)
    report = import_csv(kind="reviews", path=fixed)

    assert report.loaded == len(FORMULAS)
    stored = dict(Review.objects.values_list("external_id", "body"))
    assert stored == {f"R{i}": formula for i, formula in enumerate(FORMULAS)}
    assert set(Review.objects.values_list("title", flat=True)) == set(FORMULAS)


def test_re_importing_a_rejects_file_as_it_is_writes_the_same_cells_again(
    tmp_path: Path, customer: Customer
) -> None:
    rows = [review_row(f"R{i}", customer="NOPE", body=f) for i, f in enumerate(FORMULAS)]
    path = write_csv(tmp_path / "reviews.csv", REVIEW_HEADER, rows)
    first, second = tmp_path / "rejects1.csv", tmp_path / "rejects2.csv"
    import_csv(kind="reviews", path=path, rejects_path=first)

    import_csv(kind="reviews", path=first, rejects_path=second)

    def bodies(rejects: Path) -> list[str]:
        with open(rejects, encoding="utf-8", newline="") as handle:
            return [row["body"] for row in csv.DictReader(handle)]

    assert bodies(second) == bodies(first) == ["'" + formula for formula in FORMULAS]


def test_a_text_that_starts_with_a_quote_and_a_formula_character_survives_the_round_trip(
    tmp_path: Path, customer: Customer
) -> None:
    """GIVEN a shop file written spreadsheet-safe: `'=x` stands for `=x`, `''=) wink` for
    `'=) wink` WHEN its bad rows go through the rejects file and are fixed THEN both texts
    load as meant; a cell that starts with a quote before anything else is kept as it is."""
    texts = {"R0": "'=x", "R1": "''=) wink", "R2": "'tis fine"}
    rows = [review_row(ext, rating="9", body=body) for ext, body in texts.items()]
    path = write_csv(tmp_path / "reviews.csv", REVIEW_HEADER, rows)
    rejects = tmp_path / "rejects.csv"
    import_csv(kind="reviews", path=path, rejects_path=rejects)
    rejects.write_text(rejects.read_text(encoding="utf-8").replace(",9,", ",4,"), encoding="utf-8")

    import_csv(kind="reviews", path=rejects)

    stored = dict(Review.objects.values_list("external_id", "body"))
    assert stored == {"R0": "=x", "R1": "'=) wink", "R2": "'tis fine"}


def test_an_escaped_reference_cell_is_read_as_its_value(tmp_path: Path) -> None:
    CustomerFactory(external_id="-C7")
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, [order_row("O1", customer="'-C7")])

    import_csv(kind="orders", path=path)

    assert Order.objects.get().customer.external_id == "-C7"
