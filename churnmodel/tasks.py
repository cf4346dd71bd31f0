"""Celery tasks of the churn model: the nightly batch and the incremental re-score.

`churnmodel.score_customers` is what lower apps chain to by name (DESIGN.md): the
sentiment worker after it scores a customer's new text, and the CRM's receivers here when
orders or tickets arrive. Both are safe to run twice: a re-score appends one more history
row with the same facts, it never changes an earlier one.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from churnmodel import scoring
from churnmodel.registry import ModelRefused, training_run

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    name="churnmodel.score_customers",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=6,
)
def score_customers(customer_ids: list[int]) -> int:
    """Re-score these customers with the serving model now; 0 when no model is active yet
    (nothing to do until `churn_train` has run, not an error to retry)."""
    try:
        return scoring.score_customers(customer_ids)
    except (scoring.NoModel, ModelRefused) as exc:
        logger.info("Churn re-score of %d customers skipped: %s", len(customer_ids), exc)
        return 0


@shared_task(
    name="churnmodel.score_all",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=6,
)
def score_all() -> int:
    """The nightly batch: every customer, segments refit, drift measured."""
    try:
        run = scoring.score_all()
    except (scoring.NoModel, ModelRefused) as exc:
        logger.warning("Nightly churn scoring skipped: %s", exc)
        return 0
    return run.customers


BOOTSTRAP_WAIT_SECONDS = 15
BOOTSTRAP_MAX_WAITS = 120  # half an hour: then train on what is scored


@shared_task(name="churnmodel.bootstrap", bind=True, max_retries=BOOTSTRAP_MAX_WAITS)
def bootstrap(self: Any) -> str:
    """First model of a fresh install (the demo): once the texts have their scores (text
    features need them), train, promote and score every customer. Does nothing when a
    model is already active; waits (re-queued, not blocking a worker) while texts are
    still being scored, and after BOOTSTRAP_MAX_WAITS trains on what is scored."""
    from churnmodel.models import ModelVersion
    from churnmodel.training import TrainingError

    if ModelVersion.objects.filter(is_active=True).exists():
        return "a churn model is already active"
    waiting = scoring.texts_waiting_for_scores()
    if waiting and self.request.retries < BOOTSTRAP_MAX_WAITS:
        raise self.retry(countdown=BOOTSTRAP_WAIT_SECONDS)
    try:
        version, decision = training_run()
    except TrainingError as exc:
        logger.warning("Churn bootstrap: %s", exc)
        return str(exc)
    run = scoring.score_all()
    return f"{version}: {decision.reason} Scored {run.customers} customers."
