"""benchmarks/cdnow_convert.py: its files load through import_csv as the CDNOW log says."""

from __future__ import annotations

import importlib.util
import io
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest
from django.core.management import call_command

from crm.models import Customer, Order

ROOT = Path(__file__).resolve().parent.parent.parent

# Made-up lines in the CDNOW layout (CRLF endings and a header line, as the shipped file
# has): customer 00002 buys twice on one day, then once for nothing.
SYNTHETIC_LOG = (
    " customer_id  date number_of_cds  dollar_value\r\n"
    " 00001 19970101  1   11.77\r\n"
    " 00002 19970112  1   12.00\r\n"
    " 00002 19970112  5   77.00\r\n"
    " 00002 19970302  1    0.00\r\n"
)


@pytest.fixture(scope="module")
def cdnow() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "cdnow_convert", ROOT / "benchmarks" / "cdnow_convert.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules to resolve annotations.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_converted_log_imports_one_order_per_line_and_customers_from_first_purchase(
    cdnow: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a log with a header, same-day purchases and a zero-dollar one
    WHEN it is converted and both files are imported
    THEN every line is an order at noon of its day, and each customer signed up at
    midnight of their first purchase."""
    log = tmp_path / "CDNOW_master.txt"
    log.write_bytes(SYNTHETIC_LOG.encode("ascii"))

    assert cdnow.main([str(log), "--output", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "--kind customers" in printed and "--kind orders" in printed
    for kind in ("customers", "orders"):
        call_command(
            "import_csv", str(tmp_path / "out" / f"{kind}.csv"), kind=kind, stdout=io.StringIO()
        )

    customers = dict(Customer.objects.values_list("external_id", "signed_up_at"))
    assert customers == {
        "cdnow-00001": datetime(1997, 1, 1, tzinfo=UTC),
        "cdnow-00002": datetime(1997, 1, 12, tzinfo=UTC),
    }
    orders = {
        o.external_id: (o.customer.external_id, o.placed_at, o.total, o.item_count, o.status)
        for o in Order.objects.select_related("customer")
    }
    noon = datetime(1997, 1, 12, 12, tzinfo=UTC)
    assert orders == {
        "cdnow-00001-1": (
            "cdnow-00001",
            datetime(1997, 1, 1, 12, tzinfo=UTC),
            Decimal("11.77"),
            1,
            "delivered",
        ),
        "cdnow-00002-2": ("cdnow-00002", noon, Decimal("12.00"), 1, "delivered"),
        "cdnow-00002-3": ("cdnow-00002", noon, Decimal("77.00"), 5, "delivered"),
        "cdnow-00002-4": (
            "cdnow-00002",
            datetime(1997, 3, 2, 12, tzinfo=UTC),
            Decimal("0.00"),
            1,
            "delivered",
        ),
    }
    assert set(Order.objects.values_list("currency", flat=True)) == {"USD"}


def test_a_malformed_line_stops_the_conversion_naming_it(
    cdnow: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "CDNOW_master.txt"
    log.write_text(" 00001 19970101  1   11.77\n 00002 1997-01-12  1   12.00\n", encoding="ascii")

    assert cdnow.main([str(log), "--output", str(tmp_path / "out")]) == 1

    assert "line 2: '1997-01-12' is not a date" in capsys.readouterr().err
    assert not (tmp_path / "out" / "orders.csv").exists()
