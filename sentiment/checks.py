"""System checks: a missing or corrupt transformer artifact is reported at start-up.

`manage.py check`, `runserver` and `migrate` print it with the file and the fix. It is a
warning, not an error: VADER keeps scoring, and the transformer's texts are scored when
the artifact is repaired.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.compatibility)
def transformer_artifact_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if "transformer" not in settings.SENTIMENT_ANALYZERS:
        return []
    from sentiment.analyzers.transformer import ArtifactError, read_manifest

    try:
        read_manifest(settings.SENTIMENT_TRANSFORMER_DIR)
    except ArtifactError as exc:
        return [
            Warning(
                str(exc),
                hint="Until it is fixed, texts get VADER scores only; they are scored by the "
                "transformer once it loads again.",
                id="sentiment.W001",
            )
        ]
    return []
