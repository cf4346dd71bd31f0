"""Production: refuses to start without its secrets and servers; HTTPS only, static files
compressed and cache-busted by WhiteNoise, throttling counted in Redis.

Required: SECRET_KEY (50+ characters), DATABASE_URL, REDIS_URL, ALLOWED_HOSTS. Optional,
with secure defaults: CSRF_TRUSTED_ORIGINS, SECURE_SSL_REDIRECT (on), SECURE_HSTS_SECONDS
(one year), SECURE_HSTS_INCLUDE_SUBDOMAINS (on), SECURE_HSTS_PRELOAD (on),
TRUST_X_FORWARDED_PROTO (off), CACHE_URL (REDIS_URL). `manage.py check --deploy` passes
with the defaults; tests/config/test_production.py holds it to that.
"""

from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_required, env_url
from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, REDIS_URL

DEBUG = False

SECRET_KEY = env_required("SECRET_KEY", "in production")
# Django's deploy check warns about such keys; a weak key signs sessions and password
# reset links, so production refuses it outright instead of running with a warning.
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for production: use 50 or more random characters, e.g. "
        '`python -c "import secrets; print(secrets.token_urlsafe(50))"`.'
    )
# Both were read (and their schemes checked) by base; here they become mandatory.
env_required("DATABASE_URL", "in production (postgres://user:password@host:5432/name)")
env_required("REDIS_URL", "in production (redis://host:6379/0), the Celery broker")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "The environment variable ALLOWED_HOSTS must be set in production "
        "(comma-separated host names, e.g. crm.example.com)."
    )

# A restarted PostgreSQL leaves persistent connections dead; check them before reuse
# instead of failing the next request on each web process.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if str(DATABASES["default"]["ENGINE"]).endswith("postgresql"):
    # An unreachable server fails a request (and /healthz) in seconds, not minutes.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5)
    )

# --- HTTPS -----------------------------------------------------------------------------
# Behind a proxy that terminates TLS, Django sees plain HTTP; trust the proxy's
# X-Forwarded-Proto only when told to, since a client could send that header itself.
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Load balancers probe over plain HTTP and do not follow redirects.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# Only needed when forms are posted from another origin than the one the site is served on.
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
for _origin in CSRF_TRUSTED_ORIGINS:
    if urlparse(_origin).scheme not in ("http", "https") or not urlparse(_origin).netloc:
        raise ImproperlyConfigured(
            f"CSRF_TRUSTED_ORIGINS entry {_origin!r} must be an origin with its scheme, "
            "e.g. https://crm.example.com."
        )

# --- Static files ----------------------------------------------------------------------
# `collectstatic` writes hashed, gzip- and brotli-compressed copies; WhiteNoise serves them
# with far-future cache headers, so no separate static server is needed.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Cache -----------------------------------------------------------------------------
# API throttling counts requests per token; the count must be shared by every web process,
# hence Redis. Short timeouts: a Redis outage must not stall requests (the throttle lets
# requests through while the cache is unreachable, see crm.api.throttling).
CACHE_URL = env_url("CACHE_URL", REDIS_URL, schemes=("redis", "rediss"))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": "crm",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}
