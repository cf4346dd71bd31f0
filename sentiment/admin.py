"""Scores in the admin: read-only (scores are computed, never typed in)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from sentiment.models import SentimentScore


@admin.register(SentimentScore)
class SentimentScoreAdmin(admin.ModelAdmin):
    list_display = ["text_link", "customer", "analyzer", "label", "score", "scored_at"]
    list_filter = ["analyzer", "label", "analyzer_version", "scored_at"]
    search_fields = ["text__customer__external_id", "text__customer__email"]
    list_select_related = ["text__customer"]
    date_hierarchy = "scored_at"
    show_full_result_count = False
    readonly_fields = [
        "text_link",
        "analyzer",
        "analyzer_version",
        "content_hash",
        "label",
        "score",
        "scored_at",
    ]
    exclude = ["text"]

    @admin.display(description="text", ordering="text")
    def text_link(self, obj: SentimentScore) -> str:
        url = reverse("admin:crm_customertext_change", args=[obj.text_id])
        return format_html('<a href="{}">{} #{}</a>', url, obj.text.source, obj.text_id)

    @admin.display(description="customer", ordering="text__customer__external_id")
    def customer(self, obj: SentimentScore) -> str:
        return obj.text.customer.external_id

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
