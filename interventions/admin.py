"""Marketing configures rules here; the "Marketing" group may add and change them, with every
change kept (history: who, what, when). Deleting is for superusers: disable a rule instead,
its interventions and results refer to it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from interventions.models import Rule


@admin.register(Rule)
class RuleAdmin(SimpleHistoryAdmin):
    list_display = ("name", "enabled", "priority", "action", "min_band", "holdout_share",
                    "cooldown_days", "updated_at")  # fmt: skip
    list_filter = ("enabled", "action", "min_band")
    search_fields = ("name", "description")
    fieldsets = (
        (None, {"fields": ("name", "description", "enabled", "priority",
                           ("starts_on", "ends_on"))}),
        ("Who: every condition that is set must hold", {"fields": (
            ("min_band", "min_probability"), "max_sentiment_30d", "negative_aspects",
            "segments", ("min_spend_365d", "max_spend_365d"), "open_ticket",
            ("min_days_since_order", "max_days_since_order"), "requires_consent")}),
        ("What", {"fields": (
            "action", ("coupon_kind", "coupon_value", "coupon_min_order", "coupon_valid_days"),
            ("gift_description", "gift_unit_cost"), ("call_instructions", "call_due_hours"),
            "email_subject", "email_template")}),
        ("Experiment and limits", {"fields": (
            "holdout_share", "cooldown_days", ("monthly_budget", "daily_count_cap"),
            "approval_above_cost")}),
    )  # fmt: skip

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)
