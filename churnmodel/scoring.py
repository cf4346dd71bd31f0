"""Score customers with the serving model: probability, band, reasons, segment; history
kept (one new ChurnScore row per customer per scoring).

`score_all` is the nightly batch: every customer who is not erased, in chunks of
CHURN_SCORE_CHUNK for the feature queries and WRITE_CHUNK for the model and the writes;
it refits the segments and measures drift (population stability index per feature
against the training distributions) on its run.
`score_customers` is the incremental path for a few customers after new text, orders or
tickets: same model, the latest run's segments.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from churnmodel import reasons as reasons_module
from churnmodel import segments
from churnmodel.features import feature_frame
from churnmodel.models import ChurnScore, CurrentRisk, ScoringRun, band_for
from churnmodel.registry import Serving, serving_model
from churnmodel.training import bin_shares
from crm.models import Customer, Order

logger = logging.getLogger(__name__)


class NoModel(Exception):
    """No churn model has been trained and promoted yet."""


def _serving() -> Serving:
    serving = serving_model()
    if serving is None:
        raise NoModel("No churn model is active yet: run `python manage.py churn_train`.")
    return serving


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index between two binned distributions (same bins)."""
    import numpy as np

    e = np.clip(np.asarray(expected, dtype=float), 1e-4, None)
    a = np.clip(np.asarray(actual, dtype=float), 1e-4, None)
    return float(((a - e) * np.log(a / e)).sum())


def drift(frame: Any, distributions: dict[str, Any]) -> dict[str, float]:
    """PSI per feature of `frame` against the training distributions."""
    out = {}
    for feature, reference in distributions.items():
        if feature in frame.columns:
            actual = bin_shares(frame[feature].to_numpy(dtype=float), reference["edges"])
            out[feature] = round(psi(reference["shares"], actual), 4)
    return out


def _rows(
    serving: Serving,
    frame: Any,
    at: datetime,
    segment_model: dict[str, Any],
    run: ScoringRun | None,
) -> list[ChurnScore]:
    predictor = serving.predictor
    matrix = predictor.matrix(frame)
    probabilities = predictor.predict_matrix(matrix)
    contributions = predictor.contributions(matrix)
    per_row = reasons_module.reasons_for(contributions, frame)
    by_customer = reasons_module.attach_evidence(
        dict(zip(frame.index.tolist(), per_row, strict=True)), at
    )
    names = segments.assign(frame, segment_model)
    version = serving.version
    return [
        ChurnScore(
            customer_id=customer,
            model_version=version,
            run=run,
            probability=float(p),
            band=band_for(float(p)),
            horizon_days=version.horizon_days,
            target=version.target,
            reasons=by_customer[customer],
            segment=name,
            scored_at=at,
        )
        for customer, p, name in zip(frame.index.tolist(), probabilities, names, strict=True)
    ]


def _latest_segments() -> dict[str, Any]:
    run = ScoringRun.objects.exclude(segments={}).filter(finished_at__isnull=False).first()
    return run.segments if run else {}


def score_customers(
    customer_ids: Iterable[int], *, at: datetime | None = None, task_id: str = ""
) -> int:
    """Re-score these customers now (or as of `at`); return how many rows were written.
    Erased or unknown ids are skipped. With the `task_id` of the message that asked,
    customers that message already re-scored are skipped (a redelivery writes nothing),
    and a unique constraint stops two deliveries racing: the loser raises IntegrityError
    and has written nothing."""
    ids = set(customer_ids)
    if task_id:
        ids -= set(
            ChurnScore.objects.filter(task_id=task_id, customer_id__in=ids).values_list(
                "customer_id", flat=True
            )
        )
    if not ids:
        return 0
    serving = _serving()
    at = at or timezone.now()
    frame = feature_frame(at, Customer.objects.filter(pk__in=sorted(ids), is_erased=False))
    if frame.empty:
        return 0
    rows = _rows(serving, frame, at, _latest_segments(), None)
    for row in rows:
        row.task_id = task_id
    with transaction.atomic():
        record_scores(rows)
    return len(rows)


def _chunks(at: datetime, size: int) -> Iterable[Any]:
    customers = Customer.objects.filter(is_erased=False, signed_up_at__lte=at).order_by("pk")
    ids = list(customers.values_list("pk", flat=True))
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        yield customers.filter(pk__gte=chunk[0], pk__lte=chunk[-1])


WRITE_CHUNK = 10_000
COPY_COLUMNS = ("customer_id", "model_version_id", "run_id", "probability", "band",
                "horizon_days", "target", "reasons", "segment", "scored_at", "task_id")  # fmt: skip


def record_scores(rows: list[ChurnScore]) -> None:
    """Append score rows to the history and make each customer's newest one their
    CurrentRisk. Call inside a transaction: the two writes stand or fall together.

    An erased customer never has a CurrentRisk row (the at-risk list counts the table
    without joining customers): a score computed while their erasure committed is dropped
    from it here, and the erasure deletes any row written before."""
    _write(rows)
    _refresh_current_risk(rows)
    ids = sorted({row.customer_id for row in rows})
    for start in range(0, len(ids), 5000):
        CurrentRisk.objects.filter(
            customer_id__in=ids[start : start + 5000], customer__is_erased=True
        ).delete()


def _write(rows: list[ChurnScore]) -> None:
    """Insert score rows: PostgreSQL's COPY (5x faster than INSERT for the reasons' JSON),
    bulk_create elsewhere."""
    import json

    from django.db import connection

    if connection.vendor != "postgresql":
        ChurnScore.objects.bulk_create(rows, batch_size=2000)
        return
    table = ChurnScore._meta.db_table
    sql = f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    # The raw driver's errors are wrapped as Django's (a unique violation: IntegrityError).
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            values = (row.customer_id, row.model_version_id, row.run_id, row.probability,
                      row.band, row.horizon_days, row.target, json.dumps(row.reasons),
                      row.segment, row.scored_at, row.task_id)  # fmt: skip
            copy.write_row(values)


CURRENT_COLUMNS = ("customer_id", "probability", "band", "segment", "top_reason", "spend_365d",
                   "complaints", "scored_at")  # fmt: skip
COMPLAINT_DAYS = 90
UPSERT_CHUNK = 500


def _top_reason(reasons: list[dict[str, Any]]) -> str:
    up = [r for r in reasons if r.get("direction") == "up"]
    return str((up or reasons or [{}])[0].get("text", ""))[:300]


def _refresh_current_risk(rows: list[ChurnScore]) -> None:
    """Upsert CurrentRisk from these rows: per customer the newest row, and only where it
    is at least as new as the row already there (scoring as of a past moment, as the
    simulation does, must not replace today's risk). One statement per UPSERT_CHUNK rows,
    the same SQL on PostgreSQL and SQLite."""
    from django.db import connection
    from django.db.models import Sum

    newest: dict[int, ChurnScore] = {}
    for row in rows:
        seen = newest.get(row.customer_id)
        if seen is None or row.scored_at >= seen.scored_at:
            newest[row.customer_id] = row
    spend: dict[int, Any] = {}
    complaints: dict[int, set[str]] = {}
    for at in {row.scored_at for row in newest.values()}:
        ids = [c for c, row in newest.items() if row.scored_at == at]
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            totals = (
                Order.objects.spend_in_year_to(at)
                .filter(customer_id__in=chunk)
                .values("customer_id")
                .annotate(total=Sum("total"))
                .values_list("customer_id", "total")
            )
            spend.update(totals)
            for customer, aspect in _complaints(chunk, at):
                complaints.setdefault(customer, set()).add(aspect)
    by_column = {f.column: f for f in CurrentRisk._meta.concrete_fields}
    fields = [by_column[c] for c in CURRENT_COLUMNS]
    table = connection.ops.quote_name(CurrentRisk._meta.db_table)
    updates = ", ".join(f"{c} = excluded.{c}" for c in CURRENT_COLUMNS[1:])
    ordered = [newest[c] for c in sorted(newest)]
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), UPSERT_CHUNK):
            batch = ordered[start : start + UPSERT_CHUNK]
            params: list[Any] = []
            for row in batch:
                values = (row.customer_id, row.probability, row.band, row.segment,
                          _top_reason(row.reasons), spend.get(row.customer_id, 0),
                          _delimited(complaints.get(row.customer_id, ())),
                          row.scored_at)  # fmt: skip
                params += [
                    f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)
                ]
            placeholders = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(batch))
            # Only our own table and column names are formatted in; values are parameters.
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(CURRENT_COLUMNS)}) VALUES {placeholders} "  # noqa: S608
                f"ON CONFLICT (customer_id) DO UPDATE SET {updates} "
                f"WHERE {table}.scored_at <= excluded.scored_at",
                params,
            )


def _complaints(customer_ids: list[int], at: datetime) -> Any:
    """(customer, aspect) pairs: aspects the customer's texts of the COMPLAINT_DAYS up to
    `at` mention negatively (primary analyzer, current content)."""
    from datetime import timedelta

    from sentiment.models import AspectMention

    return (
        AspectMention.objects.filter(
            label="negative",
            score__analyzer=settings.SENTIMENT_PRIMARY_ANALYZER,
            score__content_hash=F("score__text__content_hash"),
            score__text__customer_id__in=customer_ids,
            score__text__written_at__gt=at - timedelta(days=COMPLAINT_DAYS),
            score__text__written_at__lte=at,
        )
        .values_list("score__text__customer_id", "aspect")
        .distinct()
    )


def _delimited(aspects: Iterable[str]) -> str:
    """ ",delivery,price," so that one aspect is found with a plain `contains`."""
    names = sorted(aspects)
    return f",{','.join(names)}," if names else ""


def rebuild_current_risk(*, chunk_size: int = WRITE_CHUNK) -> int:
    """Rebuild every CurrentRisk row from the score history (after a restore, or for
    scores written before the table existed); return how many customers have one."""
    customers = (
        ChurnScore.objects.order_by("customer_id").values_list("customer_id", flat=True).distinct()
    )
    ids = list(customers)
    for start in range(0, len(ids), chunk_size):
        chunk = ids[start : start + chunk_size]
        with transaction.atomic():
            _refresh_current_risk(list(latest_scores(chunk)))
    return len(ids)


def score_all(
    *, at: datetime | None = None, chunk_size: int | None = None, task_id: str = ""
) -> ScoringRun:
    """The batch: score every customer, refit segments, measure drift; return the run (a
    failure is recorded on it, then raised).

    With the `task_id` of the message that asked, a redelivery of that message (its
    worker died mid-batch) finishes the same run, as of the same moment, scoring only the
    customers it has no row for yet; a run already finished is returned as it is."""
    serving = _serving()
    run = ScoringRun.objects.filter(task_id=task_id).first() if task_id else None
    if run is not None and run.finished_at is not None:
        return run
    if run is None:
        run = ScoringRun.objects.create(
            started_at=timezone.now(), model_version=serving.version, task_id=task_id
        )
    at = at or run.started_at
    try:
        _score_all(run, serving, at, chunk_size or settings.CHURN_SCORE_CHUNK)
    except Exception as exc:  # recorded on the run for the admin, then raised as it was
        run.error = f"Failed: {exc!r}"
        run.save(update_fields=["error"])
        raise
    if run.drifted:
        logger.warning("Churn features drifted (PSI > %s): %s", settings.CHURN_DRIFT_THRESHOLD,
                       ", ".join(run.drifted))  # fmt: skip
    return run


def _score_all(run: ScoringRun, serving: Serving, at: datetime, size: int) -> None:
    import pandas as pd

    frames = [feature_frame(at, chunk) for chunk in _chunks(at, size)]
    frame = pd.concat(frames) if frames else feature_frame(at, Customer.objects.none())
    run.drift = drift(frame, serving.version.distributions)
    run.drifted = sorted(
        f for f, value in run.drift.items() if value > settings.CHURN_DRIFT_THRESHOLD
    )
    run.segments = segments.fit(frame, settings.CHURN_SEGMENTS)
    done = set(run.scores.values_list("customer_id", flat=True))  # by an earlier delivery
    todo = frame[~frame.index.isin(done)] if done else frame
    for start in range(0, len(todo), WRITE_CHUNK):
        rows = _rows(serving, todo.iloc[start : start + WRITE_CHUNK], at, run.segments, run)
        with transaction.atomic():
            record_scores(rows)
    run.customers = len(frame)
    run.finished_at = timezone.now()
    run.error = serving.note
    run.save()


def texts_waiting_for_scores() -> int:
    """Texts the primary analyzer has not scored yet (their text features would be off)."""
    from sentiment.analyzers import loadable_analyzers
    from sentiment.selectors import texts_missing_score

    primary = settings.SENTIMENT_PRIMARY_ANALYZER
    for analyzer in loadable_analyzers():
        if analyzer.name == primary:
            return texts_missing_score(analyzer=analyzer.name, version=analyzer.version).count()
    return 0


def latest_scores(customers: Any = None) -> Any:
    """Each customer's newest score row (a queryset of ChurnScore)."""
    from django.db.models import OuterRef, Subquery

    newest = ChurnScore.objects.filter(customer=OuterRef("customer")).order_by("-scored_at", "-pk")
    scores = ChurnScore.objects.filter(pk=Subquery(newest.values("pk")[:1]))
    if customers is not None:
        scores = scores.filter(customer__in=customers)
    return scores
