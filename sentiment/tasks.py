"""Celery tasks of the sentiment pipeline. Each is safe to run twice (see its docstring)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_process_init

from crm.tasking import database_task
from sentiment import services
from sentiment.analyzers import loadable_analyzers


@worker_process_init.connect(dispatch_uid="sentiment.load_models")
def load_models(**kwargs: Any) -> None:
    """Load the analyzers once per worker process, before its first task (not per task),
    so the first text scored waits for nothing. One that fails is logged and retried by
    the tasks themselves."""
    loadable_analyzers()


@database_task("sentiment.score_texts")
def score_texts(text_ids: list[int]) -> int:
    """Score a batch of CustomerText ids, and newer unscored texts queued behind them (up to
    64 in all, see services.ids_with_backlog), with every enabled analyzer.

    Idempotent: only texts without a current score are computed, backed by the unique
    (text, analyzer, version) constraint; ids that no longer exist are skipped. Hence
    late acknowledgement: a batch redelivered after a worker dies is finished, not doubled.
    When it wrote scores, the texts' customers are handed on (SENTIMENT_SCORED_TASK).
    """
    # Loaded (or, for a broken one, tried and logged) once for both steps.
    analyzers = loadable_analyzers()
    ids = services.ids_with_backlog(text_ids=text_ids, analyzers=analyzers)
    written = services.texts_score(text_ids=ids, analyzers=analyzers)
    if written:
        services.scored_hand_over(text_ids=ids)
    return written


@shared_task(name="sentiment.sweep_unscored")
def sweep_unscored() -> int:
    """Enqueue every text still missing a score (saved while the broker was down, say).

    Idempotent: it only reads and enqueues; duplicate enqueues are no-ops when scored.
    """
    return services.unscored_enqueue()


@database_task("sentiment.aggregate_voice")
def aggregate_voice() -> int:
    """Nightly: store the finished weeks the voice dashboard charts.

    Idempotent: each run replaces the same weeks' rows in one transaction."""
    from django.conf import settings

    return services.voice_aggregate(weeks=settings.SENTIMENT_VOICE_WEEKS + 1)
