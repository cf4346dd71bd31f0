"""What every analyzer returns, and the one rule that turns a score into a label."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# VADER's published thresholds; the same cut keeps labels comparable across analyzers.
NEUTRAL_BAND = 0.05


@dataclass(frozen=True)
class Analysis:
    """The sentiment of one non-empty text: a score in [-1, 1] and its label."""

    score: float
    label: str


def label_for_score(score: float) -> str:
    """negative below -0.05, positive above 0.05, neutral between (inclusive of the band)."""
    if score >= NEUTRAL_BAND:
        return "positive"
    if score <= -NEUTRAL_BAND:
        return "negative"
    return "neutral"


class Analyzer(Protocol):
    """Scores non-empty texts. Callers never pass blank text: it has nothing to score."""

    name: str
    version: str

    def analyze_many(self, texts: Sequence[str]) -> list[Analysis]: ...
