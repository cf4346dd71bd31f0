"""Who may open a page or take an action: checked on the server for every view."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def requires(*perms: str) -> Callable[[View], View]:
    """Anonymous visitors go to the login page; a signed-in user without every permission
    named gets 403 (not a redirect loop to the login page)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perms(perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def is_htmx(request: HttpRequest) -> bool:
    """Whether HTMX asked (it then wants the fragment, not the whole page)."""
    return request.headers.get("HX-Request") == "true"


# django-axes stores each failed attempt's username in a varchar(255).
AXES_USERNAME_LENGTH = 255


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str:
    """The username django-axes records and locks out on (AXES_USERNAME_CALLABLE), cut to
    its column: Django only sets the sign-in field's HTML maxlength, so a 100,000-character
    username reached the database, which PostgreSQL refused with a 500 on every sign-in
    page (ours has its own check; the admin's has none)."""
    if credentials:
        username = credentials.get("username")
    else:
        username = getattr(request, "data", request.POST).get("username")
    return str(username or "")[:AXES_USERNAME_LENGTH]
