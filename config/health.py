"""/healthz: is every part this deployment needs working? For monitoring and probes.

The checks are listed by dotted path in settings.HEALTH_CHECKS, so each app provides its
own (churnmodel.health) without any app importing config, and config imports nothing of
theirs until a probe runs. A check is a function without arguments that returns "ok" and
raises, with a message saying why, when its part is failing.

The answer is 200 with {"database": "ok", "broker": "ok", "churn_model": "ok"} when all
pass, else 503 with each failing part's value saying why ("error: ..."). It holds no
personal data and needs no login: it sits outside the API (no token, no throttle).

`?check=database` (repeatable) runs only the named checks. Point a load balancer at that:
the API keeps storing reviews while the broker or the model is down (the sweeper catches
up later), so taking the web processes out of rotation then would lose data, not save it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

# A probe must answer within the load balancer's timeout even when a server is gone.
BROKER_TIMEOUT_SECONDS = 1
# Long enough for a useful reason, short enough for a dashboard cell.
MAX_REASON_LENGTH = 300


def check_database() -> str:
    """Run one query on the default database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_broker() -> str:
    """Connect to Celery's broker, giving up after about BROKER_TIMEOUT_SECONDS.

    The filesystem broker of the embedded default always "connects"; for it, the check is
    that its queue folder exists and is writable.
    """
    from config.celery_app import app

    options = {
        **(app.conf.broker_transport_options or {}),
        "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
        "socket_timeout": BROKER_TIMEOUT_SECONDS,
    }
    with app.connection_for_write(transport_options=options) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS
        )
        if conn.transport_cls == "filesystem":
            folder = options.get("data_folder_in", "")
            if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
                raise OSError(f"the filesystem broker's folder {folder} is missing or read-only")
    return "ok"


def run_checks(names: list[str] | None = None) -> tuple[bool, dict[str, str]]:
    """Run the configured checks (all, or those named); return (all ok, part -> result).

    A failing check's result is "error: <why>"; anything a check raises counts as failing,
    since a probe that itself crashes would hide which part is broken.
    """
    configured: dict[str, str] = settings.HEALTH_CHECKS
    results: dict[str, str] = {}
    healthy = True
    for name in names or list(configured):
        check: Callable[[], str] = import_string(configured[name])
        try:
            results[name] = check()
        except Exception as exc:  # any failure of a part means "not ok"
            logger.warning("Health check %s failed: %s", name, exc, exc_info=True)
            reason = str(exc) or type(exc).__name__
            results[name] = f"error: {reason}"[:MAX_REASON_LENGTH]
            healthy = False
    return healthy, results


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every (requested) check passes, 503 naming each failing part and why."""
    wanted = request.GET.getlist("check")
    unknown = [name for name in wanted if name not in settings.HEALTH_CHECKS]
    if unknown:
        known = ", ".join(settings.HEALTH_CHECKS)
        return JsonResponse(
            {"check": [f"Unknown check {name!r}; known: {known}." for name in unknown]},
            status=400,
        )
    healthy, results = run_checks(list(dict.fromkeys(wanted)) or None)
    return JsonResponse(results, status=200 if healthy else 503)
