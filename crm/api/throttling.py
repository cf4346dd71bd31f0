"""Per-token throttling: each integration's token has its own budget of requests.

The rate is the token's own (`ApiToken.rate`) or the default (REST_FRAMEWORK's
DEFAULT_THROTTLE_RATES["api_token"], from API_TOKEN_RATE). Over it, the API answers 429
with a Retry-After header (DRF's exception handler sets it from `wait()`). Counts live in
the default cache, Redis in production, so every web process shares them.

Requests without a token (the web UI's session) are not throttled here, and neither are
requests while the cache is unreachable: the API must keep accepting reviews through a
Redis outage (the database keeps them, see DESIGN), and a throttle that failed closed
would turn that outage into lost data at the shop's side.
"""

from __future__ import annotations

import logging
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from crm.api.authentication import token_of

logger = logging.getLogger(__name__)


def _cache_errors() -> tuple[type[BaseException], ...]:
    """What a cache backend raises when its server is unreachable."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - redis is a dependency; other caches may be used
        pass
    else:
        errors.append(RedisError)
    return tuple(errors)


CACHE_ERRORS = _cache_errors()


class ApiTokenRateThrottle(SimpleRateThrottle):
    """A budget of requests per token and period (a sliding window, DRF's)."""

    scope = "api_token"

    def allow_request(self, request: Request, view: Any) -> bool:
        token = token_of(request)
        if token is None:
            return True
        if token.rate:
            self.rate = token.rate
            self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as exc:
            logger.warning("API throttle skipped, the cache is unreachable: %s", exc)
            return True

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = token_of(request)
        if token is None:
            return None
        # The key's hash, not the row id: an id can come back (a restored backup, a test
        # database) and would inherit another token's count.
        return self.cache_format % {"scope": self.scope, "ident": token.key_hash}
