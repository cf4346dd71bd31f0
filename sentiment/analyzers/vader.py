"""VADER through NLTK, with the lexicon file shipped inside the `vaderSentiment` package.

`nltk.download` cannot work on machines without internet access, and NLTK refuses to open
files outside its data path, so the package's folder is added to NLTK's search path and
the lexicon is loaded by name from there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from sentiment.analyzers.base import (
    ANALYSIS_REVISION,
    Analysis,
    DocumentAnalysis,
    label_for_score,
)

LEXICON_NAME = "vader_lexicon.txt"


def lexicon_path() -> Path:
    """The lexicon file installed with the vaderSentiment package."""
    import vaderSentiment

    return Path(vaderSentiment.__file__).resolve().parent / LEXICON_NAME


class VaderAnalyzer:
    """NLTK's SentimentIntensityAnalyzer; the score is VADER's compound value.

    VADER has no class probabilities; its confidence is the intensity |compound|.
    """

    name = "vader"

    def __init__(self) -> None:
        import nltk
        from nltk.sentiment.vader import SentimentIntensityAnalyzer

        path = lexicon_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"VADER lexicon not found at {path}; reinstall it with "
                "`pip install vaderSentiment` (see requirements.txt)."
            )
        folder = str(path.parent)
        if folder not in nltk.data.path:
            nltk.data.path.insert(0, folder)
        self._sia = SentimentIntensityAnalyzer(lexicon_file=LEXICON_NAME)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        self.version = f"nltk-{nltk.__version__}+lexicon-{digest}+{ANALYSIS_REVISION}"

    def _analyze(self, text: str) -> Analysis:
        compound = float(self._sia.polarity_scores(text)["compound"])
        return Analysis(score=compound, label=label_for_score(compound), confidence=abs(compound))

    def analyze_many(self, texts: Sequence[str]) -> list[Analysis]:
        return [self._analyze(text) for text in texts]

    def analyze_documents(self, documents: Sequence[Sequence[str]]) -> list[DocumentAnalysis]:
        """The text's score is VADER on the whole text (its rules read across sentences)."""
        results = []
        for sentences in documents:
            scored = tuple(self._analyze(s) for s in sentences)
            whole = scored[0] if len(sentences) == 1 else self._analyze(" ".join(sentences))
            results.append(DocumentAnalysis(text=whole, sentences=scored))
        return results
