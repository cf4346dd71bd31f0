"""Sentence splitting for customer texts: regex rules, no models, no downloads.

Reviews and support messages are scored sentence by sentence so that one text can be
happy about the fit and angry about the delivery. The splitter runs on every text, so it
is one compiled regex plus a few string checks at each candidate boundary, and it must be
stable: the hand-labelled aspect set (tests/data/aspect_sentences.csv) refers to sentences
by their index in this function's output, so a change to the rules changes what those ids
point at. Re-check that set (benchmarks/aspects.py) after any change here.

Rules, in the order they matter:
- a run of `.`, `!`, `?`, `…` (with any closing quotes or brackets) followed by whitespace
  ends a sentence, whatever the case of the next word: shoppers write "love it! fits great";
- a line break (or an HTML `<br>`) ends a sentence;
- a run glued to the next word ends a sentence only where that is almost never anything
  else: `..`/`…`/`!` between two words ("fits...love it"), or `.` before a word that
  typically starts a sentence ("in the picture.the fabric") unless the word before it is
  part of an address ("www.shop.it"). A glued `?` is left alone: mis-encoded apostrophes
  turn up as "don?t";
- a single `.` after an abbreviation does not end a sentence: "e.g.", "Mr.", "vs.",
  "approx.", "U.S." (any dotted initials), "no." before a number, and "etc." unless the
  next word is capitalised; nor does one after a number that opens a sentence (a list
  marker, "1. too short"). Decimals ("3.5") and tokens like "www.shop.com" have no
  whitespace after the dot, so they never reach the check;
- no sentence is longer than MAX_SENTENCE_CHARS: a longer stretch without a boundary is
  cut at whitespace (or hard, if it has none), so nothing downstream sees a huge unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SENTENCE_CHARS = 1000

# Words that usually begin a sentence; a `.` glued between a word and one of these is a
# missing space, not part of a domain name or a number.
_STARTERS = (
    "i|i'm|i've|i'd|im|it|it's|its|the|this|that|these|they|my|but|so|however|also|"
    "overall|very|love|unfortunately|if|and|she|he|we|you|there|what|when|would|will|"
    "definitely|highly|great|not|no|just|plus|otherwise"
)

_BOUNDARY = re.compile(
    rf"""
      (?P<stop>[.!?…]+)["'\u201d\u2019)\]]*(?=\s)
    | (?<=[^\W\d_]{{2}})(?:\.{{2,}}|…+|!+)(?=[^\W\d_])
    | (?<=[^\W\d_]{{2}})(?P<glued>\.)(?=(?i:{_STARTERS})\b)
    | (?P<line>\r\n|[\n\r\u2028\u2029]|<[bB][rR]\s*/?>)
    """,
    re.VERBOSE,
)

# Lower-case, without the final dot. Never a boundary after these.
_ABBREVIATIONS = frozenset(
    ("mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "approx", "dept", "fig", "cf", "incl")
)
_LONGEST_ABBREVIATION = 8  # characters before the dot worth looking at
_DOTTED_INITIALS = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # e.g, i.e, u.s, p.s, a.m
_OPENERS = "([{\"'\u201c\u2018"


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of a text: text[start:end] == sentence.text, surrounding space stripped."""

    start: int
    end: int
    text: str


def _is_abbreviation(text: str, dot: int, after: int) -> bool:
    """Whether the lone `.` at `dot` closes an abbreviation rather than a sentence.

    `after` is where the whitespace that follows the dot (and any closing quote) begins.
    """
    low = max(0, dot - _LONGEST_ABBREVIATION)
    window = text[low:dot]
    if not window or window[-1].isspace():
        return False
    parts = window.rsplit(maxsplit=1)
    if len(parts) == 1 and low > 0 and not text[low - 1].isspace():
        return False  # the token is longer than any abbreviation
    word = parts[-1].lstrip(_OPENERS).lower()
    if word in _ABBREVIATIONS or _DOTTED_INITIALS.fullmatch(word):
        return True
    if word not in ("no", "etc"):
        return False
    following = text[after : after + 8].lstrip()[:1]
    if word == "no":  # "item no. 5", but "i had to say no. the fit..."
        return following.isdigit()
    return not following.isupper()  # "etc. and more", but "etc. The fit..."


def _in_address(text: str, dot: int) -> bool:
    """Whether the `.` at `dot` is inside a web or mail address ("www.shop.it", "a@b.co")."""
    token = text[max(0, dot - 40) : dot].rsplit(maxsplit=1)[-1:]
    return bool(token) and any(mark in token[0] for mark in ".@/:")


def _append(sentences: list[Sentence], text: str, start: int, end: int) -> None:
    """Add text[start:end] stripped, cut into pieces of at most MAX_SENTENCE_CHARS."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > MAX_SENTENCE_CHARS:
        limit = start + MAX_SENTENCE_CHARS
        cut = max(text.rfind(" ", start + 1, limit + 1), text.rfind("\t", start + 1, limit + 1))
        if cut <= start:
            cut = limit  # no whitespace at all: a hard cut is the only bound we can keep
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        sentences.append(Sentence(start, piece_end, text[start:piece_end]))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        sentences.append(Sentence(start, end, text[start:end]))


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of `text`, in order, with offsets into `text`; [] for blank text.

    Deterministic and linear in the length of the text. Every non-space character of the
    text belongs to exactly one sentence, except the `<br>` tags it splits at.
    """
    sentences: list[Sentence] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if match.group("line") is not None:
            _append(sentences, text, start, match.start())
            start = match.end()
            continue
        if match.group("glued") is not None and _in_address(text, match.start()):
            continue
        stop = match.group("stop")
        if (
            stop == "."
            and (
                _is_abbreviation(text, match.start(), match.end())
                # A list marker, "1. too short". The slice is the current sentence, which the
                # split ends anyway if this fails, so the check stays linear overall.
                or (
                    text[match.start() - 1].isdigit()
                    and text[start : match.start()].strip().isdigit()
                )
            )
        ):
            continue
        _append(sentences, text, start, match.end())
        start = match.end()
    _append(sentences, text, start, len(text))
    return sentences
