"""One error shape for the whole API, so an integration can always find the failing field.

Validation errors are a 400 whose body maps each field to its reasons (DRF's shape), plus
Django model ValidationErrors raised from services are turned into the same shape instead
of a 500. Every other error is {"detail": "<why>"}: a body over the size limit is a 413
saying the limit (Django's own answer is an HTML 400), a record of an erased customer is
a 409 saying so, and a URL under /api/ that no
endpoint matches is a JSON 404 (`not_found`), not the site's HTML page.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from crm.services import CustomerErased


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, also mapping Django's ValidationError to a field-keyed 400 and a too
    large body to a 413."""
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = exceptions.ValidationError(detail=detail)
    if isinstance(exc, CustomerErased):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"detail": f"The request body is larger than {limit} bytes; send smaller batches."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    return drf_exception_handler(exc, context)


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The API's answer to a URL no endpoint matches, with a hint for a missing slash."""
    detail = "No API endpoint at this URL."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            detail += f" Did you mean {request.path}/ (with the trailing slash)?"
    return JsonResponse({"detail": detail}, status=status.HTTP_404_NOT_FOUND)
