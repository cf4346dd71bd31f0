"""Which aspects of the shop a sentence speaks of, and each aspect's polarity in a text.

Detection is a curated lexicon, not a model: one compiled regex with a named group per
aspect runs over the lower-cased sentence, and the names of the groups that match are the
aspects. It is fast enough to run on every sentence, deterministic, and every decision is
readable here. Polarity is not decided by the lexicon: a text's aspect takes the labels
and scores its analyzer gave the sentences that mention it (aggregate_aspects).

What each aspect covers (tests/data/README.md has the labelling guide it is measured on):
- delivery: shipping speed, cost and carriers, back-orders, the parcel's condition. Not
  "when it arrived, ..." or "got it in the mail" as a mere time anchor for an opinion
  about the product, which is how most reviews use "arrive";
- price: price, value for money, sales and discounts;
- quality: material and workmanship: fabric, seams, softness, sheerness, wash
  behaviour, defects, durability;
- fit: size chosen, runs small/large, tight/loose, length, cut, support;
- service: staff and customer service, in store or remote;
- returns: returning, exchanging, refunds, "sent it back", "it's going back";
- website: the online shop itself: site, app, checkout, and the listing's photos and
  description. Not "I ordered it online" alone, which says nothing about the site.

Precision rules worth knowing:
- "cheap" is quality ("looks cheap", "cheap fabric", "cheaply made"), because that is
  how shoppers use it; only explicit price phrases ("cheaper", "for cheap", "cheap
  price") count as price. Likewise "looks/feels expensive" is quality, not price;
- "return to this store", "returning customer", "in return" are not returns;
- "fit the bill", "fit for a queen" are not fit; "customer support" is service while
  "good support" (of a bra or top) is fit;
- "delivers" without a parcel ("it really delivered in person") is not delivery;
- "online" is website only with something about the listing or the shop ("looks better
  online", "sold out online"), not in "I saw it online and ordered it".

benchmarks/aspects.py measures detection against the hand-labelled sentences; re-run it
after changing the lexicon, and prefer a general rule to a fix for one sentence.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sentiment.analyzers.base import label_for_score

ASPECTS: tuple[str, ...] = (
    "delivery",
    "price",
    "quality",
    "fit",
    "service",
    "returns",
    "website",
    "other",
)
ASPECT_LABELS: dict[str, str] = {
    "delivery": "Delivery",
    "price": "Price / value",
    "quality": "Product quality",
    "fit": "Sizing / fit",
    "service": "Customer service",
    "returns": "Returns / refunds",
    "website": "Website / app",
    "other": "Other",
}
OTHER = "other"

# A short gap of words between two parts of a phrase: "sent [the dress] back".
_GAP = r"(?:[\w'-]+\s+){0,3}?"
_SHORT_GAP = r"(?:[\w'-]+\s+){0,2}?"
_PROMPTLY = (
    r"quickly|fast|quick|promptly|prompt|early|late|on time|in time|next day|the next day|"
    r"in a timely (?:manner|fashion)|timely|"
    r"in (?:one|two|three|a few|a couple of|\d+) (?:business )?days?|within"
)

# Per aspect, alternatives of one regex over lower-cased text; every alternative starts and
# ends at a word boundary (a "$" amount may start one), so "thin" never matches "thing" and
# "fit" never "outfit". Where two aspects' alternatives can match at the same place
# the one listed first in _ORDER wins that stretch of text, so the more specific phrase
# ("customer support", "cheap price", "sent it back") is listed under the earlier aspect.
_LEXICON: dict[str, tuple[str, ...]] = {
    "service": (
        r"customer (?:service|support|care|relations)",
        r"(?:support|service) (?:team|staff|agents?|reps?|department)",
        r"(?<!self-)service(?!able)",
        r"(?<!i )associates?(?! with)|(?:sales ?)?(?:clerks?|reps?|agents?)",
        r"representatives|(?<!is )(?<!are )(?<!was )(?<!were )representative(?! of)",
        r"sales ?(?:person|people|persons|girls?|lady|ladies|woman|women|man|men|staff|team)",
        r"salesclerks?|saleswom[ae]n|salesgirls?|salesm[ae]n|salespeople",
        r"(?:store |shop )?(?:employees?|staff|stylists?|managers?|cashiers?)",
        r"(?:girl|lady|woman|guy|man|person|people) (?:at|in|from|working|who work(?:ed|s)?) "
        r"(?:at |in )?the (?:store|shop|counter|register)",
        r"(?:person|people|woman|lady|girl|guy) (?:who )?help(?:ed|ing)",
        r"(?:called|phoned|emailed|e-mailed|contacted|wrote to|chatted with|complained to) "
        r"(?:customer|the (?:store|shop|company|retailer)|support|service)",
        r"(?:rude|unhelpful|helpful|friendly|courteous|knowledgeable) (?:staff|service|people)",
        r"no (?:reply|response)|never (?:replied|responded|heard back)",
    ),
    "returns": (
        r"(?<!in )returns?(?! to\b| customers?| visits?| trips?)",
        r"returned(?! to (?:the |this |my )?(?:brand|shop|site|website))",
        r"returning(?! customers?| to (?:the |this |my )?(?:brand|shop|site|website))",
        r"returnable|refund(?:s|ed|ing|able)?|store credit|money back|exchang(?:e|ed|es|ing)",
        r"replacements?|(?:shipping|postage) both ways",
        rf"(?:send|sent|sending|ship|shipped|shipping|mail|mailed|mailing|take|took|taking|"
        rf"bring|brought|bringing) {_GAP}back\b",
        r"(?:it|its|this|these|they|them|one|dress|top|both|all)(?:'s| is| are| will be|'re)? "
        r"(?:going|goes|went|heading|headed) (?:right )?back\b",
        r"back (?:it|they) (?:goes|go)|(?:not|n't) keep(?:ing)? (?:it|this|them)",
    ),
    "website": (
        r"(?<!another )(?<!other )(?:web ?sites?|sites?(?! (?:of|for))|web)",
        r"apps?|checkout|check-out(?! desk| counter)",
        r"online (?:photos?|pictures?|images?|descriptions?|listings?|ordering system)",
        r"(?:appears?|appeared|looks?|looked|shown|pictured|seen|photos?|pictures?|images?"
        r"|presented) online",
        rf"(?:than|as|look|looks|looked|appear|appears|appeared|see) {_GAP}online",
        rf"(?:no more|out of stock|sold out|backorder|back order|available|only|exclusive|"
        rf"in stock) {_GAP}online",
        r"online (?:only|exclusive)|on ?line (?:was|is) (?:wrong|misleading)",
        r"pictured|pictures?|photos?(?!graph)|photographs?|images?|shown",
        r"(?:on|than|as) the model|the models?\b",
        r"descri(?:ption|ptions|bed)|listings?|size charts?|product (?:page|details)",
        r"log ?in|sign ?in|password|search (?:bar|results|function|engine)|(?:my |shopping )cart",
    ),
    "delivery": (
        r"shipping (?:costs?|fees?|charges?|rates?)|(?:money|\$ ?\d+) (?:on|for) shipping",
        r"ship(?:s|ped|ping|ment|ments)?\b",
        r"deliver(?:y|ies)|(?:was|were|be|been|being|get|got|gets|getting) delivered",
        rf"delivered (?:to (?:my|the|your|our)|{_PROMPTLY}|yesterday|today)",
        rf"arriv(?:e|ed|es|ing|al) {_SHORT_GAP}(?:{_PROMPTLY}|damaged|broken|first|yet|finally)\b",
        r"(?:arriv(?:e|ed|es|ing|al)|came) (?:[\w'-]+\s+){0,6}?(?:wrinkled|crushed|squashed|"
        r"crumpled|folded|bunched|creased|smashed)",
        rf"(?:came|come|got here|received(?: it| them| my order| the package)?) "
        rf"(?:very |so |super |really )?(?:{_PROMPTLY})\b",
        r"never (?:arrived|came|showed up|received)|(?:has|have)(?:n't| not) (?:arrived|"
        r"come|shown up|been received)|(?:did not|didn't) arrive|still (?:waiting|hasn't|haven't)",
        rf"(?:wait|waited|waiting|waits) {_GAP}(?:to |for (?:it|them|this|these|my \w+) to )?"
        r"(?:finally )?(?:arrive|ship|come|be delivered)",
        r"took (?:forever|ages|(?:\w+ ){1,2}(?:days|weeks)) to (?:arrive|come|get here|ship)",
        r"back-? ?order(?:s|ed)?|pre-?order(?:s|ed)?",
        r"packag(?:ing|ed)|parcels?|(?:the|my) (?:box|package) (?:was|arrived|came)",
        r"(?:crushed|damaged|wet|torn|ripped|opened|open) (?:box|package|parcel)",
        r"couriers?|carriers?|fedex|usps|dhl|postal|post office|mail ?(?:man|carrier)|postman|"
        r"(?:via|by|with|through) ups\b|ups (?:driver|delivery|ground|guy|man|store)|"
        r"tracking(?! down)|lost in the (?:mail|post)",
        r"(?:arrived|came|was|were|days|weeks|delivery) late|late (?:delivery|arrival)",
    ),
    "price": (
        r"pric(?:e|es|ed|ey|y|ing)|overpriced|underpriced|price ?(?:point|tag)",
        r"(?:in)?expensive|costs?\b|costly|costing",
        r"cheaper|cheapest|for cheap|cheap (?:price|deal)",
        r"(?<!made a )sale\b|discount(?:s|ed)?|mark(?:ed)? ?down|clearance|promo(?:tion)?s?",
        r"coupons?",
        r"\d+ ?(?:%|percent) off|(?:a|great|good|real) (?:deal|bargain|steal)(?! ?breaker)|"
        r"bargains?",
        r"steal\b|worth (?:it|the (?:money|price|cost|investment|splurge|extra|penny|\$)|every|"
        r"its|each|\$)|(?:good|great|poor|bad|excellent) value|"
        r"value for|money|dollars?|bucks|\$ ?\d+",
        r"afford(?:able)?|budget|splurg(?:e|ed|ing)|investment|full[ -]price",
        r"pa(?:y|id|ying)\b(?! (?:for )?(?:the )?(?:return )?shipping| (?:more )?attention)",
    ),
    "quality": (
        r"(?<!redeeming )quality",
        r"(?:well|poorly|badly|cheaply|nicely|beautifully) (?:made|constructed|sewn)",
        r"made (?:well|poorly|badly|cheaply)|construction|constructed|craftsmanship|workmanship",
        r"fabrics?|materials?|textiles?|stitch(?:es|ing|ed)?|seams?",
        r"lining|(?:fully |un)?lined(?! up)",
        r"care (?:instructions|labels?|tags?)|static(?: cling)?|fray(?:s|ed|ing)?",
        r"cheap(?:ly|o|er looking)?|(?:look|looks|looked|feel|feels|felt) (?:very |so |really )?"
        r"(?:expensive|luxurious|high[- ]end|rich)",
        r"soft(?:er|est|ness)?(?! (?:pink|yellow|blue|green|grey|gray|white|colou?r|peach))",
        r"itch(?:y|es|ing|iness)?|scratch(?:y|es|iness)|prickl(?:y|ing|es)|rough|stiff|coarse",
        r"sandpaper",
        r"see[- ]?through|sheer|transparent|thin(?:ner|ness)?(?! straps?)|flimsy|sturdy|"
        r"durab(?:le|ility)|lightweight|heavyweight|thick(?:er|ness)?|hefty|delicate|"
        r"heav(?:y|ier)(?!-? ?(?:set|chested|hips|bust|thighs))",
        r"f[ae]ll apart|falling apart|came apart|coming apart|unravel(?:ed|ing|s)?|"
        r"ripped|rips?\b|tore|torn|tear\b|(?<!arm )(?<!arm-)holes?\b",
        r"snag(?:s|gy)?|snagged(?! (?:it|one|a|the|this|them|two)\b)",
        r"pill(?:s|ing|ed|y)?\b|shr[ai]nk(?:s|ing|age)?|shrunk|fad(?:e|ed|es|ing)\b|bleed|"
        r"stain(?:s|ed)?|defect(?:s|ive|ed)?|flaw(?:s|ed)?|wrinkl(?:e|es|ed|y)|lint|"
        r"loose threads?|threads? (?:hanging|coming|loose)|broke(?:n)?\b(?! the bank)|"
        r"zip(?:per)? (?:[\w'-]+\s+){0,3}?(?:broke|stuck|jammed|snagged|won't|wouldn't|would not|"
        r"doesn't work|does not work)",
        r"(?<!dark )(?<!light )(?<!medium )wash(?:es|ed|ing)?\b(?! out)|dry clean|"
        r"hold(?:s)? up|held up|stretch(?:y|ed out)",
    ),
    "fit": (
        r"fit(?:s|ted|ting)?\b(?! (?:the bill|for a (?:queen|king|princess))| rooms?)",
        r"siz(?:e|es|ed|ing)\b|tts|alter(?:ed|ations?)|tailor(?:ed|ing)?",
        r"(?<!i am )(?<!i'm )(?<!am very )petites?(?! (?:frame|figure|build|women|woman|girl))",
        r"(?:too much|so much|lots of|a lot of|extra|excess(?:ive)?) (?:of )?(?:fabric|material)",
        r"arm ?holes?|arm-holes?|body (?:types?|shapes?)|coverage|(?:cover|covers|covered) "
        r"(?:my|your|the) (?:[\w-]+ )?"
        r"(?:backside|butt|bum|bottom|rear|chest|bust|arms|tummy|midsection)",
        r"for my (?:frame|body|figure|height|build|shape|torso|curves|chest|bust|hips)",
        r"extra[- ](?:small|large)|(?:x{0,2}s|m|l|x{1,2}l|sm|med|lg)/(?:x{0,2}s|m|l|x{1,2}l|sm|"
        r"med|lg)",
        r"(?:(?:wear|wore|order|ordered|bought|got|usually|normally|typically|am|i'm) (?:a |an )?"
        r"|(?:for|in) (?:a|an|size) )"
        r"(?:size )?\d{1,2}p?\b(?!['\"\d/.,-]| ?(?:feet|ft|foot|inch|lbs?|pounds|years?|yrs?|"
        r"months?|weeks?|days?|times|stars?|hours?|minutes|dollars|bucks|percent|colou?rs|"
        r"seasons|pairs|pieces))",
        r"(?:was|is|were|are|felt|feels|looked|looks) (?:very |so |too |way |really |a bit |"
        r"a little |slightly |pretty |super |rather |quite |absolutely |ridiculously |just |"
        r"extremely )?(?:small|large|big|huge|short|long)\b"
        r"(?! (?:fan|deal|hit|part|difference|help|plus|bonus|selling|print|pattern))",
        r"(?:hangs?|hanging|hung)(?! (?:it |them )?(?:to )?dry| in (?:my|the) closet)",
        r"(?:x{1,3}s|x{1,3}l|x{0,2}sp|mp|lp|ps|pxs)\b(?!-)",
        r"\d{1,2}p\b|(?<![.,\d])0{1,2}p?\b",
        r"(?:a|the|my|in|an|usual|normal|regular|ordered|bought|got|wear|petite|size|sz) "
        r"(?:x{1,2}-?)?(?:small|medium|large)",
        r"(?:run|runs|ran|running) (?:\w+ ){0,2}?"
        r"(?:small|large|big|short|long|true|tts|narrow|wide|low)",
        r"gap(?:s|ing|ed)?|gapes?|pull(?:s|ing)? (?:a bit|a little|across|at the|around|tight)",
        r"(?:small|big|large|tight|loose|short|long) (?:on|in|through|across|around|at|for) "
        r"(?:top|me|the|my|shorts|pants|a)\b",
        r"(?:way|a bit|a little|slightly|too|very|super|so) (?:small|big|large|long|short)\b",
        r"too (?:small|big|large|tight|loose|long|short|snug|baggy|boxy|wide|narrow|low|high)",
        r"tight(?:er|ly|ness)?|loose(?:r|ly)?|snug(?:ly)?|bagg(?:y|ier)|box(?:y|ier)|roomy|"
        r"oversized?|form[- ]fitting|cling(?:y|s)|shapeless|tent-?like|"
        r"huge (?:on|in|through|around|everywhere)",
        r"length|lengths|inseam|rise\b|hem ?line|torso|waist(?:ed|line)?|bust\b",
        r"(?:the|nice|great|odd|weird|strange|boxy|flattering|classic|slim|straight|generous) "
        r"cut\b|cut (?:is|was)\b|low[- ]cut|cut (?:too )?low",
        r"hits? (?:at|right|me|just|above|below|mid|the)|came (?:to|mid|just|above|below)",
        r"(?:good|great|nice|no|zero|little|enough|some|extra|bra) support|supportive",
        r"room (?:in|through|at|for)|plenty of room",
    ),
}
_ORDER = ("service", "returns", "website", "delivery", "price", "quality", "fit")
# Alternatives are only tried where a word (or a "$" amount) starts: checking `\b(?=\w)`
# first skips word ends, which halves the work of this many-branched pattern.
_DETECTOR = re.compile(
    r"(?:\b(?=\w)|(?=\$))(?:"
    + "|".join(f"(?P<{aspect}>{'|'.join(_LEXICON[aspect])})\\b" for aspect in _ORDER)
    + ")"
)


def detect_aspects(sentence: str) -> frozenset[str]:
    """The named aspects `sentence` speaks of (never "other"); empty if none."""
    return frozenset(
        match.lastgroup for match in _DETECTOR.finditer(sentence.lower()) if match.lastgroup
    )


@dataclass(frozen=True, slots=True)
class AspectPolarity:
    """How one text speaks of one aspect: the label and mean score of its sentences."""

    aspect: str
    label: str  # "negative" | "neutral" | "positive"
    score: float  # mean of the sentence scores, in [-1, 1]
    sentences: tuple[int, ...]  # indexes into the text's sentence list


def aggregate_aspects(
    sentences: Sequence[str], scores: Sequence[float], labels: Sequence[str]
) -> dict[str, AspectPolarity]:
    """Each aspect the sentences speak of, with a polarity from those sentences' scores.

    `scores` and `labels` are one analyzer's results for `sentences`, in order. A sentence
    counts toward every named aspect it mentions; a sentence that mentions none but carries
    sentiment (label not neutral) counts toward "other", so a text's feeling is never lost
    for want of a lexicon entry. An aspect's label is the majority of its sentences'
    labels; a tie goes by the sign of the mean score, neutral when |mean| < 0.05: one
    strong complaint against one mild compliment reads negative, two equal ones neutral.
    Only aspects that occur are returned, in ASPECTS order. Raises ValueError when the
    three sequences differ in length.
    """
    if not len(sentences) == len(scores) == len(labels):
        raise ValueError(
            f"sentences, scores and labels differ in length: "
            f"{len(sentences)}, {len(scores)}, {len(labels)}"
        )
    members: dict[str, list[int]] = {}
    for index, sentence in enumerate(sentences):
        aspects = detect_aspects(sentence)
        if not aspects and labels[index] != "neutral":
            aspects = frozenset((OTHER,))
        for aspect in aspects:
            members.setdefault(aspect, []).append(index)

    result: dict[str, AspectPolarity] = {}
    for aspect in ASPECTS:
        indexes = members.get(aspect)
        if not indexes:
            continue
        mean = sum(scores[i] for i in indexes) / len(indexes)
        mean = max(-1.0, min(1.0, mean))
        (top, top_count), *rest = Counter(labels[i] for i in indexes).most_common()
        tied = bool(rest) and rest[0][1] == top_count
        label = label_for_score(mean) if tied else top
        result[aspect] = AspectPolarity(aspect, label, mean, tuple(indexes))
    return result
