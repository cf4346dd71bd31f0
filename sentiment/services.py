"""Scoring customer texts and enqueuing them for scoring."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sentiment.analyzers import Analyzer, enabled_analyzers
from sentiment.models import SentimentScore
from sentiment.selectors import texts_missing_score

logger = logging.getLogger(__name__)


def texts_score(*, text_ids: Sequence[int], analyzers: Iterable[Analyzer] | None = None) -> int:
    """Score the given texts with every enabled analyzer; return how many rows were written.

    Idempotent ("compute only what is missing"): a text that already has a score from this
    analyzer version for its current content is skipped, and the unique constraint on
    (text, analyzer, version) turns a concurrent duplicate into an update of the same row.
    Ids of texts that no longer exist are ignored. Blank texts get label "empty", no score.
    """
    written = 0
    for analyzer in analyzers if analyzers is not None else enabled_analyzers():
        texts = list(
            texts_missing_score(analyzer=analyzer.name, version=analyzer.version)
            .filter(pk__in=list(text_ids))
            .select_related("review", "message")
            .order_by("pk")
        )
        if not texts:
            continue
        bodies = [text.text for text in texts]
        to_score = [i for i, body in enumerate(bodies) if body.strip()]
        analyses = dict(
            zip(to_score, analyzer.analyze_many([bodies[i] for i in to_score]), strict=True)
        )
        now = timezone.now()
        rows = []
        for i, text in enumerate(texts):
            analysis = analyses.get(i)
            rows.append(
                SentimentScore(
                    text=text,
                    analyzer=analyzer.name,
                    analyzer_version=analyzer.version,
                    content_hash=text.content_hash,
                    label=analysis.label if analysis else SentimentScore.Label.EMPTY,
                    score=analysis.score if analysis else None,
                    scored_at=now,
                )
            )
        with transaction.atomic():
            SentimentScore.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["text", "analyzer", "analyzer_version"],
                update_fields=["content_hash", "label", "score", "scored_at"],
            )
        written += len(rows)
    return written


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


def unscored_enqueue(*, limit: int | None = None) -> int:
    """Find texts missing a score from any enabled analyzer and queue them; return the count.

    Safe to run any number of times: enqueuing a text twice costs one no-op task, because
    scoring computes only what is missing.
    """
    limit = settings.SENTIMENT_SWEEP_LIMIT if limit is None else limit
    missing: set[int] = set()
    for analyzer in enabled_analyzers():
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
