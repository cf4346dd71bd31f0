"""sentiment's part of the web UI: each text's label badge and evidence sentence on the
customer's timeline, an agent's correction of a label, the customer's sentiment chart,
and the voice-of-the-customer dashboard."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.models import Customer, CustomerText
from crm.web import params as read
from crm.web.access import requires
from crm.web.sections import Section, register_section, register_text_annotator
from sentiment.models import Label, SentimentScore
from sentiment.selectors import with_effective_label
from sentiment.services import label_override_create

CORRECTABLE = Label.choices[:3]


def annotate_texts(request: HttpRequest, text_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per text: the label a user sees (a correction wins), the primary analyzer's score,
    and the sentence that weighs most (the most negative for a negative text, else the
    most positive), split out of the text so the page can highlight it."""
    if not text_ids:
        return {}
    texts = list(
        with_effective_label(
            CustomerText.objects.filter(pk__in=text_ids).select_related("review", "message")
        )
    )
    current = {text.pk: text.content_hash for text in texts}
    primary: dict[int, SentimentScore] = {}
    scores = SentimentScore.objects.filter(
        text__in=text_ids, analyzer=settings.SENTIMENT_PRIMARY_ANALYZER
    ).order_by("scored_at", "pk")
    for score in scores:  # the newest score of the text as it reads now
        if score.content_hash == current[score.text_id]:
            primary[score.text_id] = score
    can_correct = request.user.has_perm("sentiment.add_labeloverride")
    out: dict[int, dict[str, Any]] = {}
    for text in texts:
        label = getattr(text, "effective_label", None)
        if label is None:
            out[text.pk] = {"label": "not scored yet", "score": None, "text_id": text.pk}
            continue
        note: dict[str, Any] = {
            "label": label,
            "score": getattr(text, "effective_score", None),
            "corrected": getattr(text, "label_source", "") == "override",
            "text_id": text.pk,
            "detail": f"by {getattr(text, 'label_source', '')}",
        }
        best = primary.get(text.pk)
        side = "negative" if label == Label.NEGATIVE else "positive"
        evidence = (best.evidence or {}).get(side) if best else None
        source = text.review or text.message
        body = source.text if source is not None else ""
        if evidence and 0 <= evidence["start"] < evidence["end"] <= len(body):
            note["before"] = body[: evidence["start"]]
            note["evidence"] = body[evidence["start"] : evidence["end"]]
            note["after"] = body[evidence["end"] :]
        if can_correct and label in Label.values:
            note["correct_url"] = reverse("correct-label", args=[text.pk])
            note["choices"] = CORRECTABLE
        out[text.pk] = note
    return out


@require_POST
@requires("sentiment.add_labeloverride")
def correct_label(request: HttpRequest, text_id: int) -> HttpResponse:
    """An agent sets a text's label, with a reason; it wins from now on everywhere."""
    text = get_object_or_404(CustomerText, pk=text_id)
    label = request.POST.get("label", "")
    try:
        limit = settings.CRM_MAX_TEXT_LENGTH
        reason, unreadable = read.text(request.POST, "reason", max_length=limit), ""
    except read.BadParam as bad:
        reason, unreadable = "", f"Not saved: {bad}."
    error = ""
    if label not in dict(CORRECTABLE):
        error = "Choose negative, neutral or positive."
    elif unreadable:
        error = unreadable
    elif not reason:
        error = "Say why (it helps retrain the model)."
    else:
        try:
            user = request.user if isinstance(request.user, User) else None
            label_override_create(text=text, label=label, user=user, reason=reason)
        except ValidationError as exc:
            error = "; ".join(exc.messages)
    sentiment = annotate_texts(request, [text.pk]).get(text.pk)
    context = {"sentiment": sentiment, "text_id": text.pk, "error": error, "saved": not error}
    return render(request, "web/items/correct_result.html", context, status=400 if error else 200)


def sentiment_section(request: HttpRequest, customer: Customer) -> dict[str, Any] | None:
    """The customer's sentiment over time (primary analyzer, current content)."""
    if not request.user.has_perm("sentiment.view_sentimentscore"):
        return None
    from crm.charts import Series, line_chart

    texts: Any = with_effective_label(CustomerText.objects.filter(customer=customer))
    scores = texts.filter(effective_score__isnull=False).order_by("written_at")
    points = [(at, float(v)) for at, v in scores.values_list("written_at", "effective_score")]
    chart = line_chart(
        "Sentiment of what they wrote",
        [Series("score", points)],
        y_min=-1,
        y_max=1,
        guides=[(0.0, "neutral")],
    )
    return {"chart": chart, "texts": len(points)}


def register() -> None:
    register_text_annotator(annotate_texts)
    register_section(Section("sentiment", 30, "web/sections/sentiment.html", sentiment_section))


@requires("sentiment.view_voice")
def voice(request: HttpRequest) -> HttpResponse:
    """What customers say: mean sentiment by week, negative mentions by aspect by week,
    and the most negative recent texts about one aspect (linked to their customers). The
    finished weeks come from the nightly aggregate, the current one is counted live."""
    from datetime import timedelta

    from django.core.cache import cache
    from django.utils import timezone

    from crm.charts import Series, line_chart
    from sentiment.models import Aspect
    from sentiment.selectors import voice_weeks, week_start

    weeks = settings.SENTIMENT_VOICE_WEEKS
    since = week_start(timezone.now()) - timedelta(weeks=weeks - 1)
    primary = str(settings.SENTIMENT_PRIMARY_ANALYZER)
    aspect = str(request.GET.get("aspect", ""))
    aspect = aspect if aspect in Aspect.values else "delivery"
    # The live part (this week, and the worst mentions) is kept for a few minutes in the
    # cache: recomputed, the page takes about half a second at 100,000 customers.
    key = f"voice:{primary}:{since.date()}:{aspect}"
    cached = cache.get(key) if settings.SENTIMENT_VOICE_CACHE_SECONDS else None
    if cached is None:
        cached = (*voice_weeks(analyzer=primary, since=since), list(_worst(primary, aspect, since)))
        if settings.SENTIMENT_VOICE_CACHE_SECONDS:
            cache.set(key, cached, settings.SENTIMENT_VOICE_CACHE_SECONDS)
    rows, aggregated_at, worst = cached
    points = [(r.week, r.mean_score) for r in rows if not r.aspect and r.mean_score is not None]
    trend = line_chart(
        "Mean sentiment by week",
        [Series("mean score", points)],
        y_min=-1,
        y_max=1,
        guides=[(0.0, "neutral")],
    )
    by_aspect: dict[str, list[tuple[Any, float]]] = {}
    for r in rows:
        if r.aspect:
            by_aspect.setdefault(Aspect(r.aspect).label, []).append((r.week, r.negative_mentions))
    aspects_chart = line_chart(
        "Negative mentions by aspect, per week",
        [Series(name, pts) for name, pts in sorted(by_aspect.items())],
        y_min=0,
    )
    context = {
        "trend": trend,
        "aspects_chart": aspects_chart,
        "aspect": aspect,
        "aspects": Aspect.choices,
        "worst": worst,
        "weeks": weeks,
        "aggregated_at": aggregated_at,
    }
    return render(request, "web/voice.html", context)


def _worst(analyzer: str, aspect: str, since: Any) -> Any:
    """The 15 most negative recent mentions of `aspect`, worst first (by how negatively
    the text speaks of it), with their texts and customers."""
    from django.db.models import F

    from sentiment.models import AspectMention

    return (
        AspectMention.objects.filter(
            aspect=aspect,
            label="negative",
            score__analyzer=analyzer,
            score__content_hash=F("score__text__content_hash"),
            score__text__written_at__gt=since,
        )
        .select_related("score__text__customer", "score__text__review", "score__text__message")
        .order_by("polarity", "-score__scored_at")[:15]
    )
