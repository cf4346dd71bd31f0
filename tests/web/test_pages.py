"""What agents and marketers see and do in the web UI: the queue, the customer page, search,
the at-risk list, the dashboards; escaping of customer text; login throttling; and query
counts that do not grow with the number of rows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from crm.models import Ticket
from interventions.models import Action, CallTask, Rule
from interventions.services import carry_out, decide_for
from sentiment.services import texts_score
from tests.factories import (
    CustomerFactory,
    OrderFactory,
    ReviewFactory,
    TicketFactory,
    UserFactory,
)
from tests.interventions.test_matching import score

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
EVIL = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def signed_in(group: str, username: str = "") -> Client:
    client = Client()
    user = UserFactory(username=username or group.lower(), is_staff=group != "Agents")
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    client.user = user  # type: ignore[attr-defined]
    return client


def call_for(customer, spend: str) -> CallTask:
    OrderFactory(customer=customer, placed_at=timezone.now() - timedelta(days=30),
                 total=Decimal(spend))  # fmt: skip
    score(customer, 0.8, "high", "lapsing high spenders")
    carry_out(decide_for(customer.pk).intervention.pk)
    return CallTask.objects.get(intervention__customer=customer)


@pytest.fixture
def call_rule() -> Rule:
    return Rule.objects.create(name="call", action=Action.CALL, requires_consent=False,
                               call_instructions="Ask what went wrong", call_due_hours=24,
                               holdout_share=Decimal(0))  # fmt: skip


def test_the_queue_orders_calls_and_tickets_by_value_at_risk_and_works_in_place(call_rule):
    big = call_for(CustomerFactory(name="Big Spender"), "900.00")
    small = call_for(CustomerFactory(name="Small Spender"), "20.00")
    TicketFactory(customer=CustomerFactory(name="Ticket Holder"), status=Ticket.Status.OPEN,
                  solved_at=None, subject="Parcel never came")  # fmt: skip
    agent = signed_in("Agents")

    page = agent.get("/queue/").content.decode()
    assert page.index("Big Spender") < page.index("Small Spender")
    assert "Parcel never came" in page and "Ask what went wrong" in page

    rows = agent.post(f"/queue/calls/{big.pk}/", {"action": "claim"}, **HTMX)
    assert "Claimed." in rows.content.decode() and "Log call" in rows.content.decode()
    url = f"/queue/calls/{big.pk}/"
    refused = agent.post(url, {"action": "log", "outcome": "follow_up", "notes": "busy"}, **HTMX)
    assert refused.status_code == 400 and "A follow-up needs its date." in refused.content.decode()
    done = agent.post(url, {"action": "log", "outcome": "reached", "notes": "Happy again"}, **HTMX)
    assert "Logged: Reached." in done.content.decode()
    assert "Big Spender" not in done.content.decode()  # gone from the queue
    big.refresh_from_db()
    assert (big.outcome, big.notes, big.claimed_by) == ("reached", "Happy again", agent.user)
    other = signed_in("Agents", "other")
    agent.post(f"/queue/calls/{small.pk}/", {"action": "claim"}, **HTMX)
    assert "Small Spender" not in other.get("/queue/").content.decode()  # claimed by someone else
    assert "Someone else has that call." in other.post(
        f"/queue/calls/{small.pk}/", {"action": "claim"}, **HTMX).content.decode()  # fmt: skip


def test_the_customer_page_shows_risk_reasons_charts_evidence_and_takes_notes_and_corrections():
    customer = CustomerFactory(name="Ana Lopez", marketing_consent=False)
    score(customer, 0.81, "high", "lapsing high spenders")
    from churnmodel.models import ChurnScore

    ChurnScore.objects.filter(customer=customer, probability=0.81).update(reasons=[
        {"key": "recency", "direction": "up", "weight": 0.9, "text": "No order for 95 days"},
        {"key": "orders", "direction": "down", "weight": -0.2, "text": "Ordered 12 times"},
    ])  # fmt: skip
    review = ReviewFactory(customer=customer, rating=2, title="",
                           body="Lovely colour. The zip broke after one day.")  # fmt: skip
    texts_score(text_ids=[review.customer_text.pk])
    agent = signed_in("Agents")

    page = agent.get(f"/customers/{customer.external_id}/").content.decode()

    assert "81% risk of no purchase in the next 60 days" in page
    assert "No order for 95 days" in page and "Ordered 12 times" in page
    assert page.count("<svg") >= 2  # risk history and sentiment over time
    assert "<mark" in page and "The zip broke after one day." in page.split("<mark")[1]
    assert "(no coupons or emails)" in page  # consent shown

    note = agent.post(f"/customers/{customer.external_id}/notes/", {"body": "Prefers phone"},
                      **HTMX)  # fmt: skip
    assert note.status_code == 200 and "Prefers phone" in note.content.decode()
    assert "Prefers phone" in agent.get(f"/customers/{customer.external_id}/").content.decode()
    empty = agent.post(f"/customers/{customer.external_id}/notes/", {"body": " "}, **HTMX)
    assert empty.status_code == 400 and "Write something first." in empty.content.decode()

    fixed = agent.post(f"/texts/{review.customer_text.pk}/label/",
                       {"label": "neutral", "reason": "mixed, mostly fine"}, **HTMX)  # fmt: skip
    assert "Label set to" in fixed.content.decode() and "corrected" in fixed.content.decode()
    no_reason = agent.post(f"/texts/{review.customer_text.pk}/label/", {"label": "positive"},
                           **HTMX)  # fmt: skip
    assert no_reason.status_code == 400 and "Say why" in no_reason.content.decode()


def test_a_manual_intervention_goes_through_the_ledger_and_says_why_it_refuses(call_rule):
    customer = CustomerFactory()
    score(customer, 0.5, "medium", "")
    coupon = Rule.objects.create(name="coupon", action=Action.COUPON, coupon_kind="percent",
                                 coupon_value=Decimal(10), coupon_valid_days=7,
                                 holdout_share=Decimal(0))  # fmt: skip
    agent = signed_in("Agents")
    url = f"/customers/{customer.external_id}/interventions/"

    started = agent.post(url, {"rule": call_rule.pk}, **HTMX)
    assert started.status_code == 200 and "Started: rule call: treated" in started.content.decode()
    refused = agent.post(url, {"rule": coupon.pk}, **HTMX)
    assert refused.status_code == 409
    assert "Not started: an intervention is open" in refused.content.decode()


def test_customer_text_is_escaped_everywhere_it_shows() -> None:
    customer = CustomerFactory(name=EVIL)
    score(customer, 0.7, "high", EVIL)
    review = ReviewFactory(customer=customer, rating=1, title=EVIL, body=f"Terrible. {EVIL}")
    texts_score(text_ids=[review.customer_text.pk])
    manager = signed_in("Managers")
    for url in (f"/customers/{customer.external_id}/", "/at-risk/", "/voice/?aspect=quality",
                f"/customers/?q={customer.email}"):  # fmt: skip
        page = manager.get(url).content.decode()
        assert "<script>alert(1)" not in page and 'onerror="alert(2)"' not in page, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in manager.get(
        f"/customers/{customer.external_id}/").content.decode()  # fmt: skip


def test_search_finds_by_email_external_id_and_order_id() -> None:
    ana = CustomerFactory(name="Ana Lopez", email="ana@shop.example")
    OrderFactory(customer=ana, external_id="ORD-7781")
    CustomerFactory(name="Bo Berg")
    agent = signed_in("Agents")
    assert "Ana Lopez" in agent.get("/customers/?q=ana@shop.example").content.decode()
    assert agent.get(f"/customers/?q={ana.external_id}")["Location"] == (
        f"/customers/{ana.external_id}/")  # fmt: skip
    assert "Ana Lopez" in agent.get("/customers/?q=ORD-7781").content.decode()
    found = agent.get("/customers/?q=berg").content.decode()
    assert "Bo Berg" in found and "Ana Lopez" not in found


def test_the_at_risk_list_filters_and_sorts(call_rule) -> None:
    high = CustomerFactory(name="High Risk")
    score(high, 0.9, "high", "lapsing high spenders")
    TicketFactory(customer=high, status=Ticket.Status.OPEN, solved_at=None)
    low = CustomerFactory(name="Low Risk")
    OrderFactory(customer=low, placed_at=timezone.now() - timedelta(days=30),
                 total=Decimal("740.00"))  # fmt: skip
    score(low, 0.1, "low", "loyal high spenders")
    called = CustomerFactory(name="Called Lately")
    call_for(called, "20.00")  # scored 0.8, then a call decided today
    agent = signed_in("Agents")
    everyone = agent.get("/at-risk/").content.decode()
    assert everyone.index("High Risk") < everyone.index("Called Lately") < everyone.index(
        "Low Risk")  # fmt: skip
    by_value = agent.get("/at-risk/?sort=value").content.decode()
    assert by_value.index("Low Risk") < by_value.index("Called Lately") < by_value.index(
        "High Risk") and "EUR 740" in by_value  # fmt: skip
    by_contact = agent.get("/at-risk/?sort=contact").content.decode()
    assert by_contact.index("High Risk") < by_contact.index("Called Lately")  # never first
    never = agent.get("/at-risk/?contacted=never").content.decode()
    assert "High Risk" in never and "Called Lately" not in never
    lately = agent.get("/at-risk/?contacted=30").content.decode()
    assert "Called Lately" in lately and "High Risk" not in lately
    only_high = agent.get("/at-risk/?band=high&ticket=open").content.decode()
    assert "High Risk" in only_high and "Low Risk" not in only_high
    loyal = agent.get("/at-risk/?segment=loyal+high+spenders").content.decode()
    assert "Low Risk" in loyal and "High Risk" not in loyal
    review = ReviewFactory(customer=low, rating=1, title="",
                           created_at=timezone.now() - timedelta(days=1),
                           body="The delivery was two weeks late. Awful service.")  # fmt: skip
    texts_score(text_ids=[review.customer_text.pk])
    assert "Low Risk" not in agent.get("/at-risk/?aspect=delivery").content.decode()
    score(low, 0.1, "low", "loyal high spenders")  # the re-score the new text brings
    late = agent.get("/at-risk/?aspect=delivery").content.decode()
    assert "Low Risk" in late and "High Risk" not in late


@pytest.mark.parametrize("url", ["/queue/", "/at-risk/", "/customers/{customer}/"])
def test_query_counts_do_not_grow_with_rows(call_rule, url, django_assert_max_num_queries):
    """The count for a page with a few rows is the count for a page with many."""
    agent = signed_in("Agents")
    first = CustomerFactory()
    call_for(first, "50.00")
    ReviewFactory(customer=first, rating=3, body="Fine.")  # one of each kind of row first
    TicketFactory(customer=first, status=Ticket.Status.OPEN, solved_at=None)
    target = url.format(customer=first.external_id)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        agent.get(target)
    for k in range(8):
        other = CustomerFactory()
        call_for(other, f"{60 + k}.00")
        ReviewFactory(customer=first, rating=3, body=f"Fine, order {k}.")
        OrderFactory(customer=first)
        TicketFactory(customer=other, status=Ticket.Status.OPEN, solved_at=None)
        TicketFactory(customer=first, status=Ticket.Status.PENDING, solved_at=None)
    with django_assert_max_num_queries(len(few)):
        agent.get(target)


def test_repeated_failed_logins_lock_the_account_out() -> None:
    UserFactory(username="ana")
    client = Client()
    for _ in range(5):
        failed = client.post("/login/", {"username": "ana", "password": "wrong"})
        assert failed.status_code in (200, 429)
    locked = client.post("/login/", {"username": "ana", "password": "correct horse battery staple"})
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()
    fresh = Client(REMOTE_ADDR="10.0.0.9")
    ok = fresh.post("/login/", {"username": "ana", "password": "correct horse battery staple"})
    assert ok.status_code == 302  # another address is not locked out


def test_marketing_reads_rules_with_a_dry_run_and_results_with_their_chart() -> None:
    customer = CustomerFactory(name="Ana Lopez")
    score(customer, 0.8, "high", "")
    rule = Rule.objects.create(name="win back", action=Action.COUPON, coupon_kind="percent",
                               coupon_value=Decimal(10), coupon_valid_days=7, min_band="high",
                               monthly_budget=Decimal(500))  # fmt: skip
    marketer = signed_in("Marketing")
    rules = marketer.get("/rules/").content.decode()
    assert "win back" in rules and "EUR 0.00 of 500.00" in rules
    dry = marketer.get(f"/rules/{rule.pk}/dry-run/", **HTMX).content.decode()
    assert "would match 1 customer now (1 after cooldowns and budget)" in dry
    assert "Ana Lopez" in dry
    results = marketer.get("/results/").content.decode()
    assert "<svg" in results and "No interventions yet." in results


def test_the_rules_page_shows_the_stored_match_count_recounted_by_beat_and_after_edits() -> None:
    """GIVEN a rule counted on first view WHEN another customer comes to match THEN the page
    keeps the stored count until the periodic recount or an edit of the rule, and
    counting leaves the rule's change history alone."""
    from interventions.tasks import count_matches

    score(CustomerFactory(name="First"), 0.8, "high", "")
    rule = Rule.objects.create(name="calls", action=Action.CALL, call_instructions="Ask",
                               call_due_hours=24, requires_consent=False,
                               min_band="high")  # fmt: skip
    marketer = signed_in("Marketing")

    def shown() -> int:
        page = marketer.get("/rules/").content.decode()
        row = page.split("<td>calls</td>")[1].split("</tr>")[0]
        return int(row.split("<td>")[6].split()[0])  # the "Matches now" cell

    assert shown() == 1
    score(CustomerFactory(name="Second"), 0.9, "high", "")
    assert shown() == 1  # stored
    count_matches()
    assert shown() == 2
    history = rule.history.count()
    rule.min_band = "medium"
    rule.save()
    score(CustomerFactory(name="Third"), 0.5, "medium", "")
    assert shown() == 3  # the edit cleared the count: counted afresh
    assert rule.history.count() == history + 1  # the edit, not the counts
