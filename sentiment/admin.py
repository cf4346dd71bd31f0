"""Sentiment in the admin: scores with their evidence and aspects, and agents' overrides.

Scores are computed, never typed in, so they are read-only. An agent corrects a text's
label by adding a LabelOverride (from the text's page: "Correct the label"); overrides are
history, so they are never edited or deleted here, and they export as training rows.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import Truncator

from crm.admin import CustomerTextAdmin, ReadOnlyAdminMixin, change_link, customer_label
from crm.csvsafe import safe_writer
from crm.models import CustomerText
from sentiment.models import AspectMention, LabelOverride, SentimentScore
from sentiment.selectors import with_effective_label
from sentiment.services import label_override_create

LABEL_COLOURS = {"negative": "#ba2121", "neutral": "#666", "positive": "#2a7d2a"}


def label_badge(label: str | None) -> str:
    if not label:
        return "—"
    colour = LABEL_COLOURS.get(label, "#666")
    return format_html('<strong style="color:{}">{}</strong>', colour, label)


def evidence_html(evidence: dict[str, Any]) -> str:
    """The evidence sentences as quotes (escaped: customer text is never markup)."""
    rows = [
        (side, f"{item['score']:+.2f}", item["text"])
        for side in ("negative", "positive")
        if (item := evidence.get(side))
    ]
    if not rows:
        return "—"
    return format_html_join("", "<div><strong>{}</strong> ({}): <q>{}</q></div>", rows)


class AspectInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AspectMention
    fields = readonly_fields = ("aspect", "label", "polarity", "sentence")
    extra = 0


@admin.register(SentimentScore)
class SentimentScoreAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "text_link",
        "customer",
        "analyzer",
        "label",
        "score",
        "confidence",
        "language",
        "evidence_short",
        "scored_at",
    ]
    list_filter = ["analyzer", "label", "language", "analyzer_version", "scored_at"]
    search_fields = ["text__customer__external_id", "text__customer__email"]
    list_select_related = ["text__customer"]
    date_hierarchy = "scored_at"
    show_full_result_count = False
    readonly_fields = (
        "text_link",
        "analyzer",
        "analyzer_version",
        "content_hash",
        "label",
        "score",
        "probabilities",
        "confidence",
        "language",
        "sentence_count",
        "evidence_quotes",
        "scored_at",
    )
    exclude = ["text", "evidence"]
    inlines = [AspectInline]

    @admin.display(description="text", ordering="text")
    def text_link(self, obj: SentimentScore) -> str:
        url = reverse("admin:crm_customertext_change", args=[obj.text_id])
        return format_html('<a href="{}">{} #{}</a>', url, obj.text.source, obj.text_id)

    @admin.display(description="customer", ordering="text__customer__external_id")
    def customer(self, obj: SentimentScore) -> str:
        return obj.text.customer.external_id

    @admin.display(description="evidence")
    def evidence_short(self, obj: SentimentScore) -> str:
        side = "negative" if obj.label == "negative" else "positive"
        item = obj.evidence.get(side) or obj.evidence.get("negative") or {}
        return Truncator(item.get("text", "")).chars(80) or "—"

    @admin.display(description="evidence sentences")
    def evidence_quotes(self, obj: SentimentScore) -> str:
        return evidence_html(obj.evidence)


@admin.register(AspectMention)
class AspectMentionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every aspect mention: filter by aspect and label ("negative delivery") to read them."""

    list_display = ["aspect", "label", "polarity", "sentence", "analyzer", "text_link"]
    list_filter = ["aspect", "label", "score__analyzer"]
    list_select_related = ["score"]
    show_full_result_count = False

    @admin.display(description="analyzer", ordering="score__analyzer")
    def analyzer(self, obj: AspectMention) -> str:
        return obj.score.analyzer

    @admin.display(description="text")
    def text_link(self, obj: AspectMention) -> str:
        url = reverse("admin:crm_customertext_change", args=[obj.score.text_id])
        return format_html('<a href="{}">text #{}</a>', url, obj.score.text_id)


class LabelOverrideForm(ModelForm):
    class Meta:
        model = LabelOverride
        fields = ["text", "label", "reason"]


@admin.register(LabelOverride)
class LabelOverrideAdmin(admin.ModelAdmin):
    form = LabelOverrideForm
    list_display = ["created_at", "text_link", "customer", "change", "created_by", "reason"]
    list_filter = ["label", "previous_label", "created_at"]
    list_select_related = ["text__customer", "created_by"]
    search_fields = ["text__customer__external_id", "reason"]
    autocomplete_fields = ["text"]
    date_hierarchy = "created_at"
    actions = ["export_training_rows"]

    shown_fields = ("text_link", "customer", "change", "reason", "created_by", "created_at")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("text", "label", "reason") if obj is None else self.shown_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else self.shown_fields

    def save_model(self, request: HttpRequest, obj: LabelOverride, form: Any, change: bool) -> None:
        # Through the service: it records the label the text showed until now, and who.
        created = label_override_create(
            text=obj.text, label=obj.label, reason=obj.reason, user=cast(Any, request.user)
        )
        obj.pk = created.pk

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history: a new override corrects an old one

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="text", ordering="text")
    def text_link(self, obj: LabelOverride) -> str:
        return change_link(obj.text, f"{obj.text.source} #{obj.text_id}")

    @admin.display(description="customer", ordering="text__customer__external_id")
    def customer(self, obj: LabelOverride) -> str:
        return customer_label(obj.text.customer)

    @admin.display(description="label")
    def change(self, obj: LabelOverride) -> str:
        return format_html("{} → {}", label_badge(obj.previous_label), label_badge(obj.label))

    @admin.action(description="Export as training rows (CSV: text, label)")
    def export_training_rows(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        """One row per text, its newest selected override; `train_sentiment --extra` reads it.

        Spreadsheet-safe (crm.csvsafe): the texts are customers' own, and whoever opens the
        file in a spreadsheet must not have `=HYPERLINK(...)` run; the reader unescapes.
        """
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="sentiment-overrides.csv"'
        writer = safe_writer(response)
        writer.writerow(["text", "label"])
        seen: set[int] = set()
        rows = queryset.select_related("text__review", "text__message").order_by(
            "-created_at", "-pk"
        )
        for override in rows:
            if override.text_id in seen or override.content_hash != override.text.content_hash:
                continue
            seen.add(override.text_id)
            writer.writerow([override.text.text, override.label])
        if not seen:
            self.message_user(
                request, "No current overrides among those selected.", messages.WARNING
            )
        return response


class ScoreInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SentimentScore
    fields = readonly_fields = (
        "analyzer",
        "label",
        "score",
        "confidence",
        "language",
        "evidence_quotes",
        "aspect_list",
        "analyzer_version",
        "scored_at",
    )
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("aspects")

    @admin.display(description="evidence")
    def evidence_quotes(self, obj: SentimentScore) -> str:
        return evidence_html(obj.evidence)

    @admin.display(description="aspects")
    def aspect_list(self, obj: SentimentScore) -> str:
        return (
            format_html_join(
                ", ",
                "{} {}",
                ((a.get_aspect_display(), label_badge(a.label)) for a in obj.aspects.all()),
            )
            or "—"
        )


class OverrideInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LabelOverride
    fields = readonly_fields = ("created_at", "previous_label", "label", "reason", "created_by")
    extra = 0


admin.site.unregister(CustomerText)


@admin.register(CustomerText)
class CustomerTextWithSentimentAdmin(CustomerTextAdmin):
    """The CRM's text page plus its sentiment: effective label, scores, overrides."""

    inlines = [ScoreInline, OverrideInline]
    extra_fields = ("sentiment", "correct_label")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[Any, ...]:
        return (*super().get_fields(request, obj), *self.extra_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[Any, ...]:
        return (*super().get_readonly_fields(request, obj), *self.extra_fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return with_effective_label(super().get_queryset(request))

    @admin.display(description="sentiment")
    def sentiment(self, obj: CustomerText) -> str:
        label = getattr(obj, "effective_label", None)
        source = getattr(obj, "label_source", None)
        if not label:
            return "not scored yet"
        return format_html("{} (from {})", label_badge(label), source)

    @admin.display(description="")
    def correct_label(self, obj: CustomerText) -> str:
        url = reverse("admin:sentiment_labeloverride_add") + "?" + urlencode({"text": obj.pk})
        return format_html('<a class="button" href="{}">Correct the label</a>', url)
