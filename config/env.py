"""One strict way to read settings from the environment.

A malformed value stops start-up with a message naming the variable, instead of
silently falling back to a default that might, say, disable TLS in production.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(
    name: str, default: str | None = None, *, required: bool = False, allow_empty: bool = False
) -> str | None:
    """Return the variable's value, `default` when unset; raise when `required` and unset/empty.
    With `allow_empty`, a variable set to "" means "" (switched off), not the default."""
    value = os.environ.get(name)
    if allow_empty and value == "":
        return ""
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"The environment variable {name} must be set.")
        return default
    return value


def env_required(name: str, hint: str = "") -> str:
    """Return the variable's value; raise, naming it (and `hint`), when it is unset or empty."""
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(
            f"The environment variable {name} must be set{' ' + hint if hint else ''}."
        )
    return value


def env_bool(name: str, default: bool = False) -> bool:
    """Parse a boolean; anything other than 1/0, true/false, yes/no, on/off is an error."""
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no, on/off)."
    )


def env_int(name: str, default: int) -> int:
    """Parse an integer, refusing anything else."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None


def env_float(name: str, default: float) -> float:
    """Parse a decimal number, refusing anything else."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """Parse a comma-separated list, dropping blanks."""
    value = os.environ.get(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(name: str, default: str | None = None, *, schemes: tuple[str, ...] = ()) -> str | None:
    """Return a URL after checking it has a scheme (one of `schemes` when given)."""
    value = env_str(name, default)
    if value is None:
        return None
    parsed = urlparse(value)
    if not parsed.scheme or (schemes and parsed.scheme not in schemes):
        allowed = ", ".join(schemes) if schemes else "any scheme"
        raise ImproperlyConfigured(f"{name}={value!r} is not a valid URL ({allowed}).")
    return value


# DRF's throttle rates: a count per second, minute, hour or day.
_RATE = re.compile(r"^[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)$")


def env_rate(name: str, default: str) -> str:
    """Parse a request rate such as "120/min" (per s, min, hour or day), refusing others."""
    value = (os.environ.get(name) or default).strip()
    if not _RATE.match(value):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate; give requests per period, e.g. 120/min or 10/s."
        )
    return value
