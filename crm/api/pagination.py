"""Pagination of the API's lists.

`?limit=` is capped at MAX_LIMIT: an unbounded limit lets one request read a whole table,
and one past the database's integer range (2**63) broke the query itself (a 500 the API
fuzz found). `?offset=` past the end answers an empty page before any query is built.
"""

from __future__ import annotations

from rest_framework import pagination

MAX_LIMIT = 1000


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's limit/offset pages, PAGE_SIZE by default, at most MAX_LIMIT rows a page."""

    max_limit = MAX_LIMIT
