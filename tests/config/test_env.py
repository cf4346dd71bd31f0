"""Settings from the environment: malformed values stop start-up with a clear message."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_rate, env_required, env_str, env_url


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


def test_a_hand_over_task_set_empty_is_switched_off_not_defaulted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHURN_SCORED_TASK", "")
    assert env_str("CHURN_SCORED_TASK", "interventions.decide_customers", allow_empty=True) == ""
    monkeypatch.delenv("CHURN_SCORED_TASK")
    assert env_str("CHURN_SCORED_TASK", "interventions.decide_customers", allow_empty=True) == (
        "interventions.decide_customers")  # fmt: skip


@pytest.mark.parametrize("raw", ["120", "0/min", "ten/min", "5/fortnight"])
def test_a_malformed_rate_names_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("API_TOKEN_RATE", raw)
    with pytest.raises(ImproperlyConfigured, match=f"API_TOKEN_RATE={raw!r} is not a rate"):
        env_rate("API_TOKEN_RATE", "1200/min")


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, "1200/min"), ("10/s", "10/s"), ("", "1200/min")]
)
def test_a_rate_is_read_or_defaulted(
    monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: str
) -> None:
    if raw is None:
        monkeypatch.delenv("API_TOKEN_RATE", raising=False)
    else:
        monkeypatch.setenv("API_TOKEN_RATE", raw)
    assert env_rate("API_TOKEN_RATE", "1200/min") == expected


def test_a_required_variable_that_is_empty_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECRET_KEY", "")
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY must be set in production"):
        env_required("SECRET_KEY", "in production")
