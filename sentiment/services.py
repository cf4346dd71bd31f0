"""Scoring customer texts and enqueuing them for scoring."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from crm.models import CustomerText
from sentiment.analysis import TextAnalysis, analyze_texts
from sentiment.analyzers import Analyzer, loadable_analyzers
from sentiment.models import AspectMention, LabelOverride, SentimentScore, WeeklyVoice
from sentiment.selectors import texts_missing_score

logger = logging.getLogger(__name__)


def texts_score(
    *,
    text_ids: Sequence[int],
    analyzers: Iterable[Analyzer] | None = None,
    force: bool = False,
) -> int:
    """Score the given texts with every enabled analyzer; return how many rows were written.

    Idempotent ("compute only what is missing"): a text that already has a score from this
    analyzer version for its current content is skipped, and the unique constraint on
    (text, analyzer, version) turns a concurrent duplicate into an update of the same row
    (its aspects are replaced in the same transaction). Ids of texts that no longer exist
    are ignored. An analyzer that cannot load is skipped (and logged); its texts stay
    unscored for the sweeper to find once it loads again. `force` recomputes existing
    scores too (after a change to the analysis itself, not to the model version).

    On PostgreSQL the texts are locked while they are analysed and skipped by any other
    worker meanwhile: under a backlog, overlapping batches (ids_with_backlog) otherwise
    analysed the same text twice (1,040 extra analyses for 3,610 texts in a run at 16-32
    requests/s, benchmarks/load.py), wasting the capacity a backlog lacks. A change to a
    locked text waits for its batch (a second or two).
    """
    written = 0
    locks = connection.features.has_select_for_no_key_update
    for analyzer in analyzers if analyzers is not None else loadable_analyzers():
        candidates = (
            CustomerText.objects.all()
            if force
            else texts_missing_score(analyzer=analyzer.name, version=analyzer.version)
        )
        with transaction.atomic() if locks else nullcontext():
            query = candidates.filter(pk__in=list(text_ids))
            if locks:
                locked = list(
                    query.select_for_update(skip_locked=True, no_key=True, of=("self",))
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
                # Asked again with a fresh snapshot: a batch that committed between this
                # query's start and its lock has scored the text already.
                query = candidates.filter(pk__in=locked)
            texts = list(query.select_related("review", "message").order_by("pk"))
            if texts:
                written += _store(analyzer, texts, analyze_texts(analyzer, [t.text for t in texts]))
    return written


def _store(
    analyzer: Analyzer, texts: Sequence[CustomerText], results: Sequence[TextAnalysis]
) -> int:
    now = timezone.now()
    rows = [
        SentimentScore(
            text=text,
            analyzer=analyzer.name,
            analyzer_version=analyzer.version,
            content_hash=text.content_hash,
            label=result.label,
            score=result.score,
            probabilities=list(result.probabilities) if result.probabilities else None,
            confidence=result.confidence,
            language=result.language,
            sentence_count=len(result.sentences),
            evidence=result.evidence(),
            scored_at=now,
        )
        for text, result in zip(texts, results, strict=True)
    ]
    with transaction.atomic():
        SentimentScore.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["text", "analyzer", "analyzer_version"],
            update_fields=[
                "content_hash",
                "label",
                "score",
                "probabilities",
                "confidence",
                "language",
                "sentence_count",
                "evidence",
                "scored_at",
            ],
        )
        # bulk_create's upsert does not return primary keys on every database: read them.
        ids = dict(
            SentimentScore.objects.filter(
                text__in=texts, analyzer=analyzer.name, analyzer_version=analyzer.version
            ).values_list("text_id", "pk")
        )
        AspectMention.objects.filter(score_id__in=ids.values()).delete()
        AspectMention.objects.bulk_create(
            AspectMention(
                score_id=ids[text.pk],
                aspect=aspect.aspect,
                label=aspect.label,
                polarity=max(-1.0, min(1.0, aspect.score)),
                sentence=result.aspect_sentence(aspect),
            )
            for text, result in zip(texts, results, strict=True)
            for aspect in result.aspects.values()
        )
    return len(rows)


def ids_with_backlog(
    *,
    text_ids: Sequence[int],
    analyzers: Iterable[Analyzer] | None = None,
    limit: int | None = None,
) -> list[int]:
    """`text_ids` plus the newest texts saved after them that still lack a score, up to
    `limit` ids in all (default SENTIMENT_BATCH_SIZE).

    Feedback arriving one review at a time becomes one task per review; scored alone, each
    pays the transformer's fixed cost per call (28 ms against 6 ms per text in a batch of
    64, measured). A task that takes along what was queued behind it turns a backlog into
    batches, and the tasks it overtook find nothing missing and return at once. Only ids
    above the task's own are looked at (a primary-key range scan), never the whole table:
    that is the sweeper's job.
    """
    ids = list(dict.fromkeys(text_ids))
    limit = settings.SENTIMENT_BATCH_SIZE if limit is None else limit
    if not ids or len(ids) >= limit:
        return ids
    newer: set[int] = set()
    for analyzer in analyzers if analyzers is not None else loadable_analyzers():
        room = limit - len(ids) - len(newer)
        if room <= 0:
            break
        newer.update(
            texts_missing_score(analyzer=analyzer.name, version=analyzer.version)
            .filter(pk__gt=max(ids))
            .exclude(pk__in=newer)
            .order_by("pk")
            .values_list("pk", flat=True)[:room]
        )
    return ids + sorted(newer)


def scoring_enqueue(*, text_ids: Sequence[int]) -> int:
    """Queue the texts for scoring in batches; return how many batches were sent.

    Call it only after the texts are committed (the CRM's signal is sent on commit). If the
    broker is unreachable the texts stay in the database unscored and the periodic sweeper
    enqueues them later, so the error is logged, not raised: saving feedback must not fail
    because the queue is down.
    """
    from kombu.exceptions import OperationalError as BrokerError

    from sentiment.tasks import score_texts

    size = settings.SENTIMENT_BATCH_SIZE
    ids = list(text_ids)
    sent = 0
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        try:
            score_texts.apply_async(args=(batch,))
        except BrokerError as exc:
            logger.warning(
                "Broker unreachable (%s); %d texts left for the sweeper.", exc, len(ids) - start
            )
            break
        sent += 1
    return sent


def scored_hand_over(*, text_ids: Sequence[int]) -> bool:
    """Hand the customers of freshly scored texts to the next stage, by task name
    (SENTIMENT_SCORED_TASK, the churn re-score; empty: nobody). Sentiment never imports
    the app downstream of it. A broker error is logged: the nightly batch catches up."""
    from celery import current_app
    from kombu.exceptions import OperationalError as BrokerError

    name = settings.SENTIMENT_SCORED_TASK
    customers = sorted(
        set(
            CustomerText.objects.filter(pk__in=list(text_ids)).values_list("customer_id", flat=True)
        )
    )
    if not name or not customers:
        return False
    try:
        current_app.send_task(name, args=(customers,))
    except BrokerError as exc:
        logger.warning("Broker unreachable (%s); %s not sent for %d customers.", exc, name,
                       len(customers))  # fmt: skip
        return False
    return True


def unscored_enqueue(*, limit: int | None = None) -> int:
    """Find texts missing a score from any enabled analyzer and queue them; return the count.

    Safe to run any number of times: enqueuing a text twice costs one no-op task, because
    scoring computes only what is missing.
    """
    limit = settings.SENTIMENT_SWEEP_LIMIT if limit is None else limit
    missing: set[int] = set()
    for analyzer in loadable_analyzers():
        remaining = limit - len(missing)
        if remaining <= 0:
            break
        missing.update(
            texts_missing_score(analyzer=analyzer.name, version=analyzer.version)
            .order_by("pk")
            .values_list("pk", flat=True)[:remaining]
        )
    if missing:
        scoring_enqueue(text_ids=sorted(missing))
    return len(missing)


def label_override_create(
    *, text: CustomerText, label: str, user: User | None, reason: str = ""
) -> LabelOverride:
    """Record an agent's correction of a text's label; it wins from now on everywhere.

    The label the text showed until now (an earlier override, else the analyzers') is kept
    as `previous_label`, so the history reads as a list of changes.
    """
    from sentiment.selectors import effective_label

    override = LabelOverride(
        text=text,
        content_hash=text.content_hash,
        previous_label=effective_label(text) or "",
        label=label,
        reason=reason.strip(),
        created_by=user,
    )
    override.full_clean()
    override.save()
    return override


def voice_aggregate(*, weeks: int, analyzer: str | None = None, at: datetime | None = None) -> int:
    """Store the WeeklyVoice rows of the `weeks` finished weeks before `at`'s week (for the
    primary analyzer by default), replacing what was stored for them; return how many rows.

    Idempotent: a rerun recomputes the same weeks from the scores and replaces them in one
    transaction, so a late import or a re-score is folded in by the next night's run."""
    from sentiment.selectors import voice_weeks_live, week_start

    analyzer = analyzer or str(settings.SENTIMENT_PRIMARY_ANALYZER)
    end = week_start(at or timezone.now())
    start = end - timedelta(weeks=weeks)
    rows = voice_weeks_live(analyzer=analyzer, start=start, end=end)
    with transaction.atomic():
        WeeklyVoice.objects.filter(
            analyzer=analyzer, week__gte=start.date(), week__lt=end.date()
        ).delete()
        WeeklyVoice.objects.bulk_create(rows)
    return len(rows)
