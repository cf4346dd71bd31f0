"""Marketing configures rules here; the "Marketing" group may add and change them, with every
change kept (history: who, what, when). Deleting is for superusers: disable a rule instead,
its interventions and results refer to it.

Also here: the interventions (read-only, with approve / reject for costly ones), the agents'
call queue (claim a call, log its outcome), gift fulfilment, coupons, and the uplift report
page (per rule and action, treated against control)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from simple_history.admin import SimpleHistoryAdmin

from crm.admin import change_link, customer_label
from interventions import services
from interventions.models import CallTask, Coupon, Email, GiftFulfilment, Intervention, Rule, Skip
from interventions.selectors import rule_dry_run
from interventions.uplift import uplift_report


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
        limits = format_html_join("", "<li>{}</li>", ((limit,) for limit in result.limits))
        return format_html(
            "<p><strong>This rule would match {} customers now ({} after cooldowns and "
            "budget)</strong>; of those it acts on, the holdout share is kept as control.</p>"
            "<ul>{}</ul><ul>{}</ul><p>Highest risk first:</p><ul>{}</ul>",
            f"{result.matching:,}",
            f"{result.after_limits:,}",
            warnings,
            limits,
            sample,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)


def _risk(customer: Any) -> str:
    probability = getattr(customer, "risk_probability", None)
    if probability is None:
        return "not scored yet"
    return f"{probability:.0%} risk, {customer.risk_band}, {customer.risk_segment or 'no segment'}"


@admin.register(Intervention)
class InterventionAdmin(SimpleHistoryAdmin):
    """Every decision, read-only; costly ones wait here for approval. The history tab
    keeps every status change."""

    list_display = ("decided_at", "customer_link", "rule", "action", "group", "status",
                    "risk_band", "cost", "ordered_again")  # fmt: skip
    list_filter = ("status", "group", "action", "rule", "risk_band")
    list_select_related = ("customer", "rule")
    search_fields = ("customer__external_id", "customer__email", "rule__name")
    date_hierarchy = "decided_at"
    actions = ("approve_selected", "reject_selected")
    readonly_fields = [f.name for f in Intervention._meta.fields] + ["details"]
    exclude = ("reasons",)

    @admin.display(description="customer", ordering="customer__external_id")
    def customer_link(self, obj: Intervention) -> str:
        return change_link(obj.customer, customer_label(obj.customer))

    @admin.display(description="what was done")
    def details(self, obj: Intervention) -> SafeString:
        parts = []
        for attribute in ("coupon", "email", "gift", "call"):
            related = getattr(obj, attribute, None)
            if related is not None:
                parts.append((attribute, change_link(related)))
        reasons = format_html_join("", "<li>{}</li>", ((r.get("text", r),) for r in obj.reasons))
        done = format_html_join("", "<li>{}: {}</li>", parts)
        return format_html("<ul>{}</ul><p>Risk reasons then:</p><ul>{}</ul>", done, reasons)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not request.user.has_perm("interventions.approve_intervention"):
            actions.pop("approve_selected", None)
            actions.pop("reject_selected", None)
        return actions

    @admin.action(description="Approve the selected interventions (carries them out)")
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Intervention]) -> None:
        self._approve(request, queryset, approved=True)

    @admin.action(description="Reject the selected interventions")
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Intervention]) -> None:
        self._approve(request, queryset, approved=False)

    def _approve(self, request: HttpRequest, queryset: QuerySet, *, approved: bool) -> None:
        done, refused = 0, []
        for intervention in queryset.filter(status=Intervention.Status.AWAITING_APPROVAL):
            try:
                services.approve(intervention, request.user, approved=approved)
                done += 1
            except services.NotAllowed as exc:
                refused.append(f"{intervention.pk}: {exc}")
        verb = "Approved" if approved else "Rejected"
        self.message_user(request, f"{verb} {done} intervention(s).", messages.SUCCESS)
        skipped = queryset.exclude(status=Intervention.Status.AWAITING_APPROVAL).count()
        if skipped:
            self.message_user(request, f"{skipped} were not awaiting approval.", messages.WARNING)
        for line in refused:
            self.message_user(request, line, messages.ERROR)

    def get_urls(self) -> list[Any]:
        report = self.admin_site.admin_view(self.uplift_view)
        return [path("uplift/", report, name="interventions_uplift"), *super().get_urls()]

    def uplift_view(self, request: HttpRequest) -> HttpResponse:
        rule = request.GET.get("rule")
        rows = uplift_report(int(rule) if rule and rule.isdigit() else None)
        context = {**self.admin_site.each_context(request), "title": "Uplift report",
                   "rows": rows, "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/interventions/uplift.html", context)


class OpenCallFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "To do"), ("mine", "Claimed by me"), ("done", "Done")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "mine":
            return queryset.filter(claimed_by=request.user, completed_at__isnull=True)
        if self.value() == "done":
            return queryset.filter(completed_at__isnull=False)
        if self.value() == "open":
            return queryset.filter(completed_at__isnull=True)
        return queryset


@admin.register(CallTask)
class CallTaskAdmin(SimpleHistoryAdmin):
    """The agents' call queue: most value at risk first. Claim a call, then log its outcome
    on its page (only the agent who claimed it, or a superuser)."""

    list_display = ("customer_link", "priority", "due_at", "overdue", "claimed_by", "outcome",
                    "follow_up_on")  # fmt: skip
    list_filter = (OpenCallFilter, "outcome")
    list_select_related = ("intervention__customer", "claimed_by")
    search_fields = ("intervention__customer__external_id", "intervention__customer__name")
    actions = ("claim_selected",)
    readonly_fields = ("customer_link", "phone", "instructions", "reasons", "priority",
                       "due_at", "claimed_by", "claimed_at", "completed_at")  # fmt: skip
    fields = (*readonly_fields[:-1], "outcome", "follow_up_on", "notes", "completed_at")

    @admin.display(description="customer")
    def customer_link(self, obj: CallTask) -> str:
        return change_link(obj.intervention.customer, customer_label(obj.intervention.customer))

    @admin.display(description="phone")
    def phone(self, obj: CallTask) -> str:
        return obj.intervention.customer.phone or "(no phone number)"

    @admin.display(description="why they may leave")
    def reasons(self, obj: CallTask) -> SafeString:
        items = ((r.get("text", r),) for r in obj.intervention.reasons)
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", items))

    @admin.display(boolean=True)
    def overdue(self, obj: CallTask) -> bool:
        return obj.completed_at is None and obj.due_at < timezone.now()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        mine = obj is not None and (
            obj.claimed_by_id == request.user.pk or request.user.is_superuser
        )
        if not mine or obj.completed_at is not None:
            fields += ["outcome", "follow_up_on", "notes"]
        return fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CallTask, form: Any, change: bool) -> None:
        if obj.outcome and obj.completed_at is None:
            obj.completed_at = timezone.now()
        super().save_model(request, obj, form, change)

    @admin.action(description="Claim the selected calls")
    def claim_selected(self, request: HttpRequest, queryset: QuerySet[CallTask]) -> None:
        taken = sum(services.claim_call(call, request.user) for call in queryset)
        self.message_user(request, f"Claimed {taken} call(s).", messages.SUCCESS)
        if taken < queryset.count():
            self.message_user(
                request,
                f"{queryset.count() - taken} were claimed by someone else already.",
                messages.WARNING,
            )


@admin.register(GiftFulfilment)
class GiftFulfilmentAdmin(SimpleHistoryAdmin):
    list_display = ("intervention", "description", "unit_cost", "status", "updated_at")
    list_filter = ("status",)
    list_editable = ("status",)
    readonly_fields = ("intervention", "description", "unit_cost")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class RecordAdmin(admin.ModelAdmin):
    """What the engine recorded: to read, not to edit."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Coupon)
class CouponAdmin(RecordAdmin):
    list_display = ("code", "kind", "value", "issued_at", "valid_until", "redeemed_order",
                    "discount")  # fmt: skip
    search_fields = ("code",)


@admin.register(Email)
class EmailAdmin(RecordAdmin):
    list_display = ("intervention", "to", "subject", "sent_at")
    search_fields = ("to", "subject")


@admin.register(Skip)
class SkipAdmin(RecordAdmin):
    list_display = ("on", "customer", "rule", "reason", "times")
    list_filter = ("reason", "rule")
    search_fields = ("customer__external_id",)
