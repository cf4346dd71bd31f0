"""Aspect detection and aspect polarity, measured on the hand-labelled sentence set.

    .venv/bin/python benchmarks/aspects.py ../shared/data
    .venv/bin/python benchmarks/aspects.py ../shared/data --transformer
    .venv/bin/python benchmarks/aspects.py ../shared/data --errors fit

The labels (tests/data/aspect_sentences.csv, guide in tests/data/README.md) hold only ids:
a row of the clothing reviews and the index of a sentence in `split_sentences` of that
row's text; the text is read from the data folder here. All rows are from the held-out
split, so nothing labelled was trained on.

Printed:
- detection: per aspect, support (labelled mentions), precision, recall and F1 of
  `detect_aspects` over (sentence, aspect) pairs; micro and macro averages;
- polarity: for the pairs both the label and the detector have, how often the sentence's
  analyzer label (VADER; the transformer with --transformer) equals the labelled polarity
  of that aspect. That is the polarity aggregate_aspects would give a one-sentence text;
- speed of `detect_aspects` over every held-out sentence.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LABELS = ROOT / "tests" / "data" / "aspect_sentences.csv"


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import django

    django.setup()


def parse_aspects(cell: str) -> dict[str, str]:
    """ "fit:negative;quality:positive" -> {"fit": "negative", "quality": "positive"}."""
    pairs = (part.split(":", 1) for part in cell.split(";") if part.strip())
    return {aspect.strip(): polarity.strip() for aspect, polarity in pairs}


def load_labelled(
    labels_path: Path, data_dir: Path
) -> tuple[list[str], list[dict[str, str]], list[str], int]:
    """(sentences, labels, how each was picked, how many rows are not in the held-out split)."""
    from sentiment.text import split_sentences
    from sentiment.training import data

    rows, texts, ratings = data.clothing_rows(data_dir)
    text_of = dict(zip(rows, texts, strict=True))
    _, held_out = data.clothing_split(rows, ratings)
    sentences: list[str] = []
    gold: list[dict[str, str]] = []
    sources: list[str] = []
    outside = 0
    with labels_path.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            row, index = int(record["row"]), int(record["sentence"])
            split = split_sentences(text_of[row])
            if index >= len(split):
                raise SystemExit(
                    f"row {row} has {len(split)} sentences, the labels name sentence {index}: "
                    "the splitter changed since the set was labelled (see sentiment/text.py)"
                )
            sentences.append(split[index].text)
            gold.append(parse_aspects(record["aspects"]))
            sources.append(record.get("source") or "")
            outside += row not in held_out
    return sentences, gold, sources, outside


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def detection_table(
    named: Sequence[str], gold: list[dict[str, str]], found: list[frozenset[str]]
) -> list[tuple[str, int, float, float, float]]:
    """Per aspect and micro/macro: (name, support, precision, recall, F1).

    The macro average is over the aspects with support: an aspect nobody labelled in
    this subset has no recall to average.
    """
    table = []
    totals = [0, 0, 0]  # tp, fp, fn
    for aspect in named:
        tp = sum(aspect in g and aspect in f for g, f in zip(gold, found, strict=True))
        fp = sum(aspect not in g and aspect in f for g, f in zip(gold, found, strict=True))
        fn = sum(aspect in g and aspect not in f for g, f in zip(gold, found, strict=True))
        totals = [totals[0] + tp, totals[1] + fp, totals[2] + fn]
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = _ratio(2 * precision * recall, precision + recall) if precision + recall else 0.0
        table.append((aspect, tp + fn, precision, recall, f1))
    tp, fp, fn = totals
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    micro_f1 = _ratio(2 * precision * recall, precision + recall) if precision + recall else 0.0
    table.append(("micro", tp + fn, precision, recall, micro_f1))
    supported = [r for r in table[: len(named)] if r[1]]
    count = len(supported) or 1
    table.append(
        (
            "macro",
            tp + fn,
            sum(r[2] for r in supported) / count,
            sum(r[3] for r in supported) / count,
            sum(r[4] for r in supported) / count,
        )
    )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="the shared data folder, e.g. ../shared/data")
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="labelled CSV")
    parser.add_argument("--transformer", action="store_true", help="also score polarity with it")
    parser.add_argument(
        "--errors",
        metavar="ASPECT",
        default=None,
        help="print the sentences where the detector and the labels disagree on ASPECT",
    )
    args = parser.parse_args(argv)
    _setup()

    from sentiment.analyzers import get_analyzer
    from sentiment.aspects import ASPECTS, OTHER, detect_aspects
    from sentiment.text import split_sentences
    from sentiment.training import data

    sentences, gold, sources, outside = load_labelled(args.labels, args.data_dir)
    named = [a for a in ASPECTS if a != OTHER]
    found = [detect_aspects(s) for s in sentences]
    with_aspect = sum(bool(g) for g in gold)
    print(
        f"{len(sentences)} labelled sentences, {with_aspect} with a named aspect, "
        f"{sum(len(g) for g in gold)} (sentence, aspect) labels"
    )
    if outside:
        print(f"WARNING: {outside} labelled rows are not in the held-out split")

    print(f"\n{'aspect':<10}{'support':>8}{'precision':>11}{'recall':>8}{'F1':>8}")
    for name, support, precision, recall, f1 in detection_table(named, gold, found):
        if name == "micro":
            print("-" * 45)
        print(f"{name:<10}{support:>8}{precision:>11.3f}{recall:>8.3f}{f1:>8.3f}")
    exact = sum(set(g) == f for g, f in zip(gold, found, strict=True))
    print(f"sentences whose aspect set is exactly right: {exact / len(gold):.3f}")
    # The targeted sentences were found by searching for aspect words, which flatters
    # recall; the randomly drawn ones show the detector on text as it comes.
    for source in sorted(set(sources) - {""}):
        keep = [i for i, s in enumerate(sources) if s == source]
        *_, (_, support, precision, recall, f1), _ = detection_table(
            named, [gold[i] for i in keep], [found[i] for i in keep]
        )
        print(
            f"{source} sentences only ({len(keep)}, {support} labels): micro "
            f"precision {precision:.3f}, recall {recall:.3f}, F1 {f1:.3f}"
        )

    analyzers: dict[str, object] = {"vader": get_analyzer("vader")}
    if args.transformer:
        from sentiment.analyzers.transformer import TransformerAnalyzer

        analyzers["transformer"] = TransformerAnalyzer()
    hits = [
        (i, aspect) for i, (g, f) in enumerate(zip(gold, found, strict=True)) for aspect in g
        if aspect in f
    ]  # fmt: skip
    results = {
        name: analyzer.analyze_many(sentences)  # type: ignore[attr-defined]
        for name, analyzer in analyzers.items()
    }
    header = "".join(f"{name:>13}" for name in analyzers)
    print(f"\npolarity accuracy on correctly detected pairs ({len(hits)})")
    print(f"{'aspect':<10}{'pairs':>6}{header}")
    for aspect in [*named, "all"]:
        pairs = [(i, a) for i, a in hits if aspect in ("all", a)]
        cells = "".join(
            f"{_ratio(sum(res[i].label == gold[i][a] for i, a in pairs), len(pairs)):>13.3f}"
            for res in results.values()
        )
        if aspect == "all":
            print("-" * (16 + 13 * len(analyzers)))
        print(f"{aspect:<10}{len(pairs):>6}{cells}")

    rows, texts, ratings = data.clothing_rows(args.data_dir)
    _, held_out = data.clothing_split(rows, ratings)
    pool = [s.text for r, t in zip(rows, texts, strict=True) if r in held_out
            for s in split_sentences(t)]  # fmt: skip
    started = time.perf_counter()
    for sentence in pool:
        detect_aspects(sentence)
    speed = len(pool) / (time.perf_counter() - started)
    print(f"\ndetect_aspects: {speed:,.0f} sentences/s over {len(pool)} held-out sentences")

    if args.errors:
        aspect = args.errors
        print(f"\ndisagreements on {aspect} (FP: detected, not labelled; FN: the reverse)")
        for sentence, g, f in zip(sentences, gold, found, strict=True):
            if (aspect in g) != (aspect in f):
                print(f"  {'FP' if aspect in f else 'FN'}  {sentence}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
