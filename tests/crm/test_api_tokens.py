"""API tokens per integration: created in the admin (key shown once), revocable,
throttled per token (429 with Retry-After); no token is a 401."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from crm.api.throttling import ApiTokenRateThrottle
from crm.api.tokens import api_token_create, api_tokens_revoke
from crm.models import ApiToken
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/crm/apitoken/"


def integration_user(*codenames: str) -> object:
    user = UserFactory()
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="crm", codename__in=codenames)
    )
    return user


def client_with(key: str, keyword: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
    return client


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


# --- Authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize("keyword", ["Token", "Bearer", "bearer"])
def test_a_token_authenticates_as_its_user_with_either_keyword(keyword: str) -> None:
    CustomerFactory(external_id="C-1")
    _, key = api_token_create(name="ERP", user=integration_user("view_customer"))

    response = client_with(key, keyword).get("/api/customers/")

    assert response.status_code == 200
    assert [c["external_id"] for c in response.json()["results"]] == ["C-1"]


def test_only_the_hash_of_a_key_is_stored() -> None:
    token, key = api_token_create(name="ERP", user=integration_user())

    stored = ApiToken.objects.filter(pk=token.pk).values().get()

    assert key.startswith("crm_") and len(key) > 40
    assert key not in {str(value) for value in stored.values()}
    assert stored["key_prefix"] == key[:8]


def test_a_request_without_a_token_or_session_is_401_with_a_challenge() -> None:
    response = APIClient().post("/api/customers/", {}, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "credentials were not provided" in response.json()["detail"]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Token crm_not-a-real-key", "Invalid token."),
        ("Bearer", "Invalid Authorization header"),
        ("Token two parts", "Invalid Authorization header"),
    ],
)
def test_a_bad_token_is_401_saying_why(header: str, reason: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/customers/")

    assert response.status_code == 401
    assert reason in response.json()["detail"]


def test_a_revoked_token_is_401_and_revoking_again_keeps_the_first_time() -> None:
    """GIVEN a working token WHEN it is revoked (twice) THEN its requests get 401 and the
    first revocation time stands."""
    token, key = api_token_create(name="ERP", user=integration_user("view_customer"))
    assert client_with(key).get("/api/customers/").status_code == 200

    assert api_tokens_revoke(token_ids=[token.pk]) == 1
    first = ApiToken.objects.get().revoked_at
    assert api_tokens_revoke(token_ids=[token.pk]) == 0

    response = client_with(key).get("/api/customers/")
    assert response.status_code == 401
    assert response.json()["detail"] == "This token was revoked."
    assert ApiToken.objects.get().revoked_at == first


def test_a_token_of_an_inactive_user_is_401() -> None:
    user = integration_user("view_customer")
    _, key = api_token_create(name="ERP", user=user)
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = client_with(key).get("/api/customers/")

    assert response.status_code == 401
    assert "inactive" in response.json()["detail"]


def test_a_token_acts_with_its_users_permissions_only() -> None:
    _, key = api_token_create(name="Reader", user=integration_user("view_customer"))

    response = client_with(key).post("/api/customers/", {"external_id": "C-1"}, format="json")

    assert response.status_code == 403


def test_last_used_is_written_on_first_use_and_at_most_once_a_minute() -> None:
    """GIVEN a new token WHEN it makes three requests THEN the first stamps last_used_at
    (one UPDATE) and the next two write nothing; a minute later it is stamped again."""
    token, key = api_token_create(name="ERP", user=integration_user("view_customer"))
    client = client_with(key)

    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            client.get("/api/customers/")
    updates = [q for q in queries if q["sql"].startswith("UPDATE")]
    first = ApiToken.objects.get().last_used_at
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/customers/")

    assert len(updates) == 1 and first is not None
    assert ApiToken.objects.get().last_used_at > first


# --- Throttling ------------------------------------------------------------------------------


def test_a_token_over_its_rate_gets_429_with_retry_after_and_other_tokens_do_not() -> None:
    user = integration_user("view_customer")
    _, limited = api_token_create(name="Chatty", user=user, rate="3/min")
    _, other = api_token_create(name="Quiet", user=user, rate="3/min")
    client = client_with(limited)

    statuses = [client.get("/api/customers/").status_code for _ in range(4)]
    throttled = client.get("/api/customers/")

    assert statuses == [200, 200, 200, 429]
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert "throttled" in throttled.json()["detail"]
    assert client_with(other).get("/api/customers/").status_code == 200


def test_a_token_without_its_own_rate_gets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ApiTokenRateThrottle, "THROTTLE_RATES", {"api_token": "2/hour"})
    _, key = api_token_create(name="ERP", user=integration_user("view_customer"))
    client = client_with(key)

    statuses = [client.get("/api/customers/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert int(client.get("/api/customers/")["Retry-After"]) > 60


def test_requests_pass_unthrottled_while_the_cache_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The API must keep storing data through a Redis outage (DESIGN: nothing lost)."""

    class DownCache:
        def get(self, *args: object, **kwargs: object) -> None:
            raise RedisConnectionError("Error 111 connecting to redis:6379.")

        set = get

    monkeypatch.setattr(ApiTokenRateThrottle, "cache", DownCache())
    _, key = api_token_create(name="ERP", user=integration_user("view_customer"), rate="1/min")
    client = client_with(key)

    statuses = [client.get("/api/customers/").status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert "the cache is unreachable" in caplog.text


@pytest.mark.parametrize("rate", ["120", "0/min", "ten/min", "5/fortnight", "5 / min"])
def test_a_malformed_rate_is_refused_naming_the_field(rate: str) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        api_token_create(name="ERP", user=integration_user(), rate=rate)

    assert "rate" in refused.value.message_dict
    assert not ApiToken.objects.exists()


# --- Admin -------------------------------------------------------------------------------------


def test_the_admin_creates_a_token_and_shows_its_key_once(admin_client_: Client) -> None:
    """GIVEN the add form WHEN a token is created THEN the answer shows its key, which
    works for the API, and no page shows it again."""
    user = integration_user("view_customer")

    response = admin_client_.post(
        f"{CHANGELIST}add/", {"name": "Shop ERP", "user": user.pk, "rate": "120/min"}
    )

    assert response.status_code == 200
    key = re.search(r'id="api-token-key"[^>]*>([^<]+)<', response.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert (token.name, token.user, token.rate) == ("Shop ERP", user, "120/min")
    assert token.key_hash == ApiToken.hash_key(key)
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    assert client_with(key).get("/api/customers/").status_code == 200
    for page in (CHANGELIST, f"{CHANGELIST}{token.pk}/change/"):
        assert key not in admin_client_.get(page).content.decode()


def test_the_admin_revokes_selected_tokens(admin_client_: Client) -> None:
    token, key = api_token_create(name="ERP", user=integration_user("view_customer"))

    response = admin_client_.post(
        CHANGELIST, {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )

    assert "Revoked 1 token" in response.content.decode()
    assert ApiToken.objects.get().is_revoked
    assert client_with(key).get("/api/customers/").status_code == 401


def test_a_staff_member_cannot_mint_a_token_for_someone_more_powerful() -> None:
    """GIVEN staff allowed to add tokens but not a superuser WHEN they create a token for a
    superuser THEN the form refuses it: a token would let them act as that user."""
    staff = integration_user("add_apitoken", "view_apitoken")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(staff)
    boss = UserFactory(is_superuser=True)

    refused = client.post(f"{CHANGELIST}add/", {"name": "Backdoor", "user": boss.pk})
    allowed = client.post(f"{CHANGELIST}add/", {"name": "Own", "user": staff.pk})

    assert refused.status_code == 200
    assert "whose permissions you hold yourself" in refused.content.decode()
    assert allowed.status_code == 200 and 'id="api-token-key"' in allowed.content.decode()
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["Own"]


@pytest.mark.parametrize(
    "url", [CHANGELIST, f"{CHANGELIST}?q=ERP", f"{CHANGELIST}?revoked_at__isempty=1", "add/"]
)
def test_token_admin_pages_render(admin_client_: Client, url: str) -> None:
    token, _ = api_token_create(name="ERP", user=integration_user())
    url = f"{CHANGELIST}add/" if url == "add/" else url

    assert admin_client_.get(url).status_code == 200
    change = admin_client_.get(f"{CHANGELIST}{token.pk}/change/")
    assert change.status_code == 200 and token.key_prefix in change.content.decode()


def test_the_admin_edits_a_tokens_name_and_rate_but_not_its_user(admin_client_: Client) -> None:
    user = integration_user()
    token, _ = api_token_create(name="ERP", user=user)
    other = UserFactory()

    admin_client_.post(
        f"{CHANGELIST}{token.pk}/change/", {"name": "ERP v2", "user": other.pk, "rate": "5/s"}
    )

    token.refresh_from_db()
    assert (token.name, token.rate, token.user) == ("ERP v2", "5/s", user)


# --- Migration of DRF's tokens -----------------------------------------------------------------


def token_migration() -> tuple[tuple[str, str], tuple[str, str]]:
    """(the crm migration before the one that adds ApiToken, that one)."""
    graph = MigrationExecutor(connection).loader.graph
    after = next(key for key in graph.nodes if key[0] == "crm" and key[1].endswith("_api_tokens"))
    before = next(parent.key for parent in graph.node_map[after].parents if parent.key[0] == "crm")
    return before, after


@pytest.fixture
def migrate() -> Iterator[MigrationExecutor]:
    """An executor; every app is migrated back to its latest state afterwards."""
    executor = MigrationExecutor(connection)
    yield executor
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS authtoken_token")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_keys_of_drf_authtoken_keep_working_as_api_tokens(migrate: MigrationExecutor) -> None:
    """GIVEN an install whose integrations used DRF's authtoken WHEN 0008 runs THEN each
    key works as an ApiToken of the same user, and the plaintext keys are gone."""
    before, after = token_migration()
    migrate.migrate([before])
    user = integration_user("view_customer")
    key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamp NOT NULL, user_id integer NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [key, timezone.now() - timedelta(days=30), user.pk],
        )

    migrate = MigrationExecutor(connection)
    migrate.migrate([after])

    token = ApiToken.objects.get()
    assert token.user == user and token.created_at < timezone.now() - timedelta(days=29)
    assert client_with(key).get("/api/customers/").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)
