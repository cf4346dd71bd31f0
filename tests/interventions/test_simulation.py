"""Proof on the demo world: the engine acts on a simulated shop whose customers respond
with known true effects, and the uplift report finds them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from crm.demo.generate import demo_generate
from interventions.models import (
    Coupon,
    Group,
    Intervention,
)
from interventions.simulation import experiment_rules, simulate_season
from interventions.uplift import uplift_report

# Which customers are held out is drawn from their and the rules' primary keys; on
# PostgreSQL a rolled-back test leaves its sequences advanced, so without a reset the world
# (and whether a 95% check holds) would depend on which tests ran before this one.
pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

END = date(2026, 11, 1)


def test_reported_uplift_covers_the_true_effect_of_each_action(tmp_path: Path, capsys) -> None:
    """GIVEN a 6,000-customer demo world and four rules (call, coupon, gift, and an email
    with no true effect), half of each rule's customers held out, WHEN the engine decides
    as of a day three months before the end, the customers respond and the outcomes are
    measured, THEN each action's reported 95% interval covers its mean true effect (over
    every decided customer), the coupon and the call are significant, and the email is not.

    The intervals are 95% ones: for a given world and season each check holds with 95%
    probability, so another seed or season date can miss one by chance (see the README)."""
    truth = tmp_path / "truth.csv"
    demo_generate(customers=6000, seed=3, end_date=END, truth_path=truth, announce=False)
    rules = experiment_rules()
    at = datetime(2026, 7, 31, 10, tzinfo=UTC)  # a season that ends within the world

    season = simulate_season(at=at, truth_path=truth, seed=5)

    true = season.true_effects()
    report = {row.rule_id: row for row in uplift_report() if row.rule_id is not None}
    with capsys.disabled():  # the figures of the note: true effect next to the report
        print()
        for action, rule in rules.items():
            row = report[rule.pk]
            print(f"{action}: true {true.loc[(rule.pk, action), 'true_effect']:+.4f} "
                  f"reported {row.uplift} [{row.ci_low}, {row.ci_high}] "
                  f"n={row.treated.customers}/{row.control.customers}")  # fmt: skip
    for action, rule in rules.items():
        row = report[rule.pk]
        effect = true.loc[(rule.pk, action), "true_effect"]
        assert row.uplift is not None, row.note
        assert row.ci_low <= effect <= row.ci_high, (action, effect, row)
    assert report[rules["coupon"].pk].significant and report[rules["call"].pk].significant
    assert not report[rules["email"].pk].significant
    control = Intervention.objects.filter(group=Group.CONTROL)
    assert control.count() > 2000 and not Coupon.objects.filter(intervention__in=control).exists()
    assert not Intervention.objects.filter(is_open=True).exists()  # every window closed
