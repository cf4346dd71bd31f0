"""The uplift report (command and admin page), the admin screens of marketing and agents,
and the wiring of the engine to the churn re-score."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.contrib.auth.models import Group as UserGroup
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from interventions.models import Action, CallTask, Group, Intervention, Rule
from interventions.services import carry_out, decide_for
from interventions.uplift import uplift_report
from tests.factories import CustomerFactory, UserFactory
from tests.interventions.test_actions import at_risk, decided
from tests.interventions.test_decisions import coupon_rule

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def measured(rule: Rule, group: str, customers: int, retained: int, revenue: int = 50,
             cost: Decimal = Decimal(0)) -> None:  # fmt: skip
    for k in range(customers):
        Intervention.objects.create(
            customer=CustomerFactory(), rule=rule, group=group, action=rule.action,
            status="closed", is_open=False, decided_at=NOW - timedelta(days=70), month="x",
            ordered_again=k < retained, revenue=Decimal(revenue if k < retained else 0),
            cost=cost if group == Group.TREATED else Decimal(0), measured_at=NOW,
        )  # fmt: skip


def test_the_report_gives_uplift_interval_revenue_and_cost_per_customer_kept() -> None:
    rule = coupon_rule()
    measured(rule, Group.TREATED, 400, 200, cost=Decimal(2))  # 50% retained
    measured(rule, Group.CONTROL, 100, 40)  # 40% retained

    (row, by_action) = uplift_report()

    assert (row.treated.customers, row.control.customers) == (400, 100)
    assert row.uplift == pytest.approx(0.10)
    se = (0.5 * 0.5 / 400 + 0.4 * 0.6 / 100) ** 0.5
    assert (row.ci_low, row.ci_high) == (pytest.approx(0.10 - 1.96 * se, abs=1e-4),
                                         pytest.approx(0.10 + 1.96 * se, abs=1e-4))  # fmt: skip
    assert row.significant is False  # the interval includes 0
    assert row.customers_kept == 40.0
    assert row.incremental_revenue == pytest.approx((25.0 - 20.0) * 400)
    assert row.cost_per_customer_kept == pytest.approx(800 / 40)
    assert by_action.rule_id is None and by_action.treated.customers == 400


def test_small_samples_say_not_enough_data_yet() -> None:
    rule = coupon_rule()
    measured(rule, Group.TREATED, 60, 30)
    measured(rule, Group.CONTROL, 12, 5)
    Intervention.objects.create(
        customer=CustomerFactory(), rule=rule, group=Group.TREATED, action=rule.action,
        status="done", decided_at=NOW, month="x",
    )  # fmt: skip

    row = uplift_report()[0]

    assert row.uplift is None and row.note.startswith("not enough data yet")
    assert row.open == 1


def test_the_command_prints_text_or_json_and_refuses_an_unknown_rule() -> None:
    rule = coupon_rule()
    measured(rule, Group.TREATED, 200, 120, cost=Decimal(1))
    measured(rule, Group.CONTROL, 200, 80)
    out = StringIO()
    call_command("uplift_report", "--rule", str(rule.pk), "--json", stdout=out)
    rows = json.loads(out.getvalue())
    assert rows[0]["uplift"] == pytest.approx(0.2) and rows[0]["significant"] is True
    assert rows[0]["treated"]["retention"] == pytest.approx(0.6)

    text = StringIO()
    call_command("uplift_report", stdout=text)
    assert "uplift +20.0 points [+10.4, +29.6] (95% interval, significant)" in text.getvalue()
    with pytest.raises(CommandError, match="no rule with id 999"):
        call_command("uplift_report", "--rule", "999")


def test_the_uplift_page_and_the_dry_run_in_the_admin(client) -> None:
    rule = coupon_rule()
    measured(rule, Group.TREATED, 200, 120)
    measured(rule, Group.CONTROL, 200, 80)  # closed long ago: out of cooldown, matched again
    busy, _, _ = at_risk(3)
    decided(busy)  # an open intervention: matched, but not available
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = client.get(reverse("admin:interventions_uplift"))
    assert page.status_code == 200
    assert "+20.0 points" in page.content.decode() and "coupon" in page.content.decode()

    form = client.get(reverse("admin:interventions_rule_change", args=[rule.pk]))
    assert "would match 403 customers now (402 after cooldowns and budget)" in form.content.decode()


def test_agents_work_the_call_queue_but_cannot_touch_rules(client) -> None:
    (customer,) = at_risk()
    Rule.objects.create(name="call", action=Action.CALL, call_instructions="Ask why",
                        call_due_hours=8, holdout_share=Decimal(0))  # fmt: skip
    carry_out(decided(customer).pk)
    call = CallTask.objects.get()
    agent = UserFactory(is_staff=True)
    agent.groups.add(UserGroup.objects.get(name="Agents"))
    client.force_login(agent)

    queue = client.get(reverse("admin:interventions_calltask_changelist") + "?queue=open")
    assert queue.status_code == 200 and customer.external_id in queue.content.decode()
    client.post(reverse("admin:interventions_calltask_changelist"),
                {"action": "claim_selected", "_selected_action": [call.pk]})  # fmt: skip
    call.refresh_from_db()
    assert call.claimed_by == agent
    change = reverse("admin:interventions_calltask_change", args=[call.pk])
    response = client.post(change, {"outcome": "follow_up", "follow_up_on": "", "notes": "Busy"})
    assert response.status_code == 200 and "follow-up needs its date" in response.content.decode()
    client.post(change, {"outcome": "resolved", "follow_up_on": "", "notes": "Refund sent"})
    call.refresh_from_db()
    assert (call.outcome, call.notes) == ("resolved", "Refund sent") and call.completed_at
    assert call.history.count() >= 3  # created, claimed, outcome

    assert client.get(reverse("admin:interventions_rule_add")).status_code == 403
    assert client.get(reverse("admin:interventions_rule_changelist")).status_code == 403


def test_an_updated_risk_is_handed_to_the_decision_engine_by_task_name(settings) -> None:
    from churnmodel import tasks

    settings.CHURN_SCORED_TASK = "interventions.decide_customers"
    with mock.patch("churnmodel.scoring.score_customers", return_value=2), \
            mock.patch.object(tasks.current_app, "send_task") as send:  # fmt: skip
        tasks.score_customers.apply(args=([5, 3, 5],))
    send.assert_called_once_with("interventions.decide_customers", args=([3, 5],))


def test_the_decide_task_decides_and_carries_out(settings) -> None:
    from interventions import tasks

    customers = at_risk(2)
    coupon_rule()
    with mock.patch.object(tasks.carry_out, "delay", side_effect=carry_out) as later:
        made = tasks.decide_customers.apply(args=([c.pk for c in customers],)).get()
    assert made == 2 and later.call_count == 2
    assert Intervention.objects.filter(status="done").count() == 2
    assert decide_for(customers[0].pk).reason.startswith("an intervention is open")
