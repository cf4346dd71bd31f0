"""Celery tasks of the churn model: the nightly batch and the incremental re-score.

`churnmodel.score_customers` is what lower apps chain to by name (DESIGN.md): the
sentiment worker after it scores a customer's new text, and the CRM's receivers here when
orders or tickets arrive. Both are safe to run twice: the rows they write carry the
message's task id, so a redelivered message adds no second history row.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app, current_task, shared_task
from django.conf import settings
from django.db import IntegrityError
from kombu.exceptions import OperationalError as BrokerError

from churnmodel import scoring
from churnmodel.registry import ModelRefused, training_run
from crm.tasking import database_task

logger = logging.getLogger(__name__)


def hand_over(task_name: str | None, *args: Any) -> bool:
    """Pass freshly scored customers to the next stage by task name (the interventions'
    decision engine; empty: nobody): churnmodel never imports the app above it. A broker
    error is logged, not raised: the nightly batch decides for everyone anyway."""
    if not task_name:
        return False
    try:
        current_app.send_task(task_name, args=args)
    except BrokerError as exc:
        logger.warning("Broker unreachable (%s); %s not sent.", exc, task_name)
        return False
    return True


def _task_id() -> str:
    """The id of the message being worked on ("" when called directly, not by a worker)."""
    return str(getattr(current_task.request, "id", None) or "") if current_task else ""


@database_task("churnmodel.score_customers")
def score_customers(customer_ids: list[int]) -> int:
    """Re-score these customers with the serving model now; 0 when no model is active yet
    (nothing to do until `churn_train` has run, not an error to retry).

    Idempotent per message: the rows carry the task id, so a redelivered message (a worker
    died, or the broker delivered it twice) writes no second row and hands nobody on."""
    try:
        written = scoring.score_customers(customer_ids, task_id=_task_id())
    except (scoring.NoModel, ModelRefused) as exc:
        logger.info("Churn re-score of %d customers skipped: %s", len(customer_ids), exc)
        return 0
    except IntegrityError:  # a parallel delivery of this same message wrote them first
        return 0
    if written:
        hand_over(settings.CHURN_SCORED_TASK, sorted(set(customer_ids)))
    return written


@database_task("churnmodel.score_all")
def score_all() -> int:
    """The nightly batch: every customer, segments refit, drift measured. A redelivered
    message finishes its run (see scoring.score_all) rather than starting a second."""
    try:
        run = scoring.score_all(task_id=_task_id())
    except (scoring.NoModel, ModelRefused) as exc:
        logger.warning("Nightly churn scoring skipped: %s", exc)
        return 0
    except IntegrityError:  # a parallel delivery of this same message has the run
        return 0
    hand_over(settings.CHURN_BATCH_SCORED_TASK)
    return run.customers


BOOTSTRAP_WAIT_SECONDS = 15
BOOTSTRAP_MAX_WAITS = 120  # half an hour: then train on what is scored


@shared_task(name="churnmodel.bootstrap", bind=True, max_retries=BOOTSTRAP_MAX_WAITS)
def bootstrap(self: Any, then: str | None = None) -> str:
    """First model of a fresh install (the demo): once the texts have their scores (text
    features need them), train, promote and score every customer, then send `then` (by
    name; default CHURN_BATCH_SCORED_TASK, the decision batch). Does nothing when a model
    is already active; waits (re-queued, not blocking a worker) while texts are still
    being scored, and after BOOTSTRAP_MAX_WAITS trains on what is scored."""
    from churnmodel.models import ModelVersion
    from churnmodel.training import TrainingError

    if ModelVersion.objects.filter(is_active=True).exists():
        return "a churn model is already active"
    waiting = scoring.texts_waiting_for_scores()
    if waiting and self.request.retries < BOOTSTRAP_MAX_WAITS:
        raise self.retry(countdown=BOOTSTRAP_WAIT_SECONDS, kwargs={"then": then})
    try:
        version, decision = training_run()
    except TrainingError as exc:
        logger.warning("Churn bootstrap: %s", exc)
        return str(exc)
    run = scoring.score_all()
    hand_over(then or settings.CHURN_BATCH_SCORED_TASK)
    return f"{version}: {decision.reason} Scored {run.customers} customers."
