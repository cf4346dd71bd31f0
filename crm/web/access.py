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
