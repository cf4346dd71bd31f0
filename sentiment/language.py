"""The language gate: is a customer text English, so that our English analyzers may score it?

VADER and the fine-tuned transformer only read English. A text in another language gets
the label "unsupported" and no score: a score for it would be a guess that an agent reads
as fact. The opposite mistake is worse, though: an English text marked "unsupported" is a
complaint nobody sees. Every rule below therefore leans towards "English" whenever the
evidence is thin, and only rejects a text that is clearly in another language.

The detector is lingua (`lingua-language-detector`, models inside the wheel), restricted to
LANGUAGES, the ~25 languages a European/US shop hears from, in low-accuracy mode with its
models preloaded: one instance per process, built on first use in ~0.5 s, ~50-60 MiB of
RSS (a worker with the transformer and VADER loaded: ~650 MiB before, ~700 after).
High-accuracy mode costs ~500-700 MiB and 1-3 ms per review; low accuracy is weaker only
on texts under ~120 characters, which is where the rules below stop trusting lingua.
Preloading costs ~15 MiB more than lazy loading and removes a first-call pause per
language group. Figures: `benchmarks/language_gate.py --compare-modes`.

Rules of `detect_language`, in order:

1. No letters at all (emoji, digits, punctuation: "😍😍", "10/10", "!!!") -> UNDETERMINED,
   english=True: there is no language to be wrong about, and emoji carry sentiment.
2. Letters mostly outside the Latin script (Cyrillic, Greek, Hebrew, Arabic, CJK, Hangul,
   Devanagari, Thai...) -> not English. The code is lingua's best guess, or UNKNOWN for a
   script none of LANGUAGES uses.
3. Short texts (at most SHORT_WORDS words, or fewer than SHORT_LETTERS letters: "ok",
   "meh", "fits great!!", "10/10 would buy") are English if they contain a common English
   word or are a single word (a typo, slang or a brand name: "shrunk" is Czech 0.89 to
   lingua). Otherwise they are rejected only when lingua gives one other language at least
   SHORT_MIN_CONFIDENCE ("Sehr gut!", "Muy bueno": 1.00). On two or three words lingua is
   often confidently wrong ("meh" German 0.83, "Runs small" German 0.79), hence the
   vocabulary first and the high bar: a short foreign text scored as English costs a
   neutral-ish score, a short English one rejected costs a lost complaint.
4. Longer texts are English when at least ENGLISH_SHARE of their words are common English
   words, without asking lingua. In low-accuracy mode lingua is confidently wrong on many
   sentences under ~120 characters ("Lots of holes in the script" Finnish 0.98, "The story is
   beyond stupid" Czech 0.98), while real text in another language is built from its own
   function words and has a share near 0 (at most 0.18 among our hand-written reviews;
   English reviews: mostly above 0.5). This is also the fast path: most English texts
   stop here in a few microseconds.
5. Otherwise lingua decides: English when its English confidence is the top one or at
   least CLOSE_RATIO of the top one's; else the top language, not English.
6. A text that rules 2-5 place in another language is still English if one of its
   sentences (sentiment.text.split_sentences) of at least SUBSTANTIAL_WORDS words is
   English by the same rules: a review half in English is scored on its English half (see
   `english_sentences`), not thrown away. A two-word English aside ("Love it!") in a
   German review does not make it English: scoring that alone would be a guess about the
   review.

`english_sentences` says, per sentence of a text that passed, whether to score it: a
sentence is left out only when it has more than SHORT_WORDS words and rules 2-5 place it
in another language. Short sentences are always kept: inside an English text they are
English far more often than not ("Meh.", "Size M.", brand names), and nobody can tell.

The vocabulary is a few hundred common English and shop words plus the word entries of
VADER's lexicon, minus HOMOGRAPHS: tokens that are also frequent words of another language
in LANGUAGES ("die", "is", "was", "no", "me", "of", "want", "super"...). Homographs and
single letters count neither way, so "Waiter was a jerk" is 2 English words of 2.

Always pass the customer's original text: sentiment.emoji's descriptions are English words
and would make any text look English.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from sentiment.text import split_sentences

if TYPE_CHECKING:
    from lingua import LanguageDetector

UNDETERMINED = ""  # no letters to judge (emoji-only, digits, punctuation)
UNKNOWN = "und"  # letters of a script none of LANGUAGES uses (ISO 639-2 "undetermined")
ENGLISH = "en"

# lingua's Language member names; see the module docstring for why these.
LANGUAGES = (
    "ENGLISH",
    "SPANISH",
    "FRENCH",
    "GERMAN",
    "ITALIAN",
    "PORTUGUESE",
    "DUTCH",
    "POLISH",
    "SWEDISH",
    "DANISH",
    "BOKMAL",
    "FINNISH",
    "CZECH",
    "ROMANIAN",
    "HUNGARIAN",
    "GREEK",
    "TURKISH",
    "RUSSIAN",
    "UKRAINIAN",
    "ARABIC",
    "HEBREW",
    "CHINESE",
    "JAPANESE",
    "KOREAN",
    "HINDI",
    "VIETNAMESE",
    "INDONESIAN",
)

# Thresholds, tuned with benchmarks/language_gate.py (English measuring sets: at most 0.2%
# wrongly rejected; hand-written non-English reviews: as many rejected as possible).
SHORT_WORDS = 3
SHORT_LETTERS = 12
SHORT_MIN_CONFIDENCE = 0.97
ENGLISH_SHARE = 0.3
CLOSE_RATIO = 0.25
SUBSTANTIAL_WORDS = 4
# lingua's cost grows with the length; the start of a long text says enough.
MAX_CHARS = 1000

_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
_ASCII_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")

# Common English words; HOMOGRAPHS are taken out of them when the vocabulary is built.
_FUNCTION_WORDS = """
the and that this these those with without it it's its they them their there here you
your you're we our us she her his him my mine myself i'm i've i'd i'll im ive was were
been being be have has having does did would could should shall might must can cannot
can't couldn't won't wouldn't shouldn't don't doesn't didn't isn't wasn't aren't weren't
haven't hasn't hadn't dont didnt doesnt cant wont isnt wasnt wouldnt couldnt shouldnt
that's thats there's what's let's not but or if then than because since while when where
what which who whom whose why how all any some each every both either neither few more
most much many such only own same other another very too just really quite pretty rather
still even ever never always often sometimes again already yet soon about above after
against along among around before behind below between by down during from into like
near off out through until up upon within one two three four five six seven eight nine
first last next get got gets getting make made makes went gone going came take took
give gave keep kept saw seen look looks looked looking think thought know knew say said back
tell told need needed use used using try tried
"""
_COMMON_WORDS = """
able absolute absolutely actually add added age ago agree air almost alone along also
although amount anyone anything anyway anywhere area arm around ask asked away baby
bar beyond bed begin believe below beside big bill black blue body book both bottom
bought boy break bring brother brought build building burger business buy call called
calls car card care carry case cast cat cause center chance change character check
child children choice city class classic clean clear clearly close clothes cold color
company completely consider cook cooked could country couple course cover cream cut
dad dark daughter dead deal dear decide decided design dinner dish dishes door drink
drive drop during each ear easy eat eating else end enjoy enjoyed enough entire
especially evening event everyone everything exactly example expect expected experience
eye eyes face fact fall family far father feel feeling feels felt few fill film films
final finally find fine finish fire flavor flavour floor food foot form found free
fresh friend friends front full fun funny game garden gave general girl given glass
goes gone gotten green ground group grow guess guy guys hair half hang happen happened
hard head hear heard heart help high hold hole holes home hope horse hot hour hours
house however huge idea instead interest interesting issue issues job join keep kid
kids kind kitchen knew known lady land language large later laugh learn least leave
left less let life light line lines list listen live lived lives local lot lots low
lunch main mark market matter maybe mean meal meant meat meet menu might mind minute
minutes miss moment mom morning mother mouth move movie movies moving music name near
nearly need never new news night none nothing notice now number odd office oil old
open other others outside own page paper part party pass past pay person phone phones
picture piece place plan plate play played player plot point poor possible power
probably problem problems pull purchase put question quite rather reach read ready
real reason red remember rest restaurant result right road roll room round rule run
running salad sat sauce save saw scene scenes school screen script season seat seem
seemed seems seen self sell sense series serve served server set several shape short
should show shown side sign simple simply since sit six sleep slightly small smell
someone something sometimes son song sort sound space speak special spend spent staff
stand start started state stay step stop story street strong student stuff style
such summer sure table taste tasted tasty teacher team tell ten test than thing think
third though thought through throw today together tomorrow took total touch toward
town tried trip trouble truly try trying turn turned type under understand unless
until usual usually very view visit voice wait waited waiter waiting walk wall
wanted warm watch watched watching water week weekend well went whatever whether white
whole wife window winter wish woman women word words work worked world worry write
writing written wrong yesterday young
"""
_SHOP_WORDS = """
ok okay okey k meh lol lmao omg wow ugh yay yey nope yep yeah yea yes thx thanks thank
pls plz please tbh imo imho btw idk smh wtf fyi asap aaa
good great nice better best worse worst love loved loves loving like liked likes hate
hated happy unhappy sad disappointed disappointing disappointment excellent amazing
awesome terrible horrible awful perfect perfectly cute beautiful gorgeous lovely ugly
cheap cheaply expensive pricey small smaller large larger big bigger little tiny huge
long short tight loose soft comfy comfortable uncomfortable true size sizes sizing fabric
material quality color colour colors colours price value money product products item
items order orders ordered ordering delivery delivered shipping shipped ship package
packaging parcel box customer service support seller store shop shopping website app
refund refunded exchange exchanged replacement broken broke damaged missing wrong late
early quick quickly slow slowly dress dresses shirt shirts tee top tops pants trousers
jeans jacket coat sweater cardigan skirt shoes shoe boots sneakers bag bags shorts blouse
sleeve sleeves waist length petite medium xs xl xxl fits fit fitted fitting fitting
runs run wear wore worn wearing wash washed washing bought buy buying return returned
returning returns send sent arrive arrived arrival received receive recommend
recommended worth review reviews star stars would buy again definitely totally
absolutely highly super really stuff thing things lot bit way time times day days week
weeks month months year years people recommend returning flattering flowy stretchy itchy
sheer lining zipper zip button buttons pocket pockets seam seams stitching battery
charger charging charge cable screen sound noise device headset headphones earbuds
wireless software computer laptop tablet cover signal volume plastic metal leather
cotton wool silk polyester linen denim spandex rayon knit print pattern floral stripes
navy beige grey gray pink purple yellow orange brown gold silver bra underwear socks
hat scarf gloves belt jewelry necklace ring earrings watch sandals heels slippers
account login password email emails message messages reply replied answer answered
contact contacted call called tracking track courier cancel cancelled canceled charged
billed invoice discount coupon code promo subscription payment paid pay card warranty
shoddy flimsy rubbish junk garbage trash ripped torn faded shrunk shrank pilling pilled
snug baggy frumpy boxy scratchy mediocre decent alright acceptable overpriced defective
faulty useless worthless stunning adorable comfy pricey superb brilliant fantastic
sturdy durable lightweight heavy thin thick wrinkled stained smelly refundable unworn
n't
"""
# Frequent words of other languages in LANGUAGES that are also English tokens: seeing one
# says nothing about English. Single letters ("a", "i", "e", "o", "y") are never evidence.
_HOMOGRAPHS = """
    a i e o y u am an are as at do go he in is me no of on so to
    al ale ada ai ama ani au bald ben bin bo bom bon boa bene bella belle bu bueno bun
    camera car care ce che chat ci cu co com come con da dan dar das de del den der des det
    di die dire do door dos du el en era er es est este et fast fin fine for god grand grave
    gut ha had han handy hand har hat he heel hell hier ho hose il im ja je jest kind la
    las le les lo lit los ma mad mai mal man mam mas med meg men met mi mist mon mucho na
    nada ne nu non o og om once op ou pan para pas pe pie per plus po pour ren rock rot
    sa sale se sie sin si sole solo son su ta tag te ten ti to todo toll tout ty um un
    uno va van var ve vi war was will ze super top bra
"""
HOMOGRAPHS = frozenset(_HOMOGRAPHS.split())


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """What the gate decided about one text.

    `code` is the ISO 639-1 code the text is treated as: "en" when it may be scored as
    English, another language's code when it may not, UNDETERMINED ("") when it has no
    letters, UNKNOWN ("und") for letters of a script lingua has no model for here.
    `confidence` is lingua's probability for `code` when lingua decided (for a short text
    kept as English for want of evidence, lingua's probability of English, which may be
    low); when the English vocabulary decided (rules 3 and 4) it is the share of common
    English words; 0.0 for UNDETERMINED.
    """

    code: str
    confidence: float
    english: bool


_NO_LETTERS = LanguageGuess(UNDETERMINED, 0.0, True)

_detector: LanguageDetector | None = None
_detector_lock = threading.Lock()


def _build_detector() -> LanguageDetector:
    from lingua import Language, LanguageDetectorBuilder

    languages = [getattr(Language, name) for name in LANGUAGES]
    return (
        LanguageDetectorBuilder.from_languages(*languages)
        .with_low_accuracy_mode()
        .with_preloaded_language_models()
        .build()
    )


def detector() -> LanguageDetector:
    """The process's one lingua detector, built on first use (~0.5 s, ~50-60 MiB).

    lingua's detector is safe to share between threads; the lock only keeps two threads
    from building it twice at start-up.
    """
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                _detector = _build_detector()
    return _detector


@cache
def _english_word_set() -> frozenset[str]:
    from sentiment.analyzers.vader import lexicon_path

    words = {*_FUNCTION_WORDS.split(), *_COMMON_WORDS.split(), *_SHOP_WORDS.split()}
    path = lexicon_path()
    if not path.is_file():
        # Without it the vocabulary shrinks and English texts start being rejected.
        raise FileNotFoundError(
            f"VADER lexicon not found at {path}; reinstall it with "
            "`pip install vaderSentiment` (see requirements.txt)."
        )
    for line in path.read_text(encoding="utf-8").splitlines():
        token = line.partition("\t")[0]
        if _WORD.fullmatch(token) and token.islower():
            words.add(token)
    return frozenset(w for w in words if len(w) > 1 and w not in HOMOGRAPHS)


def _is_latin(ch: str) -> bool:
    point = ord(ch)
    # Basic Latin to Latin Extended-B, IPA, and Latin Extended Additional (Vietnamese).
    return point <= 0x2AF or 0x1E00 <= point <= 0x1EFF


@lru_cache(maxsize=512)
def _words(text: str) -> tuple[str, ...]:
    """The lower-cased words of `text` (cached: see `_assess`)."""
    if text.isascii():
        return tuple(_ASCII_WORD.findall(text.lower()))  # same result, several times faster
    return tuple(_WORD.findall(text.lower().replace("\u2019", "'")))


def _mostly_other_script(text: str, words: tuple[str, ...]) -> bool:
    if text.isascii():
        return False
    letters = sum(len(w) for w in words)
    other = sum(1 for w in words for ch in w if not _is_latin(ch))
    return other * 2 > letters


def _lingua(text: str) -> tuple[str, float, float]:
    """(best language's code, its confidence, English's confidence); code "" if none."""
    values = detector().compute_language_confidence_values(text[:MAX_CHARS])
    best = values[0]
    if best.value <= 0.0:
        return "", 0.0, 0.0
    from lingua import Language

    english = next(v.value for v in values if v.language == Language.ENGLISH)
    return best.language.iso_code_639_1.name.lower(), best.value, english


def _english_share(words: tuple[str, ...]) -> tuple[int, float]:
    """(common English words, their share of the words that can be evidence at all).

    Homographs and single ASCII letters count neither way: "Waiter was a jerk" is 2 of 2.
    """
    ignored = _ignored_words()
    evidence = [w for w in words if w not in ignored]
    hits = sum(map(_english_word_set().__contains__, evidence))
    return hits, (hits / len(evidence) if evidence else 0.0)


@cache
def _ignored_words() -> frozenset[str]:
    return HOMOGRAPHS | frozenset("abcdefghijklmnopqrstuvwxyz")


@lru_cache(maxsize=256)
def _assess(text: str) -> tuple[int, LanguageGuess]:
    """(number of words, rules 1-5 for `text`).

    Cached because the pipeline asks twice about the same strings: the whole text, then
    its sentences (a one-sentence text is both), and rule 6 judges sentences that
    `english_sentences` judges again.
    """
    words = _words(text)
    if not words:
        return 0, _NO_LETTERS
    if _mostly_other_script(text, words):
        code, confidence, _ = _lingua(text)
        return len(words), LanguageGuess(code or UNKNOWN, confidence, False)

    hits, share = _english_share(words)
    if len(words) <= SHORT_WORDS or sum(map(len, words)) < SHORT_LETTERS:
        if hits or len(words) == 1:
            return len(words), LanguageGuess(ENGLISH, share, True)
        code, confidence, english = _lingua(text)
        if code and code != ENGLISH and confidence >= SHORT_MIN_CONFIDENCE:
            return len(words), LanguageGuess(code, confidence, False)
        return len(words), LanguageGuess(ENGLISH, english, True)

    if share >= ENGLISH_SHARE:
        return len(words), LanguageGuess(ENGLISH, share, True)

    code, confidence, english = _lingua(text)
    if not code or code == ENGLISH or english >= CLOSE_RATIO * confidence:
        return len(words), LanguageGuess(ENGLISH, english, True)
    return len(words), LanguageGuess(code, confidence, False)


def detect_language(text: str) -> LanguageGuess:
    """The gate's decision for one customer text (its original form, emoji and all).

    Deterministic and thread-safe; no side effects beyond building the detector once.
    """
    count, guess = _assess(text)
    if guess.english or count < 2 * SUBSTANTIAL_WORDS:
        return guess
    # Rule 6: a mixed text is English if one substantial sentence is.
    sentences = split_sentences(text)
    if len(sentences) < 2:
        return guess
    for sentence in sentences:
        sentence_count, sentence_guess = _assess(sentence.text)
        if sentence_count >= SUBSTANTIAL_WORDS and sentence_guess.english:
            return sentence_guess
    return guess


def is_supported(guess: LanguageGuess) -> bool:
    """Whether the text may be scored: English, or no letters to judge (emoji, digits)."""
    return guess.english or guess.code == UNDETERMINED


def english_sentences(sentences: Sequence[str]) -> list[bool]:
    """Per sentence of a text that passed the gate: True to score it, False to leave it out.

    A sentence is left out only when it has more than SHORT_WORDS words and the rules of
    `detect_language` place it in another language; short ones are always kept.
    """
    keep = []
    for sentence in sentences:
        if len(_words(sentence)) <= SHORT_WORDS:
            keep.append(True)
        else:
            keep.append(_assess(sentence)[1].english)
    return keep
