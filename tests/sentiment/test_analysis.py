"""What an agent sees of a text's sentiment, from both real analyzers: scores, evidence,
aspects, and the texts that are marked rather than guessed (empty, other languages)."""

from __future__ import annotations

import pytest

from sentiment.analysis import analyze_texts
from sentiment.analyzers import get_analyzer
from sentiment.models import AspectMention, SentimentScore
from sentiment.services import texts_score
from tests.factories import ReviewFactory

MIXED = (
    "The colour is gorgeous and the fabric feels lovely. "
    "But the parcel arrived two weeks late and the box was crushed."
)


@pytest.fixture(scope="module", params=["vader", "transformer"])
def analyzer(request: pytest.FixtureRequest) -> object:
    return get_analyzer(request.param)


def test_every_text_gets_a_score_label_and_a_confidence(analyzer) -> None:
    angry, happy = analyze_texts(
        analyzer, ["Terrible quality, it fell apart after one wash.", "I love it, great fit!"]
    )
    assert (angry.label, happy.label) == ("negative", "positive")
    assert -1 <= angry.score < 0 < happy.score <= 1
    assert 0 < angry.confidence <= 1 and 0 < happy.confidence <= 1
    assert angry.language == "en"


def test_transformer_gives_class_probabilities_that_sum_to_one() -> None:
    (result,) = analyze_texts(get_analyzer("transformer"), ["It broke after a day."])
    assert result.probabilities is not None
    assert sum(result.probabilities) == pytest.approx(1.0)
    assert result.confidence == max(result.probabilities)


def test_evidence_quotes_the_most_negative_and_most_positive_sentences(analyzer) -> None:
    (result,) = analyze_texts(analyzer, [MIXED])
    evidence = result.evidence()
    negative, positive = evidence["negative"], evidence["positive"]
    assert "arrived two weeks late" in negative["text"]
    assert "gorgeous" in positive["text"]
    # Offsets point into the original text, so the UI can highlight the sentence.
    assert MIXED[negative["start"] : negative["end"]] == negative["text"]
    assert {"delivery"} <= set(result.aspects)
    assert result.aspects["delivery"].label == "negative"


def test_a_50000_character_text_is_read_to_the_end_not_truncated(analyzer) -> None:
    filler = "I ordered this dress in blue for a summer wedding in the countryside. " * 720
    text = filler + "Sadly the zip broke and the seams ripped apart, an awful waste of money."
    assert len(text) > 50_000

    (result,) = analyze_texts(analyzer, [text])

    assert result.scored
    assert len(result.sentences) > 700
    assert "zip broke" in result.evidence()["negative"]["text"]


@pytest.mark.parametrize("text", ["", "   \n\t ", "!!! ...", "-- ?"])
def test_blank_or_punctuation_only_text_is_marked_empty_never_zero(analyzer, text: str) -> None:
    (result,) = analyze_texts(analyzer, [text])
    assert (result.label, result.score) == ("empty", None)


def test_emoji_only_text_is_read_through_their_meaning(analyzer) -> None:
    angry, happy = analyze_texts(analyzer, ["😡😡😡", "😍😍👍"])
    assert angry.scored and happy.scored
    assert angry.score < happy.score
    assert happy.label == "positive"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("El vestido llegó roto y el servicio al cliente nunca respondió a mis correos.", "es"),
        ("Das Kleid kam beschädigt an und der Kundenservice hat nie geantwortet.", "de"),
        ("La robe est arrivée déchirée et le service client ne répond jamais.", "fr"),
    ],
)
def test_text_in_another_language_is_marked_unsupported_not_guessed(
    analyzer, text: str, code: str
) -> None:
    (result,) = analyze_texts(analyzer, [text])
    assert (result.label, result.score, result.language) == ("unsupported", None, code)


def test_in_a_mixed_language_text_only_the_english_sentences_count(analyzer) -> None:
    text = (
        "The dress is beautiful and fits perfectly. I love the colour. "
        "Leider war die Lieferung eine Katastrophe und das Paket war völlig zerstört."
    )
    (result,) = analyze_texts(analyzer, [text])
    assert result.language == "en"
    assert result.skipped_sentences == 1
    assert all("Lieferung" not in s.text for s in result.sentences)


def test_markup_is_scored_as_text(analyzer) -> None:
    (result,) = analyze_texts(
        analyzer, ['<script>alert("x")</script><b>Awful</b> quality, it ripped on day one.']
    )
    assert result.label == "negative"


@pytest.mark.django_db
def test_both_analyzers_store_a_versioned_score_with_evidence_and_aspects() -> None:
    review = ReviewFactory(title="", body=MIXED)

    assert texts_score(text_ids=[review.customer_text.pk]) == 2

    scores = {s.analyzer: s for s in SentimentScore.objects.filter(text__review=review)}
    assert set(scores) == {"vader", "transformer"}
    transformer = scores["transformer"]
    assert transformer.analyzer_version.startswith("minilm-l6-lora-")
    assert transformer.probabilities and len(transformer.probabilities) == 3
    assert transformer.sentence_count == 2
    assert "late" in transformer.evidence["negative"]["text"]
    delivery = AspectMention.objects.get(score=transformer, aspect="delivery")
    assert delivery.label == "negative" and "late" in delivery.sentence
