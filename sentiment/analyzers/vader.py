"""VADER through NLTK, with the lexicon file shipped inside the `vaderSentiment` package.

`nltk.download` cannot work on machines without internet access, and NLTK refuses to open
files outside its data path, so the package's folder is added to NLTK's search path and
the lexicon is loaded by name from there.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentiment.analyzers.base import (
    ANALYSIS_REVISION,
    Analysis,
    DocumentAnalysis,
    label_for_score,
)

LEXICON_NAME = "vader_lexicon.txt"


def _quick_senti_text() -> type:
    """NLTK's SentiText with a linear-time tokeniser that returns the same tokens.

    NLTK's `_words_plus_punc` builds, for every text, a dict of every word joined with
    every one of its ~20 punctuation marks, before and after: about two thirds of VADER's
    time per review. The tokens it yields are the text's whitespace tokens longer than one
    character, with one leading or trailing punctuation mark dropped when what remains is
    a word of the text; this checks exactly that per token. Same scores as NLTK's on all
    8,404 texts of the measuring sets and on generated texts (tests/sentiment/test_pipeline.py).
    """
    from nltk.sentiment import vader

    class QuickSentiText(vader.SentiText):
        def _words_and_emoticons(self) -> list[str]:
            no_punc = self.REGEX_REMOVE_PUNCTUATION.sub("", self.text)
            words = {w for w in no_punc.split() if len(w) > 1}
            tokens = [token for token in self.text.split() if len(token) > 1]
            marks = set("".join(self.PUNC_LIST))
            for i, token in enumerate(tokens):
                if token[0] not in marks and token[-1] not in marks:
                    continue
                for mark in self.PUNC_LIST:
                    if token.endswith(mark) and token[: -len(mark)] in words:
                        tokens[i] = token[: -len(mark)]
                        break
                    if token.startswith(mark) and token[len(mark) :] in words:
                        tokens[i] = token[len(mark) :]
                        break
            return tokens

    return QuickSentiText


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
        # polarity_scores builds its SentiText by the module's name for it.
        vader_module: Any = sys.modules[SentimentIntensityAnalyzer.__module__]
        if not getattr(vader_module.SentiText, "quick", False):
            vader_module.SentiText = _quick_senti_text()
            vader_module.SentiText.quick = True
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
