"""API authentication by per-integration token: `Authorization: Token <key>` or `Bearer <key>`.

An unknown or revoked key, or a key of an inactive user, is a 401 saying which; a request
without the header is left to the next authenticator (the web UI's session), and with
none of them it is a 401 with a `WWW-Authenticate: Token` challenge.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from crm.models import ApiToken

KEYWORDS = (b"token", b"bearer")


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates as the token's user; `request.auth` is the ApiToken (the throttle's key)."""

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Invalid Authorization header: give 'Token <key>'.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid token: a key is plain ASCII.") from None
        token = (
            ApiToken.objects.select_related("user").filter(key_hash=ApiToken.hash_key(key)).first()
        )
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        if token.is_revoked:
            raise AuthenticationFailed("This token was revoked.")
        if not token.user.is_active:
            raise AuthenticationFailed("The token's user is inactive.")
        token.mark_used()
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return "Token"


def token_of(request: Request) -> ApiToken | None:
    """The ApiToken a request was authenticated with, or None (session, anonymous)."""
    return request.auth if isinstance(request.auth, ApiToken) else None


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents ApiTokenAuthentication in the OpenAPI schema (drf-spectacular finds it by
    `target_class`)."""

    target_class = "crm.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An integration's API token: `Token <key>` (or `Bearer <key>`).",
        }
