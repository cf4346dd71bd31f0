"""Sentence splitting, aspect detection and aggregation, and the hand-labelled aspect set."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from sentiment.aspects import ASPECT_LABELS, ASPECTS, aggregate_aspects, detect_aspects
from sentiment.text import MAX_SENTENCE_CHARS, split_sentences

LABELLED = Path(__file__).resolve().parent.parent / "data" / "aspect_sentences.csv"


def texts_of(text: str) -> list[str]:
    return [sentence.text for sentence in split_sentences(text)]


# --- sentence splitting -------------------------------------------------------------------


def test_sentences_split_after_stops_even_when_the_next_one_starts_in_lower_case() -> None:
    assert texts_of("Love it! fits great. the colour is off?! Meh... ok") == [
        "Love it!",
        "fits great.",
        "the colour is off?!",
        "Meh...",
        "ok",
    ]


def test_abbreviations_decimals_and_web_addresses_do_not_end_a_sentence() -> None:
    text = (
        "I paid approx. 3.5 times more, e.g. for Mr. Smith vs. Dr. Jones in the U.S. at "
        "www.shop.com, i.e. item no. 5 etc. and it was fine."
    )
    assert texts_of(text) == [text]


def test_etc_and_no_end_a_sentence_when_what_follows_says_so() -> None:
    assert texts_of("Shoes, bags etc. The fit is great.") == [
        "Shoes, bags etc.",
        "The fit is great.",
    ]
    assert texts_of("I had to say no. the fit was off") == ["I had to say no.", "the fit was off"]


def test_line_breaks_and_br_tags_end_sentences() -> None:
    assert texts_of("Great dress\nfast delivery\r\n\r\nwould buy<br/>again") == [
        "Great dress",
        "fast delivery",
        "would buy",
        "again",
    ]


def test_a_missing_space_after_a_stop_still_splits_before_a_sentence_start() -> None:
    assert texts_of("looks as pictured.the fabric is soft!love it") == [
        "looks as pictured.",
        "the fabric is soft!",
        "love it",
    ]


def test_numbered_list_markers_stay_with_their_item() -> None:
    assert texts_of("Two issues. 1. too short. 2. too wide.") == [
        "Two issues.",
        "1. too short.",
        "2. too wide.",
    ]


def test_offsets_point_at_the_sentence_text_in_the_original() -> None:
    text = '  "Love it!" she said.\n\n  Runs small (size up).  Thanks…  '
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        '"Love it!"',
        "she said.",
        "Runs small (size up).",
        "Thanks…",
    ]
    for sentence in sentences:
        assert text[sentence.start : sentence.end] == sentence.text
        assert sentence.text == sentence.text.strip()


@pytest.mark.parametrize("blank", ["", "   ", "\n\t \r\n"])
def test_blank_text_has_no_sentences(blank: str) -> None:
    assert split_sentences(blank) == []


def test_emoji_and_html_text_is_split_without_errors() -> None:
    text = "Love it 😍😍! <b>Fits</b> great &amp; arrived fast. 👍"
    assert texts_of(text) == ["Love it 😍😍!", "<b>Fits</b> great &amp; arrived fast.", "👍"]


def test_a_50k_character_text_is_split_fast_and_nothing_is_lost() -> None:
    words = [f"word{i}" for i in range(6000)]
    text = " ".join(words[:3000]) + ". " + " ".join(words[3000:]) + " the very last words"
    assert len(text) > 50_000

    started = time.perf_counter()
    sentences = split_sentences(text)
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5  # ~10 ms in practice; generous for a loaded test machine
    assert all(len(s.text) <= MAX_SENTENCE_CHARS for s in sentences)
    assert "the very last words" in sentences[-1].text
    covered = "".join(text[s.start : s.end] for s in sentences)
    assert covered.replace(" ", "") == text.replace(" ", "")


def test_a_huge_run_without_spaces_is_cut_hard_rather_than_kept_whole() -> None:
    sentences = split_sentences("x" * 5000)
    assert [len(s.text) for s in sentences] == [MAX_SENTENCE_CHARS] * 5


# --- aspect detection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "aspects"),
    [
        ("The package arrived late", {"delivery"}),
        ("Fast shipping, arrived in two days.", {"delivery"}),
        ("runs small, order a size up", {"fit"}),
        ("Way too tight across the shoulders.", {"fit"}),
        ("Cheaply made, the seams fell apart after one wash.", {"quality"}),
        ("The fabric looks cheap.", {"quality"}),
        ("Great value on sale, worth every penny!", {"price"}),
        ("Customer service was rude and never replied.", {"service"}),
        ("I returned it for a refund.", {"returns"}),
        ("Sadly it's going back.", {"returns"}),
        ("The color is nothing like the picture on the website.", {"website"}),
        ("Love the colour!", set()),
    ],
)
def test_detect_aspects_finds_what_the_sentence_speaks_of(sentence: str, aspects: set) -> None:
    assert detect_aspects(sentence) == aspects


@pytest.mark.parametrize(
    "sentence",
    [
        "I will return to this store.",
        "As a returning customer I love this brand.",
        "This dress is fit for a queen.",
        "It fits the bill for summer weddings.",
        "When it arrived I tried it on straight away.",
        "It really delivered in person.",
        "100% cotton.",
    ],
)
def test_detect_aspects_ignores_lookalike_words(sentence: str) -> None:
    assert detect_aspects(sentence) == frozenset()


def test_detection_never_reports_other_and_is_case_insensitive() -> None:
    assert detect_aspects("THE SHIPPING WAS SLOW") == {"delivery"}
    assert "other" not in detect_aspects("I hate it")
    assert set(ASPECT_LABELS) == set(ASPECTS)


# --- aggregation --------------------------------------------------------------------------


def test_an_aspect_takes_the_majority_label_of_its_sentences() -> None:
    sentences = ["Runs small.", "The fit is perfect.", "Fits great on me."]
    result = aggregate_aspects(sentences, [-0.6, 0.5, 0.4], ["negative", "positive", "positive"])

    fit = result["fit"]
    assert (fit.label, fit.sentences) == ("positive", (0, 1, 2))
    assert fit.score == pytest.approx(0.1)
    assert list(result) == ["fit"]


def test_a_tie_goes_by_the_sign_of_the_mean_score() -> None:
    sentences = ["The fabric is awful.", "The material is lovely."]
    stronger_praise = aggregate_aspects(sentences, [-0.3, 0.8], ["negative", "positive"])
    balanced = aggregate_aspects(sentences, [-0.5, 0.52], ["negative", "positive"])

    assert stronger_praise["quality"].label == "positive"
    assert balanced["quality"].label == "neutral"  # |mean| < 0.05


def test_feeling_without_a_named_aspect_counts_as_other_but_neutral_text_does_not() -> None:
    sentences = ["I love it!", "It is blue.", "Delivery was quick."]
    result = aggregate_aspects(sentences, [0.7, 0.0, 0.3], ["positive", "neutral", "positive"])

    assert list(result) == ["delivery", "other"]
    assert result["other"].sentences == (0,)
    assert result["delivery"].label == "positive"


def test_aggregation_of_no_sentences_is_empty_and_mismatched_inputs_are_refused() -> None:
    assert aggregate_aspects([], [], []) == {}
    with pytest.raises(ValueError):
        aggregate_aspects(["Runs small."], [0.1, 0.2], ["positive"])


# --- the labelled set (ids only; needs no shared data) ------------------------------------


def test_the_labelled_aspect_set_is_well_formed() -> None:
    with LABELLED.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["row", "sentence", "aspects", "source"]
        records = list(reader)

    assert len(records) >= 300
    keys = [(int(r["row"]), int(r["sentence"])) for r in records]
    assert len(set(keys)) == len(keys)
    assert all(row >= 0 and sentence >= 0 for row, sentence in keys)
    named = set(ASPECTS) - {"other"}
    labelled_aspects = set()
    for record in records:
        assert record["source"] in ("random", "targeted")
        pairs = [p.split(":") for p in record["aspects"].split(";") if p]
        aspects = [aspect for aspect, _ in pairs]
        assert len(aspects) == len(set(aspects))
        for aspect, polarity in pairs:
            assert aspect in named
            assert polarity in ("negative", "neutral", "positive")
        labelled_aspects.update(aspects)
    assert labelled_aspects == named  # every aspect has support
    # No text of the data in the repository: only the three id columns and the source.
    assert all(set(r["aspects"]) <= set("abcdefghijklmnopqrstuvwxyz:;") for r in records)
