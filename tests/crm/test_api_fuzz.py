"""A property-based fuzz of the REST API from its own OpenAPI schema (schemathesis).

For every operation in the schema, schemathesis generates requests that follow it
(positive) and requests that break it (negative: wrong types, missing fields, values out
of range), and sends them through the Django WSGI app in this process, authenticated with
a token whose user may do everything. Every answer must be below 500, and every 4xx must
name what was wrong: a JSON object whose keys are the request's fields or parameters (or
"detail", "non_field_errors", "errors", "events") and whose values are non-empty messages.

About half the generated requests have their references (`customer`, `order`, the
ticket in a message's URL, the record's own id) pointed at records that exist, so that
they reach the services and the database instead of stopping at "no such customer".

CI runs FUZZ_EXAMPLES=15 examples per operation and mode (~800 requests, well under two
minutes); raise it for a long run, e.g. `FUZZ_EXAMPLES=200 pytest tests/crm/test_api_fuzz.py`.
The request count and the statuses seen are printed at the end of the module.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis import GenerationMode

from crm.api.tokens import api_token_create
from tests.factories import CustomerFactory, OrderFactory, TicketFactory, UserFactory

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))

WSGI_APP = get_wsgi_application()
SCHEMA = schemathesis.openapi.from_dict(
    SchemaGenerator(patterns=None).get_schema(request=None, public=True)
)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]

# Keys of a 4xx body that name the reason rather than a field.
GENERAL_KEYS = {"detail", "non_field_errors", "errors", "events"}

# Records that exist, for references in about half of the requests.
EXISTING = {"customer": "FUZZ-C", "order": "FUZZ-O", "ticket": "FUZZ-T"}
PATH_EXISTING = {"/api/customers/": "FUZZ-C", "/api/orders/": "FUZZ-O", "/api/tickets/": "FUZZ-T"}

STATUSES: Counter[int] = Counter()


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many requests the fuzz made, by status, when the module is done."""
    yield
    total = sum(STATUSES.values())
    by_status = ", ".join(f"{code}: {count}" for code, count in sorted(STATUSES.items()))
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None and total:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nAPI fuzz: {total} requests ({FUZZ_EXAMPLES} examples per operation and "
                f"mode); statuses {by_status}"
            )


@pytest.fixture
def keep_db_connection() -> Iterator[None]:
    """The WSGI handler closes the database connection at the start and end of each
    request; inside a test that would end its transaction. Django's test client holds
    these signals back the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_key(db: None, keep_db_connection: None) -> str:
    """A token of a superuser, with a rate no fuzz reaches, and records to refer to."""
    customer = CustomerFactory(external_id=EXISTING["customer"])
    OrderFactory(external_id=EXISTING["order"], customer=customer)
    TicketFactory(external_id=EXISTING["ticket"], customer=customer)
    _, key = api_token_create(name="fuzz", user=UserFactory(is_superuser=True), rate="100000/s")
    return key


def point_at_existing(case: schemathesis.Case) -> None:
    """Make the case's references (and the record it addresses) ones that exist."""
    records = [case.body] if isinstance(case.body, dict) else []
    if isinstance(case.body, dict) and isinstance(case.body.get("events"), list):
        records += case.body["events"]  # a batch of events, each with its customer
    for record in records:
        if isinstance(record, dict):
            for field, external_id in EXISTING.items():
                if field in record:
                    record[field] = external_id
    if case.path_parameters:
        if "ticket_external_id" in case.path_parameters:
            case.path_parameters["ticket_external_id"] = EXISTING["ticket"]
        collection = case.operation.path.split("{", 1)[0]
        if "external_id" in case.path_parameters and collection in PATH_EXISTING:
            case.path_parameters["external_id"] = PATH_EXISTING[collection]
            if isinstance(case.body, dict) and "external_id" in case.body:
                case.body["external_id"] = PATH_EXISTING[collection]


def request_names(case: schemathesis.Case) -> set[str]:
    """Everything a 400 may name: the operation's body properties and parameters, and
    whatever the generated request actually sent."""
    names = set(GENERAL_KEYS)
    for parameter in case.operation.iter_parameters():
        names.add(parameter.name)
    body = case.operation.definition.raw.get("requestBody", {})
    for media in body.get("content", {}).values():
        names |= set(resolve(media.get("schema", {})).get("properties", {}))
    if isinstance(case.body, dict):
        names |= {str(key) for key in case.body}
    names |= set(case.query or {})
    return names


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a `$ref` into the schema's components."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    node: Any = SCHEMA.raw_schema
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def is_message(value: Any) -> bool:
    """A non-empty reason: text, or a non-empty list or mapping of reasons."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list):
        return bool(value) and all(is_message(item) for item in value)
    if isinstance(value, dict):
        return bool(value) and all(is_message(item) for item in value.values())
    return False


def problem_with(case: schemathesis.Case, response: schemathesis.Response) -> str | None:
    """Why this answer is unacceptable, or None."""
    status = response.status_code
    if status >= 500:
        return f"{status}: {response.text[:500]}"
    if status < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"{status} without a JSON body: {response.text[:200]!r}"
    if not isinstance(body, dict) or not body:
        return f"{status} whose body names nothing: {body!r}"
    if status == 400:
        unknown = set(body) - request_names(case)
        if unknown:
            return f"400 naming keys that are not in the request: {sorted(unknown)} in {body}"
    if not all(is_message(value) for value in body.values()):
        return f"{status} with an empty reason: {body}"
    return None


def can_be_broken(operation: Any) -> bool:
    """Whether a request can break the operation's schema: not so for a GET whose only
    parameter is a string in the path, which any string satisfies. (Authorization and the
    session cookie are the schema's security schemes, not the operation's parameters.)"""
    return bool(list(operation.body)) or any(
        p.location == "query" for p in operation.iter_parameters()
    )


CASES = [
    pytest.param(operation, mode, id=f"{operation.method.upper()} {operation.path} {mode.value}")
    for operation in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or can_be_broken(operation)
]


@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_generated_requests_get_no_5xx_and_every_4xx_says_why(
    operation: Any, mode: GenerationMode, fuzz_key: str
) -> None:
    headers = {"Authorization": f"Token {fuzz_key}"}

    @hypothesis.settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode), existing=st.booleans())
    def check(case: schemathesis.Case, existing: bool) -> None:
        if existing:
            point_at_existing(case)
        # Each request in a savepoint that is rolled back: examples stay independent (as
        # Hypothesis assumes when it shrinks), and a failed query cannot poison the test's
        # transaction for the examples after it, as autocommit ensures in production.
        with transaction.atomic():
            response = case.call(app=WSGI_APP, headers=headers)
            transaction.set_rollback(True)
        STATUSES[response.status_code] += 1
        problem = problem_with(case, response)
        assert problem is None, f"{problem}\nReproduce: {case.as_curl_command(headers=headers)}"

    check()


# Requests that answered 500 before the fix named beside each (found by this fuzz, or by
# probing the kinds of input it showed to be weak), with the answer they get now.


def events_with_payload(payload: str) -> str:
    """A batch of one event of the fuzz's customer whose payload is the raw JSON given."""
    event = '{"customer": "FUZZ-C", "kind": "visit", "occurred_at": "2024-05-01T12:00:00Z"'
    return f'[{event}, "payload": {payload}}}]'


FOUND = [
    # a limit past 2**63 reached the SQL LIMIT (crm.api.pagination caps it)
    ("GET", "/api/customers/?limit=9223372036854775808", "", 200, None),
    # a datetime filter that overflows when moved to UTC (views.UtcDateTimeField)
    ("GET", "/api/orders/?placed_since=9999-12-31T23:59:59-14:00", "", 400, "placed_since"),
    ("GET", "/api/events/?occurred_before=0001-01-01T00:00:00%2B05:00", "", 400, "occurred_before"),
    # an offset PostgreSQL cannot hold (Python allows up to 24 h; UTC carries none)
    ("GET", "/api/customers/?updated_since=7862-11-24T22:30:05-18:22", "", 200, None),
    # NUL in the URL's external id: PostgreSQL refuses the lookup (UpsertViewSet.initial)
    ("GET", "/api/customers/A%00B/", "", 404, "detail"),
    ("PUT", "/api/customers/A%00B/", "{}", 404, "detail"),
    ("GET", "/api/tickets/T%00/messages/", "", 404, "detail"),
    # NUL in a reference: PostgreSQL refuses the lookup (ExternalIdRelatedField, preload_refs)
    (
        "POST",
        "/api/tickets/",
        '{"customer": "\\u0000", "external_id": "T", "opened_at": '
        '"2024-01-01T00:00:00Z", "subject": "x"}',
        400,
        "customer",
    ),
    (
        "POST",
        "/api/events/bulk/",
        '[{"customer": "\\u0000", "kind": "visit", "occurred_at": "2024-01-01T00:00:00Z"}]',
        400,
        "errors",
    ),
    # JSON nested deeper than Python's recursion limit (crm.api.parsers)
    ("POST", "/api/customers/", "[" * 50_000 + "]" * 50_000, 400, "detail"),
    # payloads jsonb or JSON cannot hold (serializers.payload_problem)
    ("POST", "/api/events/bulk/", events_with_payload(r'{"a": "\u0000"}'), 400, "errors"),
    ("POST", "/api/events/bulk/", events_with_payload(r'{"\ud800": 1}'), 400, "errors"),
    ("POST", "/api/events/bulk/", events_with_payload('{"a": 1e400}'), 400, "errors"),
    (
        "POST",
        "/api/events/bulk/",
        events_with_payload('{"a": ' + "[" * 40 + "]" * 40 + "}"),
        400,
        "errors",
    ),
    # answered 4xx before, but as an HTML page naming nothing
    ("GET", "/api/no-such-thing/", "", 404, "detail"),
    ("GET", "/api/customers", "", 404, "detail"),
    ("POST", "/api/events/bulk/", events_with_payload('"' + "y" * 11_000_000 + '"'), 413, "detail"),
]


@pytest.mark.parametrize(("method", "url", "body", "status", "names"), FOUND)
def test_requests_that_once_broke_the_api_get_a_4xx_naming_why(
    fuzz_key: str, method: str, url: str, body: str, status: int, names: str | None
) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {fuzz_key}")

    response = client.generic(
        method, url, body.encode("utf-8", "surrogatepass"), content_type="application/json"
    )

    assert response.status_code == status, response.content[:300]
    if names is not None:
        reason = response.json()[names]
        assert is_message(reason), reason
