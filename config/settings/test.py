"""Settings for pytest.

SQLite's test database is a file (not in-memory) so that a real worker process started by
the integration tests can open the same database. With DATABASE_URL set, pytest-django
creates a `test_<name>` PostgreSQL database instead.

A second alias, "compare", is the other engine, for tests that compare results across
SQLite and PostgreSQL in one run: SQLite when the default is PostgreSQL (as in CI), and
COMPARE_DATABASE_URL (a PostgreSQL URL) when the default is SQLite; without one, those
tests are skipped.
"""

import dj_database_url

from config.env import env_str
from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, VAR_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A worker process started by a test cannot share locmem's outbox: the fault tests have it
# write files instead (TEST_EMAIL_BACKEND / TEST_EMAIL_FILE_PATH) and count them.
EMAIL_BACKEND = env_str("TEST_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
EMAIL_FILE_PATH = env_str("TEST_EMAIL_FILE_PATH", str(VAR_DIR / "test-mail"))
VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "staticfiles").mkdir(exist_ok=True)  # WhiteNoise warns on a missing STATIC_ROOT
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    _compare_url = env_str("COMPARE_DATABASE_URL")
    if _compare_url:
        DATABASES["compare"] = dict(dj_database_url.parse(_compare_url))
else:
    DATABASES["compare"] = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(VAR_DIR / "compare-db.sqlite3"),
        "TEST": {"NAME": str(VAR_DIR / "test-compare-db.sqlite3")},
    }

# Tests share one process's cache: a page kept from another test would be stale.
SENTIMENT_VOICE_CACHE_SECONDS = 0
