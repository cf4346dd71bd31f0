"""Sentiment analyzers behind one interface, chosen by name in settings.SENTIMENT_ANALYZERS.

An analyzer is loaded once per process (the first time it is asked for) and reused by
every task that process runs.
"""

from __future__ import annotations

from functools import cache

from django.core.exceptions import ImproperlyConfigured

from sentiment.analyzers.base import Analysis, Analyzer, label_for_score

__all__ = ["Analysis", "Analyzer", "enabled_analyzers", "get_analyzer", "label_for_score"]


def _vader() -> Analyzer:
    from sentiment.analyzers.vader import VaderAnalyzer

    return VaderAnalyzer()


_FACTORIES = {"vader": _vader}


@cache
def get_analyzer(name: str) -> Analyzer:
    """The process-wide instance of the analyzer called `name`."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES))
        raise ImproperlyConfigured(
            f"Unknown sentiment analyzer {name!r}; known: {known}."
        ) from None
    return factory()


def enabled_analyzers() -> list[Analyzer]:
    """The analyzers named in settings.SENTIMENT_ANALYZERS, in that order."""
    from django.conf import settings

    return [get_analyzer(name) for name in settings.SENTIMENT_ANALYZERS]
