"""The web issue's journeys in a real browser: an agent works a call from the queue, a
marketer creates and dry-runs a rule and reads the results, and customer text with script
in it runs nothing. Screenshots of each key page go to the test artifacts."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from churnmodel.models import ChurnScore
from interventions.models import Action, CallTask, Rule
from interventions.services import carry_out, decide_for
from sentiment.services import texts_score
from tests.browser import shoot
from tests.factories import CustomerFactory, ReviewFactory, UserFactory
from tests.interventions.test_matching import score

PASSWORD = "correct horse battery staple"  # UserFactory's


def member(username: str, group: str, *, staff: bool = False) -> object:
    user = UserFactory(username=username, is_staff=staff)
    user.groups.add(Group.objects.get(name=group))
    return user


def sign_in(page: Page, live_server: LiveServer, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def test_an_agent_works_a_call_from_the_queue(page: Page, live_server: LiveServer) -> None:
    customer = CustomerFactory(name="Ines Horvat", phone="+39 555 0101")
    score(customer, 0.86, "high", "lapsing high spenders")
    ChurnScore.objects.filter(customer=customer, probability=0.86).update(reasons=[
        {"key": "recency", "direction": "up", "weight": 0.9, "text": "No order for 95 days"},
    ])  # fmt: skip
    Rule.objects.create(name="call at-risk", action=Action.CALL, requires_consent=False,
                        call_instructions="Ask what went wrong and fix it",
                        call_due_hours=24, holdout_share=Decimal(0))  # fmt: skip
    carry_out(decide_for(customer.pk).intervention.pk)
    member("ana", "Agents")

    sign_in(page, live_server, "ana")
    expect(page.get_by_role("heading", name="My queue")).to_be_visible()
    shoot(page, "agent-queue")
    page.get_by_role("link", name="Ines Horvat").first.click()
    expect(page.get_by_text("86% risk of no purchase in the next 60 days")).to_be_visible()
    expect(page.get_by_text("No order for 95 days")).to_be_visible()
    assert page.locator("svg[role=img]").count() >= 2  # risk history, sentiment over time
    shoot(page, "customer-360")

    page.go_back()
    page.get_by_role("button", name="Claim").first.click()
    expect(page.get_by_role("status")).to_have_text("Claimed.")
    page.select_option("select[name=outcome]", "reached")
    page.fill("input[name=notes]", "Sorted out the refund")
    page.get_by_role("button", name="Log call").click()
    expect(page.get_by_role("status")).to_have_text("Logged: Reached.")
    expect(page.get_by_text("Nothing in your queue.")).to_be_visible()
    shoot(page, "agent-queue-after-call")
    call = CallTask.objects.get()
    assert (call.outcome, call.notes) == ("reached", "Sorted out the refund")
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_a_marketer_creates_a_rule_dry_runs_it_and_reads_the_results(
    page: Page, live_server: LiveServer
) -> None:
    for name in ("Ana Lopez", "Bo Berg"):
        score(CustomerFactory(name=name), 0.7, "high", "")
    member("mia", "Marketing", staff=True)

    sign_in(page, live_server, "mia")
    page.goto(f"{live_server.url}/admin/interventions/rule/add/")
    page.fill("#id_name", "Win back the high-risk")
    page.select_option("#id_min_band", "high")
    page.select_option("#id_action", "coupon")
    page.select_option("#id_coupon_kind", "percent")
    page.fill("#id_coupon_value", "15")
    page.fill("#id_coupon_valid_days", "21")
    shoot(page, "admin-rule-add")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    page.goto(f"{live_server.url}/rules/")
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("#dry-run")).to_contain_text(
        "This rule would match 2 customers now (2 after cooldowns and budget)"
    )
    shoot(page, "rules-dry-run")
    page.get_by_role("link", name="Results").click()
    expect(page.get_by_role("heading", name="Results")).to_be_visible()
    assert page.locator("svg[role=img]").count() >= 1
    shoot(page, "results")
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_script_in_customer_text_shows_as_text_and_runs_nothing(
    page: Page, live_server: LiveServer
) -> None:
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    customer = CustomerFactory(name=f"Eve {evil}")
    score(customer, 0.5, "medium", "")
    review = ReviewFactory(customer=customer, rating=1, title=evil, body=f"Awful. {evil}")
    texts_score(text_ids=[review.customer_text.pk])
    member("ana", "Agents")

    sign_in(page, live_server, "ana")
    page.goto(f"{live_server.url}/customers/{customer.external_id}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("<script>alert(1)</script>")
    page.goto(f"{live_server.url}/at-risk/")
    page.goto(f"{live_server.url}/customers/?q=Eve")
    shoot(page, "script-injection")
    assert page.dialogs == []  # type: ignore[attr-defined]
