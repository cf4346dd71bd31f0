"""What each rule and each action really did: the measured interventions of the treated
group against the control group held out by the same rule.

Retention is "ordered again within the window" (the churn horizon after the decision).
Every customer assigned to a group counts in it (intent to treat): a treated intervention
that failed or was rejected stays in the treated group, as its control counterpart cannot
be told apart. The uplift is the difference of the two retention rates with a 95% normal
(Wald) interval; with fewer than MIN_GROUP measured customers in a group, or fewer than
MIN_EVENTS retained or lost ones, the report says "not enough data yet" instead.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from interventions.models import Action, Group, Intervention, Rule, Skip

MIN_GROUP = 30
MIN_EVENTS = 5
Z95 = 1.959964


@dataclass
class Arm:
    customers: int = 0
    retained: int = 0
    revenue: float = 0.0
    cost: float = 0.0

    @property
    def retention(self) -> float | None:
        return self.retained / self.customers if self.customers else None


@dataclass
class UpliftRow:
    """One line of the report: a rule (with its action) or, with rule None, an action."""

    label: str
    action: str
    rule_id: int | None
    treated: Arm
    control: Arm
    open: int = 0
    uplift: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    significant: bool | None = None
    incremental_revenue: float | None = None
    customers_kept: float | None = None
    cost_per_customer_kept: float | None = None
    note: str = ""
    stopped: list[str] = field(default_factory=list)

    @property
    def uplift_text(self) -> str:
        """ "+8.1 points [+3.0, +13.2]"."""
        if self.uplift is None or self.ci_low is None or self.ci_high is None:
            return ""
        return (
            f"{self.uplift * 100:+.1f} points [{self.ci_low * 100:+.1f}, {self.ci_high * 100:+.1f}]"
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for arm in ("treated", "control"):
            data[arm]["retention"] = getattr(self, arm).retention
        return data


def _enough(arm: Arm) -> bool:
    lost = arm.customers - arm.retained
    return arm.customers >= MIN_GROUP and arm.retained >= MIN_EVENTS and lost >= MIN_EVENTS


def estimate(row: UpliftRow) -> UpliftRow:
    """Fill in uplift, its interval and the money figures, or say why it cannot yet."""
    t, c = row.treated, row.control
    if not (_enough(t) and _enough(c)):
        row.note = (
            f"not enough data yet: {t.customers} treated and {c.customers} control customers "
            f"measured; needs {MIN_GROUP} in each, with at least {MIN_EVENTS} who ordered "
            f"again and {MIN_EVENTS} who did not"
        )
        return row
    pt, pc = t.retained / t.customers, c.retained / c.customers
    se = math.sqrt(pt * (1 - pt) / t.customers + pc * (1 - pc) / c.customers)
    row.uplift = pt - pc
    row.ci_low, row.ci_high = row.uplift - Z95 * se, row.uplift + Z95 * se
    row.significant = row.ci_low > 0 or row.ci_high < 0
    per_treated = t.revenue / t.customers - c.revenue / c.customers
    row.incremental_revenue = round(per_treated * t.customers, 2)
    row.customers_kept = round(row.uplift * t.customers, 1)
    if row.customers_kept > 0:
        row.cost_per_customer_kept = round(t.cost / row.customers_kept, 2)
    else:
        row.note = "kept nobody measurable: no cost per customer kept"
    return row


def arms_of(interventions: QuerySet[Intervention], keys: tuple[str, ...]) -> dict[tuple, Arm]:
    measured = interventions.filter(measured_at__isnull=False)
    rows = measured.values(*keys, "group").annotate(
        customers=Count("pk"),
        retained=Count("pk", filter=Q(ordered_again=True)),
        revenue=Sum("revenue"),
        cost=Sum("cost"),
    )
    arms: dict[tuple, Arm] = {}
    for row in rows:
        key = (*(row[k] for k in keys), row["group"])
        arms[key] = Arm(
            customers=row["customers"],
            retained=row["retained"],
            revenue=float(row["revenue"] or Decimal(0)),
            cost=float(row["cost"] or Decimal(0)),
        )
    return arms


def rule_stops(rule: Rule) -> list[str]:
    """Why the rule is not issuing today, if it is not: its caps, from today's skips."""
    today = timezone.localdate()
    caps = (Skip.Reason.BUDGET, Skip.Reason.DAILY_CAP)
    reasons = Skip.objects.filter(rule=rule, on=today, reason__in=caps)
    return [
        f"{Skip.Reason(r).label} today (customers skipped: {n})"
        for r, n in reasons.values_list("reason").annotate(n=Sum("times"))
    ]


def uplift_report(rule_id: int | None = None) -> list[UpliftRow]:
    """Rows per rule (and action), then per action over all rules."""
    interventions = Intervention.objects.all()
    if rule_id is not None:
        interventions = interventions.filter(rule_id=rule_id)
    by_rule = arms_of(interventions, ("rule_id", "action"))
    open_counts = dict(
        interventions.filter(measured_at__isnull=True)
        .values_list("rule_id")
        .annotate(n=Count("pk"))
    )
    rules = Rule.objects.in_bulk({key[0] for key in by_rule} | set(open_counts))
    rows = []
    for rule in sorted(rules.values(), key=lambda r: (-r.priority, r.name)):
        actions = sorted({k[1] for k in by_rule if k[0] == rule.pk} or {rule.action})
        for action in actions:
            row = UpliftRow(
                label=rule.name,
                action=action,
                rule_id=rule.pk,
                treated=by_rule.get((rule.pk, action, Group.TREATED), Arm()),
                control=by_rule.get((rule.pk, action, Group.CONTROL), Arm()),
                open=open_counts.get(rule.pk, 0) if action == rule.action else 0,
                stopped=rule_stops(rule),
            )
            rows.append(estimate(row))
    by_action = arms_of(interventions, ("action",))
    for action in Action:
        treated = by_action.get((action.value, Group.TREATED))
        control = by_action.get((action.value, Group.CONTROL))
        if treated is None and control is None:
            continue
        label = f"all {action.label.lower()} rules"
        row = UpliftRow(label=label, action=action.value, rule_id=None,
                        treated=treated or Arm(), control=control or Arm())  # fmt: skip
        rows.append(estimate(row))
    return rows


def format_report(rows: list[UpliftRow]) -> str:
    """The report as text, one block per row."""
    if not rows:
        return "No interventions yet."
    lines = []
    for row in rows:
        t, c = row.treated, row.control
        head = f"{row.label} [{row.action}]"
        lines.append(head)
        lines.append(
            f"  treated {t.customers} (retained {_pct(t.retention)}), "
            f"control {c.customers} (retained {_pct(c.retention)}), still open {row.open}"
        )
        if row.uplift is not None:
            verdict = "significant" if row.significant else "not significant"
            lines.append(
                f"  uplift {row.uplift_text} (95% interval, {verdict}); "
                f"kept {row.customers_kept:g} customers"
            )
            per_kept = (
                f"EUR {row.cost_per_customer_kept:,.2f}"
                if row.cost_per_customer_kept is not None
                else "n/a"
            )
            lines.append(
                f"  incremental revenue EUR {row.incremental_revenue:,.2f}, cost EUR "
                f"{t.cost:,.2f}, cost per customer kept {per_kept}"
            )
        if row.note:
            lines.append(f"  {row.note}")
        for stop in row.stopped:
            lines.append(f"  stopped: {stop}")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
