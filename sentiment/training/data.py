"""Loaders for the public labelled data in `shared/data/sentiment` (see its README).

Every loader returns parallel lists `(texts, labels)` with labels as indexes into LABELS
(0 negative, 1 neutral, 2 positive); binary sets only use 0 and 2.

Which rows train and which measure is decided here and nowhere else:
- training: SST-2 train (binary) and the clothing reviews' train split (3-class);
- measuring: SST-2 dev, the three UCI sets, and the clothing reviews' held-out split.
The clothing split is a function of the row index in reviews.csv, a fixed seed and the
labels only, so every run (and the benchmark) sees the same held-out rows.
"""

from __future__ import annotations

import csv
from pathlib import Path

LABELS = ("negative", "neutral", "positive")
NEGATIVE, NEUTRAL, POSITIVE = 0, 1, 2

UCI_SETS = ("amazon_cells", "yelp", "imdb")
CLOTHING_SEED = 20261123
CLOTHING_TEST_SIZE = 0.2

Texts = list[str]
Labels = list[int]


def _sentiment_dir(data_dir: str | Path) -> Path:
    path = Path(data_dir)
    # Accept both `shared/data` and `shared/data/sentiment`.
    return path / "sentiment" if (path / "sentiment").is_dir() else path


def _binary_tsv(path: Path, *, header: bool) -> tuple[Texts, Labels]:
    texts: Texts = []
    labels: Labels = []
    with path.open(encoding="utf-8", newline="") as handle:
        lines = iter(handle)
        if header:
            next(lines)
        for line in lines:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            text, _, label = line.rpartition("\t")
            texts.append(text.strip())
            labels.append(POSITIVE if int(label) == 1 else NEGATIVE)
    return texts, labels


def sst2(data_dir: str | Path, split: str) -> tuple[Texts, Labels]:
    """SST-2 `train` or `dev` (GLUE split), binary."""
    if split not in ("train", "dev"):
        raise ValueError(f"SST-2 split must be 'train' or 'dev', not {split!r}")
    return _binary_tsv(_sentiment_dir(data_dir) / "sst2" / f"{split}.tsv", header=True)


def uci(data_dir: str | Path, name: str) -> tuple[Texts, Labels]:
    """One of the UCI "Sentiment Labelled Sentences" sets (amazon_cells, yelp, imdb), binary."""
    if name not in UCI_SETS:
        raise ValueError(f"UCI set must be one of {UCI_SETS}, not {name!r}")
    folder = _sentiment_dir(data_dir) / "uci_sentiment_labelled_sentences"
    return _binary_tsv(folder / f"{name}_labelled.txt", header=False)


def rating_label(rating: int) -> int:
    """Ratings 1-2 negative, 3 neutral, 4-5 positive."""
    if rating <= 2:
        return NEGATIVE
    if rating == 3:
        return NEUTRAL
    return POSITIVE


def clothing_rows(data_dir: str | Path) -> tuple[list[int], Texts, Labels]:
    """Every review with text: (row index in reviews.csv, "Title. Review Text", label)."""
    path = _sentiment_dir(data_dir) / "womens_ecommerce_clothing_reviews" / "reviews.csv"
    rows: list[int] = []
    texts: Texts = []
    labels: Labels = []
    with path.open(encoding="utf-8", newline="") as handle:
        for index, record in enumerate(csv.DictReader(handle)):
            body = (record.get("Review Text") or "").strip()
            if not body:
                continue
            title = (record.get("Title") or "").strip()
            if title and title[-1] not in ".!?":
                title += "."
            rows.append(index)
            texts.append(f"{title} {body}" if title else body)
            labels.append(rating_label(int(record["Rating"])))
    return rows, texts, labels


def clothing_split(rows: list[int], labels: Labels) -> tuple[set[int], set[int]]:
    """(train row indexes, held-out row indexes): 80/20, stratified by label, fixed seed."""
    from sklearn.model_selection import train_test_split

    train_rows, test_rows = train_test_split(
        rows,
        test_size=CLOTHING_TEST_SIZE,
        random_state=CLOTHING_SEED,
        stratify=labels,
        shuffle=True,
    )
    return set(train_rows), set(test_rows)


def clothing(data_dir: str | Path, split: str) -> tuple[Texts, Labels]:
    """The clothing reviews' `train` (80%) or `test` (held-out 20%) split, 3-class."""
    if split not in ("train", "test"):
        raise ValueError(f"clothing split must be 'train' or 'test', not {split!r}")
    rows, texts, labels = clothing_rows(data_dir)
    train_rows, test_rows = clothing_split(rows, labels)
    keep = train_rows if split == "train" else test_rows
    pairs = [(t, y) for r, t, y in zip(rows, texts, labels, strict=True) if r in keep]
    return [t for t, _ in pairs], [y for _, y in pairs]


def measuring_sets(data_dir: str | Path) -> dict[str, tuple[Texts, Labels]]:
    """Every set the targets are measured on, in report order. None of it is trained on."""
    sets = {"sst2_dev": sst2(data_dir, "dev")}
    for name in UCI_SETS:
        sets[f"uci_{name}"] = uci(data_dir, name)
    sets["clothing_test"] = clothing(data_dir, "test")
    return sets
