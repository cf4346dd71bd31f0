"""The API's one request parser: JSON, with nesting too deep for Python answered as a 400.

DRF's JSONParser turns malformed JSON into a 400 but lets the RecursionError of a body
nested a few thousand levels deep (`[[[[...]]]]`, a few kilobytes) through as a 500;
the API fuzz found it.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested too deeply to decode is a ParseError (400)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
