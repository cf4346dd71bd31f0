"""The sentiment commands a shop runs: score_file, rescore, train_sentiment; and what
happens when the transformer's artifact is missing or corrupt."""

from __future__ import annotations

import csv
import json
import logging
import shutil
import zipfile
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command

import sentiment.analyzers as analyzers
from sentiment.analyzers.transformer import (
    ADAPTER_FILE,
    MANIFEST,
    ArtifactError,
    TransformerAnalyzer,
    read_manifest,
    version_of,
)
from sentiment.models import SentimentScore
from sentiment.services import texts_score, unscored_enqueue
from tests.factories import ReviewFactory


def read_rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def test_score_file_writes_every_row_with_its_scores_and_errors(tmp_path: Path) -> None:
    source = tmp_path / "feedback.csv"
    source.write_bytes(
        b"id,comment\n"
        b"1,The zip broke on day one. Awful.\n"
        b'2,"Love it, fits perfectly!"\n'
        b"3,\n"
        b"4,Bad bytes \xff\xfe here\n"
        b"5,too,many,fields\n"
        b"6,El vestido lleg\xc3\xb3 roto y nadie contesta mis correos.\n"
    )
    out = tmp_path / "scored.csv"

    call_command("score_file", str(source), "--text-column", "comment", "--analyzer", "vader",
                 "--output", str(out))  # fmt: skip

    rows = {row["id"]: row for row in read_rows(out)}
    assert list(rows) == ["1", "2", "3", "4", "5", "6"]
    assert (rows["1"]["label"], rows["2"]["label"]) == ("negative", "positive")
    assert float(rows["1"]["score"]) < 0 < float(rows["2"]["score"])
    assert rows["1"]["language"] == "en" and rows["1"]["error"] == ""
    assert rows["1"]["aspects"] == "quality:negative;other:negative"
    assert (rows["3"]["label"], rows["3"]["error"]) == ("empty", "empty text")
    assert rows["4"]["label"] == "" and "not valid UTF-8" in rows["4"]["error"]
    assert "\ufffd" in rows["4"]["comment"]  # the row is kept, its bad bytes marked
    assert "fields" in rows["5"]["error"]
    assert (rows["6"]["label"], rows["6"]["score"], rows["6"]["language"]) == (
        "unsupported",
        "",
        "es",
    )


def test_score_file_reads_and_writes_tab_separated_files(tmp_path: Path) -> None:
    source = tmp_path / "feedback.tsv"
    source.write_text(
        "text\tstars\nTerrible, it ripped, the worst purchase ever.\t1\n", encoding="utf-8"
    )
    out = tmp_path / "scored.tsv"

    call_command("score_file", str(source), "--text-column", "text", "--output", str(out))

    (row,) = read_rows(out, delimiter="\t")
    assert row["label"] == "negative" and row["stars"] == "1"
    assert 0 < float(row["confidence"]) <= 1


def test_score_file_names_the_columns_when_the_text_column_is_wrong(tmp_path: Path) -> None:
    source = tmp_path / "feedback.csv"
    source.write_text("id,comment\n1,hi\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"no column 'text'.*id, comment"):
        call_command(
            "score_file", str(source), "--text-column", "text", "--output", str(tmp_path / "o.csv")
        )


def test_score_file_refuses_a_zip_renamed_csv_without_opening_it_or_touching_the_output(
    tmp_path: Path,
) -> None:
    """A zip bomb renamed .csv is refused from its signature (nothing is decompressed), and
    the output the user named, here left from an earlier run, is kept as it was."""
    source = tmp_path / "feedback.csv"
    with zipfile.ZipFile(source, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("feedback.csv", "id,comment\n" + "1,zeros\n" * 100_000)
    out = tmp_path / "scored.csv"
    out.write_text("earlier results\n")

    with pytest.raises(CommandError, match=r"feedback.csv was not scored. This file is a ZIP"):
        call_command("score_file", str(source), "--text-column", "comment", "--analyzer",
                     "vader", "--output", str(out))  # fmt: skip

    assert out.read_text() == "earlier results\n"


def test_score_file_reports_an_overlong_line_and_field_as_rows_and_scores_the_rest(
    tmp_path: Path,
) -> None:
    """A line of millions of characters (no newline for 5 MB) or an unclosed quote running
    past the field limit is one row with its error; the rows around it are scored."""
    source = tmp_path / "feedback.csv"
    source.write_text(
        "id,comment\n"
        "1,Awful. It broke at once.\n"
        f"2,{'x' * 5_000_000}\n"
        "3,Lovely. Fits perfectly!\n"
        f'4,"{"y" * 1_200_000}"\n'
        "5,Great value.\n",
        encoding="utf-8",
    )
    out = tmp_path / "scored.csv"

    call_command("score_file", str(source), "--text-column", "comment", "--analyzer", "vader",
                 "--output", str(out))  # fmt: skip

    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["id"], row["label"]) for row in rows] == [
        ("1", "negative"),
        ("", ""),
        ("3", "positive"),
        ("", ""),
        ("5", "positive"),
    ]
    assert rows[1]["error"] == (
        "line 3: unreadable CSV: the line is longer than 4,000,000 characters"
    )
    assert rows[3]["error"].startswith("line 5: unreadable CSV: field larger than field limit")
    assert out.stat().st_size < 10_000


@pytest.mark.django_db
def test_rescore_scores_what_is_missing_with_a_progress_bar(capsys) -> None:
    reviews = ReviewFactory.create_batch(5)

    call_command("rescore", "--analyzer", "vader", "--batch-size", "2")

    assert SentimentScore.objects.filter(analyzer="vader").count() == 5
    assert "5/5" in capsys.readouterr().err
    call_command("rescore", "--analyzer", "vader")
    assert SentimentScore.objects.filter(text__review=reviews[0], analyzer="vader").count() == 1


@pytest.mark.django_db
def test_rescore_refuses_a_version_that_is_not_installed() -> None:
    with pytest.raises(CommandError, match="is version"):
        call_command("rescore", "--analyzer", "vader", "--version", "nltk-0.0")


@pytest.fixture
def broken_artifact(tmp_path: Path, settings) -> Path:
    """A copy of the transformer artifact the test can break and repair."""
    copy = tmp_path / "artifact"
    shutil.copytree(settings.SENTIMENT_TRANSFORMER_DIR, copy)
    settings.SENTIMENT_TRANSFORMER_DIR = copy
    settings.SENTIMENT_MODEL_CACHE = tmp_path / "cache"
    saved = dict(analyzers._loaded)
    analyzers._loaded.pop("transformer", None)
    yield copy
    analyzers._loaded.clear()
    analyzers._loaded.update(saved)


def test_a_corrupt_artifact_fails_naming_the_file_and_the_fix(broken_artifact: Path) -> None:
    adapter = broken_artifact / ADAPTER_FILE
    adapter.write_bytes(adapter.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match=f"{adapter}.*corrupt.*train_sentiment"):
        TransformerAnalyzer(broken_artifact)
    (warning,) = [m for m in run_checks() if m.id == "sentiment.W001"]
    assert str(adapter) in warning.msg


@pytest.mark.django_db
def test_without_its_artifact_vader_keeps_scoring_and_the_transformer_catches_up(
    broken_artifact: Path, caplog
) -> None:
    """GIVEN the manifest is missing WHEN a review is scored THEN VADER scores it and the
    error names the file; WHEN the file is back THEN the sweeper finds the text again and
    the transformer scores it."""
    manifest = broken_artifact / MANIFEST
    kept = manifest.read_bytes()
    manifest.unlink()
    review = ReviewFactory(body="It fell apart in the wash. Awful.")

    with caplog.at_level(logging.ERROR):
        texts_score(text_ids=[review.customer_text.pk])

    assert list(SentimentScore.objects.values_list("analyzer", flat=True)) == ["vader"]
    assert str(manifest) in caplog.text and "train_sentiment" in caplog.text

    manifest.write_bytes(kept)
    assert unscored_enqueue() == 1  # (sent to the broker; scored here directly)
    texts_score(text_ids=[review.customer_text.pk])
    assert set(SentimentScore.objects.values_list("analyzer", flat=True)) == {
        "vader",
        "transformer",
    }


@pytest.mark.django_db
def test_train_sentiment_adapts_to_the_shops_reviews_and_compares_before_activating(
    tmp_path: Path, broken_artifact: Path, capsys
) -> None:
    """GIVEN star-rated reviews WHEN train_sentiment runs on them alone THEN a new artifact
    is written, both models are measured on the same held-out reviews, and --activate
    installs it only if it does at least as well."""
    for i in range(40):
        ReviewFactory(rating=1, title="", body=f"Horrible #{i}: it ripped and support ignored me.")
        ReviewFactory(rating=5, title="", body=f"Wonderful #{i}: fits perfectly, I love it.")
    before = (broken_artifact / MANIFEST).read_text()
    output = tmp_path / "candidate"

    call_command("train_sentiment", "--no-public", "--shop-reviews", "--max-steps", "2",
                 "--output", str(output), "--activate", "--force")  # fmt: skip

    printed = capsys.readouterr().out
    assert "held out" in printed and "current" in printed and "new" in printed
    assert (output / MANIFEST).is_file()
    assert (broken_artifact / MANIFEST).read_text() != before
    installed, candidate = read_manifest(broken_artifact), read_manifest(output)
    assert installed["artifact_id"] == candidate["artifact_id"]
    assert candidate["training"]["init_from"] == version_of(json.loads(before))


@pytest.mark.django_db
def test_train_sentiment_needs_something_to_train_on() -> None:
    with pytest.raises(CommandError, match="Nothing to train on"):
        call_command("train_sentiment", "--no-public")
