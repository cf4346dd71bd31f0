"""VADER and the transformer combined by a small multinomial logistic regression (a stacker).

For each text (and each sentence) both analyzers run; six features of their outputs go into
a 3-class logistic regression whose softmax gives P(negative), P(neutral), P(positive):

- the transformer's log-probabilities of its three classes;
- VADER's compound score, its intensity |compound|, and whether VADER reads "neutral"
  (|compound| < 0.05, mostly "no sentiment word found": VADER has no opinion there).

label = argmax, score = P(positive) - P(negative), confidence = the top probability, as for
the transformer (`analysis_from_probabilities`).

The parameters are a small JSON file, `sentiment/artifacts/combined.json`, written by
`sentiment.training.combined.fit_combined` (run it with `python benchmarks/combined.py
DATA --fit`): {"format_version", "sha256", "payload"} where the sha256 is over the
canonical JSON of the payload (coefficients, standardisation, feature names, the
transformer and VADER versions they were fitted with, metrics, date). Loading verifies the
checksum and refuses parameters fitted for another transformer artifact or another VADER:
a stacker over the wrong inputs would score confidently and wrongly.

Inference is numpy only; scikit-learn is needed to fit, not to score.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentiment.analyzers.base import (
    ANALYSIS_REVISION,
    LABELS,
    Analysis,
    Analyzer,
    DocumentAnalysis,
    Probabilities,
    analysis_from_probabilities,
)
from sentiment.analyzers.transformer import ArtifactError, version_of

if TYPE_CHECKING:
    from sentiment.analyzers.transformer import TransformerAnalyzer

FORMAT_VERSION = 1
DEFAULT_PARAMS = Path(__file__).resolve().parent.parent / "artifacts" / "combined.json"
FIX = "python benchmarks/combined.py DATA --fit"  # DATA: the shared data folder
FEATURES = (
    "tx_log_p_negative",
    "tx_log_p_neutral",
    "tx_log_p_positive",
    "vader_compound",
    "vader_intensity",
    "vader_neutral",
)
# log(0) is -inf; the transformer's softmax never reaches this floor in float64 anyway.
PROBABILITY_FLOOR = 1e-9


def feature_row(transformer: Analysis, vader: Analysis) -> list[float]:
    """The FEATURES of one text (or sentence) from the two analyzers' results on it."""
    if transformer.probabilities is None:
        raise ValueError("the combined analyzer needs the transformer's class probabilities")
    logs = [math.log(max(p, PROBABILITY_FLOOR)) for p in transformer.probabilities]
    compound = float(vader.score)
    return [*logs, compound, abs(compound), float(vader.label == "neutral")]


def payload_digest(payload: dict[str, Any]) -> str:
    """sha256 of the payload's canonical JSON (sorted keys, no spaces): what the file signs."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def vader_model_version(version: str) -> str:
    """VADER's version without the analysis revision: the revision does not change VADER's
    compound score, so bumping it must not invalidate the fitted parameters."""
    return version.removesuffix(f"+{ANALYSIS_REVISION}")


def read_params(path: Path) -> dict[str, Any]:
    """The verified document {"format_version", "sha256", "payload"} of a parameters file."""
    fix = f"fit them again with `{FIX}`"
    if not path.is_file():
        raise ArtifactError(f"Combined analyzer parameters {path} are missing; {fix}.")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        payload = document["payload"]
        expected = document["sha256"]
        version = document["format_version"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(
            f"Combined analyzer parameters {path} are unreadable ({exc!r}); {fix}."
        ) from exc
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"Combined analyzer parameters {path} have format version {version!r}, this code "
            f"reads {FORMAT_VERSION}; {fix}."
        )
    actual = payload_digest(payload)
    if actual != expected:
        raise ArtifactError(
            f"Combined analyzer parameters {path} are corrupt or were edited (sha256 "
            f"{actual[:12]}..., the file says {str(expected)[:12]}...); {fix}."
        )
    n_features, n_classes = len(FEATURES), len(LABELS)
    try:
        shapes_ok = (
            tuple(payload["features"]) == FEATURES
            and tuple(payload["labels"]) == LABELS
            and len(payload["feature_mean"]) == n_features
            and len(payload["feature_scale"]) == n_features
            and len(payload["intercept"]) == n_classes
            and len(payload["coef"]) == n_classes
            and all(len(row) == n_features for row in payload["coef"])
        )
    except (KeyError, TypeError):
        shapes_ok = False
    if not shapes_ok:
        raise ArtifactError(
            f"Combined analyzer parameters {path} do not match this code's features "
            f"{', '.join(FEATURES)}; {fix}."
        )
    return document


class LogisticModel:
    """softmax(((x - mean) / scale) @ coef.T + intercept), from a verified payload."""

    def __init__(self, payload: dict[str, Any]) -> None:
        import numpy as np

        self._mean = np.asarray(payload["feature_mean"], dtype=np.float64)
        self._scale = np.asarray(payload["feature_scale"], dtype=np.float64)
        self._coef = np.asarray(payload["coef"], dtype=np.float64)
        self._intercept = np.asarray(payload["intercept"], dtype=np.float64)

    def probabilities(self, rows: Sequence[Sequence[float]]) -> list[Probabilities]:
        import numpy as np

        if not rows:
            return []
        x = (np.asarray(rows, dtype=np.float64) - self._mean) / self._scale
        logits = x @ self._coef.T + self._intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probs = exp / exp.sum(axis=1, keepdims=True)
        return [(p[0], p[1], p[2]) for p in probs.tolist()]


class CombinedAnalyzer:
    """The transformer's probabilities and VADER's compound, combined by a fitted stacker.

    Raises ArtifactError (naming the file and the fix) when the parameters file is missing,
    edited, or fitted for another transformer artifact or VADER than the ones given.

    The version is `combined-<first 8 hex of the parameters' sha256>`, plus the transformer's
    runtime when it is not fp32 torch (quantised runtimes give slightly different inputs, as
    the transformer's own version says), plus the analysis revision.
    """

    name = "combined"

    def __init__(
        self,
        vader: Analyzer,
        transformer: TransformerAnalyzer,
        params_path: str | Path | None = None,
    ) -> None:
        self.params_path = Path(params_path) if params_path else DEFAULT_PARAMS
        document = read_params(self.params_path)
        payload = document["payload"]
        fix = f"fit them again for it with `{FIX}`"
        fitted, loaded = payload.get("transformer_version"), version_of(transformer.manifest)
        if fitted != loaded:
            raise ArtifactError(
                f"Combined analyzer parameters {self.params_path} were fitted for transformer "
                f"{fitted}, but the installed transformer is {loaded}; {fix}."
            )
        fitted, loaded = payload.get("vader_version"), vader_model_version(vader.version)
        if fitted != loaded:
            raise ArtifactError(
                f"Combined analyzer parameters {self.params_path} were fitted for VADER "
                f"{fitted}, but the installed VADER is {loaded}; {fix}."
            )
        self.vader = vader
        self.transformer = transformer
        self.payload = payload
        self.params_sha256: str = document["sha256"]
        self._model = LogisticModel(payload)
        runtime = getattr(transformer, "runtime", "torch")
        suffix = "" if runtime == "torch" else f"-{runtime}"
        self.version = f"combined-{self.params_sha256[:8]}{suffix}+{ANALYSIS_REVISION}"

    def combine(self, transformer: Sequence[Analysis], vader: Sequence[Analysis]) -> list[Analysis]:
        """The combined analysis of each (transformer, VADER) pair of results, in order."""
        rows = [feature_row(t, v) for t, v in zip(transformer, vader, strict=True)]
        return [analysis_from_probabilities(p) for p in self._model.probabilities(rows)]

    def analyze_many(self, texts: Sequence[str]) -> list[Analysis]:
        return self.combine(self.transformer.analyze_many(texts), self.vader.analyze_many(texts))

    def analyze_documents(self, documents: Sequence[Sequence[str]]) -> list[DocumentAnalysis]:
        """Both analyzers score every text and every sentence; each pair is combined."""
        if not documents:
            return []
        tx_docs = self.transformer.analyze_documents(documents)
        vd_docs = self.vader.analyze_documents(documents)
        tx_flat: list[Analysis] = []
        vd_flat: list[Analysis] = []
        for t, v in zip(tx_docs, vd_docs, strict=True):
            tx_flat.extend((t.text, *t.sentences))
            vd_flat.extend((v.text, *v.sentences))
        combined = iter(self.combine(tx_flat, vd_flat))
        results = []
        for t in tx_docs:
            whole = next(combined)
            sentences = tuple(next(combined) for _ in t.sentences)
            results.append(DocumentAnalysis(text=whole, sentences=sentences))
        return results
