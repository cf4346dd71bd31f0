"""What every analyzer returns, and the one rule that turns a score into a label."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# VADER's published thresholds; the same cut keeps labels comparable across analyzers.
NEUTRAL_BAND = 0.05
LABELS = ("negative", "neutral", "positive")

Probabilities = tuple[float, float, float]

# Part of every analyzer's version: bump it when the analysis around the model changes what
# is stored (sentence splitting, the language gate, aspects), so every text is re-scored.
ANALYSIS_REVISION = "a2"


@dataclass(frozen=True, slots=True)
class Analysis:
    """The sentiment of one non-empty text or sentence.

    `score` is in [-1, 1]; `probabilities` are P(negative), P(neutral), P(positive) where the
    analyzer has them (the transformer), else None; `confidence` is how sure the analyzer is
    of `label`: the top class probability, or VADER's intensity |compound| (a strength, not a
    calibrated probability).
    """

    score: float
    label: str
    probabilities: Probabilities | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class DocumentAnalysis:
    """One text scored as a whole and sentence by sentence (same order as given)."""

    text: Analysis
    sentences: tuple[Analysis, ...]


def label_for_score(score: float) -> str:
    """negative below -0.05, positive above 0.05, neutral between (inclusive of the band)."""
    if score >= NEUTRAL_BAND:
        return "positive"
    if score <= -NEUTRAL_BAND:
        return "negative"
    return "neutral"


def analysis_from_probabilities(probs: Sequence[float]) -> Analysis:
    """label = the most probable class; score = P(positive) - P(negative)."""
    p = (float(probs[0]), float(probs[1]), float(probs[2]))
    best = max(range(3), key=p.__getitem__)
    return Analysis(score=p[2] - p[0], label=LABELS[best], probabilities=p, confidence=p[best])


class Analyzer(Protocol):
    """Scores non-empty texts. Callers never pass blank text: it has nothing to score.

    `analyze_documents` takes each text as its list of sentences (at least one) and scores
    the whole text and every sentence; nothing is truncated, however long the text.
    """

    name: str
    version: str

    def analyze_many(self, texts: Sequence[str]) -> list[Analysis]: ...

    def analyze_documents(self, documents: Sequence[Sequence[str]]) -> list[DocumentAnalysis]: ...
