"""The CSV files sentiment hands out carry customers' text: a spreadsheet must never run a
cell of them as a formula, and our own readers must get the original text back."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from sentiment.services import label_override_create
from sentiment.training import shop
from sentiment.training.data import LABELS
from tests.factories import ReviewFactory

FORMULAS = [
    '=HYPERLINK("http://evil","x")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
]


@pytest.mark.django_db
def test_the_overrides_export_neutralises_formulas_and_train_sentiment_reads_them_back(
    admin_client, tmp_path: Path
) -> None:
    """GIVEN overrides on reviews whose text is a formula (and one that is just -5)
    WHEN an agent exports them from the admin THEN every formula cell starts with a quote,
    -5 stays a number, and `train_sentiment --extra` reads the original texts."""
    texts = [*FORMULAS, "-5"]
    overrides = [
        label_override_create(
            text=ReviewFactory(title="", body=body).customer_text, label="negative", user=None
        )
        for body in texts
    ]

    export = admin_client.post(
        reverse("admin:sentiment_labeloverride_changelist"),
        {"action": "export_training_rows", "_selected_action": [o.pk for o in overrides]},
    )

    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0] == ["text", "label"]
    assert sorted(rows[1:]) == sorted(
        [["'" + formula, "negative"] for formula in FORMULAS] + [["-5", "negative"]]
    )
    path = tmp_path / "sentiment-overrides.csv"
    path.write_bytes(export.content)
    assert sorted(shop.read_rows_csv(path)) == sorted(
        (text, LABELS.index("negative")) for text in texts
    )


def test_score_file_neutralises_formulas_leaves_numbers_and_reads_its_own_output_back(
    tmp_path: Path,
) -> None:
    source = tmp_path / "feedback.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "comment"])
        writer.writerows([str(-5 - i), f"{formula} Awful, it broke."] for i, formula in
                         enumerate(FORMULAS))  # fmt: skip
    first, second = tmp_path / "scored.csv", tmp_path / "scored-again.csv"

    call_command("score_file", str(source), "--text-column", "comment", "--analyzer", "vader",
                 "--output", str(first), stdout=io.StringIO())  # fmt: skip
    call_command("score_file", str(first), "--text-column", "comment", "--analyzer", "vader",
                 "--output", str(second), stdout=io.StringIO())  # fmt: skip

    with first.open(encoding="utf-8", newline="") as handle:
        scored = list(csv.DictReader(handle))
    assert [row["comment"] for row in scored] == [f"'{f} Awful, it broke." for f in FORMULAS]
    assert [row["id"] for row in scored] == ["-5", "-6", "-7", "-8"]
    assert all(row["label"] == "negative" and row["score"].startswith("-0.") for row in scored)
    with second.open(encoding="utf-8", newline="") as handle:
        again = list(csv.reader(handle))
    # Read back as the original text: scored the same, written the same, no quote added.
    assert [row[:4] for row in again[1:]] == [
        [row["id"], row["comment"], row["label"], row["score"]] for row in scored
    ]
