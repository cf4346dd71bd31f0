"""Emoji spelled out as words, so VADER and the transformer can read them.

Neither analyzer understands "😍" on its own: VADER's word lexicon has no emoji and the
transformer's vocabulary maps most of them to [UNK]. `describe_emoji` replaces each emoji
with its CLDR short name from `emoji_utf8_lexicon.txt`, the file VADER itself uses, shipped
inside the installed `vaderSentiment` package (loaded once per process, never downloaded):
"Love it 😍" -> "Love it smiling face with heart-eyes ".

Matching rules:
- longest match first, so a ZWJ sequence ("👩‍❤️‍👨"), a flag (two regional indicators) or a
  keycap ("1️⃣") is one emoji, not its parts;
- U+FE0F (emoji presentation selector) is invisible and optional: "❤️" and "❤" are the
  same emoji, so the selector is ignored on both sides of the lookup;
- skin tones say nothing about sentiment: "👍🏽" reads "thumbs up"; a tone modifier with
  no emoji before it is left as it is;
- keycaps read as their character ("5️⃣" -> "5");
- typographic symbols that the lexicon also lists (©, ®, ™, arrows, ▪ bullets, the
  information sign) are left as they are: in shop texts they are product names and list
  bullets, not emoji.
  "‼" and "⁉" become "!!" and "!?", which VADER reads as emphasis.

Text without emoji comes back as the very same string (identity), after one `isascii()`
check or one character-class search, so the common case costs next to nothing.
The language gate (sentiment.language) must see the customer's original text, not this
function's output: the descriptions are English words and would make any text look English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LEXICON_NAME = "emoji_utf8_lexicon.txt"

VARIATION_SELECTOR = "\ufe0f"
KEYCAP = "\u20e3"
SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))
_TONE_SUFFIXES = (
    ": light skin tone",
    ": medium-light skin tone",
    ": medium skin tone",
    ": medium-dark skin tone",
    ": dark skin tone",
)
# Lexicon entries that are typography in shop texts, not emoji (see the module docstring).
_NOT_EMOJI = frozenset("©®™ℹⓂ▪▫◻◼◽◾▶◀↔↕↖↗↘↙↩↪〰〽")
_SPELLED = {"‼": "!!", "⁉": "!?"}

_LETTER = re.compile(r"[^\W\d_]")


def has_letters(text: str) -> bool:
    """Whether `text` has at least one letter (of any script); digits and emoji are not."""
    return _LETTER.search(text) is not None


@dataclass(frozen=True, slots=True)
class _Lexicon:
    names: dict[str, str]  # emoji without U+FE0F -> replacement words
    longest: int  # code points in the longest key
    starts: frozenset[str]  # first characters of the keys
    candidates: re.Pattern[str]  # any character that can be part of an emoji


def lexicon_path() -> Path:
    """The emoji lexicon file installed with the vaderSentiment package."""
    from sentiment.analyzers.vader import lexicon_path as vader_lexicon_path

    return vader_lexicon_path().with_name(LEXICON_NAME)


@cache
def _lexicon() -> _Lexicon:
    path = lexicon_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"Emoji lexicon not found at {path}; reinstall it with "
            "`pip install vaderSentiment` (see requirements.txt)."
        )
    names: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, tab, description = line.strip("\r\n").partition("\t")
        key = key.replace(VARIATION_SELECTOR, "")
        if not tab or not key or key in _NOT_EMOJI:
            continue
        description = description.strip()
        if description.startswith("keycap: "):
            description = description.removeprefix("keycap: ")
        for suffix in _TONE_SUFFIXES:
            description = description.removesuffix(suffix)
        if key in SKIN_TONES:
            continue  # a lone tone modifier is left as it is
        # The file lists most emoji twice (with and without U+FE0F): the first one wins.
        names.setdefault(key, description)
    names.update(_SPELLED)
    chars = {ch for key in names for ch in key if not ch.isascii()} | {VARIATION_SELECTOR}
    # Keycaps start with an ASCII character ("1️⃣"), but always contain U+20E3, so a text
    # is a candidate only if it has a non-ASCII emoji character.
    candidates = re.compile(_char_class(chars))
    return _Lexicon(
        names=names,
        longest=max(len(key) for key in names),
        starts=frozenset(key[0] for key in names),
        candidates=candidates,
    )


def _char_class(chars: set[str]) -> str:
    """A regex class for `chars` written as ranges: re scans a few hundred ranges far
    faster than a thousand single characters."""
    points = sorted(ord(ch) for ch in chars)
    ranges: list[list[int]] = []
    for point in points:
        if ranges and point == ranges[-1][1] + 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    parts = (
        re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
        for lo, hi in ranges
    )
    return "[" + "".join(parts) + "]"


def _words(description: str, out: list[str]) -> None:
    """Append ` description ` without doubling the space left by a previous emoji."""
    if not description:
        return
    if out and out[-1].endswith(" "):
        out.append(description + " ")
    else:
        out.append(" " + description + " ")


def describe_emoji(text: str) -> str:
    """`text` with every known emoji replaced by " <its name> "; unchanged if it has none.

    Pure and thread-safe. Unknown emoji (newer than the lexicon) are left in place.
    """
    if text.isascii():
        return text
    lexicon = _lexicon()
    if lexicon.candidates.search(text) is None:
        return text
    # The selector only picks how an emoji is drawn; without it every key is unique.
    source = text.replace(VARIATION_SELECTOR, "")
    names = lexicon.names
    out: list[str] = []
    plain_from = 0  # source[plain_from:i] is plain text still to copy
    pos = 0
    while (found := lexicon.candidates.search(source, pos)) is not None:
        i = found.start()
        if source[i] == KEYCAP and i > plain_from and source[i - 1].isascii():
            i -= 1  # a keycap starts with the ASCII character before U+20E3
        pos = found.start() + 1
        if source[i] not in lexicon.starts:
            continue  # the middle of an emoji we do not know, or a lone ZWJ
        for length in range(min(lexicon.longest, len(source) - i), 0, -1):
            description = names.get(source[i : i + length])
            if description is not None:
                break
        else:
            continue
        while source[i + length : i + length + 1] in SKIN_TONES:
            length += 1  # a tone the lexicon has no entry for, e.g. on "🙏"
        if i > plain_from:
            out.append(source[plain_from:i])
        _words(description, out)
        plain_from = pos = i + length
    if plain_from == 0:
        return text  # only selectors or unknown emoji: nothing to spell out
    if plain_from < len(source):
        out.append(source[plain_from:])
    return "".join(out)
