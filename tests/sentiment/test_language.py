"""The language gate and the emoji spelling, with the real lingua models (no database)."""

# ruff: noqa: RUF001  # the texts in other languages are written in their own letters

from __future__ import annotations

import pytest

from sentiment.emoji import describe_emoji, has_letters
from sentiment.language import (
    UNDETERMINED,
    LanguageGuess,
    detect_language,
    detector,
    english_sentences,
    is_supported,
)
from sentiment.text import split_sentences


@pytest.mark.parametrize(
    "text",
    [
        "ok",
        "meh",
        "10/10",
        "10/10 would buy",
        "Love it 😍",
        "fits great!!",
        "great!!",
        "Runs small",
        "shrunk",
        "Waiter was a jerk.",
        "The story is beyond stupid.",
        "Lovely dress, runs a bit large but the fabric is great and the color is as pictured.",
    ],
)
def test_english_short_and_plain_texts_are_kept(text: str) -> None:
    guess = detect_language(text)
    assert guess.english and is_supported(guess)
    assert guess.code in ("en", UNDETERMINED)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (
            "es",
            "El vestido es precioso pero la talla es más pequeña de lo normal. Llegó tarde y "
            "nadie responde a mis correos.",
        ),
        (
            "de",
            "Die Jacke ist super, passt perfekt und die Qualität ist top. Die Lieferung hat "
            "aber drei Wochen gedauert.",
        ),
        (
            "fr",
            "Je suis très déçue, le colis est arrivé abîmé et le service client ne répond pas.",
        ),
        ("zh", "质量很好，物流也很快，非常满意。衣服尺码偏小，颜色和图片不一样。"),
    ],
)
def test_clear_paragraphs_in_other_languages_are_rejected_with_their_code(
    code: str, text: str
) -> None:
    guess = detect_language(text)
    assert not guess.english and not is_supported(guess)
    assert guess.code == code
    assert guess.confidence > 0.5


@pytest.mark.parametrize("text", ["Sehr gut!", "Muy bueno", "Bardzo dobry"])
def test_short_text_is_rejected_when_lingua_is_sure_and_no_word_is_english(text: str) -> None:
    assert not is_supported(detect_language(text))


@pytest.mark.parametrize("text", ["😍😍😍", "👍", "10/10", "!!!", "5/5 ⭐⭐⭐⭐⭐"])
def test_text_without_letters_is_undetermined_and_scored(text: str) -> None:
    guess = detect_language(text)
    assert guess == LanguageGuess(UNDETERMINED, 0.0, True)
    assert is_supported(guess)


def test_mixed_paragraph_is_english_and_only_the_german_sentence_is_dropped() -> None:
    """GIVEN an English review with one German sentence
    WHEN the gate judges the text, then its sentences
    THEN the text is English, and only the German sentence is left out of scoring."""
    text = (
        "I ordered the blue jacket in size M. The fit is great and the fabric feels solid. "
        "Die Lieferung hat aber drei Wochen gedauert, das ist wirklich eine Frechheit. "
        "Still, I would buy it again."
    )
    assert detect_language(text).english
    sentences = [s.text for s in split_sentences(text)]
    assert english_sentences(sentences) == [True, True, False, True]


def test_mostly_german_text_is_english_when_a_substantial_sentence_is() -> None:
    text = (
        "Die Jacke ist schön, aber die Lieferung hat drei Wochen gedauert. Das Paket war "
        "beschädigt und der Kundenservice antwortet nicht. The zipper broke after two days "
        "and nobody answers my emails."
    )
    assert detect_language(text).english
    keep = english_sentences([s.text for s in split_sentences(text)])
    assert keep == [False, False, True]


def test_short_sentences_are_always_kept() -> None:
    assert english_sentences(["Sehr gut!", "Meh.", "Size M.", "😍"]) == [True] * 4


def test_other_scripts_are_rejected_even_when_short() -> None:
    assert detect_language("Отлично").code == "ru"
    assert not detect_language("很好").english
    thai = detect_language("สินค้าดีมาก")  # no Thai model: a script lingua cannot place
    assert not thai.english and thai.code == "und"


def test_the_detector_is_built_once_per_process() -> None:
    assert detector() is detector()


def test_describe_emoji_spells_out_sentiment_emoji() -> None:
    assert "smiling face with heart-eyes" in describe_emoji("Love it 😍")
    assert "pouting face" in describe_emoji("😡")
    assert describe_emoji("👍").strip() == "thumbs up"


def test_describe_emoji_treats_selectors_and_skin_tones_as_one_emoji() -> None:
    assert describe_emoji("❤️") == describe_emoji("❤") == " red heart "
    assert describe_emoji("👍🏽 great") == " thumbs up  great"
    assert describe_emoji("🇺🇸").strip() == "United States"
    assert describe_emoji("5️⃣ stars").split() == ["5", "stars"]


@pytest.mark.parametrize(
    "text",
    [
        "Lovely dress, runs a bit large.",
        "Très chic — the café-style fit is great!",
        "Nike™ shoes ©2024, 10/10",
        "",
        "Отлично",
    ],
)
def test_describe_emoji_returns_text_without_emoji_unchanged(text: str) -> None:
    assert describe_emoji(text) is text


def test_has_letters_sees_any_script_but_not_digits_or_emoji() -> None:
    assert has_letters("ok") and has_letters("很好") and has_letters("Отлично")
    assert not has_letters("10/10 😍 !!!")
