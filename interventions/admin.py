"""Marketing configures rules here; the "Marketing" group may add and change them, with every
change kept (history: who, what, when). Deleting is for superusers: disable a rule instead,
its interventions and results refer to it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from simple_history.admin import SimpleHistoryAdmin

from crm.admin import change_link, customer_label
from interventions.models import Rule
from interventions.selectors import rule_dry_run


@admin.register(Rule)
class RuleAdmin(SimpleHistoryAdmin):
    list_display = ("name", "enabled", "priority", "action", "min_band", "holdout_share",
                    "cooldown_days", "updated_at")  # fmt: skip
    list_filter = ("enabled", "action", "min_band")
    search_fields = ("name", "description")
    readonly_fields = ("dry_run",)
    fieldsets = (
        ("Dry run: who this rule would match now (as last saved)", {"fields": ("dry_run",)}),
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

    @admin.display(description="matches")
    def dry_run(self, obj: Rule) -> SafeString:
        if obj.pk is None:
            return format_html("{}", "Save the rule to see whom it would match.")
        result = rule_dry_run(obj)
        warnings = format_html_join(
            "", '<li style="color:#b00">{}</li>', ((w,) for w in result.warnings)
        )
        sample = format_html_join(
            "",
            "<li>{} ({})</li>",
            ((change_link(c, customer_label(c)), _risk(c)) for c in result.sample),
        )
        return format_html(
            "<p><strong>This rule would match {} customers now</strong> (before cooldowns, "
            "budget and the holdout, which the decision engine applies).</p>"
            "<ul>{}</ul><p>Highest risk first:</p><ul>{}</ul>",
            f"{result.matching:,}",
            warnings,
            sample,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)


def _risk(customer: Any) -> str:
    probability = getattr(customer, "risk_probability", None)
    if probability is None:
        return "not scored yet"
    return f"{probability:.0%} risk, {customer.risk_band}, {customer.risk_segment or 'no segment'}"
