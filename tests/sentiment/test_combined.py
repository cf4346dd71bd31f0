"""The combined analyzer: the committed parameters load and score with the real VADER and
transformer, and parameters that were edited or fitted for another model are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sentiment.analysis import analyze_texts
from sentiment.analyzers import get_analyzer
from sentiment.analyzers.combined import DEFAULT_PARAMS, CombinedAnalyzer
from sentiment.analyzers.transformer import ArtifactError
from sentiment.training.combined import write_params

MIXED = (
    "The colour is gorgeous and the fabric feels lovely. "
    "But the parcel arrived two weeks late and the box was crushed."
)


@pytest.fixture(scope="module")
def parts() -> tuple[Any, Any]:
    return get_analyzer("vader"), get_analyzer("transformer")


def _document() -> dict[str, Any]:
    return json.loads(DEFAULT_PARAMS.read_text(encoding="utf-8"))


def test_negative_text_reads_negative_and_positive_text_positive() -> None:
    combined = get_analyzer("combined")
    angry, happy = combined.analyze_many(
        ["Terrible quality, it fell apart after one wash.", "I love it, great fit!"]
    )
    assert (angry.label, happy.label) == ("negative", "positive")
    assert -1 <= angry.score < 0 < happy.score <= 1
    for result in (angry, happy):
        assert result.probabilities is not None
        assert sum(result.probabilities) == pytest.approx(1.0)
        assert result.confidence == max(result.probabilities)


def test_the_product_path_scores_the_text_and_each_sentence() -> None:
    (result,) = analyze_texts(get_analyzer("combined"), [MIXED])
    assert result.probabilities is not None
    assert sum(result.probabilities) == pytest.approx(1.0)
    assert [s.label for s in result.sentences] == ["positive", "negative"]
    assert "arrived two weeks late" in result.evidence()["negative"]["text"]


def test_version_names_the_parameters_and_changes_when_they_change(parts, tmp_path) -> None:
    """GIVEN the committed parameters with one coefficient changed and signed again
    WHEN they are loaded
    THEN they load, under another version (scores made with them are told apart)."""
    committed = CombinedAnalyzer(*parts)
    assert committed.version.startswith(f"combined-{_document()['sha256'][:8]}")
    payload = _document()["payload"]
    payload["coef"][0][0] += 0.5
    write_params(tmp_path / "combined.json", payload)

    edited = CombinedAnalyzer(*parts, tmp_path / "combined.json")

    assert edited.version != committed.version
    assert edited.version.startswith("combined-")


def test_an_edited_parameters_file_is_refused_naming_the_file(parts, tmp_path) -> None:
    document = _document()
    document["payload"]["coef"][0][0] += 0.5  # the sha256 is left as it was
    path = tmp_path / "combined.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(ArtifactError, match="corrupt or were edited") as raised:
        CombinedAnalyzer(*parts, path)
    assert str(path) in str(raised.value)
    assert "benchmarks/combined.py DATA --fit" in str(raised.value)


def test_parameters_fitted_for_another_transformer_are_refused(parts, tmp_path) -> None:
    payload = _document()["payload"]
    payload["transformer_version"] = "minilm-l6-lora-00000000"
    path = tmp_path / "combined.json"
    write_params(path, payload)

    with pytest.raises(ArtifactError, match="fitted for transformer minilm-l6-lora-00000000"):
        CombinedAnalyzer(*parts, path)


def test_a_missing_parameters_file_is_reported_with_the_fix(parts, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="missing; fit them again"):
        CombinedAnalyzer(*parts, tmp_path / "absent.json")
