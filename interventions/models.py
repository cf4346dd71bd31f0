"""Intervention rules that marketing configures: who (conditions), what (the action), and
the experiment around it (holdout, cooldown, budget, approval).

Every rule is an experiment by default: a share of the customers it matches (10%) is held
out as a control group, so its uplift can be measured. Rules keep a full change history
(django-simple-history: who changed what, when).
"""

from __future__ import annotations

import secrets
import string
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
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
    # How many customers the rule matched when last counted (interventions.count_matches,
    # every few minutes; cleared by any edit): the rules page reads this instead of
    # counting every rule over every customer per request. Not part of the change history.
    matches_now = models.PositiveIntegerField(null=True, blank=True, editable=False)
    matches_counted_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["matches_now", "matches_counted_at"])

    class Meta:
        ordering = ["-priority", "name"]
        permissions = [("approve_intervention", "Can approve costly interventions")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # An edit may change whom the rule matches: the stored count no longer holds.
        # (Counts themselves are written with QuerySet.update, which never comes here.)
        self.matches_now, self.matches_counted_at = None, None
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "matches_now", "matches_counted_at"}
        super().save(*args, **kwargs)

    @property
    def needs_consent(self) -> bool:
        """Coupons and emails need marketing consent, and so does anything the rule says."""
        return self.requires_consent or self.action in (Action.COUPON, Action.EMAIL)

    @property
    def sends_email(self) -> bool:
        """Coupons go out by email (a default text when the rule has none); emails are
        emails; a gift sends one when its rule has a template."""
        return self.action in (Action.COUPON, Action.EMAIL) or (
            self.action == Action.GIFT and bool(self.email_template.strip())
        )

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
    same customer at the same instant create exactly one. An intervention stays open until
    its outcome window (the churn horizon) has passed; a failed or rejected one closes at
    once and does not count towards cooldowns, gaps or budgets.
    """

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        DONE = "done", "Carried out"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"
        HELD_OUT = "held_out", "Held out (control)"
        CLOSED = "closed", "Closed"

    # Statuses that were never carried out and do not count as a contact.
    NOT_CONTACTED = (Status.FAILED, Status.REJECTED)

    customer = models.ForeignKey(
        "crm.Customer", on_delete=models.CASCADE, related_name="interventions"
    )
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="interventions")
    group = models.CharField(max_length=8, choices=Group.choices)
    action = models.CharField(max_length=8, choices=Action.choices)
    status = models.CharField(max_length=20, choices=Status.choices)
    is_open = models.BooleanField(default=True)
    decided_at = models.DateTimeField()
    month = models.CharField(max_length=7, help_text="YYYY-MM of the decision (holdout key).")
    risk_probability = models.FloatField(null=True, blank=True)
    risk_band = models.CharField(max_length=8, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    sentiment_30d = models.FloatField(null=True, blank=True)
    cost = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal(0),
        help_text="Reserved at the decision (a coupon at its estimated discount); at the "
        "outcome, what it really cost (a coupon's discount only if redeemed).",
    )
    error = models.TextField(blank=True, help_text="Why it failed.")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who approved or rejected it.",
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    # The outcome, measured once the window (decided_at + horizon) has passed.
    window_days = models.PositiveIntegerField(default=60)
    ordered_again = models.BooleanField(null=True, blank=True)
    revenue = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    coupon_redeemed = models.BooleanField(null=True, blank=True)
    measured_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["reasons"])

    class Meta:
        ordering = ["-decided_at", "-pk"]
        permissions = [
            ("view_results", "Can read intervention results (uplift)"),
            ("start_manual_intervention", "Can start an intervention for a customer"),
        ]
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

    @property
    def window_ends_at(self) -> datetime:
        return self.decided_at + timedelta(days=self.window_days)


def new_coupon_code() -> str:
    """12 characters from an alphabet without look-alikes (no 0/O, 1/I/L): 31^12, about
    2^59 codes, drawn with `secrets`, so a code cannot be guessed from another."""
    return "".join(secrets.choice(COUPON_ALPHABET) for _ in range(12))


COUPON_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class Coupon(models.Model):
    """The coupon of a coupon intervention: one per intervention (a retried task finds it
    and never issues a second)."""

    intervention = models.OneToOneField(Intervention, on_delete=models.CASCADE)
    code = models.CharField(max_length=40, unique=True, default=new_coupon_code)
    kind = models.CharField(max_length=8, choices=CouponKind.choices)
    value = models.DecimalField(max_digits=10, decimal_places=2)
    min_order = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    issued_at = models.DateTimeField()
    valid_until = models.DateTimeField()
    redeemed_order = models.ForeignKey(
        "crm.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    discount = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, help_text="When redeemed."
    )

    def __str__(self) -> str:
        return self.code

    def label(self) -> str:
        """ "10% off" or "EUR 5.00 off"."""
        if self.kind == CouponKind.PERCENT:
            return f"{self.value.normalize():f}% off"
        return f"EUR {self.value} off"

    def discount_on(self, total: Decimal) -> Decimal:
        """What this coupon takes off an order of `total`."""
        if self.kind == CouponKind.PERCENT:
            return (total * self.value / 100).quantize(Decimal("0.01"))
        return min(self.value, total)


class Email(models.Model):
    """An email an intervention sent (or tried to): what, to whom, when."""

    intervention = models.OneToOneField(Intervention, on_delete=models.CASCADE)
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.subject} to {self.to}"


class GiftFulfilment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"

    intervention = models.OneToOneField(Intervention, on_delete=models.CASCADE, related_name="gift")
    description = models.CharField(max_length=200)
    unit_cost = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.description} ({self.get_status_display()})"


class CallTask(models.Model):
    """An agent call in the agents' queue: most value at risk first, claimed by one agent,
    its outcome logged."""

    class Outcome(models.TextChoices):
        REACHED = "reached", "Reached"
        NO_ANSWER = "no_answer", "No answer"
        DECLINED = "declined", "Declined"
        RESOLVED = "resolved", "Resolved"
        FOLLOW_UP = "follow_up", "Follow-up needed"

    intervention = models.OneToOneField(Intervention, on_delete=models.CASCADE, related_name="call")
    instructions = models.TextField()
    priority = models.FloatField(
        help_text="Value at risk: churn probability times spend over the last 365 days (at "
        "least EUR 1), so a likely loss of a big customer comes first."
    )
    due_at = models.DateTimeField()
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="claimed_calls",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    follow_up_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["completed_at", "-priority", "due_at"]
        indexes = [models.Index(fields=["completed_at", "-priority"], name="call_queue")]

    def __str__(self) -> str:
        return f"Call {self.intervention.customer_id} (due {self.due_at:%Y-%m-%d %H:%M})"

    def clean(self) -> None:
        if self.outcome == self.Outcome.FOLLOW_UP and not self.follow_up_on:
            raise ValidationError({"follow_up_on": "A follow-up needs its date."})


class Skip(models.Model):
    """A customer a rule matched but the engine did not act on, and why (no consent,
    erased, budget or daily cap reached): one row per customer, rule, reason and day."""

    class Reason(models.TextChoices):
        NO_CONSENT = "no_consent", "No marketing consent"
        NO_EMAIL = "no_email", "No email address"
        ERASED = "erased", "Customer erased"
        BUDGET = "budget", "Monthly budget reached"
        DAILY_CAP = "daily_cap", "Daily count cap reached"

    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="skips", null=True)
    reason = models.CharField(max_length=10, choices=Reason.choices)
    on = models.DateField()
    times = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "rule", "reason", "on"], name="one_skip_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.get_reason_display()}"
