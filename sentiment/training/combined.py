"""Fit the combined analyzer's stacker on training rows only, and write its parameters.

Rows (sentiment.training.data decides which rows train; none of these is measured on):
- the clothing reviews' train split, all of it, 3-class;
- a fixed-seed random sample of SST-2 train, binary.

How the binary SST-2 rows enter a 3-class regression: as rows labelled negative or
positive. That label is true (SST-2 dropped its neutral phrases), but the rows come from a
distribution with no neutral class, so at full weight they would teach the regression that
neutral is rare and pull the clothing reviews' neutral recall down. Their total weight is
therefore a share `beta` of the clothing rows' total, and `beta` is chosen by
cross-validation together with C and the clothing class weighting (below). The transformer
itself was trained the same way round: SST-2 for the negative/positive direction, clothing
for neutral.

Cross-validation (5 folds, stratified by source and label, fixed seed) picks C, the clothing
class-weight power `gamma` (weight ~ class frequency ** -gamma: 0 none, 0.5 the transformer's
own inverse square root, 1 balanced) and `beta`, maximising the mean of the two training-side
analogues of the targets: out-of-fold clothing macro-F1 and out-of-fold SST-2 binary
accuracy (P(positive) > P(negative)). The chosen setting is then refitted on all rows.

A caveat the figures carry: these rows overlap the transformer's own training rows, so its
outputs here are somewhat better than on unseen text (the fit summary prints its in-sample
figures next to the held-out ones). The regression therefore trusts the transformer a little
more than it should: a conservative bias, towards "combined = transformer". The measuring
sets stay untouched either way.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sentiment.analyzers.base import LABELS, Analysis, Analyzer
from sentiment.analyzers.combined import (
    DEFAULT_PARAMS,
    FEATURES,
    FORMAT_VERSION,
    LogisticModel,
    feature_row,
    payload_digest,
    vader_model_version,
)
from sentiment.analyzers.transformer import TransformerAnalyzer, version_of
from sentiment.training import data
from sentiment.training.train import _write_atomic, binary_accuracy, evaluate, macro_f1

SEED = 20261123
SST2_SAMPLE = 10_000
FOLDS = 5
C_GRID = (0.01, 0.1, 1.0, 10.0)
GAMMAS = (0.0, 0.5, 1.0)
BETAS = (0.25, 0.5, 1.0)


def training_rows(
    data_dir: str | Path, *, sst2_sample: int = SST2_SAMPLE, seed: int = SEED
) -> tuple[list[str], list[int], list[bool]]:
    """(texts, labels, is_sst2): the clothing train split, then the SST-2 train sample."""
    clo_texts, clo_labels = data.clothing(data_dir, "train")
    sst_texts, sst_labels = data.sst2(data_dir, "train")
    rng = random.Random(seed)
    keep = sorted(rng.sample(range(len(sst_texts)), min(sst2_sample, len(sst_texts))))
    texts = clo_texts + [sst_texts[i] for i in keep]
    labels = clo_labels + [sst_labels[i] for i in keep]
    return texts, labels, [False] * len(clo_texts) + [True] * len(keep)


def _weights(labels: Any, is_sst2: Any, *, gamma: float, beta: float) -> Any:
    """Per-row weights: clothing rows by class frequency ** -gamma, scaled to total n_clothing;
    SST-2 rows equal, totalling beta * n_clothing."""
    import numpy as np

    y = np.asarray(labels)
    sst = np.asarray(is_sst2)
    clothing = ~sst
    n_clothing = clothing.sum()
    weights = np.zeros(len(y))
    freq = np.bincount(y[clothing], minlength=3) / n_clothing
    weights[clothing] = freq[y[clothing]] ** -gamma
    weights[clothing] *= n_clothing / weights[clothing].sum()
    if sst.any():
        weights[sst] = beta * n_clothing / sst.sum()
    return weights


def _figures(probs: Any, labels: Any, is_sst2: Any) -> dict[str, float]:
    """Clothing macro-F1 (argmax) and SST-2 binary accuracy of the given rows."""
    clothing = ~is_sst2
    return {
        "clothing_macro_f1": round(
            macro_f1(probs[clothing].argmax(axis=1).tolist(), labels[clothing].tolist()), 4
        ),
        "sst2_accuracy": round(
            binary_accuracy(probs[is_sst2].tolist(), labels[is_sst2].tolist()), 4
        ),
    }


def _vader_figures(vader: Sequence[Analysis], labels: Any, is_sst2: Any) -> dict[str, float]:
    clothing = [i for i, s in enumerate(is_sst2) if not s]
    sst = [i for i, s in enumerate(is_sst2) if s]
    predicted = [LABELS.index(vader[i].label) for i in clothing]
    hits = sum((vader[i].score > 0) == (int(labels[i]) == data.POSITIVE) for i in sst)
    return {
        "clothing_macro_f1": round(macro_f1(predicted, [int(labels[i]) for i in clothing]), 4),
        "sst2_accuracy": round(hits / len(sst), 4),
    }


def fit_combined(
    data_dir: str | Path,
    *,
    transformer: TransformerAnalyzer,
    vader: Analyzer,
    output: str | Path = DEFAULT_PARAMS,
    sst2_sample: int = SST2_SAMPLE,
    seed: int = SEED,
    measure: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fit the stacker on training rows, measure it (unless `measure` is false), and write
    the parameters to `output` atomically (`<name>.part`, then renamed).

    Returns the written document {"format_version", "sha256", "payload"}. Deterministic for
    the same data, analyzers and seed; rerun it whenever the transformer artifact changes
    (CombinedAnalyzer refuses parameters fitted for another one).
    """
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    texts, label_list, sst_list = training_rows(data_dir, sst2_sample=sst2_sample, seed=seed)
    labels = np.asarray(label_list)
    is_sst2 = np.asarray(sst_list)
    log(
        f"training rows: {int((~is_sst2).sum())} clothing train (3-class), "
        f"{int(is_sst2.sum())} SST-2 train sample (binary); scoring them with both analyzers"
    )
    tx_results = transformer.analyze_many(texts)
    vd_results = vader.analyze_many(texts)
    x = np.asarray([feature_row(t, v) for t, v in zip(tx_results, vd_results, strict=True)])
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale

    def model(c: float) -> Any:
        return LogisticRegression(C=c, max_iter=2000, tol=1e-6)

    strata = labels + 3 * is_sst2
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(z, strata))
    cv: list[dict[str, Any]] = []
    for gamma in GAMMAS:
        for beta in BETAS:
            weights = _weights(labels, is_sst2, gamma=gamma, beta=beta)
            for c in C_GRID:
                out_of_fold = np.zeros((len(labels), 3))
                for train_idx, test_idx in folds:
                    fitted = model(c).fit(
                        z[train_idx], labels[train_idx], sample_weight=weights[train_idx]
                    )
                    out_of_fold[test_idx] = fitted.predict_proba(z[test_idx])
                figures = _figures(out_of_fold, labels, is_sst2)
                score = (figures["clothing_macro_f1"] + figures["sst2_accuracy"]) / 2
                cv.append({"C": c, "gamma": gamma, "beta": beta, **figures, "score": score})
    best = max(cv, key=lambda row: row["score"])  # the first of equals: grid order
    log(
        f"cross-validation ({FOLDS} folds, {len(cv)} settings): best C={best['C']} "
        f"gamma={best['gamma']} beta={best['beta']}: clothing macro-F1 "
        f"{best['clothing_macro_f1']:.4f}, SST-2 accuracy {best['sst2_accuracy']:.4f}"
    )
    weights = _weights(labels, is_sst2, gamma=best["gamma"], beta=best["beta"])
    final = model(best["C"]).fit(z, labels, sample_weight=weights)
    if list(final.classes_) != [0, 1, 2]:
        raise ValueError(f"training rows lack a class: {final.classes_}")

    tx_probs = np.asarray([t.probabilities for t in tx_results])
    in_sample = {
        "transformer": _figures(tx_probs, labels, is_sst2),
        "vader": _vader_figures(vd_results, labels, is_sst2),
        "combined_out_of_fold": {k: best[k] for k in ("clothing_macro_f1", "sst2_accuracy")},
    }
    log(f"on the training rows: {in_sample}")
    payload: dict[str, Any] = {
        "model": "multinomial logistic regression on standardised features",
        "labels": list(LABELS),
        "features": list(FEATURES),
        "feature_mean": mean.tolist(),
        "feature_scale": scale.tolist(),
        "coef": final.coef_.tolist(),
        "intercept": final.intercept_.tolist(),
        "transformer_version": version_of(transformer.manifest),
        "transformer_runtime": getattr(transformer, "runtime", "torch"),
        "vader_version": vader_model_version(vader.version),
        "training": {
            "data": {
                "clothing_train": f"{int((~is_sst2).sum())} rows, 3-class",
                "sst2_train": f"{int(is_sst2.sum())} rows (random sample, seed {seed}), "
                "binary, total weight beta x the clothing rows'",
            },
            "C": best["C"],
            "gamma": best["gamma"],
            "beta": best["beta"],
            "seed": seed,
            "folds": FOLDS,
            "grid": {"C": list(C_GRID), "gamma": list(GAMMAS), "beta": list(BETAS)},
            "training_rows_figures": in_sample,
            # Every setting tried: [C, gamma, beta, clothing macro-F1, SST-2 accuracy].
            "cross_validation": [
                [r["C"], r["gamma"], r["beta"], r["clothing_macro_f1"], r["sst2_accuracy"]]
                for r in cv
            ],
            "sklearn": sklearn.__version__,
        },
        "metrics": {},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if measure:
        stacker = LogisticModel(payload)

        def predict(batch: Sequence[str]) -> list[list[float]]:
            rows = [
                feature_row(t, v)
                for t, v in zip(
                    transformer.analyze_many(batch), vader.analyze_many(batch), strict=True
                )
            ]
            return [list(p) for p in stacker.probabilities(rows)]

        log("measuring on the measuring sets")
        payload["metrics"] = evaluate(predict, data_dir)
        log(f"measured: {payload['metrics']}")
    document = write_params(Path(output), payload)
    log(f"parameters written to {output} (sha256 {document['sha256'][:12]}...)")
    return document


def write_params(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """Sign `payload` and write the parameters document atomically; return the document."""
    import json

    document = {
        "format_version": FORMAT_VERSION,
        "sha256": payload_digest(payload),
        "payload": payload,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, (json.dumps(document, indent=2) + "\n").encode())
    return document
