"""Accuracy and speed of the transformer analyzer beside VADER, on the public measuring sets.

    .venv/bin/python benchmarks/sentiment_accuracy.py ../shared/data
    .venv/bin/python benchmarks/sentiment_accuracy.py ../shared/data --artifact DIR --threads 2

Measuring sets (none is trained on; see sentiment/training/data.py):
- SST-2 dev and the UCI amazon_cells / yelp / imdb sets: binary accuracy. The transformer
  says positive when P(positive) > P(negative), i.e. score > 0; VADER likewise when its
  compound score > 0 (its "neutral" band then falls on the side of its sign, 0 is negative).
- clothing reviews, held-out 20%: 3-class macro-F1 of the analyzers' labels.

Throughput is texts per second of `analyze_many` over the whole set (one call, after a
short warm-up), on SST-2 dev and on the clothing held-out split.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import django

    django.setup()


def _timed(analyzer: object, texts: Sequence[str]) -> tuple[list, float]:
    analyzer.analyze_many(texts[:16])  # type: ignore[attr-defined]  # warm-up
    started = time.perf_counter()
    results = analyzer.analyze_many(texts)  # type: ignore[attr-defined]
    return results, len(texts) / (time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="the shared data folder, e.g. ../shared/data")
    parser.add_argument("--artifact", type=Path, default=None, help="transformer artifact folder")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--runtimes",
        default="torch",
        help="comma-separated transformer runtimes to measure: torch, torch-int8, onnx-int8",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=ROOT / "var" / "sentiment-cache",
        help="where the onnx-int8 runtime caches its exported model",
    )
    args = parser.parse_args(argv)
    _setup()

    from sentiment.analyzers.transformer import TransformerAnalyzer
    from sentiment.analyzers.vader import VaderAnalyzer
    from sentiment.training import data
    from sentiment.training.train import macro_f1

    label_index = {name: i for i, name in enumerate(data.LABELS)}
    load_started = time.perf_counter()
    analyzers: dict[str, object] = {}
    for runtime in args.runtimes.split(","):
        key = "transformer" if runtime == "torch" else f"tx_{runtime}"
        analyzers[key] = TransformerAnalyzer(
            args.artifact,
            num_threads=args.threads,
            batch_size=args.batch_size,
            runtime=runtime,
            cache_dir=args.cache_dir,
        )
    analyzers["vader"] = VaderAnalyzer()
    print(f"loaded in {time.perf_counter() - load_started:.1f}s:")
    for key, analyzer in analyzers.items():
        print(f"  {key}: {analyzer.version}")  # type: ignore[attr-defined]

    sets = data.measuring_sets(args.data_dir)
    rows = []
    speeds: dict[tuple[str, str], float] = {}
    for set_name, (texts, labels) in sets.items():
        figures = {}
        for name, analyzer in analyzers.items():
            results, speed = _timed(analyzer, texts)
            speeds[(set_name, name)] = speed
            if set_name == "clothing_test":
                figures[name] = macro_f1([label_index[r.label] for r in results], labels)
            else:
                hits = sum(
                    (r.score > 0) == (y == data.POSITIVE)
                    for r, y in zip(results, labels, strict=True)
                )
                figures[name] = hits / len(labels)
        metric = "macro-F1 (3-class)" if set_name == "clothing_test" else "accuracy (binary)"
        rows.append((set_name, len(texts), metric, figures))

    uci = [r for r in rows if r[0].startswith("uci_")]
    mean = {name: sum(r[3][name] for r in uci) / len(uci) for name in analyzers}
    rows.insert(1 + len(uci), ("uci_mean", sum(r[1] for r in uci), "accuracy (binary)", mean))
    names = list(analyzers)
    header = "".join(f"{name:>18}" for name in names)
    print(f"\n{'set':<16}{'rows':>6}  {'metric':<20}{header}")
    for set_name, count, metric, figures in rows:
        cells = "".join(f"{figures[name]:>18.4f}" for name in names)
        print(f"{set_name:<16}{count:>6}  {metric:<20}{cells}")
    print(f"\nthroughput (texts/s, {args.threads} torch threads, batch {args.batch_size})")
    print(f"{'set':<16}{header}")
    for set_name in ("sst2_dev", "clothing_test"):
        cells = "".join(f"{speeds[(set_name, name)]:>18.0f}" for name in names)
        print(f"{set_name:<16}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
