"""Intervention rules that marketing configures: who (conditions), what (the action), and
the experiment around it (holdout, cooldown, budget, approval).

Every rule is an experiment by default: a share of the customers it matches (10%) is held
out as a control group, so its uplift can be measured. Rules keep a full change history
(django-simple-history: who changed what, when).
"""

from __future__ import annotations

import string
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from churnmodel.models import Band
from sentiment.models import Aspect

# What an email template may use, e.g. "Hello {name}, here is {coupon_code}".
EMAIL_PLACEHOLDERS = ("name", "coupon_code", "coupon_value", "coupon_valid_until", "gift")


class Action(models.TextChoices):
    COUPON = "coupon", "Coupon"
    GIFT = "gift", "Gift"
    CALL = "call", "Agent call"
    EMAIL = "email", "Email"


class CouponKind(models.TextChoices):
    PERCENT = "percent", "Percent off"
    AMOUNT = "amount", "Amount off"


class TicketCondition(models.TextChoices):
    ANY = "any", "Either way"
    OPEN = "open", "Has an open ticket"
    NONE = "none", "Has no open ticket"


def braced(names: tuple[str, ...] | list[str]) -> str:
    """ "name, coupon_code" as "{name}, {coupon_code}"."""
    return ", ".join("{" + name + "}" for name in names)


def placeholders_of(template: str) -> list[str]:
    """The field names a str.format template uses ("{name}" -> "name")."""
    return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]


def _share(value: Decimal) -> None:
    if not Decimal("0") <= value <= Decimal("0.5"):
        raise ValidationError("The holdout share must be between 0 and 50%.")


class Rule(models.Model):
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    priority = models.IntegerField(
        default=100, help_text="Where several rules match a customer, the highest wins."
    )
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)

    # Conditions: every one that is set must hold.
    min_band = models.CharField(
        max_length=8, choices=Band.choices, blank=True, help_text="This risk band or higher."
    )
    min_probability = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    max_sentiment_30d = models.FloatField(
        "sentiment of the last 30 days below",
        null=True,
        blank=True,
        validators=[MinValueValidator(-1), MaxValueValidator(1)],
        help_text="Mean score (-1 to 1) of what the customer wrote in the last 30 days.",
    )
    negative_aspects = models.JSONField(
        default=list,
        blank=True,
        help_text=f"Mentioned negatively in the last 30 days, any of: {', '.join(Aspect.values)}.",
    )
    segments = models.JSONField(default=list, blank=True, help_text="Any of these segments.")
    min_spend_365d = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    max_spend_365d = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    open_ticket = models.CharField(
        max_length=4, choices=TicketCondition.choices, default=TicketCondition.ANY
    )
    min_days_since_order = models.PositiveIntegerField(null=True, blank=True)
    max_days_since_order = models.PositiveIntegerField(null=True, blank=True)
    requires_consent = models.BooleanField(
        "marketing consent required",
        default=True,
        help_text="Coupons and emails always require it; calls and gifts only if ticked.",
    )

    # The action.
    action = models.CharField(max_length=8, choices=Action.choices)
    coupon_kind = models.CharField(max_length=8, choices=CouponKind.choices, blank=True)
    coupon_value = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    coupon_min_order = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    coupon_valid_days = models.PositiveIntegerField(null=True, blank=True)
    gift_description = models.CharField(max_length=200, blank=True)
    gift_unit_cost = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    call_instructions = models.TextField(blank=True)
    call_due_hours = models.PositiveIntegerField(null=True, blank=True)
    email_subject = models.CharField(max_length=200, blank=True)
    email_template = models.TextField(
        blank=True,
        help_text=f"Placeholders: {braced(EMAIL_PLACEHOLDERS)}.",
    )

    # The experiment and its limits.
    cooldown_days = models.PositiveIntegerField(
        default=30, help_text="Days before this rule may act on the same customer again."
    )
    holdout_share = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.10"),
        validators=[_share],
        help_text="Share of matching customers held out as the control group (0 to 0.5).",
    )
    monthly_budget = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    daily_count_cap = models.PositiveIntegerField(null=True, blank=True)
    approval_above_cost = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Interventions costing more wait for a user with the approval permission.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-priority", "name"]
        permissions = [("approve_intervention", "Can approve costly interventions")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Refuse configurations that cannot work, naming the field."""
        errors: dict[str, str] = {}
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            errors["ends_on"] = "The end date is before the start date."
        if (
            self.min_spend_365d is not None
            and self.max_spend_365d is not None
            and self.max_spend_365d < self.min_spend_365d
        ):
            errors["max_spend_365d"] = "The maximum spend is below the minimum."
        if (
            self.min_days_since_order is not None
            and self.max_days_since_order is not None
            and self.max_days_since_order < self.min_days_since_order
        ):
            errors["max_days_since_order"] = "The maximum is below the minimum."
        unknown = [a for a in self.negative_aspects or [] if a not in Aspect.values]
        if not isinstance(self.negative_aspects, list) or unknown:
            errors["negative_aspects"] = (
                f"Unknown aspects: {', '.join(map(str, unknown))}; use {', '.join(Aspect.values)}."
            )
        if not isinstance(self.segments, list):
            errors["segments"] = "A list of segment names."
        errors.update(self._action_errors())
        if errors:
            raise ValidationError(errors)

    def _action_errors(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if self.action == Action.COUPON:
            if not self.coupon_kind:
                errors["coupon_kind"] = "A coupon needs a kind: percent or amount off."
            if not self.coupon_value:
                errors["coupon_value"] = "A coupon needs a value above 0."
            elif self.coupon_kind == CouponKind.PERCENT and self.coupon_value > 100:
                errors["coupon_value"] = "A percent coupon cannot exceed 100%."
            if not self.coupon_valid_days:
                errors["coupon_valid_days"] = "A coupon needs a validity in days."
        elif self.action == Action.GIFT:
            if not self.gift_description:
                errors["gift_description"] = "Say what the gift is."
            if self.gift_unit_cost is None:
                errors["gift_unit_cost"] = "A gift needs its unit cost (0 if free)."
        elif self.action == Action.CALL:
            if not self.call_instructions.strip():
                errors["call_instructions"] = "Tell the agent what the call is for."
            if not self.call_due_hours:
                errors["call_due_hours"] = "Within how many hours the call is due."
        elif self.action == Action.EMAIL and not self.email_subject.strip():
            errors["email_subject"] = "An email needs a subject."
        if self.action == Action.EMAIL and not self.email_template.strip():
            errors["email_template"] = "An email needs a template."
        if self.email_template:
            try:
                used = placeholders_of(self.email_template)
            except ValueError as exc:
                errors["email_template"] = f"The template does not parse: {exc}."
            else:
                unknown = sorted({p for p in used if p not in EMAIL_PLACEHOLDERS})
                if unknown:
                    errors["email_template"] = (
                        f"Unknown placeholder {braced(unknown)}; use {braced(EMAIL_PLACEHOLDERS)}."
                    )
                elif "coupon_code" in used and self.action != Action.COUPON:
                    errors["email_template"] = "{coupon_code} needs a coupon action."
        return errors


class Group(models.TextChoices):
    TREATED = "treated", "Treated"
    CONTROL = "control", "Control (held out)"


class Intervention(models.Model):
    """One decision of the engine for one customer: treated (the action runs) or held out
    as control (no action, same bookkeeping), with the risk, reasons and sentiment it saw.

    The contact ledger: at most one open intervention per customer across all rules and
    channels, enforced by a partial unique constraint, so two workers deciding for the
    same customer at the same instant create exactly one.
    """

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        HELD_OUT = "held_out", "Held out (control)"
        CLOSED = "closed", "Closed"

    customer = models.ForeignKey(
        "crm.Customer", on_delete=models.CASCADE, related_name="interventions"
    )
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="interventions")
    group = models.CharField(max_length=8, choices=Group.choices)
    action = models.CharField(max_length=8, choices=Action.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    is_open = models.BooleanField(default=True)
    decided_at = models.DateTimeField()
    month = models.CharField(max_length=7, help_text="YYYY-MM of the decision (holdout key).")
    risk_probability = models.FloatField(null=True, blank=True)
    risk_band = models.CharField(max_length=8, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    sentiment_30d = models.FloatField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-decided_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(is_open=True),
                name="one_open_intervention_per_customer",
            )
        ]
        indexes = [
            models.Index(fields=["customer", "rule", "-decided_at"], name="intervention_cooldown"),
            models.Index(fields=["rule", "group", "decided_at"], name="intervention_rule_group"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} for {self.customer_id} ({self.group})"
