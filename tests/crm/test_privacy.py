"""Privacy: a customer's export holds every part of what we keep about them; an erasure
leaves nothing personal of them in any table (history and admin log included), keeps the
anonymised counts reports need, is recorded, is Managers-only in the admin, and takes the
customer out of every future training set."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.sites import site
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from churnmodel.labels import churn_labels
from churnmodel.models import ChurnScore, CurrentRisk
from crm.models import Customer, CustomerText, Erasure, Event, Order, Review, Ticket
from crm.privacy import customer_erase, customer_export, export_json
from interventions.models import Action, CallTask, Coupon, Email, Intervention, Rule
from interventions.services import carry_out, decide_for, decide_manually
from sentiment.models import AspectMention, LabelOverride, SentimentScore
from sentiment.selectors import override_training_rows
from sentiment.services import label_override_create, texts_score
from sentiment.training.shop import shop_review_rows
from tests.crm.test_api import client_for  # noqa: F401  (the fixture)
from tests.factories import (
    CustomerFactory,
    CustomerNoteFactory,
    EventFactory,
    OrderFactory,
    ReviewFactory,
    TicketFactory,
    TicketMessageFactory,
    UserFactory,
    days_ago,
)
from tests.interventions.test_matching import score

pytestmark = pytest.mark.django_db

NAME = "Ottilie Quennsworth"
EMAIL = "ottilie.q@privacy.example"
PHONE = "+49 170 5550199"
# Each text carries a made-up word in every sentence, so that any copy of any part of it
# (an evidence sentence, an aspect's quote, a reason) is found by the scan.
REVIEW_TITLE = "Flimbertook disaster"
REVIEW_BODY = (
    "The Flimbertook delivery was two weeks late. The Flimbertook zip broke after one day. "
    "Awful Flimbertook service."
)
MESSAGE = f"Where is my Wobblequist parcel? The Wobblequist order is late. Call me on {PHONE}."
REPLY = f"Dear {NAME}, we are sorry about the Wobblequist delay."
SUBJECT = "Wobblequist parcel missing"
NOTE = "Prefers Snorkelbury calls in the morning."
OVERRIDE_REASON = "Gringlewood sarcasm, mixed at most."
CALL_NOTES = "Spoke about the Snorkelbury refund, happy again."
SEARCH = "zanzibar velvet boots"
EVIDENCE = "The Flimbertook zip broke after one day."
SMTP_ERROR = f"SMTP refused the recipient {EMAIL}"
BYSTANDER_TEXT = "The Plimsollian scarf is lovely."

PERSONAL = [
    NAME,
    "Quennsworth",
    EMAIL,
    PHONE,
    REVIEW_TITLE,
    REVIEW_BODY,
    MESSAGE,
    REPLY,
    SUBJECT,
    NOTE,
    OVERRIDE_REASON,
    CALL_NOTES,
    SEARCH,
    EVIDENCE,
    SMTP_ERROR,
    "Flimbertook",
    "Wobblequist",
    "Snorkelbury",
    "Gringlewood",
    "zanzibar",
]
PERSONAL += [s for text in (REVIEW_BODY, MESSAGE, REPLY) for s in re.split(r"(?<=[.?]) ", text)]


@pytest.fixture
def person(settings) -> Customer:
    """A customer with a row of every kind we hold: orders, a search event, a review, a
    ticket with a customer message and an agent's reply, a note, sentiment scores and
    aspects, an agent's label correction, churn scores whose reasons quote the review, the
    current risk, a coupon intervention with its email (and a failure kept in its history),
    a call with the agent's notes, and the admin log's entry of a change; and a bystander
    whose text must survive the erasure."""
    settings.INTERVENTIONS_CONTACT_GAP_DAYS = 0
    customer = CustomerFactory(name=NAME, email=EMAIL, phone=PHONE, country="AT")
    OrderFactory(customer=customer, placed_at=days_ago(40), total=Decimal("300.00"))
    OrderFactory(customer=customer, placed_at=days_ago(90), total=Decimal("120.00"))
    EventFactory(customer=customer, kind=Event.Kind.SEARCH, payload={"query": SEARCH})
    review = ReviewFactory(customer=customer, rating=1, title=REVIEW_TITLE, body=REVIEW_BODY)
    ticket = TicketFactory(customer=customer, subject=SUBJECT)
    message = TicketMessageFactory(ticket=ticket, body=MESSAGE)
    TicketMessageFactory(ticket=ticket, body=REPLY, author_kind="agent", created_at=days_ago(1))
    CustomerNoteFactory(customer=customer, body=NOTE)
    texts_score(text_ids=[review.customer_text.pk, message.customer_text.pk])
    agent = UserFactory(username="agent-ann")
    label_override_create(
        text=review.customer_text, label="neutral", user=agent, reason=OVERRIDE_REASON
    )
    score(customer, 0.81, "high", "lapsing high spenders")
    reasons = [
        {
            "key": "aspect:delivery",
            "direction": "up",
            "weight": 0.9,
            "text": "negative about delivery",
            "text_ids": [review.customer_text.pk],
            "evidence": [{"text_id": review.customer_text.pk, "sentence": EVIDENCE}],
        }
    ]
    ChurnScore.objects.filter(customer=customer).update(reasons=reasons)
    CurrentRisk.objects.filter(customer=customer).update(top_reason=f"said: {EVIDENCE}")

    coupon_rule = Rule.objects.create(
        name="coupon",
        action=Action.COUPON,
        coupon_kind="percent",
        coupon_value=Decimal(10),
        coupon_valid_days=14,
        holdout_share=Decimal(0),
        email_subject="For you, {name}",
        email_template="Hello {name}, your code {coupon_code} gives {coupon_value}.",
    )
    coupon_intervention = decide_for(customer.pk).intervention
    carry_out(coupon_intervention.pk)
    coupon_intervention.refresh_from_db()
    coupon_intervention.error = SMTP_ERROR  # as a transport error would leave it
    coupon_intervention.is_open = False
    coupon_intervention.save(update_fields=["error", "is_open"])
    call_rule = Rule.objects.create(
        name="call",
        action=Action.CALL,
        requires_consent=False,
        call_instructions="Ask why",
        call_due_hours=24,
        holdout_share=Decimal(0),
    )
    carry_out(decide_manually(customer.pk, call_rule).intervention.pk)
    call = CallTask.objects.get(intervention__customer=customer)
    call.claimed_by, call.outcome, call.notes = agent, "reached", CALL_NOTES
    call.save()  # a second historical copy, with the notes

    request = RequestFactory().post("/admin/")
    request.user = UserFactory(username="admin-al", is_staff=True, is_superuser=True)
    for obj in (customer, review):
        site._registry[type(obj)].log_change(request, obj, [{"changed": {"fields": ["Name"]}}])

    bystander = CustomerFactory(name="Bertil Bystander")
    ReviewFactory(customer=bystander, rating=5, title="", body=BYSTANDER_TEXT)
    assert coupon_rule.pk and Email.objects.filter(intervention__customer=customer).exists()
    return customer


def stored_text(value: object) -> str:
    """A stored value as text, as a person reading the table would see it."""
    if isinstance(value, memoryview | bytes):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def holdings(needles: list[str]) -> dict[str, set[str]]:
    """Where each needle is stored: every column of every row of every table in the
    database (case-insensitive), and the decoded contents of every session."""
    found: dict[str, set[str]] = defaultdict(set)
    lowered = [(needle, needle.lower()) for needle in needles]

    def look(place: str, value: object) -> None:
        if value is None:
            return
        text = stored_text(value).lower()
        for needle, low in lowered:
            if low in text:
                found[needle].add(place)

    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [
                c.name for c in connection.introspection.get_table_description(cursor, table)
            ]
            cursor.execute(f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)}")  # noqa: S608 - names from introspection
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    look(f"{table}.{column}", value)
    for session in Session.objects.all():
        look("django_session (decoded)", session.get_decoded())
    return dict(found)


def test_the_export_holds_every_part_of_what_we_keep(person, tmp_path) -> None:
    out = StringIO()
    call_command("customer_export", person.external_id, stdout=out)
    data = json.loads(out.getvalue())

    assert data["customer"]["name"] == NAME and data["customer"]["email"] == EMAIL
    assert data["customer"]["phone"] == PHONE
    assert sorted(o["total"] for o in data["orders"]) == ["120.00", "300.00"]
    assert data["events"][0]["payload"] == {"query": SEARCH}
    assert data["reviews"][0]["body"] == REVIEW_BODY and data["reviews"][0]["rating"] == 1
    [ticket] = data["tickets"]
    assert ticket["subject"] == SUBJECT
    assert [m["body"] for m in ticket["messages"]] == [MESSAGE, REPLY]
    assert [n["body"] for n in data["notes"]] == [NOTE]
    assert {t["text"] for t in data["texts"]} == {f"{REVIEW_TITLE}\n{REVIEW_BODY}", MESSAGE}
    scores = data["sentiment"]["scores"]
    assert len(scores) == SentimentScore.objects.count() > 0
    assert any("Flimbertook" in json.dumps(s["evidence"]) for s in scores)
    assert any(a["aspect"] == "delivery" for s in scores for a in s["aspects"])
    assert [o["reason"] for o in data["sentiment"]["overrides"]] == [OVERRIDE_REASON]
    assert len(data["churn"]["scores"]) == 2
    assert data["churn"]["scores"][-1]["reasons"][0]["evidence"][0]["sentence"] == EVIDENCE
    assert data["churn"]["current_risk"]["probability"] == 0.81
    coupon, call = data["interventions"]
    assert coupon["coupon"]["code"] and coupon["email"]["to"] == EMAIL
    assert NAME in coupon["email"]["body"] and coupon["history"][-1]["error"] == SMTP_ERROR
    assert call["call"]["notes"] == CALL_NOTES and call["call_history"][-1]["notes"] == CALL_NOTES
    assert data["skips"] == [] and data["erasures"] == []

    target = tmp_path / "export.json"
    call_command("customer_export", person.external_id, output=target, stderr=StringIO())
    written = json.loads(target.read_text(encoding="utf-8"))
    assert (
        written["customer"] == data["customer"]
        and written["interventions"] == (data["interventions"])
    )


def test_after_erasure_nothing_personal_of_the_customer_remains_in_any_table(person) -> None:
    """GIVEN a customer with a row of every kind, whose data the scan finds in each place
    it was copied to WHEN they are erased THEN the scan of every column of every table
    finds none of it, the bystander's text is still there, and what reports count stays."""
    before = holdings([*PERSONAL, BYSTANDER_TEXT])
    assert set(PERSONAL) <= set(before), set(PERSONAL) - set(before)
    expected = {  # the copies the erasure has to reach, proven to exist first
        NAME: {"crm_customer.name", "django_admin_log.object_repr", "interventions_email.body"},
        EMAIL: {
            "crm_customer.email",
            "interventions_email.to",
            "interventions_historicalintervention.error",
        },
        PHONE: {"crm_customer.phone", "crm_ticketmessage.body"},
        EVIDENCE: {
            "churnmodel_churnscore.reasons",
            "churnmodel_currentrisk.top_reason",
            "interventions_intervention.reasons",
        },
        "Flimbertook": {
            "crm_review.title",
            "crm_review.body",
            "sentiment_sentimentscore.evidence",
            "sentiment_aspectmention.sentence",
            "django_admin_log.object_repr",
        },
        SUBJECT: {"crm_ticket.subject"},
        NOTE: {"crm_customernote.body"},
        OVERRIDE_REASON: {"sentiment_labeloverride.reason"},
        CALL_NOTES: {"interventions_calltask.notes", "interventions_historicalcalltask.notes"},
        SEARCH: {"crm_event.payload"},
    }
    for needle, places in expected.items():
        assert places <= before[needle], (needle, places - before[needle])
    derived = {
        CustomerText: CustomerText.objects.filter(customer=person),
        SentimentScore: SentimentScore.objects.filter(text__customer=person),
        AspectMention: AspectMention.objects.filter(score__text__customer=person),
        LabelOverride: LabelOverride.objects.filter(text__customer=person),
        ChurnScore: ChurnScore.objects.filter(customer=person),
    }
    derived_ids = {
        model: list(rows.values_list("pk", flat=True)) for model, rows in derived.items()
    }
    assert all(derived_ids.values()), derived_ids
    orders = list(Order.objects.filter(customer=person).values_list("total", "placed_at"))
    interventions = list(
        Intervention.objects.filter(customer=person).values_list("action", "group", "cost")
    )

    erasure = customer_erase(customer=person)

    after = holdings([*PERSONAL, BYSTANDER_TEXT])
    assert set(after) == {BYSTANDER_TEXT}, {k: v for k, v in after.items() if k in PERSONAL}
    person.refresh_from_db()
    assert person.is_erased and not person.marketing_consent
    assert (person.name, person.email, person.phone, person.country) == ("", "", "", "")
    # Derived rows are gone; what reports count is still there, anonymised.
    for model, ids in derived_ids.items():
        assert not model.objects.filter(pk__in=ids).exists(), model
    assert not CurrentRisk.objects.filter(customer=person).exists()
    assert not Event.objects.filter(customer=person).exists()
    assert list(Order.objects.filter(customer=person).values_list("total", "placed_at")) == orders
    assert (
        list(Intervention.objects.filter(customer=person).values_list("action", "group", "cost"))
        == interventions
    )
    assert Coupon.objects.filter(intervention__customer=person).count() == 1
    assert Review.objects.get(customer=person).rating == 1
    assert Ticket.objects.filter(customer=person).count() == 1
    call = CallTask.objects.get(intervention__customer=person)
    assert call.completed_at is not None and call.outcome == "reached"
    assert erasure.counts["deleted"]["sentiment.SentimentScore"] > 0
    assert erasure.counts["deleted"]["churnmodel.ChurnScore"] == 2
    assert erasure.counts["blanked"]["crm.Customer"] == 1


def test_erasing_twice_is_harmless_and_recorded_twice(person) -> None:
    first = customer_erase(customer=person)
    snapshot = customer_export(customer=person)

    second = customer_erase(customer=person)

    assert sum(second.counts["deleted"].values()) == 0
    again = customer_export(customer=person)
    for export in (snapshot, again):  # the second erasure blanks it again, at its moment
        export["customer"].pop("updated_in_crm_at")
    for part in ("customer", "orders", "reviews", "tickets", "texts", "sentiment", "churn"):
        assert again[part] == snapshot[part], part
    assert again["interventions"] == snapshot["interventions"]
    assert list(Erasure.objects.filter(customer=person).order_by("pk")) == [first, second]
    assert holdings(PERSONAL) == {}


def test_a_pending_intervention_closes_and_the_call_leaves_the_queue(person) -> None:
    Intervention.objects.filter(customer=person, action=Action.CALL).update(
        status=Intervention.Status.AWAITING_APPROVAL
    )
    CallTask.objects.filter(intervention__customer=person).update(completed_at=None)

    customer_erase(customer=person)

    call = Intervention.objects.get(customer=person, action=Action.CALL)
    assert call.status == Intervention.Status.FAILED and not call.is_open
    assert call.cost == 0 and call.error == "Not carried out: the customer was erased."
    assert not CallTask.objects.filter(completed_at__isnull=True).exists()


def test_the_erase_command_erases_records_the_audit_and_says_what_it_did(person) -> None:
    out = StringIO()
    call_command("customer_erase", person.external_id, interactive=False, stdout=out)

    erasure = Erasure.objects.get()
    assert (erasure.customer, erasure.customer_external_id) == (person, person.external_id)
    assert erasure.erased_by is None and erasure.erased_by_name.endswith("(command line)")
    assert erasure.via == "command"
    assert timezone.now() - erasure.erased_at < timedelta(minutes=1)
    text = out.getvalue()
    assert f"Erased customer {person.external_id} (audit entry {erasure.pk})" in text
    assert "deleted 2 churnmodel.ChurnScore" in text and "blanked 1 crm.Customer" in text
    assert NAME not in text and EMAIL not in text
    person.refresh_from_db()
    assert person.is_erased


def test_the_erase_command_asks_first_and_stops_unless_told_yes(person) -> None:
    with (
        mock.patch("builtins.input", return_value="no"),
        pytest.raises(CommandError, match="Erasure cancelled"),
    ):
        call_command("customer_erase", person.external_id, stdout=StringIO())
    person.refresh_from_db()
    assert not person.is_erased and person.email == EMAIL and not Erasure.objects.exists()


@pytest.mark.parametrize("command", ["customer_export", "customer_erase"])
def test_an_unknown_external_id_is_a_clear_command_error(command) -> None:
    CustomerFactory(external_id="C-1")
    with pytest.raises(CommandError, match="No customer has the external id 'C-404'"):
        call_command(command, "C-404", stdout=StringIO())
    assert not Erasure.objects.exists()


def staff(group: str, username: str) -> Client:
    client = Client()
    user = UserFactory(username=username, is_staff=group != "Agents")
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    client.user = user  # type: ignore[attr-defined]
    return client


CHANGELIST = reverse("admin:crm_customer_changelist")


def offered_actions(client: Client) -> set[str]:
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    form = page.context["action_form"]  # None when no action is offered at all
    return {name for name, _ in form.fields["action"].choices} if form else set()


def test_a_manager_erases_from_the_admin_after_a_confirmation_page(person) -> None:
    manager = staff("Managers", "manager")
    assert {"export_selected", "erase_selected"} <= offered_actions(manager)
    selected = {"action": "erase_selected", "_selected_action": [person.pk]}

    page = manager.post(CHANGELIST, selected)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Are you sure you want to erase the personal data" in html
    assert person.external_id in html and 'name="post" value="yes"' in html
    person.refresh_from_db()
    assert not person.is_erased and not Erasure.objects.exists()

    done = manager.post(CHANGELIST, {**selected, "post": "yes"}, follow=True)

    assert f"Erased the personal data of 1 customer(s): {person.external_id}." in (
        done.content.decode()
    )
    person.refresh_from_db()
    assert person.is_erased and person.name == ""
    erasure = Erasure.objects.get()
    assert (erasure.erased_by, erasure.erased_by_name, erasure.via) == (
        manager.user,
        "manager",
        "admin",
    )
    assert holdings(PERSONAL) == {}


@pytest.mark.parametrize(("group", "username"), [("Marketing", "marketer"), ("Agents", "agent")])
def test_only_managers_may_export_or_erase_in_the_admin(person, group, username) -> None:
    client = staff(group, username)
    if group == "Marketing":  # staff who may see customers, but not these actions
        assert not {"export_selected", "erase_selected"} & offered_actions(client)
    for action in ("erase_selected", "export_selected"):
        response = client.post(
            CHANGELIST, {"action": action, "_selected_action": [person.pk], "post": "yes"}
        )
        # The list again (no such action for them), or the login page (not staff).
        assert response.status_code in (200, 302)
        assert response.get("Content-Disposition") is None
        assert b"Are you sure" not in response.content
    person.refresh_from_db()
    assert not person.is_erased and person.email == EMAIL and not Erasure.objects.exists()


def test_a_manager_downloads_one_customers_export_as_json(person) -> None:
    manager = staff("Managers", "manager")
    response = manager.post(
        CHANGELIST, {"action": "export_selected", "_selected_action": [person.pk]}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert f'filename="customer-{person.external_id}.json"' in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["customer"]["email"] == EMAIL and len(data["interventions"]) == 2

    two = manager.post(
        CHANGELIST,
        {"action": "export_selected", "_selected_action": [person.pk, CustomerFactory().pk]},
        follow=True,
    )
    assert "Select exactly one customer to export." in two.content.decode()


def test_the_export_of_an_erased_customer_shows_what_is_kept_and_the_erasure(person) -> None:
    customer_erase(customer=person)
    text = export_json(customer_export(customer=person))
    data = json.loads(text)
    assert data["customer"]["is_erased"] and len(data["orders"]) == 2
    assert data["erasures"][0]["customer_external_id"] == person.external_id
    assert data["sentiment"] == {"scores": [], "overrides": []}
    assert data["churn"] == {"scores": [], "current_risk": None}
    assert not [needle for needle in PERSONAL if needle.lower() in text.lower()]


def test_an_erased_customer_is_left_out_of_every_training_set() -> None:
    """GIVEN two customers who bought, reviewed and had a label corrected WHEN one is
    erased (and a review of theirs arrives afterwards) THEN churn labels, the shop's review
    rows and the override rows hold only the other."""
    kept, erased = CustomerFactory(), CustomerFactory()
    texts = {}
    for customer in (kept, erased):
        for days in (200, 120, 10):
            OrderFactory(customer=customer, placed_at=days_ago(days))
        review = ReviewFactory(customer=customer, rating=1, body=f"Broken {customer.pk}.")
        label_override_create(text=review.customer_text, label="negative", user=None)
        texts[customer.pk] = review.text
    cutoff = timezone.now() - timedelta(days=100)
    assert set(churn_labels(cutoff).index) == {kept.pk, erased.pk}

    customer_erase(customer=erased)
    late = ReviewFactory(customer=erased, rating=2, body="Loaded from an old export.")
    label_override_create(text=late.customer_text, label="negative", user=None)

    assert set(churn_labels(cutoff).index) == {kept.pk}
    train, held_out = shop_review_rows()
    rows = {text for text, _ in train + held_out}
    assert texts[kept.pk] in rows and late.text not in rows
    assert [text for text, _ in override_training_rows()] == [texts[kept.pk]]


def test_the_admin_log_keeps_the_change_but_not_the_name(person) -> None:
    def entries() -> list[tuple[str, str]]:
        rows = LogEntry.objects.filter(action_flag=CHANGE).order_by("pk")
        return list(rows.values_list("object_repr", "content_type__model"))

    assert entries() == [(str(person), "customer"), ("1★ Flimbertook disaster", "review")]

    customer_erase(customer=person)

    assert entries() == [("(erased)", "customer"), ("(erased)", "review")]


def test_the_api_takes_no_personal_data_or_texts_of_an_erased_customer_again(
    client_for,  # noqa: F811
) -> None:
    """GIVEN an erased customer WHEN an integration sends their old record, a review and a
    ticket message THEN each is refused with a 409 saying why, and nothing is stored."""
    customer = CustomerFactory(external_id="P-9", name="Ana Lopez", email="ana@shop.example")
    ticket = TicketFactory(customer=customer, external_id="T-P9")
    customer_erase(customer=customer)
    client = client_for("add_customer", "change_customer", "add_review", "change_review",
                        "add_ticketmessage", "change_ticketmessage")  # fmt: skip

    again = client.post("/api/customers/", {"external_id": "P-9", "name": "Ana Lopez",
                        "email": "ana@shop.example", "signed_up_at": "2025-01-01T00:00:00Z"},
                        format="json")  # fmt: skip
    review = client.post("/api/reviews/", {"external_id": "R-P9", "customer": "P-9",
                         "rating": 2, "body": "Late again.", "created_at": "2026-01-05T10:00:00Z"},
                         format="json")  # fmt: skip
    message = client.post(f"/api/tickets/{ticket.external_id}/messages/", {
        "external_id": "M-P9", "author": "customer", "body": "Where is my parcel?",
        "created_at": "2026-01-05T10:00:00Z"}, format="json")  # fmt: skip

    assert [r.status_code for r in (again, review, message)] == [409, 409, 409], (
        again.content, review.content, message.content)  # fmt: skip
    assert "P-9 was erased at their request" in again.json()["detail"]
    customer.refresh_from_db()
    assert (customer.name, customer.email, customer.is_erased) == ("", "", True)
    assert not Review.objects.filter(external_id="R-P9").exists()
    assert not CustomerText.objects.filter(customer=customer).exists()
