"""Every role against every page and action: what each may open or do is enforced on the
server (200, a redirect, or 403), whatever the page shows or hides."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from crm.models import Ticket
from interventions.models import Action, CallTask, Rule
from interventions.services import carry_out, decide_for
from sentiment.services import texts_score
from tests.factories import CustomerFactory, ReviewFactory, TicketFactory, UserFactory
from tests.interventions.test_matching import score

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "agent", "marketer", "manager")


@pytest.fixture
def shop() -> dict:
    customer = CustomerFactory(marketing_consent=True)
    score(customer, 0.8, "high", "lapsing high spenders")
    review = ReviewFactory(customer=customer, rating=1, body="Awful. It broke after a day.")
    texts_score(text_ids=[review.customer_text.pk])
    ticket = TicketFactory(customer=customer, status=Ticket.Status.OPEN, solved_at=None)
    rule = Rule.objects.create(name="call", action=Action.CALL, call_instructions="Ask why",
                               call_due_hours=24, holdout_share=Decimal(0))  # fmt: skip
    intervention = decide_for(customer.pk).intervention
    carry_out(intervention.pk)
    return {"customer": customer, "text": review.customer_text, "ticket": ticket, "rule": rule,
            "call": CallTask.objects.get()}  # fmt: skip


def client_for(role: str) -> Client:
    client = Client()
    if role != "anonymous":
        group = {"agent": "Agents", "marketer": "Marketing", "manager": "Managers"}[role]
        user = UserFactory(username=role, is_staff=role != "agent")
        user.groups.add(Group.objects.get(name=group))
        client.force_login(user)
    return client


# page -> expected status for anonymous, agent, marketer, manager
PAGES = {
    "/queue/": (302, 200, 403, 200),
    "/at-risk/": (302, 200, 200, 200),
    "/customers/?q=x": (302, 200, 200, 200),
    "/customers/{customer}/": (302, 200, 200, 200),
    "/rules/": (302, 403, 200, 200),
    "/results/": (302, 403, 200, 200),
    "/voice/": (302, 403, 200, 200),
    "/model/": (302, 403, 200, 200),
    "/approvals/": (302, 403, 403, 200),
    "/admin/interventions/rule/add/": (302, 302, 200, 200),
    # Agents are not staff: the admin sends them to its sign-in (a staff agent gets 403,
    # tests/crm/test_import_upload.py).
    "/admin/crm/importjob/": (302, 302, 200, 200),
    "/admin/crm/importjob/upload/": (302, 302, 200, 200),
}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_opens_exactly_its_pages(shop, role) -> None:
    client = client_for(role)
    seen = {}
    for page, expected in PAGES.items():
        url = page.format(customer=shop["customer"].external_id)
        seen[page] = (client.get(url).status_code, expected[ROLES.index(role)])
    assert {page: got for page, (got, _) in seen.items()} == {
        page: want for page, (_, want) in seen.items()
    }


def test_anonymous_visitors_are_sent_to_sign_in() -> None:
    response = Client().get("/queue/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


# action -> expected status for anonymous, agent, marketer, manager
ACTIONS = {
    "claim a call": ("/queue/calls/{call}/", {"action": "claim"}, (302, 302, 403, 302)),
    "take a ticket": ("/queue/tickets/{ticket}/", {"action": "claim"}, (302, 302, 403, 302)),
    "correct a label": ("/texts/{text}/label/", {"label": "neutral", "reason": "sarcasm"},
                        (302, 200, 403, 200)),
    "add a note": ("/customers/{customer}/notes/", {"body": "Called, wants a refund."},
                   (302, 302, 403, 302)),
    "start an intervention": ("/customers/{customer}/interventions/", {"rule": "{rule}"},
                              (302, 409, 403, 409)),  # refused: one is open already
}  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_take_exactly_its_actions(shop, role) -> None:
    client = client_for(role)
    ids = {"call": shop["call"].pk, "ticket": shop["ticket"].pk, "text": shop["text"].pk,
           "customer": shop["customer"].external_id, "rule": shop["rule"].pk}  # fmt: skip
    got, want = {}, {}
    for name, (url, data, expected) in ACTIONS.items():
        body = {k: v.format(**ids) for k, v in data.items()}
        got[name] = client.post(url.format(**ids), body).status_code
        want[name] = expected[ROLES.index(role)]
    assert got == want


def test_only_managers_may_approve_costly_interventions(shop) -> None:
    from interventions.models import Intervention

    customer = CustomerFactory(marketing_consent=True)
    score(customer, 0.8, "high", "")
    Rule.objects.create(name="hamper", action=Action.GIFT, gift_description="Hamper",
                        gift_unit_cost=Decimal(80), approval_above_cost=Decimal(50),
                        holdout_share=Decimal(0), priority=999)  # fmt: skip
    waiting = decide_for(customer.pk).intervention
    assert waiting.status == "awaiting_approval"
    url = "/admin/interventions/intervention/"
    for role in ("marketer", "manager"):
        client_for(role).post(url, {"action": "approve_selected", "_selected_action": [waiting.pk]})
        waiting.refresh_from_db()
        expected = "awaiting_approval" if role == "marketer" else "done"
        assert waiting.status == expected, role
    assert Intervention.objects.get(pk=waiting.pk).decided_by.username == "manager"


def test_managers_approve_and_reject_on_the_approvals_page_and_nobody_else_may(shop) -> None:
    """GIVEN two costly gifts awaiting approval
    WHEN an agent and a marketer try to decide them, then the manager approves one and
    rejects the other from the page
    THEN only the manager's decisions count: one carried out, one closed at no cost, and
    a second decision on the same one is refused."""
    Rule.objects.create(name="hamper", action=Action.GIFT, gift_description="Hamper",
                        gift_unit_cost=Decimal(80), approval_above_cost=Decimal(50),
                        holdout_share=Decimal(0), priority=999)  # fmt: skip
    waiting = []
    for name in ("Costly One", "Costly Two"):
        customer = CustomerFactory(name=name, marketing_consent=True)
        score(customer, 0.8, "high", "")
        waiting.append(decide_for(customer.pk).intervention)
    first, second = waiting
    for role in ("agent", "marketer"):
        refused = client_for(role).post(f"/approvals/{first.pk}/", {"action": "approve"})
        assert refused.status_code == 403
    manager = client_for("manager")
    page = manager.get("/approvals/").content.decode()
    assert "Costly One" in page and "Costly Two" in page and "EUR 80.00" in page

    done = manager.post(f"/approvals/{first.pk}/", {"action": "approve"}, HTTP_HX_REQUEST="true")
    assert "Carried out: Costly One." in done.content.decode()
    rejected = manager.post(f"/approvals/{second.pk}/", {"action": "reject"},
                            HTTP_HX_REQUEST="true").content.decode()  # fmt: skip
    assert "Rejected: Costly Two." in rejected and "Nothing is waiting for approval." in rejected
    again = manager.post(f"/approvals/{second.pk}/", {"action": "approve"}, HTTP_HX_REQUEST="true")
    assert again.status_code == 409 and "not awaiting approval" in again.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.decided_by.username) == ("done", "manager")
    assert (second.status, second.cost, second.is_open) == ("rejected", 0, False)
