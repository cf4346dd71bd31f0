"""Train a churn model with a time-based split, and measure it on data it never saw.

Cutoffs: validation at V (by default the latest cutoff whose label window the data
covers); training cutoffs V - H, V - H - step, ... so every training label window closes
by V and nothing about the validation window leaks into training. The candidates (a
logistic regression baseline and LightGBM) are fitted on the older training cutoffs,
chosen and calibrated (Platt scaling) on the latest training cutoff, then measured once on
V, next to a recency-only rule and the same model without any text feature.

The fitted model is a `ChurnPredictor`: it turns a feature frame into a finite matrix
(infinities to missing, missing-value indicators, training medians), so neither NaN nor
infinity ever reaches an estimator, and it gives each prediction's exact per-feature
contributions to the model's log-odds (the logistic regression's terms, LightGBM's
TreeSHAP values), which the reasons are made of.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from churnmodel.features import feature_frame, is_text_feature
from churnmodel.labels import churn_labels, latest_cutoff

ALGORITHMS = ("logistic_regression", "lightgbm")
CALIBRATION_BINS = 10
RFM = ["recency_days", "orders_total", "spend_total"]


class TrainingError(ValueError):
    """The data cannot train a model (no customers, one class only...); nothing is saved."""


def day_end(day: Any) -> datetime:
    """The cutoff for a calendar day: its last microsecond, UTC (that day's records count)."""
    return datetime.combine(day, time.max, tzinfo=UTC)


def default_validation_cutoff(latest: datetime | None) -> datetime:
    """The latest whole day whose label window the data covers, given the latest cutoff
    (labels.latest_cutoff)."""
    if latest is None:
        raise TrainingError("No orders yet: there is nothing to learn churn from.")
    cutoff = day_end(latest.date())
    return cutoff if cutoff <= latest else day_end(latest.date() - timedelta(days=1))


def training_cutoffs(
    validation_cutoff: datetime, horizon_days: int, count: int = 4, step_days: int = 30
) -> list[datetime]:
    """Oldest first; the newest one's label window closes exactly at the validation cutoff."""
    newest = validation_cutoff - timedelta(days=horizon_days)
    return [newest - timedelta(days=step_days * k) for k in range(count)][::-1]


@dataclass
class Dataset:
    X: Any  # DataFrame: one row per (cutoff, customer), feature columns
    y: Any  # Series of 0/1 (churned)
    cutoffs: Any  # Series: the cutoff of each row

    def where(self, mask: Any) -> Dataset:
        return Dataset(self.X[mask], self.y[mask], self.cutoffs[mask])


def build_dataset(
    cutoffs: list[datetime], horizon_days: int, target: str, active_days: int | None = None
) -> Dataset:
    """Features and labels at each cutoff, for the customers active by it (see
    churn_labels for `active_days`)."""
    import pandas as pd

    frames, labels, stamps = [], [], []
    for cutoff in cutoffs:
        y = churn_labels(cutoff, horizon_days, target, active_days)
        if y.empty:
            continue
        X = feature_frame(cutoff).reindex(y.index)
        frames.append(X.reset_index(drop=True))
        labels.append(y.reset_index(drop=True))
        stamps.append(pd.Series([cutoff] * len(y)))
    if not frames:
        raise TrainingError(
            "No customer had bought by any training cutoff "
            f"({', '.join(f'{c:%Y-%m-%d}' for c in cutoffs)}): not enough history to train."
        )
    return Dataset(
        pd.concat(frames, ignore_index=True),
        pd.concat(labels, ignore_index=True).astype(int),
        pd.concat(stamps, ignore_index=True),
    )


def data_hash(data: Dataset) -> str:
    """SHA-256 of the training matrix and labels, to tell identical training data apart."""
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(",".join(data.X.columns).encode())
    digest.update(pd.util.hash_pandas_object(data.X, index=False).to_numpy().tobytes())
    digest.update(data.y.to_numpy().tobytes())
    return digest.hexdigest()


def _signed_log(values: Any) -> Any:
    import numpy as np

    return np.sign(values) * np.log1p(np.abs(values))


def make_estimator(algorithm: str) -> Any:
    """An unfitted scikit-learn estimator for one of ALGORITHMS."""
    if algorithm == "logistic_regression":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        return Pipeline(
            [
                ("log", FunctionTransformer(_signed_log)),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(C=0.3, max_iter=3000)),
            ]
        )
    if algorithm == "lightgbm":
        from lightgbm import LGBMClassifier

        # Shallow and short: TreeSHAP contributions (the reasons) cost time in proportion
        # to depth x trees; depth 5 x 150 trees gives the same ROC-AUC as 300 deeper trees
        # at 2.5x less (benchmarks/churn_speed.py).
        return LGBMClassifier(
            n_estimators=150,
            learning_rate=0.08,
            max_depth=5,
            num_leaves=15,
            min_child_samples=50,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            reg_lambda=1.0,
            n_jobs=2,
            verbose=-1,
            random_state=0,
        )
    raise ValueError(f"Unknown algorithm {algorithm!r}; one of {', '.join(ALGORITHMS)}.")


@dataclass
class ChurnPredictor:
    """A fitted churn model with the preparation it was trained with.

    `features` is what it reads from a feature frame; `columns` the matrix it sees
    (features, then a missing-value indicator for each feature that had gaps in training).
    """

    algorithm: str
    features: list[str]
    columns: list[str]
    medians: dict[str, float]
    estimator: Any
    calibrator: Any = None  # sigmoid on the estimator's log-odds
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def prepare_spec(cls, X: Any) -> tuple[list[str], dict[str, float]]:
        import numpy as np

        clean = X.replace([np.inf, -np.inf], np.nan)
        gaps = [c for c in X.columns if clean[c].isna().any()]
        medians = {c: float(v) if np.isfinite(v) else 0.0 for c, v in clean.median().items()}
        return [*X.columns, *(f"{c}__missing" for c in gaps)], medians

    def matrix(self, X: Any) -> Any:
        """A finite float matrix in `columns` order, from a frame with `features`."""
        import numpy as np

        missing = [f for f in self.features if f not in X.columns]
        if missing:
            raise KeyError(f"Feature frame lacks {', '.join(missing)}.")
        frame = X[self.features].astype(float).replace([np.inf, -np.inf], np.nan)
        out = frame.copy()
        for column in self.columns[len(self.features) :]:
            out[column] = frame[column.removesuffix("__missing")].isna().astype(float)
        out = out.fillna(self.medians)[self.columns]
        matrix = out.to_numpy(dtype=float)
        matrix[~np.isfinite(matrix)] = 0.0  # a feature all-missing in training
        return matrix

    def log_odds(self, matrix: Any) -> Any:
        if self.algorithm == "lightgbm":
            return self.estimator.predict(matrix, raw_score=True)
        return self.estimator.decision_function(matrix)

    def predict(self, X: Any) -> Any:
        """Calibrated churn probabilities for the rows of a feature frame."""
        return self.predict_matrix(self.matrix(X))

    def predict_matrix(self, matrix: Any) -> Any:
        import numpy as np

        raw = self.log_odds(matrix)
        if self.calibrator is None:
            return 1 / (1 + np.exp(-raw))
        return self.calibrator.predict_proba(raw.reshape(-1, 1))[:, 1]

    def contributions(self, matrix: Any) -> Any:
        """Per row, each matrix column's exact contribution to the log-odds (the rows sum,
        with the bias, to `log_odds`): a DataFrame with `columns`."""
        import pandas as pd

        if self.algorithm == "lightgbm":
            values = self.estimator.predict(matrix, pred_contrib=True)[:, :-1]
        else:
            scaled = self.estimator[:-1].transform(matrix)
            values = scaled * self.estimator[-1].coef_[0]
        return pd.DataFrame(values, columns=self.columns)


def fit_predictor(algorithm: str, train: Dataset, features: list[str]) -> ChurnPredictor:
    X = train.X[features]
    columns, medians = ChurnPredictor.prepare_spec(X)
    predictor = ChurnPredictor(algorithm, features, columns, medians, make_estimator(algorithm))
    predictor.estimator.fit(predictor.matrix(X), train.y.to_numpy())
    return predictor


def calibrate(predictor: ChurnPredictor, held_out: Dataset) -> None:
    """Platt scaling of the model's log-odds on data it was not fitted on."""
    from sklearn.linear_model import LogisticRegression

    raw = predictor.log_odds(predictor.matrix(held_out.X)).reshape(-1, 1)
    predictor.calibrator = LogisticRegression(C=1e6, max_iter=1000).fit(raw, held_out.y)


def evaluate(y: Any, p: Any) -> dict[str, Any]:
    """ROC-AUC, PR-AUC, Brier, top-decile lift and the calibration table of probabilities."""
    import numpy as np
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    top = np.argsort(-p, kind="stable")[: max(1, len(p) // 10)]
    base = float(y.mean())
    table = []
    edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
    bins = np.clip(np.digitize(p, edges[1:-1]), 0, CALIBRATION_BINS - 1)
    for b in range(CALIBRATION_BINS):
        members = bins == b
        if members.any():
            table.append(
                {
                    "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                    "customers": int(members.sum()),
                    "predicted": round(float(p[members].mean()), 4),
                    "observed": round(float(y[members].mean()), 4),
                }
            )
    return {
        "customers": len(y),
        "base_rate": round(base, 4),
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "pr_auc": round(float(average_precision_score(y, p)), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "top_decile_lift": round(float(y[top].mean()) / base, 3) if base > 0 else None,
        "calibration": table,
    }


def _baseline(train: Dataset, validation: Dataset, features: list[str]) -> dict[str, Any]:
    """A logistic regression on a few features (log scale), fitted on the training rows:
    with ["recency_days"] the recency-only rule (its ranking is recency itself), with
    recency, frequency and monetary value the classic RFM baseline."""
    from sklearn.linear_model import LogisticRegression

    def prepare(part: Dataset) -> Any:
        return _signed_log(part.X[features].fillna(0.0).to_numpy(dtype=float))

    rule = LogisticRegression(max_iter=1000).fit(prepare(train), train.y)
    return evaluate(validation.y, rule.predict_proba(prepare(validation))[:, 1])


def _distributions(X: Any, bins: int = 10) -> dict[str, Any]:
    """Per feature: quantile bin edges and the share of training rows in each bin (and
    missing), the reference the population stability index compares against."""
    import numpy as np

    out: dict[str, Any] = {}
    for column in X.columns:
        values = X[column].replace([np.inf, -np.inf], np.nan)
        present = values.dropna().to_numpy(dtype=float)
        edges = (
            np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
            if len(present)
            else np.array([])
        )
        out[column] = {"edges": [float(e) for e in edges], "shares": bin_shares(values, edges)}
    return out


def bin_shares(values: Any, edges: Any) -> list[float]:
    """Shares of `values` in each bin between `edges` (right-closed), then missing."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    present = values[np.isfinite(values)]
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=float), present, side="left"),
        minlength=len(edges) + 1,
    ).astype(float)
    counts = np.append(counts, len(values) - len(present))
    return [float(c) for c in counts / max(len(values), 1)]


@dataclass
class TrainingResult:
    predictor: ChurnPredictor
    report: dict[str, Any]
    data_hash: str
    distributions: dict[str, Any]


def train(
    *,
    validation_cutoff: datetime | None = None,
    horizon_days: int = 60,
    target: str = "purchase",
    cutoff_count: int = 4,
    step_days: int = 30,
    active_days: int | None = None,
    algorithms: tuple[str, ...] = ALGORITHMS,
) -> TrainingResult:
    """Fit, choose, calibrate and measure; raises TrainingError or
    labels.IncompleteWindowError (with the latest valid cutoff) when the data cannot give
    an honest model."""
    import numpy as np

    latest = latest_cutoff(horizon_days, target)
    if validation_cutoff is None:
        validation_cutoff = default_validation_cutoff(latest)
    elif latest is None or validation_cutoff > latest:
        # Refused before any feature is computed, with the latest valid date.
        churn_labels(validation_cutoff, horizon_days, target)
    cutoffs = training_cutoffs(validation_cutoff, horizon_days, cutoff_count, step_days)
    data = build_dataset(cutoffs, horizon_days, target, active_days)
    validation = build_dataset([validation_cutoff], horizon_days, target, active_days)
    for name, part in (("training", data), ("validation", validation)):
        if part.y.nunique() < 2:
            only = "churned" if part.y.iloc[0] == 1 else "stayed"
            raise TrainingError(
                f"Every {name} customer {only} ({len(part.y)} customers): a model needs "
                "both churned and retained customers to learn from."
            )
    used = sorted(data.cutoffs.unique())
    if len(used) >= 2:
        fit_part = data.where(data.cutoffs < used[-1])
        held_out = data.where(data.cutoffs == used[-1])
    else:  # one cutoff with data: hold out a fixed fifth of its customers
        rng = np.random.default_rng(0)
        mask = rng.random(len(data.y)) < 0.8
        fit_part, held_out = data.where(mask), data.where(~mask)
    if fit_part.y.nunique() < 2 or held_out.y.nunique() < 2:
        raise TrainingError(
            "The held-out calibration cutoff or the fitting cutoffs have only one class: "
            "use more history (an earlier validation cutoff) or a longer horizon."
        )

    features = list(data.X.columns)
    text_free = [f for f in features if not is_text_feature(f)]
    candidates: dict[str, Any] = {}
    fitted: dict[str, ChurnPredictor] = {}
    for algorithm in algorithms:
        predictor = fit_predictor(algorithm, fit_part, features)
        calibrate(predictor, held_out)
        candidates[algorithm] = evaluate(held_out.y, predictor.predict(held_out.X))
        candidates[algorithm].pop("calibration")
        fitted[algorithm] = predictor
    # Chosen on the held-out training cutoff, never on the validation cutoff.
    chosen = max(algorithms, key=lambda a: candidates[a]["roc_auc"])
    predictor = fitted[chosen]
    ablated = fit_predictor(chosen, fit_part, text_free)
    calibrate(ablated, held_out)

    model_metrics = evaluate(validation.y, predictor.predict(validation.X))
    without_text = evaluate(validation.y, ablated.predict(validation.X))
    train_rate = float(data.y.mean())
    base_brier = float(np.mean((validation.y.to_numpy() - train_rate) ** 2))
    report = {
        "target": target,
        "horizon_days": horizon_days,
        "active_days": active_days,
        "validation_cutoff": validation_cutoff.isoformat(),
        "training_cutoffs": [c.isoformat() for c in used],
        "calibration_cutoff": used[-1].isoformat() if len(used) >= 2 else None,
        "customers": {
            "training": len(fit_part.y),
            "calibration": len(held_out.y),
            "validation": len(validation.y),
        },
        "base_rate": {"training": round(train_rate, 4), "validation": model_metrics["base_rate"]},
        "algorithm": chosen,
        "candidates": candidates,
        "model": model_metrics,
        "base_rate_brier": round(base_brier, 4),
        "recency_rule": _baseline(fit_part, validation, ["recency_days"]),
        "rfm_logistic": _baseline(fit_part, validation, RFM),
        "without_text": without_text,
        "text_features_auc_gain": round(model_metrics["roc_auc"] - without_text["roc_auc"], 4),
        "features": len(features),
        "text_features": len(features) - len(text_free),
    }
    return TrainingResult(predictor, report, data_hash(data), _distributions(data.X))
