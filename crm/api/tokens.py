"""Creating and revoking API tokens (crm.models.ApiToken), the writes behind the admin.

A key is shown once, by whoever creates the token, and only its hash is stored. Revoking
is a conditional UPDATE, so revoking twice keeps the first time.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from crm.models import ApiToken

# Recognisable in a leaked config file or a secret scanner's rules.
KEY_PREFIX = "crm_"


def new_key() -> str:
    """A fresh key: KEY_PREFIX and 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def api_token_create(*, name: str, user: User, rate: str = "") -> tuple[ApiToken, str]:
    """Create a token for the integration `name`, acting as `user`; return it and its key.

    The key is returned here and nowhere else: the caller shows it once. `rate` ("120/min")
    overrides the default throttle rate for this token.
    """
    key = new_key()
    token = ApiToken(
        name=name,
        user=user,
        rate=rate,
        key_prefix=key[: ApiToken._meta.get_field("key_prefix").max_length],
        key_hash=ApiToken.hash_key(key),
    )
    token.full_clean()
    token.save()
    return token, key


def api_tokens_revoke(*, token_ids: Iterable[int]) -> int:
    """Revoke the tokens (from now on their requests get 401); return how many were live.

    Safe to repeat: a token revoked earlier keeps its first revocation time.
    """
    return ApiToken.objects.filter(pk__in=list(token_ids), revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
