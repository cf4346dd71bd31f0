"""churnmodel's part of the web UI: the customer's risk now (band, horizon, reasons in
words, with the texts behind them) and its history as a chart; the model page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from churnmodel.models import ChurnScore, ModelVersion, ScoringRun
from crm.models import Customer
from crm.web.access import requires
from crm.web.sections import Section, register_section

HISTORY_POINTS = 120


def risk_section(request: HttpRequest, customer: Customer) -> dict[str, Any] | None:
    """Risk now, why, and how it moved."""
    if not request.user.has_perm("churnmodel.view_churnscore"):
        return None
    from crm.charts import Series, line_chart

    history = list(
        ChurnScore.objects.filter(customer=customer)
        .order_by("-scored_at", "-pk")
        .only("probability", "band", "horizon_days", "target", "reasons", "segment", "scored_at")[
            :HISTORY_POINTS
        ]
    )
    now = history[0] if history else None
    points = [(s.scored_at, s.probability) for s in reversed(history)]
    guides = [(settings.CHURN_RISK_MEDIUM, "medium"), (settings.CHURN_RISK_HIGH, "high")]
    chart = line_chart(
        "Churn risk over time",
        [Series("risk", points)],
        y_min=0,
        y_max=1,
        guides=guides,
        percent=True,
    )
    reasons = now.reasons if now else []
    return {
        "now": now,
        "up": [r for r in reasons if r.get("direction") == "up"],
        "down": [r for r in reasons if r.get("direction") == "down"],
        "chart": chart,
    }


def register() -> None:
    register_section(Section("risk", 10, "web/sections/risk.html", risk_section))


@requires("churnmodel.view_modelversion")
def model_page(request: HttpRequest) -> HttpResponse:
    """The active model: its metrics against the baselines, calibration, what drives risk
    now (from the reasons of the latest batch), drift flags, and the version history."""
    from collections import defaultdict

    from crm.charts import bar_chart, scatter_with_diagonal

    active = ModelVersion.objects.filter(is_active=True).first()
    versions = ModelVersion.objects.order_by("-created_at")[:20]
    run = ScoringRun.objects.filter(finished_at__isnull=False).order_by("-started_at").first()
    context: dict[str, Any] = {"active": active, "versions": versions, "run": run}
    if active is not None:
        table = active.metrics.get("model", {}).get("calibration", [])
        context["calibration"] = scatter_with_diagonal(
            "Calibration on the validation cutoff",
            [(row["predicted"], row["observed"]) for row in table],
            x_label="predicted",
            y_label="observed",
        )
        context["metrics"] = active.metrics
    if run is not None:
        weights: dict[str, list[float]] = defaultdict(list)
        labels: dict[str, str] = {}
        for reasons in ChurnScore.objects.filter(run=run).values_list("reasons", flat=True)[:5000]:
            for reason in reasons:
                if reason.get("direction") == "up":
                    weights[reason["key"]].append(float(reason["weight"]))
                    labels.setdefault(reason["key"], reason["key"].replace("_", " "))
        top = sorted(weights.items(), key=lambda kv: -sum(kv[1]))[:10]
        context["drivers"] = bar_chart(
            "What raises risk most now (sum of contributions, latest batch)",
            [(labels[key], round(sum(values), 2)) for key, values in top],
        )
    return render(request, "web/model.html", context)
