"""A tiny template grammar for the demo's texts.

`[a|b|c]` picks one alternative (alternatives nest, and may be empty), `{slot}` inserts a
value from the context. Templates are parsed once and cached, so rendering the hundreds
of thousands of texts of a large demo stays cheap.

    >>> import random
    >>> render("[Arrived|Came] {days} days [late|after the promised date].",
    ...        random.Random(1), {"days": "3"})
    'Arrived 3 days after the promised date.'
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from functools import cache

# A parsed template is a tuple of parts: a literal str, a _Slot, or a list of alternatives
# (each itself a tuple of parts).
Parts = tuple


class _Slot:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class TemplateError(ValueError):
    """A template with unbalanced brackets or braces."""


def _parse(source: str) -> Parts:
    stack: list[list] = [[]]  # the current sequence of each open group
    groups: list[list] = []  # the alternatives of each open group
    literal: list[str] = []
    i = 0

    def flush() -> None:
        if literal:
            stack[-1].append("".join(literal))
            literal.clear()

    while i < len(source):
        char = source[i]
        if char == "[":
            flush()
            groups.append([])
            stack.append([])
        elif char == "|" and groups:
            flush()
            groups[-1].append(tuple(stack.pop()))
            stack.append([])
        elif char == "]":
            if not groups:
                raise TemplateError(f"Unbalanced ']' in {source!r}")
            flush()
            alternatives = groups.pop()
            alternatives.append(tuple(stack.pop()))
            stack[-1].append(alternatives)
        elif char == "{":
            end = source.find("}", i)
            if end < 0:
                raise TemplateError(f"Unclosed '{{' in {source!r}")
            flush()
            stack[-1].append(_Slot(source[i + 1 : end]))
            i = end
        else:
            literal.append(char)
        i += 1
    if groups:
        raise TemplateError(f"Unclosed '[' in {source!r}")
    flush()
    return tuple(stack[0])


@cache
def compile_template(source: str) -> Parts:
    """Parse a template once; raises TemplateError if it is malformed."""
    return _parse(source)


def _expand(parts: Parts, rng: random.Random, slots: Mapping[str, str], out: list[str]) -> None:
    for part in parts:
        if type(part) is str:
            out.append(part)
        elif type(part) is list:
            _expand(part[int(rng.random() * len(part))], rng, slots, out)
        else:
            out.append(slots[part.name])


_SPACES = re.compile(r"[ \t]+")
_BEFORE_PUNCT = re.compile(r"[ \t]+([,.!?;:)])")


def tidy(text: str) -> str:
    """Collapse the spaces that empty alternatives leave behind (line breaks stay)."""
    text = _BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", text))
    text = "\n".join(line.strip() for line in text.split("\n")).strip()
    return text.replace(",.", ".").replace("..", ".").replace(",,", ",")


def render(source: str, rng: random.Random, slots: Mapping[str, str]) -> str:
    """One random expansion of `source`, tidied, with its first letter capitalised."""
    out: list[str] = []
    _expand(compile_template(source), rng, slots, out)
    text = tidy("".join(out))
    return text[:1].upper() + text[1:]


def pick(options: tuple[str, ...] | list[str], rng: random.Random) -> str:
    """One of `options`, uniformly."""
    return options[int(rng.random() * len(options))]
