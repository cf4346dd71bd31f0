"""interventions' part of the web UI: the agents' queue (calls and tickets), the at-risk
list, the customer page's interventions with a manual start, and marketing's rules and
results pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import (
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from churnmodel.models import Band, CurrentRisk
from crm.models import Customer, Ticket
from crm.web import params as read
from crm.web.access import is_htmx, requires
from crm.web.sections import Section, TimelineItem, register_section, register_timeline_source
from interventions import services
from interventions.models import CallTask, Intervention, Rule
from interventions.selectors import latest_score_field, spend_365d_of
from sentiment.models import Aspect

# When a ticket is due, by its priority (hours after it was opened).
TICKET_DUE_HOURS: dict[int, int] = {
    Ticket.Priority.URGENT: 4,
    Ticket.Priority.HIGH: 8,
    Ticket.Priority.NORMAL: 24,
    Ticket.Priority.LOW: 72,
}
QUEUE_LIMIT = 100


@dataclass
class QueueItem:
    kind: str  # "call" or "ticket"
    priority: float
    due_at: datetime
    customer: Customer
    obj: Any

    @property
    def overdue(self) -> bool:
        return self.due_at < timezone.now()


def queue_items(user: Any) -> list[QueueItem]:
    """Calls and open tickets that are the user's or nobody's, most value at risk first."""
    now = timezone.now()
    calls = (
        CallTask.objects.filter(completed_at__isnull=True)
        .filter(Q(claimed_by=user) | Q(claimed_by__isnull=True))
        .select_related("intervention__customer", "intervention__rule")
        .order_by("-priority", "due_at")[:QUEUE_LIMIT]
    )
    items = [QueueItem("call", c.priority, c.due_at, c.intervention.customer, c) for c in calls]
    tickets = (
        Ticket.objects.filter(status__in=(Ticket.Status.OPEN, Ticket.Status.PENDING))
        .filter(Q(assigned_agent=user) | Q(assigned_agent__isnull=True))
        .select_related("customer")
        .annotate(
            risk=Coalesce(
                latest_score_field("probability", now, customer="customer"),
                Value(0.5),
                output_field=FloatField(),
            ),
            spend=spend_365d_of(now, customer="customer"),
        )
        .order_by(F("risk").desc(), "opened_at")[:QUEUE_LIMIT]
    )
    for ticket in tickets:
        value_at_risk = round(float(ticket.risk) * max(float(ticket.spend), 1.0), 2)
        due = ticket.opened_at + timedelta(hours=TICKET_DUE_HOURS[ticket.priority])
        items.append(QueueItem("ticket", value_at_risk, due, ticket.customer, ticket))
    items.sort(key=lambda item: (-item.priority, item.due_at))
    return items[:QUEUE_LIMIT]


@requires("interventions.change_calltask")
def queue(request: HttpRequest) -> HttpResponse:
    items = queue_items(request.user)
    template = "web/queue_rows.html" if is_htmx(request) else "web/queue.html"
    return render(request, template, {"items": items, "outcomes": CallTask.Outcome.choices})


def _queue_response(request: HttpRequest, message: str, *, status: int = 200) -> HttpResponse:
    if is_htmx(request):
        context = {
            "items": queue_items(request.user),
            "outcomes": CallTask.Outcome.choices,
            "message": message,
        }
        return render(request, "web/queue_rows.html", context, status=status)
    return redirect("queue")


@require_POST
@requires("interventions.change_calltask")
def call_action(request: HttpRequest, pk: int) -> HttpResponse:
    """Claim, unassign, or log the outcome of a call, from the queue row."""
    call = get_object_or_404(CallTask, pk=pk)
    action = request.POST.get("action")
    if action == "claim":
        taken = services.claim_call(call, request.user)
        return _queue_response(request, "Claimed." if taken else "Someone else has that call.")
    if call.claimed_by_id != request.user.pk:
        return _queue_response(request, "Claim the call first.", status=409)
    if action == "unassign":
        with transaction.atomic():
            call.claimed_by, call.claimed_at = None, None
            call.save(update_fields=["claimed_by", "claimed_at"])
        return _queue_response(request, "Back in the queue.")
    outcome = request.POST.get("outcome", "")
    if outcome not in CallTask.Outcome.values:
        return _queue_response(request, "Choose an outcome.", status=400)
    try:
        follow_up = read.day(request.POST, "follow_up_on")
        notes = read.text(request.POST, "notes", max_length=settings.CRM_MAX_TEXT_LENGTH)
    except read.BadParam as bad:
        return _queue_response(request, f"Not logged: {bad}.", status=400)
    if outcome == CallTask.Outcome.FOLLOW_UP and not follow_up:
        return _queue_response(request, "A follow-up needs its date.", status=400)
    call.outcome = outcome
    call.follow_up_on = follow_up
    call.notes = notes
    call.completed_at = timezone.now()
    call.save(update_fields=["outcome", "follow_up_on", "notes", "completed_at"])
    return _queue_response(request, f"Logged: {call.get_outcome_display()}.")


@require_POST
@requires("crm.change_ticket")
def ticket_action(request: HttpRequest, pk: int) -> HttpResponse:
    """Take a ticket, or hand it back to the queue."""
    ticket = get_object_or_404(Ticket, pk=pk)
    action = request.POST.get("action")
    if action == "claim":
        taken = Ticket.objects.filter(pk=pk, assigned_agent__isnull=True).update(
            assigned_agent=request.user
        )
        return _queue_response(request, "Assigned to you." if taken else "Someone else has it.")
    if action == "unassign" and ticket.assigned_agent_id == request.user.pk:
        Ticket.objects.filter(pk=pk).update(assigned_agent=None)
        return _queue_response(request, "Back in the queue.")
    return _queue_response(request, "Nothing to do.", status=400)


# --- At-risk customers -----------------------------------------------------------------------

SORTS = {
    "risk": (F("probability").desc(), "customer_id"),
    "value": (F("spend_365d").desc(), "customer_id"),
    "recent": (F("scored_at").desc(), "customer_id"),
    # Longest since anyone acted first; never contacted before all.
    "contact": (F("last_contact_at").asc(nulls_first=True), "customer_id"),
}
PAGE_SIZE = 50
# "Last contact within N days" goes back ten years at most (far enough for any shop, and
# well inside what a date can carry: a million days back overflowed into a 500).
MAX_CONTACT_DAYS = 3650


def at_risk_params(
    query: QueryDict, segments: list[str]
) -> tuple[dict[str, str], list[read.BadParam]]:
    """The at-risk list's filters and sort from the query string, each one a value its
    form offers (or left out), and the parameters ignored because their value is not one,
    for the page to say so."""
    choices = {
        "band": Band.values,
        "segment": segments,
        "aspect": Aspect.values,
        "ticket": ["open", "none"],
        "sort": list(SORTS),
    }
    params: dict[str, str] = {}
    ignored: list[read.BadParam] = []
    for name, allowed in choices.items():
        try:
            params[name] = read.choice(query, name, allowed)
        except read.BadParam as bad:
            ignored.append(bad)
    if query.get("contacted", "").strip() == "never":
        params["contacted"] = "never"
    else:
        try:
            days = read.integer(query, "contacted", min_value=1, max_value=MAX_CONTACT_DAYS)
        except read.BadParam:
            reason = f"must be “never” or a number of days from 1 to {MAX_CONTACT_DAYS}"
            ignored.append(read.BadParam("contacted", reason))
        else:
            if days is not None:
                params["contacted"] = str(days)
    return {name: value for name, value in params.items() if value}, ignored


def at_risk_rows(params: dict[str, str]) -> QuerySet[CurrentRisk]:
    """Each customer's current risk, filtered by band, segment, an aspect they complained
    about in the 90 days before it was scored, an open ticket, and when they were last
    contacted (a treatment, not a hold-out). `params` as at_risk_params reads them."""
    now = timezone.now()
    # No join for the count: erased customers have no CurrentRisk row (record_scores).
    rows = CurrentRisk.objects.select_related("customer")
    if params.get("band") in Band.values:
        rows = rows.filter(band=params["band"])
    if params.get("segment"):
        rows = rows.filter(segment=params["segment"])
    if params.get("aspect") in Aspect.values:
        rows = rows.filter(complaints__contains=f",{params['aspect']},")
    open_ticket = Exists(
        Ticket.objects.filter(customer=OuterRef("customer"), status__in=("open", "pending"))
    )
    if params.get("ticket") == "open":
        rows = rows.filter(open_ticket)
    elif params.get("ticket") == "none":
        rows = rows.filter(~open_ticket)
    sort = params.get("sort", "risk")
    if params.get("contacted") == "never":
        rows = rows.filter(last_contact_at__isnull=True)
        if sort == "contact":  # all equal (never): the tie-break alone, which an index serves
            return rows.order_by("customer_id")
    elif params.get("contacted", "").isdigit():
        rows = rows.filter(last_contact_at__gte=now - timedelta(days=int(params["contacted"])))
    return rows.order_by(*SORTS.get(sort, SORTS["risk"]))


@requires("churnmodel.view_churnscore")
def at_risk(request: HttpRequest) -> HttpResponse:
    """The at-risk list; a filter whose value the form does not offer is ignored, and the
    page says which (a bad page number shows the first or last page, as everywhere)."""
    segments = list(
        CurrentRisk.objects.exclude(segment="")
        .order_by("segment")
        .values_list("segment", flat=True)
        .distinct()
    )
    params, ignored = at_risk_params(request.GET, segments)
    page = Paginator(at_risk_rows(params), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "params": params,
        "ignored": ignored,
        "bands": Band.choices,
        "aspects": Aspect.choices,
        "segments": segments,
        "sorts": list(SORTS),
    }
    return render(request, "web/at_risk.html", context)


# --- The customer page -------------------------------------------------------------------


def interventions_section(request: HttpRequest, customer: Customer) -> dict[str, Any] | None:
    if not request.user.has_perm("interventions.view_intervention"):
        return None
    recent = Intervention.objects.filter(customer=customer).select_related("rule")[:10]
    can_start = request.user.has_perm("interventions.start_manual_intervention")
    rules = (
        list(Rule.objects.filter(enabled=True).order_by("-priority", "name")) if can_start else []
    )
    return {"interventions": recent, "rules": rules, "can_start": can_start}


def interventions_timeline(request: HttpRequest, customer: Customer) -> list[TimelineItem]:
    if not request.user.has_perm("interventions.view_intervention"):
        return []
    return [
        TimelineItem(
            i.decided_at,
            "intervention",
            f"{i.get_action_display()} ({i.rule.name})",
            "web/items/intervention.html",
            {"intervention": i},
        )
        for i in Intervention.objects.filter(customer=customer).select_related("rule")[:50]
    ]


@require_POST
@requires("interventions.start_manual_intervention")
def start_intervention(request: HttpRequest, external_id: str) -> HttpResponse:
    """An agent starts a rule's action for this customer now: still through the contact
    ledger (open intervention, gap, cooldown, consent, budget, holdout), and told why when
    it refuses."""
    customer = get_object_or_404(Customer, external_id=read.url_id(external_id))
    try:
        rule_id = read.integer(request.POST, "rule", min_value=1, max_value=read.MAX_ID)
    except read.BadParam as bad:
        context = {
            **(interventions_section(request, customer) or {}),
            "customer": customer,
            "error": f"Not started: {bad}.",
        }
        return render(request, "web/sections/interventions.html", context, status=400)
    rule = get_object_or_404(Rule, pk=rule_id or 0, enabled=True)
    decision = services.decide_manually(customer.pk, rule)
    if decision.intervention is not None and decision.intervention.status == "planned":
        services.carry_out(decision.intervention.pk)
        decision.intervention.refresh_from_db()
    context = {
        **(interventions_section(request, customer) or {}),
        "customer": customer,
        "decision": decision,
    }
    status = 200 if decision.intervention is not None else 409
    return render(request, "web/sections/interventions.html", context, status=status)


def register() -> None:
    register_section(
        Section("interventions", 20, "web/sections/interventions.html", interventions_section)
    )
    register_timeline_source(interventions_timeline)


# --- Managers: approvals ---------------------------------------------------------------------


def _awaiting(user: Any, message: str = "") -> dict[str, Any]:
    from interventions.selectors import month_spend

    waiting = list(
        Intervention.objects.filter(status=Intervention.Status.AWAITING_APPROVAL)
        .select_related("customer", "rule")
        .order_by("decided_at", "pk")
    )
    now = timezone.now()
    spend = {rule: month_spend(rule, now) for rule in {i.rule for i in waiting}}
    rows = [{"intervention": i, "month_spend": spend[i.rule]} for i in waiting]
    return {"rows": rows, "message": message}


@requires("interventions.approve_intervention")
def approvals(request: HttpRequest) -> HttpResponse:
    """Interventions that cost more than their rule lets go ahead alone, oldest first, with
    the customer's risk then, the reserved cost and the rule's month so far."""
    template = "web/approvals_rows.html" if is_htmx(request) else "web/approvals.html"
    return render(request, template, _awaiting(request.user))


@require_POST
@requires("interventions.approve_intervention")
def approval_action(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve (it is carried out at once) or reject (it closes at no cost) one of them."""
    intervention = get_object_or_404(Intervention.objects.select_related("customer"), pk=pk)
    action = request.POST.get("action")
    if action not in ("approve", "reject"):
        message, status = "Choose approve or reject.", 400
    else:
        try:
            services.approve(intervention, request.user, approved=action == "approve")
        except services.NotAllowed as refused:
            message, status = str(refused), 409
        else:
            intervention.refresh_from_db()
            who = intervention.customer.name or intervention.customer.external_id
            message = f"{intervention.get_status_display()}: {who}."
            status = 200
    if is_htmx(request):
        context = _awaiting(request.user, message)
        return render(request, "web/approvals_rows.html", context, status=status)
    return redirect("approvals")


# --- Marketing: rules and results --------------------------------------------------------


@requires("interventions.view_rule")
def rules(request: HttpRequest) -> HttpResponse:
    """Every rule with its status, this month's spend against its budget and how many
    customers it matched when last counted (every few minutes, by the beat; a rule never
    counted, or edited since, is counted here); the dry run counts live."""
    from interventions.selectors import month_spend

    now = timezone.now()
    today = timezone.localdate()
    rows = []
    for rule in Rule.objects.order_by("-priority", "name"):
        if not rule.enabled:
            status = "disabled"
        elif rule.starts_on and rule.starts_on > today:
            status = f"starts {rule.starts_on:%d %b}"
        elif rule.ends_on and rule.ends_on < today:
            status = "ended"
        else:
            status = "in force"
        if rule.matches_now is None:
            services.rule_matches_count(rule=rule, at=now)
        rows.append({"rule": rule, "status": status, "spend": month_spend(rule, now)})
    return render(request, "web/rules.html", {"rows": rows})


@requires("interventions.view_rule")
def dry_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Whom the rule would match now, after cooldowns and budget, with a sample."""
    from interventions.selectors import rule_dry_run

    rule = get_object_or_404(Rule, pk=pk)
    result = rule_dry_run(rule)
    Rule.objects.filter(pk=rule.pk).update(  # as fresh a count as there is
        matches_now=result.matching, matches_counted_at=timezone.now()
    )
    return render(request, "web/dry_run.html", {"rule": rule, "result": result})


@requires("interventions.view_results")
def results(request: HttpRequest) -> HttpResponse:
    """Per rule and action: retention treated against control, the uplift with its
    interval (drawn), cost per customer kept; and each rule's results by month."""
    from crm.charts import Series, interval_chart, line_chart
    from interventions.uplift import uplift_report

    rows = uplift_report()
    chart = interval_chart(
        "Uplift in retention (treated minus control), 95% interval",
        [(f"{r.label} [{r.action}]", r.uplift, r.ci_low, r.ci_high) for r in rows],
    )
    monthly = _monthly_retention()
    trends = []
    for rule_name, series in monthly.items():
        trends.append(
            line_chart(
                f"{rule_name}: retention by month of decision",
                [Series(group, points) for group, points in series.items()],
                y_min=0,
                y_max=1,
                percent=True,
            )
        )
    return render(request, "web/results.html", {"rows": rows, "chart": chart, "trends": trends})


def _monthly_retention() -> dict[str, dict[str, list[tuple[Any, float]]]]:
    """Rule -> group -> (first day of the decision month, share who ordered again)."""
    from django.db.models import Count
    from django.db.models.functions import TruncMonth

    measured = (
        Intervention.objects.filter(measured_at__isnull=False)
        .annotate(month_start=TruncMonth("decided_at"))
        .values("rule__name", "group", "month_start")
        .annotate(n=Count("pk"), kept=Count("pk", filter=Q(ordered_again=True)))
        .order_by("rule__name", "month_start")
    )
    out: dict[str, dict[str, list[tuple[Any, float]]]] = {}
    for row in measured:
        if row["n"] >= 5:
            series = out.setdefault(row["rule__name"], {})
            series.setdefault(row["group"], []).append((row["month_start"], row["kept"] / row["n"]))
    return out
