"""The one way the apps declare a Celery task that retries on database errors.

Scoring texts, re-scoring churn and deciding interventions are all idempotent and all
meet the same transient failures (a restarted or briefly unreachable database): they
retry with exponential backoff (2 s doubling, at most 60 s, jittered) up to six times,
and acknowledge late, so a task whose worker died is redelivered, not lost. crm is the
lowest app, so every app above it may use this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

DATABASE_ERRORS = (OperationalError, InterfaceError)


def database_task(name: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """`@shared_task` by `name`, retried on DATABASE_ERRORS and acknowledged late; `options`
    add to (or override) those of shared_task."""
    return shared_task(
        **{
            "name": name,
            "acks_late": True,
            "autoretry_for": DATABASE_ERRORS,
            "retry_backoff": 2,
            "retry_backoff_max": 60,
            "retry_jitter": True,
            "max_retries": 6,
            **options,
        }
    )
