"""Intervention rules: marketing configures them in the admin, agents cannot, invalid
configurations are refused naming the field, and every change is kept with its author."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from interventions.models import Action, CouponKind, Rule
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

COUPON = {"name": "Win back price complainers", "action": Action.COUPON,
          "coupon_kind": CouponKind.PERCENT, "coupon_value": Decimal("15"),
          "coupon_valid_days": 14}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"holdout_share": Decimal("0.80")}, "holdout_share"),
        ({"coupon_value": Decimal("150")}, "coupon_value"),
        ({"starts_on": date(2026, 12, 1), "ends_on": date(2026, 11, 1)}, "ends_on"),
        ({"email_template": "Hi {nme}, {coupon_code}"}, "email_template"),
        ({"negative_aspects": ["delivery", "vibes"]}, "negative_aspects"),
        ({"min_spend_365d": Decimal("500"), "max_spend_365d": Decimal("100")}, "max_spend_365d"),
        ({"coupon_kind": ""}, "coupon_kind"),
    ],
)
def test_an_invalid_rule_is_refused_naming_the_field(changes: dict, field: str) -> None:
    rule = Rule(**{**COUPON, **changes})
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    assert field in refused.value.message_dict


def test_each_action_names_what_it_is_missing() -> None:
    for action, field in ((Action.GIFT, "gift_unit_cost"), (Action.CALL, "call_instructions"),
                          (Action.EMAIL, "email_template")):  # fmt: skip
        with pytest.raises(ValidationError) as refused:
            Rule(name=f"r-{action}", action=action).full_clean()
        assert field in refused.value.message_dict
    with pytest.raises(ValidationError, match="needs a coupon action"):
        Rule(name="mail", action=Action.EMAIL, email_subject="Hi",
             email_template="Hello {name}, use {coupon_code}").full_clean()  # fmt: skip
    Rule(**COUPON, email_template="Hello {name}, use {coupon_code}").full_clean()


def _staff(group: str | None = None) -> Client:
    user = UserFactory(is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def test_marketing_configures_rules_and_agents_cannot() -> None:
    marketing, agent = _staff("Marketing"), _staff()
    add = reverse("admin:interventions_rule_add")
    assert agent.get(add).status_code == 403

    form = {**COUPON, "priority": 100, "open_ticket": "any", "requires_consent": "on",
            "enabled": "on", "cooldown_days": 30, "holdout_share": "0.10",
            "negative_aspects": '["price"]', "segments": "[]"}  # fmt: skip
    refused = marketing.post(add, {**form, "holdout_share": "0.80"})
    assert refused.status_code == 200 and "between 0 and 50%" in refused.content.decode()
    assert not Rule.objects.exists()

    assert marketing.post(add, form).status_code == 302
    rule = Rule.objects.get()
    assert rule.negative_aspects == ["price"] and rule.holdout_share == Decimal("0.10")
    change = reverse("admin:interventions_rule_change", args=[rule.pk])
    assert agent.get(change).status_code == 403
    assert marketing.post(reverse("admin:interventions_rule_delete", args=[rule.pk]),
                          {"post": "yes"}).status_code == 403  # fmt: skip


def test_every_change_is_kept_with_who_made_it() -> None:
    marketing = _staff("Marketing")
    rule = Rule(**COUPON)
    rule.full_clean()
    rule.save()
    form = {**COUPON, "priority": 100, "open_ticket": "any", "cooldown_days": 30,
            "enabled": "on", "requires_consent": "on", "holdout_share": "0.20",
            "negative_aspects": "[]", "segments": "[]"}  # fmt: skip
    change = reverse("admin:interventions_rule_change", args=[rule.pk])
    assert marketing.post(change, form).status_code == 302

    newest, first = rule.history.all()[:2]
    assert (first.holdout_share, newest.holdout_share) == (Decimal("0.10"), Decimal("0.20"))
    assert newest.history_user.groups.filter(name="Marketing").exists()
    assert [c.field for c in newest.diff_against(first).changes] == ["holdout_share"]
    history = marketing.get(reverse("admin:interventions_rule_history", args=[rule.pk]))
    assert history.status_code == 200
