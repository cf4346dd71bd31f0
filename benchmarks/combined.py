"""Does the combined analyzer (a stacker over VADER and the transformer) beat both?

    .venv/bin/python benchmarks/combined.py ../shared/data --fit    # fit, write, measure
    .venv/bin/python benchmarks/combined.py ../shared/data          # measure the saved fit

`--fit` fits the stacker on training rows only (sentiment.training.combined.fit_combined)
for the transformer artifact installed now, and writes sentiment/artifacts/combined.json;
rerun it whenever that artifact changes (the combined analyzer refuses stale parameters).

Then, on the measuring sets (none is trained on), the figures of VADER, the transformer and
the combined analyzer side by side, measured as benchmarks/sentiment_accuracy.py does
(`analyze_many`, the model alone): binary accuracy with positive = score > 0 on SST-2 dev
and the UCI sets, 3-class macro-F1 of the labels on the clothing held-out split. The
combined column is computed from the same two analyzers' results (exactly what
`CombinedAnalyzer.analyze_many` does; checked on a slice), so nothing is scored twice.

"Measurably better" is judged with a paired bootstrap: the rows of each set are resampled
with replacement (1,000 times; the UCI mean resamples each UCI set), and the 95% interval of
the figure's difference combined - transformer is printed. The last line says whether the
combined analyzer beats both on every target (SST-2 dev, UCI mean, clothing macro-F1): a
higher figure than VADER and the transformer, with that interval entirely above zero.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("sst2_dev", "uci_mean", "clothing_test")


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import django

    django.setup()


def _macro_f1(predicted: Any, labels: Any) -> Any:
    """Macro-F1 over the 3 classes, vectorised over resamples: (..., rows) -> (...)."""
    import numpy as np

    scores = []
    for c in range(3):
        tp = ((predicted == c) & (labels == c)).sum(axis=-1)
        fp = ((predicted == c) & (labels != c)).sum(axis=-1)
        fn = ((predicted != c) & (labels == c)).sum(axis=-1)
        denominator = 2 * tp + fp + fn
        scores.append(np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0))
    return np.mean(scores, axis=0)


class _Set:
    """One measuring set's gold labels and each analyzer's per-row outcome."""

    def __init__(self, name: str, labels: Sequence[int], results: dict[str, list]) -> None:
        import numpy as np

        from sentiment.training import data

        self.name = name
        self.three_class = name == "clothing_test"
        self.labels = np.asarray(labels)
        if self.three_class:
            self.outcome = {
                key: np.asarray([data.LABELS.index(r.label) for r in rows])
                for key, rows in results.items()
            }
        else:
            gold = self.labels == data.POSITIVE
            self.outcome = {
                key: np.asarray([r.score > 0 for r in rows]) == gold
                for key, rows in results.items()
            }

    def figure(self, key: str, index: Any = None) -> Any:
        """The set's figure for `key`; with `index` (resamples x rows), one per resample."""
        outcome = self.outcome[key] if index is None else self.outcome[key][index]
        if self.three_class:
            labels = self.labels if index is None else self.labels[index]
            return _macro_f1(outcome, labels)
        return outcome.mean(axis=-1)


def _bootstrap(sets: list[_Set], resamples: int, seed: int) -> dict[str, tuple[float, float]]:
    """95% percentile interval of combined - transformer per set and for the UCI mean."""
    import numpy as np

    rng = np.random.default_rng(seed)
    diffs = {}
    for s in sets:
        index = rng.integers(0, len(s.labels), size=(resamples, len(s.labels)))
        diffs[s.name] = s.figure("combined", index) - s.figure("transformer", index)
    uci = [s.name for s in sets if s.name.startswith("uci_")]
    diffs["uci_mean"] = np.mean([diffs[name] for name in uci], axis=0)
    return {
        name: (float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5)))
        for name, d in diffs.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="the shared data folder, e.g. ../shared/data")
    parser.add_argument("--fit", action="store_true", help="fit and write the parameters first")
    parser.add_argument(
        "--runtime",
        choices=("torch", "onnx-int8"),
        default="onnx-int8",
        help="transformer runtime (default onnx-int8, the production setting)",
    )
    parser.add_argument("--artifact", type=Path, default=None, help="transformer artifact folder")
    parser.add_argument("--params", type=Path, default=None, help="combined parameters file")
    parser.add_argument("--threads", type=int, default=2, help="torch / onnxruntime threads")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261123, help="bootstrap seed")
    args = parser.parse_args(argv)
    _setup()

    from django.conf import settings

    from sentiment.analyzers.combined import DEFAULT_PARAMS, CombinedAnalyzer
    from sentiment.analyzers.transformer import TransformerAnalyzer
    from sentiment.analyzers.vader import VaderAnalyzer
    from sentiment.training import data

    params = args.params or DEFAULT_PARAMS
    started = time.perf_counter()
    transformer = TransformerAnalyzer(
        args.artifact or settings.SENTIMENT_TRANSFORMER_DIR,
        runtime=args.runtime,
        num_threads=args.threads,
        batch_size=args.batch_size,
        cache_dir=settings.SENTIMENT_MODEL_CACHE,
    )
    vader = VaderAnalyzer()
    print(f"transformer: {transformer.version} ({transformer.artifact_dir})")
    print(f"vader: {vader.version}")
    if args.fit:
        from sentiment.training.combined import fit_combined

        fit_combined(args.data_dir, transformer=transformer, vader=vader, output=params)
    combined = CombinedAnalyzer(vader, transformer, params)
    payload = combined.payload
    print(
        f"combined: {combined.version} ({params}; fitted {payload['created']} on "
        f"{payload['transformer_version']} {payload['transformer_runtime']}, "
        f"C={payload['training']['C']} gamma={payload['training']['gamma']} "
        f"beta={payload['training']['beta']})"
    )

    sets: list[_Set] = []
    for name, (texts, labels) in data.measuring_sets(args.data_dir).items():
        tx = transformer.analyze_many(texts)
        vd = vader.analyze_many(texts)
        results = {"vader": vd, "transformer": tx, "combined": combined.combine(tx, vd)}
        if name == "sst2_dev":
            # The combined column is what the analyzer itself returns for the same inputs.
            head = texts[:32]
            parts = combined.combine(transformer.analyze_many(head), vader.analyze_many(head))
            assert combined.analyze_many(head) == parts
        sets.append(_Set(name, labels, results))
    print(f"scored in {time.perf_counter() - started:.0f}s")

    keys = ("vader", "transformer", "combined")
    figures = {s.name: {k: float(s.figure(k)) for k in keys} for s in sets}
    counts = {s.name: len(s.labels) for s in sets}
    uci = [s.name for s in sets if s.name.startswith("uci_")]
    figures["uci_mean"] = {k: sum(figures[n][k] for n in uci) / len(uci) for k in keys}
    counts["uci_mean"] = sum(counts[n] for n in uci)
    order = [s.name for s in sets]
    order.insert(order.index(uci[-1]) + 1, "uci_mean")
    intervals = _bootstrap(sets, args.resamples, args.seed)

    print(
        f"\n{'set':<17}{'rows':>5}  {'metric':<9}{'vader':>8}{'transformer':>12}"
        f"{'combined':>10}{'vs best':>9}  combined - transformer, 95% CI ({args.resamples} boot.)"
    )
    wins = {}
    for name in order:
        f = figures[name]
        best = max(f["vader"], f["transformer"])
        low, high = intervals[name]
        wins[name] = f["combined"] > best and low > 0
        metric = "macro-F1" if name == "clothing_test" else "accuracy"
        print(
            f"{name:<17}{counts[name]:>5}  {metric:<9}{f['vader']:>8.4f}{f['transformer']:>12.4f}"
            f"{f['combined']:>10.4f}{f['combined'] - best:>+9.4f}  [{low:+.4f}, {high:+.4f}]"
            f"{'  target' if name in TARGETS else ''}"
        )
    # The fit measured with the same rows and runtime: a check that nothing drifted.
    stored = payload.get("metrics") or {}
    if stored and payload["transformer_runtime"] == args.runtime:
        key = {"clothing_test": "clothing_test_macro_f1"}
        same = all(
            abs(stored[key.get(n, f"{n}_accuracy")] - figures[n]["combined"]) <= 1.1e-4
            for n in order
        )
        print(f"\nsame as the metrics stored with the parameters: {'yes' if same else 'NO'}")
    verdict = all(wins[name] for name in TARGETS)
    notes = []
    for name in TARGETS:
        f = figures[name]
        delta = f["combined"] - max(f["vader"], f["transformer"])
        note = "measurable" if wins[name] else "within noise" if delta > 0 else "not better"
        notes.append(f"{name} {delta:+.4f} ({note})")
    detail = ", ".join(notes)
    print(f"delta vs the better of vader and transformer: {detail}")
    print(f"combined beats both on every target: {'yes' if verdict else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
