"""SQL-injection, path-traversal and other hostile strings in every parameter the web UI and
the API read to filter, search, sort and page, and in the ids in their URLs.

Each parameter gets the whole HOSTILE table, requested as a role that may see the page.
The answer is a normal page (200: an empty result, or the list with the bad filter ignored
and the user told which one) or a 400 naming the parameter, never a 500; a search or a
narrowing filter never shows a record it should not have matched; the tables are all
still there afterwards. An id in the URL that no record has is a 404 that shows no file.

Some of these fail only on PostgreSQL (a NUL character in a query, an offset it cannot
carry): run the module there too (README: DATABASE_URL).
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from rest_framework.test import APIClient

from crm.api.tokens import api_token_create
from crm.models import CustomerNote, Event
from interventions.models import Action, CallTask, Intervention, Rule
from tests.factories import (
    CustomerFactory,
    EventFactory,
    OrderFactory,
    ReviewFactory,
    TicketFactory,
    TicketMessageFactory,
    UserFactory,
)
from tests.interventions.test_matching import score
from tests.web.test_pages import call_for
from tests.web.test_pages import signed_in as signed_in_raising

pytestmark = pytest.mark.django_db

HOSTILE: dict[str, str] = {
    "sqli-or": "' OR '1'='1",
    "sqli-drop": "1; DROP TABLE crm_customer;--",
    "sqli-double-quote": '" OR ""="',
    "sqli-union": "1 UNION SELECT username, password FROM auth_user--",
    "sqli-like": "%' --",
    "like-wildcards": "%_%",
    "traversal": "../../etc/passwd",
    "traversal-encoded": "..%2f..%2fetc%2fpasswd",
    "traversal-doubled": "....//....//",
    "absolute-path": "/etc/passwd",
    "nul": "\x00",
    "nul-after-valid": "high\x00",
    "nul-encoded": "%00",
    "long": "x" * 100_000,
    "huge-int": "99999999999999999999999",
    "huge-negative": "-99999999999999999999999",
    "int64-overflow": str(2**63),
    "negative": "-1",
    "zero": "0",
    "float-overflow": "1e309",
    "nan": "NaN",
    "superscript-digit": "²",
    "arabic-digit": "٣",
    "emoji": "😀 Zoë 名前",
    "script": "<script>alert(1)</script>",
    "impossible-date": "2024-02-30",
    "far-offset": "9999-12-31T23:59:59-14:00",
    "offset-past-15-59": "2024-01-01T00:00:00-18:22",
    "before-year-one": "0001-01-01T00:00:00+14:00",
    "blank": "   ",
    "crlf": "a\r\nSet-Cookie: x=1",
}

ANA, BO = "Ana Lopez", "Bo Berg"
FILE_CONTENT = "root:x:0:0"


def row_counts() -> dict[str, int]:
    """Rows in the tables the hostile strings name, counted in SQL."""
    found = {}
    with connection.cursor() as cursor:
        for table in ("crm_customer", "crm_order", "crm_ticket", "crm_review", "auth_user"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - fixed names
            found[table] = cursor.fetchone()[0]
    return found


@pytest.fixture
def shop() -> Iterator[dict[str, Any]]:
    """Two customers, each with an order, a ticket with a message, a review, an event and
    a risk score; a call in the queue for Ana. Afterwards: every table still has its rows
    (users only grow: each test signs in its own)."""
    rule = Rule.objects.create(name="call", action=Action.CALL, requires_consent=False,
                               call_instructions="Ask", call_due_hours=24,
                               holdout_share=Decimal(0))  # fmt: skip
    ana = CustomerFactory(name=ANA, email="ana@shop.example", external_id="ANA-1", country="ES")
    bo = CustomerFactory(name=BO, email="bo@shop.example", external_id="BO-2", country="SE")
    call = call_for(ana, "300.00")  # also scores Ana: high risk
    score(bo, 0.5, "medium", "loyal high spenders")
    for person, key in ((ana, "ANA"), (bo, "BO")):
        order = OrderFactory(customer=person, external_id=f"ORD-{key}")
        ReviewFactory(customer=person, order=order, external_id=f"R-{key}", rating=2)
        ticket = TicketFactory(customer=person, external_id=f"T-{key}", solved_at=None)
        TicketMessageFactory(ticket=ticket, external_id=f"M-{key}")
        EventFactory(customer=person)
    before = row_counts()
    yield {"ana": ana, "bo": bo, "call": call, "rule": rule}
    after = row_counts()
    assert after["auth_user"] >= before.pop("auth_user")
    assert {table: after[table] for table in before} == before


def signed_in(group: str) -> Client:
    """A client of a user in `group` that answers a 500 like a browser would see it,
    instead of raising, so that one test reports every value that fails."""
    client = signed_in_raising(group)
    client.raise_request_exception = False
    return client


def problem(response: HttpResponse, param: str, *, absent: tuple[str, ...] = ()) -> str:
    """What is wrong with a web page's answer to a hostile `param`, or '' if nothing.

    200 is a normal page; 400 must name the parameter (as “param”). Nothing in `absent`
    (names of customers the request should not match) may show on either."""
    body = response.content.decode(errors="replace")
    if response.status_code == 400:
        if f"“{param}”" not in body:
            return "400 without naming the parameter"
    elif response.status_code != 200:
        return f"status {response.status_code}"
    leaked = [name for name in absent if name in body]
    if leaked:
        return f"shows {leaked}"
    if FILE_CONTENT in body:
        return "shows a file"
    return ""


def ignored(response: HttpResponse, param: str) -> bool:
    """Whether the page says it ignored `param` (and so may list what it would have hidden)."""
    return f"Ignored “{param}”" in response.content.decode(errors="replace")


# --- Web UI: search ----------------------------------------------------------------------


def test_search_with_hostile_text_finds_nobody_and_never_errs(shop) -> None:
    """Neither customer's name contains any of these, so neither may show. (A NUL
    character listed everyone on SQLite, whose LIKE stops at it; PostgreSQL refused it.)"""
    agent = signed_in("Agents")
    problems = {}
    for name, value in HOSTILE.items():
        found = problem(agent.get("/customers/", {"q": value}), "q", absent=(ANA, BO))
        if found:
            problems[name] = found
    assert problems == {}


def test_search_given_twice_uses_the_last_value_only(shop) -> None:
    agent = signed_in("Agents")
    page = agent.get("/customers/?q=Lopez&q=" + quote("' OR '1'='1"))
    assert page.status_code == 200 and ANA not in page.content.decode()
    assert ANA in agent.get("/customers/?q=x&q=Lopez").content.decode()


def test_search_pages_through_hostile_page_numbers(shop) -> None:
    agent = signed_in("Agents")
    problems = {}
    for name, value in HOSTILE.items():
        response = agent.get("/customers/", {"q": "Lopez", "page": value})
        found = problem(response, "page", absent=(BO,))
        if found or ANA not in response.content.decode():
            problems[name] = found or "lost the match"
    assert problems == {}


# --- Web UI: the at-risk list ------------------------------------------------------------

AT_RISK_FILTERS = ("band", "segment", "aspect", "ticket", "contacted")


@pytest.mark.parametrize("param", AT_RISK_FILTERS)
def test_at_risk_filters_ignore_hostile_values_and_say_so(shop, param) -> None:
    """A filter value that is not one the form offers is ignored, and the page names it;
    a filter it does apply matches nobody."""
    agent = signed_in("Agents")
    problems = {}
    for name, value in HOSTILE.items():
        response = agent.get("/at-risk/", {param: value})
        found = problem(response, param)
        if not found and not value.strip():
            # blank: no filter, the whole list
            found = "" if ANA in response.content.decode() else "blank hid the list"
        elif not found and not ignored(response, param):
            found = problem(response, param, absent=(ANA, BO))
        if found:
            problems[name] = found
    assert problems == {}


@pytest.mark.parametrize("param", ("sort", "page"))
def test_at_risk_sort_and_page_fall_back_on_hostile_values(shop, param) -> None:
    agent = signed_in("Agents")
    problems = {}
    for name, value in HOSTILE.items():
        response = agent.get("/at-risk/", {param: value})
        found = problem(response, param)
        if not found and ANA not in response.content.decode():
            found = "lost the list"
        if found:
            problems[name] = found
    assert problems == {}


def test_at_risk_filter_given_twice_uses_the_last_value(shop) -> None:
    agent = signed_in("Agents")
    bad = agent.get("/at-risk/?band=high&band=" + quote("' OR '1'='1")).content.decode()
    assert "Ignored “band”" in bad
    good = agent.get("/at-risk/?band=x&band=medium").content.decode()
    assert BO in good and ANA not in good and "Ignored" not in good


def test_at_risk_filters_still_work_after_the_parsing(shop) -> None:
    agent = signed_in("Agents")
    page = agent.get("/at-risk/", {"segment": "loyal high spenders", "contacted": "never",
                                   "sort": "value", "ticket": "open"}).content.decode()  # fmt: skip
    assert BO in page and ANA not in page and "Ignored" not in page
    lately = agent.get("/at-risk/", {"contacted": "30"}).content.decode()
    assert ANA in lately and BO not in lately


# --- Web UI: pages without filters of their own, and the dashboards -----------------------

# page -> the group that may open it
DASHBOARDS = {
    "/queue/": "Agents",
    "/voice/": "Marketing",
    "/rules/": "Marketing",
    "/results/": "Marketing",
    "/model/": "Marketing",
    "/approvals/": "Managers",
    "/customers/ANA-1/": "Agents",
}
STRAY_PARAMS = ("aspect", "weeks", "version", "page", "sort", "q", "customer")


@pytest.mark.parametrize("url", DASHBOARDS)
def test_dashboards_ignore_hostile_parameters(shop, url) -> None:
    """Pages that read no parameter (or, the voice page, fall back to an aspect) answer
    their normal page whatever the query string says."""
    client = signed_in(DASHBOARDS[url])
    problems = {}
    for name, value in HOSTILE.items():
        response = client.get(url, dict.fromkeys(STRAY_PARAMS, value))
        if response.status_code != 200 or FILE_CONTENT in response.content.decode():
            problems[name] = response.status_code
    assert problems == {}


def test_voice_falls_back_to_delivery_on_an_unknown_aspect(shop) -> None:
    page = signed_in("Marketing").get("/voice/", {"aspect": "' OR '1'='1"}).content.decode()
    assert '<option value="delivery" selected>' in page


# --- Web UI: ids in the URL --------------------------------------------------------------

TRAVERSALS = (
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2e%2e",
    "....//....//etc/passwd",
    "/etc/passwd",
    "%00",
    "ANA-1%00",
    "%2500",
    "..%00",
    quote("' OR '1'='1"),
    quote("1 UNION SELECT username, password FROM auth_user--"),
    "x" * 100_000,
    "99999999999999999999999",
    quote("😀"),
)
CUSTOMER_URLS = {
    "/customers/{}/": ("get", "Agents", {}),
    "/customers/{}/notes/": ("post", "Agents", {"body": "Hello"}),
    "/customers/{}/interventions/": ("post", "Agents", {"rule": "{rule}"}),
}


@pytest.mark.parametrize("pattern", CUSTOMER_URLS)
def test_customer_ids_that_climb_out_or_inject_are_not_found(shop, pattern) -> None:
    method, group, data = CUSTOMER_URLS[pattern]
    client = signed_in(group)
    body = {k: v.format(rule=shop["rule"].pk) for k, v in data.items()}
    problems = {}
    for raw in TRAVERSALS:
        response = getattr(client, method)(pattern.format(raw), body)
        text = response.content.decode(errors="replace")
        if response.status_code != 404 or FILE_CONTENT in text or ANA in text:
            problems[raw[:40]] = response.status_code
    assert problems == {}
    assert CustomerNote.objects.count() == 0


INT_URLS = {
    "/queue/calls/{}/": ("post", "Agents"),
    "/queue/tickets/{}/": ("post", "Agents"),
    "/texts/{}/label/": ("post", "Agents"),
    "/approvals/{}/": ("post", "Managers"),
    "/rules/{}/dry-run/": ("get", "Marketing"),
}


@pytest.mark.parametrize("pattern", INT_URLS)
def test_numeric_ids_out_of_range_or_not_numbers_are_not_found(shop, pattern) -> None:
    method, group = INT_URLS[pattern]
    client = signed_in(group)
    problems = {}
    for raw in ("99999999999999999999999", str(2**63), str(2**31), "-1", "0", "1e3", "%00",
                "../1", quote("1 OR 1=1")):  # fmt: skip
        response = getattr(client, method)(pattern.format(raw), {"action": "claim"})
        if response.status_code != 404:
            problems[raw] = response.status_code
    assert problems == {}


# --- Web UI: the fields the actions read ----------------------------------------------------


def action_status(response: HttpResponse) -> str:
    """'' for an answer that is not an error page (a 302 back, a 200, a 400 or 409 refusal)."""
    return "" if response.status_code in (200, 302, 400, 409) else str(response.status_code)


@pytest.mark.parametrize(
    ("field", "others"),
    [
        ("action", {}),
        ("outcome", {"action": "log"}),
        ("follow_up_on", {"action": "log", "outcome": "follow_up"}),
        ("notes", {"action": "log", "outcome": "no_answer"}),
    ],
)
def test_logging_a_call_refuses_hostile_fields(shop, field, others) -> None:
    agent = signed_in("Agents")
    url = f"/queue/calls/{shop['call'].pk}/"
    assert agent.post(url, {"action": "claim"}).status_code == 302
    problems = {}
    for name, value in HOSTILE.items():
        for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
            found = action_status(agent.post(url, {**others, field: value}, **htmx))
            if found:
                problems[name] = found
    assert problems == {}
    call = CallTask.objects.get(pk=shop["call"].pk)
    assert "\x00" not in call.notes and len(call.notes) <= settings.CRM_MAX_TEXT_LENGTH
    assert call.follow_up_on is None  # none of the values is a date


def test_a_follow_up_with_a_date_that_does_not_exist_is_refused_naming_the_field(shop) -> None:
    agent = signed_in("Agents")
    url = f"/queue/calls/{shop['call'].pk}/"
    agent.post(url, {"action": "claim"})
    data = {"action": "log", "outcome": "follow_up", "follow_up_on": "2024-02-30"}
    refused = agent.post(url, data, HTTP_HX_REQUEST="true")
    assert refused.status_code == 400 and "“follow_up_on”" in refused.content.decode()
    done = agent.post(url, {**data, "follow_up_on": "2024-02-29"}, HTTP_HX_REQUEST="true")
    assert done.status_code == 200 and "Logged: Follow-up needed." in done.content.decode()


def test_notes_with_hostile_bodies_are_saved_as_text_or_refused(shop) -> None:
    """SQL and paths are saved as the text they are; a NUL character, or a note longer
    than any customer text may be, is refused naming the field; blank is refused."""
    agent = signed_in("Agents")
    problems = {}
    for name, value in HOSTILE.items():
        response = agent.post("/customers/ANA-1/notes/", {"body": value}, HTTP_HX_REQUEST="true")
        found = action_status(response)
        named = "“body”" in response.content.decode() or not value.strip()
        if response.status_code == 400 and not named:
            found = "400 without naming the field"
        if found:
            problems[name] = found
    assert problems == {}
    notes = set(CustomerNote.objects.values_list("body", flat=True))
    assert HOSTILE["sqli-drop"] in notes and HOSTILE["traversal"] in notes
    assert all("\x00" not in body and len(body) <= settings.CRM_MAX_TEXT_LENGTH for body in notes)


@pytest.mark.parametrize("field", ["label", "reason"])
def test_label_corrections_refuse_hostile_fields(shop, field) -> None:
    agent = signed_in("Agents")
    text = shop["ana"].texts.first()
    problems = {}
    for name, value in HOSTILE.items():
        data = {"label": "neutral", "reason": "sarcasm", field: value}
        found = action_status(agent.post(f"/texts/{text.pk}/label/", data, HTTP_HX_REQUEST="true"))
        if found:
            problems[name] = found
    assert problems == {}


def test_starting_an_intervention_with_a_hostile_rule_id_is_refused(shop) -> None:
    agent = signed_in("Agents")
    problems = {}
    for name, value in HOSTILE.items():
        response = agent.post("/customers/BO-2/interventions/", {"rule": value},
                              HTTP_HX_REQUEST="true")  # fmt: skip
        if response.status_code not in (400, 404):
            problems[name] = response.status_code
    assert problems == {}
    assert not Intervention.objects.filter(customer=shop["bo"]).exists()


def test_approval_actions_refuse_hostile_choices(shop) -> None:
    manager = signed_in("Managers")
    intervention = Intervention.objects.get()
    problems = {}
    for name, value in HOSTILE.items():
        found = action_status(manager.post(f"/approvals/{intervention.pk}/", {"action": value}))
        if found:
            problems[name] = found
    assert problems == {}


@pytest.mark.parametrize("page", ["/login/", "/admin/login/"])
@pytest.mark.parametrize("field", ["username", "password"])
def test_sign_in_with_hostile_credentials_is_refused(field, page) -> None:
    UserFactory(username="ana", is_staff=True)
    problems = {}
    for name, value in HOSTILE.items():
        data = {"username": "ana", "password": "wrong", field: value}
        client = Client(REMOTE_ADDR="10.1.1.1", raise_request_exception=False)
        response = client.post(page, data)
        if response.status_code not in (200, 429) or "_auth_user_id" in response.client.session:
            problems[name] = response.status_code
    assert problems == {}


# --- The API ------------------------------------------------------------------------------


def api_client(*codenames: str) -> APIClient:
    user = UserFactory()
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="crm", codename__in=codenames)
    )
    _, key = api_token_create(name="injection test", user=user)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def reader() -> APIClient:
    models = ("customer", "order", "review", "ticket", "ticketmessage", "event")
    return api_client(*(f"view_{m}" for m in models))


# (list URL, filter) pairs; filters by an id or a text match nothing on a value no record has.
API_FILTERS = [
    ("/api/customers/", "email"),
    ("/api/customers/", "country"),
    ("/api/customers/", "is_erased"),
    ("/api/customers/", "updated_since"),
    ("/api/customers/", "limit"),
    ("/api/customers/", "offset"),
    ("/api/orders/", "customer"),
    ("/api/orders/", "status"),
    ("/api/orders/", "placed_since"),
    ("/api/orders/", "placed_before"),
    ("/api/orders/", "updated_since"),
    ("/api/reviews/", "customer"),
    ("/api/reviews/", "order"),
    ("/api/reviews/", "rating"),
    ("/api/tickets/", "customer"),
    ("/api/tickets/", "status"),
    ("/api/tickets/", "channel"),
    ("/api/tickets/", "priority"),
    ("/api/tickets/T-ANA/messages/", "author_kind"),
    ("/api/tickets/T-ANA/messages/", "updated_since"),
    ("/api/tickets/T-ANA/messages/", "offset"),
    ("/api/events/", "customer"),
    ("/api/events/", "kind"),
    ("/api/events/", "occurred_since"),
    ("/api/events/", "occurred_before"),
    ("/api/events/", "cursor"),
]
NARROWING = {"email", "country", "customer", "order"}


def api_problem(response: Any, param: str) -> str:
    """'' for a 200, or a 400 whose body names `param`; else what is wrong."""
    if response.status_code == 400:
        return "" if param in response.json() else f"400 naming {list(response.json())}"
    return "" if response.status_code == 200 else f"status {response.status_code}"


@pytest.mark.parametrize(("url", "param"), API_FILTERS, ids=[f"{u}?{p}" for u, p in API_FILTERS])
def test_api_list_filters_answer_hostile_values_with_200_or_400(shop, reader, url, param) -> None:
    problems = {}
    for name, value in HOSTILE.items():
        response = reader.get(url, {param: value})
        found = api_problem(response, param)
        if not found and response.status_code == 200 and param in NARROWING and value.strip():
            rows = response.json()["results"]
            if rows:
                found = f"matched {len(rows)} records"
        if found:
            problems[name] = found
    assert problems == {}


def test_api_filter_given_twice_uses_one_value(shop, reader) -> None:
    response = reader.get("/api/orders/?customer=ANA-1&customer=" + quote("' OR '1'='1"))
    assert response.status_code == 200 and response.json()["results"] == []


def cursor(**tokens: str) -> str:
    return b64encode(urlencode(tokens).encode()).decode()


def test_api_event_cursors_crafted_with_hostile_positions_are_refused(shop, reader) -> None:
    crafted = [cursor(p=value) for value in HOSTILE.values() if len(value) < 1000]
    crafted += [cursor(o="99999999999999999999999"), cursor(r="x"), cursor(o="-1"),
                cursor(p="2024-01-01T00:00:00+00:00", o="1"), "%%%", "\x00"]  # fmt: skip
    problems = {}
    for value in crafted:
        found = api_problem(reader.get("/api/events/", {"cursor": value}), "cursor")
        if found:
            problems[value[:40]] = found
    assert problems == {}
    assert Event.objects.count() == 2


API_DETAILS = ("/api/customers/{}/", "/api/orders/{}/", "/api/reviews/{}/", "/api/tickets/{}/",
               "/api/tickets/{}/messages/", "/api/tickets/T-ANA/messages/{}/")  # fmt: skip


@pytest.mark.parametrize("pattern", API_DETAILS)
def test_api_ids_that_climb_out_or_inject_are_not_found(shop, reader, pattern) -> None:
    problems = {}
    for raw in TRAVERSALS:
        response = reader.get(pattern.format(raw))
        text = response.content.decode(errors="replace")
        if response.status_code != 404 or FILE_CONTENT in text or "ANA-1" in text:
            problems[raw[:40]] = response.status_code
    assert problems == {}
