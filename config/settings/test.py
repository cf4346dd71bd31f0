"""Settings for pytest.

SQLite's test database is a file (not in-memory) so that a real worker process started by
the integration tests can open the same database. With DATABASE_URL set, pytest-django
creates a `test_<name>` PostgreSQL database instead.
"""

from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, VAR_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "staticfiles").mkdir(exist_ok=True)  # WhiteNoise warns on a missing STATIC_ROOT
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
