"""Throughput of the sentiment analyzers: model alone, full product path, and a plain pipeline.

    .venv/bin/python benchmarks/sentiment_speed.py ../shared/data
    .venv/bin/python benchmarks/sentiment_speed.py ../shared/data --threads 2 \\
        --runtimes torch,onnx-int8 --limit 500

For SST-2 dev (872 short sentences) and the clothing reviews' held-out split (4,529
reviews; --limit N keeps the first N of each set), and for each transformer runtime:

- model alone: texts/s of `analyzer.analyze_many(texts)`, one call over the set;
- full path: texts/s of `sentiment.analysis.analyze_texts(analyzer, texts)`, what the
  workers run: language gate, sentence splitting, emoji, the whole text and every sentence
  of a multi-sentence text scored, aspects;
- accuracy of both (SST-2: binary, positive when score > 0; clothing: 3-class macro-F1 of
  the label) and its difference to the float32 torch runtime, which is always measured;
- the speed-up over a plain `transformers.pipeline("text-classification")` running the
  same merged weights (encoder + mean pooling + head wrapped as a PreTrainedModel), timed
  in the same run with its default batch size and with batch_size=64. Its predictions must
  agree with the torch runtime on SST-2 dev, which shows the weights are the same.

VADER (model alone and full path) is measured on the same sets. Every runtime is warmed up
on a few texts first; torch and ONNX Runtime use --threads threads; the peak RSS of this
process (every runtime loaded at once) is printed at the end.

Targets (issue, 2 cores): transformer >= 300 texts/s on SST-2 dev and >= 120 texts/s on the
clothing reviews, accuracy within 1 point of float32 torch; VADER >= 5,000 texts/s.
Accuracy alone, on every measuring set, is benchmarks/sentiment_accuracy.py.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sentiment_accuracy import _setup  # benchmarks/ is on sys.path when run as a script

SETS = ("sst2_dev", "clothing_test")
TARGETS = {"sst2_dev": 300.0, "clothing_test": 120.0}
VADER_TARGET = 5000.0
WARM_UP = 16


def _timed(run: Callable[[Sequence[str]], list], texts: Sequence[str]) -> tuple[list, float, float]:
    """(results, texts per second, cores busy) of one call over `texts`, after a warm-up.

    Cores busy = this process's CPU time / wall time: near --threads when the model runs,
    near 1 for single-threaded Python; clearly below that, something else took the CPU.
    """
    run(texts[:WARM_UP])
    started, cpu = time.perf_counter(), time.process_time()
    results = run(texts)
    wall = time.perf_counter() - started
    return results, len(texts) / wall, (time.process_time() - cpu) / wall


def _figure(
    set_name: str, scores: Sequence[float | None], labels: Sequence[str], y: Sequence[int]
) -> float:
    """SST-2: binary accuracy (positive when score > 0); clothing: 3-class macro-F1.

    A text the product path leaves unscored ("unsupported", "empty") counts as wrong.
    """
    from sentiment.training import data
    from sentiment.training.train import macro_f1

    if set_name == "clothing_test":
        index = {name: i for i, name in enumerate(data.LABELS)}
        return macro_f1([index.get(label, -1) for label in labels], y)
    hits = sum(
        score is not None and (score > 0) == (truth == data.POSITIVE)
        for score, truth in zip(scores, y, strict=True)
    )
    return hits / len(y)


def _pipeline(artifact_dir: Path | None, threads: int) -> tuple[Any, Any]:
    """A plain transformers text-classification pipeline over the same merged weights.

    The head sits on mean-pooled token vectors, not on [CLS], so no stock *ForSequence-
    Classification class fits: a minimal PreTrainedModel wraps encoder, pooling and head.
    """
    import torch
    from safetensors.torch import load_file
    from transformers import PreTrainedModel, pipeline
    from transformers.modeling_outputs import SequenceClassifierOutput
    from transformers.utils import logging as hf_logging

    from sentiment.analyzers import transformer as tx

    torch.set_num_threads(threads)
    folder = artifact_dir or tx.DEFAULT_ARTIFACT_DIR
    manifest = tx.read_manifest(folder)
    tokenizer, encoder = tx.load_base()
    lora = manifest["lora"]
    tx.merge_lora(
        encoder,
        load_file(str(folder / tx.ADAPTER_FILE)),
        scaling=float(lora["alpha"]) / int(lora["rank"]),
    )
    head = load_file(str(folder / tx.HEAD_FILE))
    config = encoder.config.__class__.from_dict(encoder.config.to_dict())
    config.num_labels = len(tx.LABELS)
    config.id2label = dict(enumerate(tx.LABELS))
    config.label2id = {label: i for i, label in enumerate(tx.LABELS)}

    class MeanPoolClassifier(PreTrainedModel):
        config_class = type(config)
        base_model_prefix = "encoder"

        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.encoder = encoder
            self.head = torch.nn.Linear(config.hidden_size, config.num_labels)

        def forward(
            self, input_ids: Any = None, attention_mask: Any = None, **kwargs: Any
        ) -> SequenceClassifierOutput:
            hidden = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=kwargs.get("token_type_ids"),
            ).last_hidden_state
            return SequenceClassifierOutput(logits=self.head(tx.mean_pool(hidden, attention_mask)))

    model = MeanPoolClassifier(config)
    with torch.no_grad():
        model.head.weight.copy_(head["head.weight"].float())
        model.head.bias.copy_(head["head.bias"].float())
    model.eval()
    # The pipeline logs a screenful naming every stock model class when given another one.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity(hf_logging.CRITICAL)
    try:
        classify = pipeline(
            "text-classification",
            model=model,
            tokenizer=tokenizer,
            top_k=None,
            device=-1,
            truncation=True,
            max_length=int(manifest["max_length"]),
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    return classify, manifest


def _pipeline_labels(outputs: list) -> list[str]:
    return [max(scores, key=lambda s: s["score"])["label"] for scores in outputs]


def _pipeline_scores(outputs: list) -> list[float]:
    """P(positive) - P(negative), as the analyzer scores."""
    scores = []
    for row in outputs:
        by_label = {s["label"]: s["score"] for s in row}
        scores.append(by_label["positive"] - by_label["negative"])
    return scores


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="the shared data folder, e.g. ../shared/data")
    parser.add_argument("--artifact", type=Path, default=None, help="transformer artifact folder")
    parser.add_argument("--threads", type=int, default=2, help="torch / ONNX threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="keep the first N texts per set")
    parser.add_argument(
        "--runtimes",
        default="torch,onnx-int8",
        help="comma-separated transformer runtimes (torch, torch-int8, onnx-int8); "
        "torch is always measured, as the reference",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "crm-bench-models",
        help="where the onnx-int8 runtime caches its exported model",
    )
    parser.add_argument(
        "--no-pipeline", action="store_true", help="skip the transformers.pipeline baseline"
    )
    args = parser.parse_args(argv)
    _setup()

    import torch

    from sentiment.analysis import analyze_texts
    from sentiment.analyzers.transformer import TransformerAnalyzer
    from sentiment.analyzers.vader import VaderAnalyzer
    from sentiment.language import detector
    from sentiment.training import data

    torch.set_num_threads(args.threads)
    runtimes = ["torch", *(r for r in args.runtimes.split(",") if r and r != "torch")]
    sets = {
        "sst2_dev": data.sst2(args.data_dir, "dev"),
        "clothing_test": data.clothing(args.data_dir, "test"),
    }
    if args.limit:
        sets = {name: (t[: args.limit], y[: args.limit]) for name, (t, y) in sets.items()}

    analyzers: dict[str, Any] = {}
    for runtime in runtimes:
        started = time.perf_counter()
        analyzers[runtime] = TransformerAnalyzer(
            args.artifact,
            runtime=runtime,
            num_threads=args.threads,
            batch_size=args.batch_size,
            cache_dir=args.cache_dir,
        )
        took = time.perf_counter() - started
        print(f"loaded {runtime:<11} in {took:5.1f}s: {analyzers[runtime].version}")
    analyzers["vader"] = VaderAnalyzer()
    # The language gate builds its detector on first use (~0.5 s, once per process): build
    # it now so that it counts as loading, not as the first timed set's throughput.
    detector()
    print(f"loaded vader: {analyzers['vader'].version}")
    print(
        f"{args.threads} threads, batch {args.batch_size}, load average {os.getloadavg()[0]:.2f}; "
        + ", ".join(f"{name} {len(t)} texts" for name, (t, _) in sets.items())
    )

    classify = None
    artifact_ids = {analyzers[runtime].manifest["artifact_id"] for runtime in runtimes}
    if not args.no_pipeline:
        started = time.perf_counter()
        classify, manifest = _pipeline(args.artifact, args.threads)
        print(f"loaded pipeline    in {time.perf_counter() - started:5.1f}s")
        artifact_ids.add(manifest["artifact_id"])
    if len(artifact_ids) > 1:
        # A training run replaced the artifact between two loads: the runtimes would not
        # be measuring the same weights.
        raise SystemExit("The transformer artifact changed while loading; run again.")

    # (set, analyzer) -> {"model": texts/s, "path": texts/s, "acc_model": x, "acc_path": x}
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for set_name, (texts, y) in sets.items():
        for name, analyzer in analyzers.items():
            alone, model_speed, model_cpu = _timed(analyzer.analyze_many, texts)
            path, path_speed, path_cpu = _timed(lambda t, a=analyzer: analyze_texts(a, t), texts)
            unscored = sum(not r.scored for r in path)
            rows[(set_name, name)] = {
                "model": model_speed,
                "model_cpu": model_cpu,
                "path": path_speed,
                "path_cpu": path_cpu,
                "acc_model": _figure(
                    set_name, [r.score for r in alone], [r.label for r in alone], y
                ),
                "acc_path": _figure(set_name, [r.score for r in path], [r.label for r in path], y),
                "unscored": unscored,
            }

    # The plain pipeline, same weights, same process and threads.
    baseline: dict[tuple[str, str], float] = {}
    if classify is not None:
        reference = [r.label for r in analyzers["torch"].analyze_many(sets["sst2_dev"][0])]
        outputs = classify(list(sets["sst2_dev"][0]))
        agree = sum(a == b for a, b in zip(_pipeline_labels(outputs), reference, strict=True))
        share = agree / len(reference)
        print(
            f"pipeline vs torch runtime, same label on SST-2 dev: {agree}/{len(reference)} "
            f"({share:.2%}) {'OK' if share >= 0.99 else 'FAIL: not the same weights?'}"
        )
        for set_name, (texts, y) in sets.items():
            for label, kwargs in (("default", {}), ("batch64", {"batch_size": 64})):
                outputs, speed, cpu = _timed(lambda t, kw=kwargs: classify(list(t), **kw), texts)
                baseline[(set_name, label)] = speed
                rows[(set_name, f"pipeline-{label}")] = {
                    "model": speed,
                    "model_cpu": cpu,
                    "path": float("nan"),
                    "path_cpu": float("nan"),
                    "acc_model": _figure(
                        set_name, _pipeline_scores(outputs), _pipeline_labels(outputs), y
                    ),
                    "acc_path": float("nan"),
                    "unscored": 0,
                }

    print(
        "\nmodel = analyze_many (texts/s); path = analyze_texts, the product path (texts/s);"
        "\nacc = SST-2 binary accuracy / clothing 3-class macro-F1; d = acc - torch fp32 acc,"
        "\nin points; xpipe = model texts/s / plain pipeline texts/s (default batch, batch 64);"
        "\ncpu = cores this process kept busy while timed (CPU time / wall time)"
    )
    header = (
        f"{'set':<14}{'analyzer':<17}{'model/s':>8}{'cpu':>5}{'path/s':>8}{'cpu':>5}"
        f"{'acc model':>10}{'d':>7}{'acc path':>9}{'d':>7}{'unscored':>9}{'xpipe':>8}"
        f"{'xpipe64':>8}"
    )
    print("\n" + header)
    print("-" * len(header))
    for set_name in SETS:
        ref = rows[(set_name, "torch")]
        for (row_set, name), row in rows.items():
            if row_set != set_name:
                continue
            d_model = 100 * (row["acc_model"] - ref["acc_model"])
            d_path = 100 * (row["acc_path"] - ref["acc_path"])
            xpipe = xpipe64 = ""
            if baseline and name in analyzers and name != "vader":
                xpipe = f"{row['model'] / baseline[(set_name, 'default')]:.2f}x"
                xpipe64 = f"{row['model'] / baseline[(set_name, 'batch64')]:.2f}x"
            has_path = row["path"] == row["path"]  # NaN for the pipeline: no product path
            path_cell = f"{row['path']:.0f}" if has_path else ""
            path_cpu = f"{row['path_cpu']:.1f}" if has_path else ""
            acc_path = f"{row['acc_path']:.4f}" if has_path else ""
            d_path_cell = f"{d_path:+.2f}" if has_path else ""
            print(
                f"{set_name:<14}{name:<17}{row['model']:>8.0f}{row['model_cpu']:>5.1f}"
                f"{path_cell:>8}{path_cpu:>5}{row['acc_model']:>10.4f}{d_model:>+7.2f}"
                f"{acc_path:>9}{d_path_cell:>7}{row['unscored']:>9}{xpipe:>8}{xpipe64:>8}"
            )

    print("\ntargets (2 cores): texts/s model alone / full path; |acc - torch fp32| of the path")
    for name in [*runtimes, "vader"]:
        for set_name in SETS:
            row, ref = rows[(set_name, name)], rows[(set_name, "torch")]
            target = VADER_TARGET if name == "vader" else TARGETS[set_name]
            speeds = " / ".join("ok" if row[k] >= target else "MISS" for k in ("model", "path"))
            line = (
                f"  {name:<11} {set_name:<14} {row['model']:>6.0f} / {row['path']:>6.0f} "
                f">= {target:.0f}: {speeds}"
            )
            if name != "vader":
                delta = 100 * abs(row["acc_path"] - ref["acc_path"])
                line += (
                    f"; accuracy off by {delta:.2f} points <= 1: {'ok' if delta <= 1 else 'MISS'}"
                )
            print(line)
    print(f"\npeak RSS of this process (all runtimes loaded): {peak_rss_mb():.0f} MB")
    # Other work on the machine slows every figure above: a load well over --threads
    # means they are low.
    print(
        "load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
