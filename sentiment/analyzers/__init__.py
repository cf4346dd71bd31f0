"""Sentiment analyzers behind one interface, chosen by name in settings.SENTIMENT_ANALYZERS.

An analyzer is loaded once per process (the first time it is asked for) and reused by
every task that process runs. One that fails to load (a missing or corrupt model file) is
not cached: each later call tries again, so a repaired artifact is picked up without a
restart, and the other analyzers keep working meanwhile.
"""

from __future__ import annotations

import logging
import threading

from django.core.exceptions import ImproperlyConfigured

from sentiment.analyzers.base import Analysis, Analyzer, DocumentAnalysis, label_for_score

__all__ = [
    "Analysis",
    "Analyzer",
    "DocumentAnalysis",
    "enabled_analyzers",
    "get_analyzer",
    "label_for_score",
    "loadable_analyzers",
]

logger = logging.getLogger(__name__)


def _vader() -> Analyzer:
    from sentiment.analyzers.vader import VaderAnalyzer

    return VaderAnalyzer()


def _transformer() -> Analyzer:
    from django.conf import settings

    from sentiment.analyzers.transformer import RUNTIMES, TransformerAnalyzer

    runtime = settings.SENTIMENT_TRANSFORMER_RUNTIME
    if runtime not in RUNTIMES:
        raise ImproperlyConfigured(
            f"SENTIMENT_TRANSFORMER_RUNTIME must be one of {', '.join(RUNTIMES)}, not {runtime!r}."
        )
    return TransformerAnalyzer(
        settings.SENTIMENT_TRANSFORMER_DIR,
        runtime=runtime,
        num_threads=settings.SENTIMENT_TRANSFORMER_THREADS or None,
        batch_size=settings.SENTIMENT_BATCH_SIZE,
        cache_dir=settings.SENTIMENT_MODEL_CACHE,
    )


def _combined() -> Analyzer:
    from sentiment.analyzers.combined import CombinedAnalyzer
    from sentiment.analyzers.transformer import TransformerAnalyzer

    transformer = get_analyzer("transformer")
    if not isinstance(transformer, TransformerAnalyzer):
        raise ImproperlyConfigured("The combined analyzer needs the transformer analyzer.")
    return CombinedAnalyzer(get_analyzer("vader"), transformer)


_FACTORIES = {"vader": _vader, "transformer": _transformer, "combined": _combined}
_loaded: dict[str, Analyzer] = {}
# Re-entrant: the combined analyzer's factory asks for its two parts while the lock is held.
_lock = threading.RLock()


def get_analyzer(name: str) -> Analyzer:
    """The process-wide instance of the analyzer called `name`; raises if it cannot load."""
    if name in _loaded:
        return _loaded[name]
    try:
        factory = _FACTORIES[name]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES))
        raise ImproperlyConfigured(
            f"Unknown sentiment analyzer {name!r}; known: {known}."
        ) from None
    with _lock:
        if name not in _loaded:
            _loaded[name] = factory()
    return _loaded[name]


def enabled_analyzers() -> list[Analyzer]:
    """The analyzers named in settings.SENTIMENT_ANALYZERS, in that order; raises on failure."""
    from django.conf import settings

    return [get_analyzer(name) for name in settings.SENTIMENT_ANALYZERS]


def loadable_analyzers() -> list[Analyzer]:
    """The enabled analyzers that load; each one that does not is logged with its error.

    Scoring uses this: a broken transformer artifact must not stop VADER scores, and the
    texts it left unscored are found again by the sweeper once the artifact is repaired.
    """
    from django.conf import settings

    from sentiment.analyzers.transformer import ArtifactError

    analyzers = []
    for name in settings.SENTIMENT_ANALYZERS:
        try:
            analyzers.append(get_analyzer(name))
        except (ArtifactError, OSError) as exc:
            logger.error("Sentiment analyzer %r is unavailable: %s", name, exc)
    return analyzers
