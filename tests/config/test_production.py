"""Production settings, each in a fresh Python process as a server would start them.

The settings module is read once per process, so every case runs `python -c ...` (or
`manage.py`) with its own environment: the documented variables, less or more one.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

# The documented set (README, production section); nothing needs to listen on these ports
# for start-up, `check --deploy` or static files.
REQUIRED = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DATABASE_URL": "postgres://crm:secret@127.0.0.1:1/crm",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "ALLOWED_HOSTS": "crm.example.com",
}
# Variables of the developer's or CI's shell that would change what is tested.
CLEARED = (
    *REQUIRED,
    "DEBUG",
    "CACHE_URL",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "TRUST_X_FORWARDED_PROTO",
)


def production_env(var_dir: Path, **changes: str | None) -> dict[str, str]:
    """The environment of a production process: the documented set, with `changes`
    applied (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(REQUIRED, DJANGO_SETTINGS_MODULE="config.settings.production")
    env["CRM_VAR_DIR"] = str(var_dir)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def setup_django(env: dict[str, str], then: str = "") -> subprocess.CompletedProcess[str]:
    return run(["-c", f"import django\ndjango.setup()\n{then}"], env)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"])
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_production_refuses_to_start_without_a_required_variable_and_names_it(
    tmp_path: Path, missing: str, how: str
) -> None:
    env = production_env(tmp_path, **{missing: None if how == "unset" else ""})

    result = setup_django(env)

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured:")
    assert f"The environment variable {missing} must be set" in last_line


def test_production_starts_with_the_documented_variables_and_runs_secure(tmp_path: Path) -> None:
    result = setup_django(
        production_env(tmp_path),
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS, s.ALLOWED_HOSTS, s.STORAGES['staticfiles']['BACKEND'], "
        "s.CACHES['default']['BACKEND'])",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "True",
        "True",
        "True",
        "31536000",
        "['crm.example.com']",
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "django.core.cache.backends.redis.RedisCache",
    ]


def test_debug_stays_off_in_production_even_if_the_environment_asks(tmp_path: Path) -> None:
    result = setup_django(
        production_env(tmp_path, DEBUG="1"),
        "from django.conf import settings; print(settings.DEBUG)",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("key", ["short-key", "django-insecure-" + "x" * 60, "ab" * 40])
def test_a_weak_secret_key_is_refused(tmp_path: Path, key: str) -> None:
    result = setup_django(production_env(tmp_path, SECRET_KEY=key))

    assert result.returncode != 0
    assert "SECRET_KEY is too weak for production" in result.stderr


def test_a_trusted_origin_without_its_scheme_is_refused(tmp_path: Path) -> None:
    result = setup_django(production_env(tmp_path, CSRF_TRUSTED_ORIGINS="crm.example.com"))

    assert result.returncode != 0
    assert "CSRF_TRUSTED_ORIGINS entry 'crm.example.com'" in result.stderr


def test_check_deploy_passes_without_warnings(tmp_path: Path) -> None:
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path)
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNING" not in output


def test_check_deploy_warns_when_hsts_is_turned_off(tmp_path: Path) -> None:
    """The check above would also pass if the deploy checks were skipped; this one shows
    they run: turning a secure default off makes them fail."""
    env = production_env(tmp_path, SECURE_HSTS_SECONDS="0")

    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


# Serves one static file and /healthz from the production app, in-process, after
# collectstatic. Prints one "name value" line per fact the test checks.
SERVE_SCRIPT = """
from pathlib import Path
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.test import Client

client = Client(HTTP_HOST="crm.example.com")
url = staticfiles_storage.url("admin/js/core.js")
print("url", url)
plain = client.get(url, secure=True)
print("status", plain.status_code)
print("cache", plain.headers.get("Cache-Control"))
original = Path(finders.find("admin/js/core.js")).read_bytes()
print("same-bytes", b"".join(plain.streaming_content) == original)
gzipped = client.get(url, secure=True, HTTP_ACCEPT_ENCODING="gzip")
print("encoding", gzipped.headers.get("Content-Encoding"))
print("http-page", client.get("/login/").status_code)
print("http-healthz", client.get("/healthz?check=broker").status_code)
"""


def test_collectstatic_then_whitenoise_serves_hashed_compressed_static_files(
    tmp_path: Path,
) -> None:
    """GIVEN production settings WHEN collectstatic runs and the app starts THEN a static
    file is served under its hashed name, cached for good, gzipped on request; plain HTTP
    pages redirect to HTTPS, except /healthz."""
    env = production_env(tmp_path)

    collected = run(["manage.py", "collectstatic", "--noinput"], env)
    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "staticfiles" / "staticfiles.json").is_file()
    served = setup_django(env, SERVE_SCRIPT)

    assert served.returncode == 0, served.stderr
    facts = dict(line.split(" ", 1) for line in served.stdout.strip().splitlines())
    assert facts["url"].startswith("/static/admin/js/core.")
    assert facts["url"] != "/static/admin/js/core.js"  # the content hash is in the name
    assert facts["status"] == "200"
    assert "immutable" in facts["cache"] and "max-age=315360000" in facts["cache"]
    assert facts["same-bytes"] == "True"
    assert facts["encoding"] == "gzip"
    assert facts["http-page"] == "301"
    # The broker of these settings is not running: 503, but answered over plain HTTP.
    assert facts["http-healthz"] == "503"
