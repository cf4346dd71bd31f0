"""Pagination of the API's lists.

`?limit=` is capped at MAX_LIMIT: an unbounded limit lets one request read a whole table,
and one past the database's integer range (2**63) broke the query itself (a 500 the API
fuzz found). `?offset=` past the end answers an empty page before any query is built.
A `?cursor=` that cannot be used is a 400 naming it (TimeCursorPagination).
"""

from __future__ import annotations

from datetime import UTC

from django.utils.dateparse import parse_datetime
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request

MAX_LIMIT = 1000


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's limit/offset pages, PAGE_SIZE by default, at most MAX_LIMIT rows a page."""

    max_limit = MAX_LIMIT


class TimeCursorPagination(pagination.CursorPagination):
    """DRF's cursor pages, for a list ordered by a time first, with the cursor checked.

    A cursor is only base64 of `o=<offset>&r=<reverse>&p=<position>`, so a client can
    write any position, and DRF compares it with the time column unread: text or a
    number was a 400 naming no field, 9999-12-31T23:59-14:00 a 500 on SQLite (overflow)
    and an offset past 15:59 one on PostgreSQL. Now a cursor that cannot be read, or whose
    position is not a time UTC can carry, is a 400 naming `cursor` (DRF says 404), and the
    position reaches the query in UTC.
    """

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        invalid = ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise invalid from None
        if cursor is None or cursor.position is None:
            return cursor
        try:
            at = parse_datetime(str(cursor.position))
            if at is None:
                raise invalid
            # DRF writes aware times; one without an offset is read as UTC.
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            utc = at.astimezone(UTC).isoformat()
            # The stubs type the position as an int; DRF stores str() of the field's value.
            return cursor._replace(position=utc)  # type: ignore[arg-type]
        except (ValueError, OverflowError):
            raise invalid from None
