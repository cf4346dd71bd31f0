"""Settings from the environment: malformed values stop start-up with a clear message."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_str, env_url


def test_a_malformed_boolean_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG")


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("off", False), ("Yes", True)])
def test_booleans_accept_the_usual_spellings(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG") is expected


def test_a_database_url_without_a_known_scheme_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "localhost:5432/crm")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        env_url("DATABASE_URL", schemes=("postgres", "sqlite"))


def test_a_required_secret_that_is_missing_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY must be set"):
        env_str("SECRET_KEY", required=True)


def test_a_non_integer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_SWEEP_LIMIT", "lots")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("SENTIMENT_SWEEP_LIMIT", 10)
