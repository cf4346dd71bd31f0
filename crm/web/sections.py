"""What the apps above crm add to crm's pages, registered from their AppConfig.ready():
sections of the customer page and items of its timeline. crm renders what is registered
and never imports those apps (DESIGN.md: dependencies point one way)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import HttpRequest

from crm.models import Customer


@dataclass(frozen=True)
class Section:
    """A block of the customer page: `template` rendered with what `context` returns
    (None: nothing to show, e.g. the user may not see it). Lower `order` comes first."""

    name: str
    order: int
    template: str
    context: Callable[[HttpRequest, Customer], dict[str, Any] | None]


@dataclass
class TimelineItem:
    """One line of the customer's timeline: when, what kind, a title, and a template
    fragment rendered with `data` for the details."""

    at: datetime
    kind: str
    title: str
    template: str
    data: dict[str, Any]


CUSTOMER_SECTIONS: list[Section] = []
TIMELINE_SOURCES: list[Callable[[HttpRequest, Customer], list[TimelineItem]]] = []
# Text id -> what the sentiment app says of it (label badge, evidence), for the timeline.
Annotator = Callable[[HttpRequest, list[int]], dict[int, dict[str, Any]]]
TEXT_ANNOTATORS: list[Annotator] = []


def register_section(section: Section) -> None:
    if all(s.name != section.name for s in CUSTOMER_SECTIONS):
        CUSTOMER_SECTIONS.append(section)
        CUSTOMER_SECTIONS.sort(key=lambda s: s.order)


def register_timeline_source(source: Callable[[HttpRequest, Customer], list[TimelineItem]]) -> None:
    if source not in TIMELINE_SOURCES:
        TIMELINE_SOURCES.append(source)


def register_text_annotator(annotate: Annotator) -> None:
    if annotate not in TEXT_ANNOTATORS:
        TEXT_ANNOTATORS.append(annotate)
