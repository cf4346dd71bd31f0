"""Reading what a page is asked for: the filters, search, sort and page of its query string,
the fields of the small forms posted from it, and the ids in its URL.

A value reaches the database, or a date or number computation, only once one of these has
read it. What cannot be used raises BadParam naming the parameter, so that the view
ignores that filter and says so (a list page) or answers 400 (a search, an action), never
a 500. Why each check is there:

- NUL: PostgreSQL refuses any string with a NUL character, even to compare with ("A
  string literal cannot contain NUL"), and SQLite's LIKE stops reading its pattern at one,
  so a search for "\\x00" ran as `LIKE '%%'` and listed every customer.
- Length: SQLite refuses a LIKE pattern longer than 50,000 bytes, and a search longer than
  any stored value cannot match anyway.
- Numbers: ASCII digits only (`"²".isdigit()` is true but `int("²")` raises), within a
  range the computation and the column can carry (days before now overflow `datetime`,
  ids past 2**63 overflow PostgreSQL's bigint).
- Dates: ISO 8601 days only, checked for existence (2024-02-30 is refused here, not by
  the database when the row is saved).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from django.http import Http404, QueryDict

# The largest primary key or count a bigint column can hold.
MAX_ID = 2**63 - 1


class BadParam(ValueError):
    """A parameter whose value cannot be used; str() names it, e.g. '“band” must be ...'."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"“{name}” {reason}")
        self.name = name
        self.reason = reason


def text(data: QueryDict, name: str, *, max_length: int) -> str:
    """The value with surrounding whitespace stripped; '' when absent. Given twice, the
    last one counts (as for every reader here)."""
    value = data.get(name, "").strip()
    if "\x00" in value:
        raise BadParam(name, "may not contain NUL characters")
    if len(value) > max_length:
        raise BadParam(name, f"may be at most {max_length} characters long")
    return value


def choice(data: QueryDict, name: str, choices: Collection[str]) -> str:
    """One of `choices`, or '' when absent or blank."""
    value = data.get(name, "").strip()
    if value and value not in choices:
        raise BadParam(name, f"must be one of: {', '.join(choices)}")
    return value


def integer(data: QueryDict, name: str, *, min_value: int, max_value: int) -> int | None:
    """A whole number from `min_value` to `max_value`, written in ASCII digits; None when
    absent or blank."""
    value = data.get(name, "").strip()
    if not value:
        return None
    digits = value.removeprefix("-")
    # The length check keeps int() away from strings of thousands of digits.
    if not (digits.isascii() and digits.isdigit() and len(digits) <= len(str(max_value))):
        raise BadParam(name, f"must be a whole number from {min_value} to {max_value}")
    number = int(value)
    if not min_value <= number <= max_value:
        raise BadParam(name, f"must be a whole number from {min_value} to {max_value}")
    return number


def day(data: QueryDict, name: str) -> date | None:
    """A date written YYYY-MM-DD; None when absent or blank."""
    value = data.get(name, "").strip()
    if not value:
        return None
    try:
        if len(value) != len("YYYY-MM-DD"):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise BadParam(name, "must be a date written YYYY-MM-DD") from None


def url_id(value: str) -> str:
    """A text id from the URL (a customer's external id), or 404 for one with a NUL
    character: no stored id has one (imports and the API refuse them), and PostgreSQL
    would refuse the lookup itself."""
    if "\x00" in value:
        raise Http404("No record has an id with a NUL character.")
    return value
