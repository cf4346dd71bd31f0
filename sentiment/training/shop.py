"""Training rows from the shop's own data, and the before/after check of a new model.

A shop's star-rated reviews are labelled by their rating (1-2 negative, 3 neutral, 4-5
positive) without anyone labelling anything; agents' overrides are labelled by hand. A
fixed fifth of the reviews (chosen by a hash of the review's id, so every run holds out
the same ones) is never trained on: the current and the new model are both measured on
it, and the new one replaces the current one only if it does at least as well.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from crm.csvsafe import unescape
from sentiment.training.data import LABELS, rating_label

Row = tuple[str, int]


def held_out(review_id: int) -> bool:
    """True for the fixed 20% of reviews kept for measuring."""
    return hashlib.sha256(f"review:{review_id}".encode()).digest()[0] % 5 == 0


def shop_review_rows() -> tuple[list[Row], list[Row]]:
    """(training rows, held-out rows) from every review with text, labelled by its rating;
    never an erased customer's (their texts are blanked, but a review loaded after the
    erasure must not become training data either)."""
    from crm.models import Review

    train: list[Row] = []
    test: list[Row] = []
    reviews = (
        Review.objects.filter(customer__is_erased=False)
        .only("pk", "rating", "title", "body")
        .order_by("pk")
    )
    for review in reviews.iterator(chunk_size=2000):
        text = review.text
        if text.strip():
            (test if held_out(review.pk) else train).append((text, rating_label(review.rating)))
    return train, test


def override_rows() -> list[Row]:
    from sentiment.selectors import override_training_rows

    return [(text, LABELS.index(label)) for text, label in override_training_rows()]


def read_rows_csv(path: Path) -> list[Row]:
    """Rows of a CSV with columns `text` and `label` (negative/neutral/positive or 1-5 stars),
    such as the admin's override export. A bad row stops with its line number.

    Cells are unescaped (crm.csvsafe) before anything else: the export writes a text such as
    `=)` or `- too small` as `'=)`, and training must see what the customer wrote.
    """
    rows: list[Row] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
            raise ValueError(f"{path} needs the columns text and label")
        for record in reader:
            text = unescape(record["text"] or "").strip()
            label = unescape(record["label"] or "").strip().lower()
            if not text:
                continue
            if label in LABELS:
                rows.append((text, LABELS.index(label)))
            elif label.isdigit() and 1 <= int(label) <= 5:
                rows.append((text, rating_label(int(label))))
            else:
                raise ValueError(
                    f"{path}, line {reader.line_num}: label {label!r} is not one of "
                    f"{', '.join(LABELS)} or a rating 1-5"
                )
    return rows


def measure(artifact_dir: Path, rows: Sequence[Row]) -> dict[str, float]:
    """Accuracy and macro-F1 of the artifact's model on `rows` (float32 reference runtime)."""
    from sentiment.analyzers.transformer import LABELS as MODEL_LABELS
    from sentiment.analyzers.transformer import TransformerAnalyzer
    from sentiment.training.train import macro_f1

    model = TransformerAnalyzer(artifact_dir)
    predicted = [MODEL_LABELS.index(a.label) for a in model.analyze_many([t for t, _ in rows])]
    gold = [label for _, label in rows]
    hits = sum(p == y for p, y in zip(predicted, gold, strict=True))
    return {
        "rows": len(rows),
        "accuracy": round(hits / len(rows), 4),
        "macro_f1": round(macro_f1(predicted, gold), 4),
    }


def activate(candidate: Path, target: Path, files: Iterable[str]) -> None:
    """Copy the candidate's files over the active artifact, the manifest last.

    Each file is copied to `<name>.part` and renamed, and the manifest (which holds every
    file's checksum) comes last, so a worker loading meanwhile sees the old manifest and
    fails its checksum check rather than loading a mix: it retries on the next batch.
    """
    target.mkdir(parents=True, exist_ok=True)
    names = [name for name in files if name != "manifest.json"] + ["manifest.json"]
    for name in names:
        part = target / f"{name}.part"
        shutil.copyfile(candidate / name, part)
        os.replace(part, target / name)
