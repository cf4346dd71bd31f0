"""From raw customer text to everything the CRM stores about its sentiment.

One path for every caller (the workers, `rescore`, `score_file`, the benchmarks):

1. blank text, or text with neither words nor emoji outside markup -> "empty", no score;
2. the text is split into sentences (sentiment.text);
3. the language gate (sentiment.language): a text not in English -> "unsupported", no
   score, never a guess; in a mixed text, sentences clearly in another language are left
   out and counted;
4. markup tags are dropped and emoji spelled out as words (sentiment.emoji), so both
   analyzers can read them;
5. the analyzer scores the whole text and every sentence (nothing truncated);
6. evidence: the most negative and most positive sentences, with their offsets into the
   original text, so the UI can quote and highlight them;
7. aspects (sentiment.aspects): what the text speaks of, with a polarity each.

The stored text is never changed: markup is scored as the characters it is.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sentiment.analyzers.base import Analysis, Analyzer, Probabilities
from sentiment.aspects import AspectPolarity, aggregate_aspects
from sentiment.emoji import describe_emoji
from sentiment.language import detect_language, english_sentences, is_supported
from sentiment.text import Sentence, split_sentences

EMPTY = "empty"
UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class SentenceScore:
    start: int
    end: int
    text: str
    score: float
    label: str

    def as_evidence(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": round(self.score, 4),
        }


@dataclass(frozen=True, slots=True)
class TextAnalysis:
    """What one analyzer says about one text. `score` is None for "empty"/"unsupported"."""

    label: str
    score: float | None = None
    probabilities: Probabilities | None = None
    confidence: float | None = None
    language: str = ""
    sentences: tuple[SentenceScore, ...] = ()
    skipped_sentences: int = 0
    aspects: dict[str, AspectPolarity] = field(default_factory=dict)

    @property
    def scored(self) -> bool:
        return self.score is not None

    @property
    def most_negative(self) -> SentenceScore | None:
        """The most negative sentence, if any sentence reads negative."""
        candidates = [s for s in self.sentences if s.label == "negative"]
        return min(candidates, key=lambda s: s.score) if candidates else None

    @property
    def most_positive(self) -> SentenceScore | None:
        """The most positive sentence, if any sentence reads positive."""
        candidates = [s for s in self.sentences if s.label == "positive"]
        return max(candidates, key=lambda s: s.score) if candidates else None

    def evidence(self) -> dict[str, dict[str, Any]]:
        found = {"negative": self.most_negative, "positive": self.most_positive}
        return {side: sentence.as_evidence() for side, sentence in found.items() if sentence}

    def aspect_sentence(self, aspect: AspectPolarity) -> str:
        """The sentence that states the aspect's polarity most strongly."""
        mentions = [self.sentences[i] for i in aspect.sentences if i < len(self.sentences)]
        if not mentions:
            return ""
        if aspect.label == "negative":
            return min(mentions, key=lambda s: s.score).text
        if aspect.label == "positive":
            return max(mentions, key=lambda s: s.score).text
        return min(mentions, key=lambda s: abs(s.score)).text


_TAG = re.compile(r"</?[A-Za-z][^<>]{0,500}>")


def without_markup(text: str) -> str:
    """Markup tags dropped (a pasted "<b>Awful</b>" reads "Awful") and entities decoded."""
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    return text


def _has_content(readable_text: str) -> bool:
    """Words, digits or emoji outside markup: something an analyzer can read."""
    return any(ch.isalnum() for ch in readable_text)


def analyze_texts(analyzer: Analyzer, texts: Sequence[str]) -> list[TextAnalysis]:
    """Analyze each text with `analyzer`; one result per text, in order.

    Every text gets a result: "empty" and "unsupported" texts are marked so, not scored.
    Raises whatever the analyzer raises (a broken model fails the whole batch loudly).
    """
    results: list[TextAnalysis | None] = [None] * len(texts)
    # (index, language, [(sentence, what the analyzer reads)], sentences left out)
    pending: list[tuple[int, str, list[tuple[Sentence, str]], int]] = []
    for i, text in enumerate(texts):
        plain = without_markup(text) if text else ""
        if not _has_content(describe_emoji(plain)):
            results[i] = TextAnalysis(label=EMPTY)
            continue
        # The gate reads the words as written: spelled-out emoji would make any text English.
        guess = detect_language(plain)
        if not is_supported(guess):
            results[i] = TextAnalysis(label=UNSUPPORTED, language=guess.code)
            continue
        sentences = []
        for sentence in split_sentences(text):
            plain_sentence = without_markup(sentence.text)
            # What the analyzer reads: no markup, emoji spelled out (the stored text is unchanged).
            read = describe_emoji(plain_sentence)
            if _has_content(read):
                sentences.append((sentence, plain_sentence, read))
        keep = english_sentences([plain_sentence for _, plain_sentence, _ in sentences])
        kept = [(s, read) for (s, _, read), ok in zip(sentences, keep, strict=True) if ok]
        if not kept:
            # Every sentence with words is in another language.
            results[i] = TextAnalysis(label=UNSUPPORTED, language=guess.code)
            continue
        pending.append((i, guess.code, kept, len(sentences) - len(kept)))

    documents = [[read for _, read in kept] for _, _, kept, _ in pending]
    for (i, language, kept, skipped), doc in zip(
        pending, analyzer.analyze_documents(documents) if documents else [], strict=True
    ):
        whole: Analysis = doc.text
        scored = tuple(
            SentenceScore(s.start, s.end, s.text, a.score, a.label)
            for (s, _), a in zip(kept, doc.sentences, strict=True)
        )
        aspects = aggregate_aspects(
            [s.text for s in scored], [s.score for s in scored], [s.label for s in scored]
        )
        results[i] = TextAnalysis(
            label=whole.label,
            score=max(-1.0, min(1.0, whole.score)),
            probabilities=whole.probabilities,
            confidence=whole.confidence,
            language=language,
            sentences=scored,
            skipped_sentences=skipped,
            aspects=aspects,
        )
    return [r for r in results if r is not None]
