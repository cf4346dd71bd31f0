"""English texts for the demo: reviews, ticket subjects and messages from customers and agents.

Each text is composed from phrase pools by topic (delivery, price, quality, sizing, service,
refund, website) and tone (negative, mixed, neutral, positive), with alternatives inside
every phrase (see crm.demo.grammar) and details from the record: product names, sizes,
days late, order numbers, amounts, couriers. The tone asked for is the tone written, so the
simulation's tone labels are the ground truth a sentiment model is measured against.

All phrasing is our own; no dataset is copied. Randomness comes only from the
`random.Random` passed in, so a seeded generator gives the same texts every time.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from crm.demo.grammar import pick, render

TOPICS = ("delivery", "price", "quality", "sizing", "service", "refund", "website")
TONES = ("negative", "mixed", "neutral", "positive")

# --- reviews: phrase pools by topic and tone -------------------------------------------------

POSITIVE = {
    "delivery": (
        "[Arrived|Delivered|It came] [in just|within] {lead} days[, well before the promised date"
        "|, even faster than promised|], [brilliant|great|love that]!",
        "Super [fast|quick] [shipping|delivery][!|, very impressed.|.]",
        "The parcel was [well|nicely|carefully] packed and [arrived|came] [right on time"
        "|a day early|when promised].",
        "{courier} [delivered|dropped] it [right on time|the day after I ordered|earlier than "
        "expected], [perfect|excellent|great service].",
        "Tracking was [accurate|spot on] and the [parcel|package] [turned up|arrived] exactly "
        "when [they said|promised][, great|, lovely|].",
    ),
    "price": (
        "[Great|Excellent|Really good|Fantastic] value for [the money|{price}].",
        "[Cheaper than|A better price than] [anywhere else|other shops|the high street] for "
        "[this quality|a {item} like this][, happy days|, very pleased|].",
        "Got it with [the|a] {coupon} code, [a real bargain|a great deal|so worth it].",
        "For {price} I [honestly|really] [expected less|did not expect this quality][, great "
        "value|, superb|].",
        "[Fair|Honest|Very reasonable] [price|pricing] and [free|cheap] shipping, [love it"
        "|what more could you want|lovely].",
    ),
    "quality": (
        "The [fabric|material|{material}] [feels|is] [really|super|so] [soft|lovely|nice|sturdy] "
        "and [well made|beautifully finished|great quality].",
        "[Still looks|Looks] [brand new|great|as good as new] after {n} [washes|weeks of wear]"
        "[!|, impressive.|.]",
        "The stitching is [neat|solid|excellent] and the {colour} colour is [gorgeous|beautiful"
        "|exactly like the photos].",
        "[Really|Very|Genuinely] [impressed|happy|pleased] with the [quality|craftsmanship], it "
        "[feels|looks] [premium|expensive|built to last].",
        "[Beautiful|Lovely|Wonderful|Great] {item}, [I wear it all the time|my new favourite"
        "|I get compliments every time I wear it].",
    ),
    "sizing": (
        "[Fits|Fit] [perfectly|like a glove|true to size][!|, so happy.|.]",
        "Ordered my usual {size} and it fits [great|perfectly|just right].",
        "The size guide was [spot on|accurate|really helpful], {size} was [perfect|the right "
        "call|a great fit].",
        "[Great|Flattering|Comfortable] fit[, not too tight, not too loose|, very comfortable"
        "|, love the cut].",
    ),
    "service": (
        "Customer service was [super|really|very] [helpful|friendly|quick][!|, thank you.|.]",
        "{agent} from [support|customer service] [sorted it out|helped me] in [minutes"
        "|one email|no time], [great service|brilliant|very kind].",
        "[Lovely|Friendly|Helpful] [support team|people on the chat], they [really|truly] care.",
    ),
    "refund": (
        "[Refund|My money] came [through|back] in {n} days, [no questions asked|very smooth"
        "|painless][, great|, thanks|].",
        "Returning was [easy|simple|hassle free] and the refund was [quick|fast|prompt].",
        "[Easy|Simple|Free] returns, [which I love|great policy|very reassuring].",
    ),
    "website": (
        "The [website|app] is [easy|a pleasure|a breeze] to use[, great photos|, love the "
        "filters|].",
        "Checkout [was quick|took a minute|was smooth] and [paying|payment] was [easy|simple].",
        "[Great|Nice|Clear] product [photos|descriptions] on the [site|app], [very helpful"
        "|it looks exactly as shown].",
    ),
}

NEUTRAL = {
    "delivery": (
        "Delivery took {lead} days[, as stated at checkout|, as promised|].",
        "It [came|was delivered] with {courier}[ on the {promised}|].",
        "[Shipping|Delivery] was [standard|normal|as expected], {lead} days.",
        "The parcel [arrived|came] on [the|a] {promised}[, no issues|].",
    ),
    "price": (
        "Paid {price}[, which seems about right|, the usual price for this kind of {item}|].",
        "[Used|Applied] the {coupon} code at checkout.",
        "[Price is|Pricing is] [in line with|similar to] other shops.",
    ),
    "quality": (
        "The {material} is [fairly|quite] [thin|light], [as described|as expected].",
        "[Material|Fabric] [feels|seems] [standard|average|ordinary] for the price.",
        "Washed it {n} times so far[, no changes|, looks the same|].",
        "Colour is [a bit|slightly] [darker|lighter] than on the screen.",
    ),
    "sizing": (
        "Size {size} fits as [expected|described].",
        "[Runs|Comes up] [slightly|a little] [large|small], [so size|consider sizing] [up|down].",
        "I [usually|normally] wear size {size} and ordered the same.",
    ),
    "service": (
        "[Contacted|Emailed|Called] support [once|about my order] and got [an answer|a reply] "
        "[within a day|the next day].",
        "Spoke to {agent} on the chat about [sizes|the delivery].",
    ),
    "refund": (
        "Returned [one item|the {item}][ via {courier}|], refund [pending|is being processed].",
        "The refund [took|came after] {n} days.",
    ),
    "website": (
        "Ordered through the [app|website] on [my phone|a laptop].",
        "[Found|Found it] [using the search|in the sale section|via the newsletter].",
    ),
}

NEGATIVE = {
    "delivery": (
        "[It|My order|The parcel] arrived {days} days [late|after the promised date][.|!]",
        "[Nobody|No one] [told me|bothered to tell me] about the delay, [terrible|awful|really "
        "poor] communication.",
        "Tracking said [out for delivery|in transit] for {days} days[ and nothing happened|]"
        ". [Useless|Ridiculous|So frustrating].",
        "I needed it for [a wedding|a trip|my daughter's birthday|a job interview] and it "
        "[came|turned up] {days} days too late. [Very|Really|Extremely] disappointed.",
        "{courier} [left it|dumped it] [outside in the rain|with a neighbour I don't know|at a "
        "shop miles away] and [the box was damaged|nobody rang the bell], [awful|terrible].",
        "Promised for {promised}, [delivered|it arrived] {days} days later. [Unacceptable"
        "|Not good enough|Shocking].",
    ),
    "price": (
        "[Way|Far|Much] too expensive for what you get[.|!]",
        "{price} for this? [A rip-off|Not worth it|Ridiculous|Absolutely not worth it].",
        "The price [dropped|went down] by {diff} [a week after|right after|two days after] I "
        "bought it, [annoying|really annoying|feels like a scam].",
        "Shipping costs [are outrageous|killed the deal|are a joke], [overpriced|greedy].",
        "[Overpriced|Poor value] [junk|rubbish|nonsense], [cheaper and better|better quality] "
        "elsewhere.",
    ),
    "quality": (
        "[The seam|A seam|The zip|The stitching] [came apart|broke|ripped] after [{n} days"
        "|two wears|the first wash][.|!]",
        "[Cheap|Thin|Flimsy|Poor] material, [feels|looks] nothing like the [photos|pictures].",
        "[Faded|Shrunk|Pilled|Lost its shape] after the first wash, [terrible|awful|really bad] "
        "quality.",
        "[Arrived|It came] with [a hole|a stain|loose threads|a broken button], [not acceptable"
        "|very disappointing|poor quality control].",
        "The {colour} [colour|dye] [ran|bled] all over my other clothes[, ruined them|]. "
        "[Awful|Terrible|Disgusting].",
    ),
    "sizing": (
        "The size chart is [completely|totally] [wrong|useless|misleading].",
        "Ordered size {size}, [it fits like|it's more like] size {other_size}[, ridiculous"
        "|, absurd|].",
        "[Had to|I had to] send it back [because of the fit|twice for the size], [annoying"
        "|what a waste of time|so frustrating].",
        "[Way|Far|Much] too [small|tight|big|long] even in {size}, [unwearable|useless|badly cut].",
    ),
    "service": (
        "[Support|Customer service] [never replied|ignored my emails|was useless][.|!]",
        "[I waited|I have been waiting|Waited] {waited} days for an answer, [terrible|awful"
        "|pathetic] service.",
        "[Rude|Unhelpful|Dismissive] agent on the [phone|chat], [never again|very upsetting].",
        "[Three|Four|Several] emails and [still|yet] no [solution|answer|reply], [shocking"
        "|horrible|unbelievable].",
    ),
    "refund": (
        "Still waiting for my refund of {price} after {waited} days[.|!]",
        "They [claim|say] they never received the return, [I have the tracking|it was signed "
        "for]. [Disgraceful|Terrible|Unacceptable].",
        "[Refund|The refund] [took|needed] {waited} days and [three|several] reminders, "
        "[awful|terrible|a nightmare].",
        "[Only|They only] refunded part of the money, [no explanation|no reason given], "
        "[shocking|really bad|unfair].",
    ),
    "website": (
        "[The checkout|Payment|The app] [kept crashing|failed {n} times|would not accept my "
        "card], [so frustrating|terrible|awful].",
        "[The discount code|My voucher|The {coupon} code] [did not work|was rejected] at "
        "checkout, [annoying|frustrating|useless].",
        "Could not log in [for days|after the update|at all], [terrible|broken|useless] website.",
        "The [site|app] [showed|said] in stock but [it was sold out|they cancelled my order], "
        "[very disappointing|misleading|poor].",
    ),
}

# Delivery complaints about a parcel that came on time: damaged, misplaced, badly packed.
NEGATIVE["parcel"] = (
    "The box was [crushed|ripped open|soaking wet] when it [arrived|came], [terrible|awful"
    "|really poor] packaging.",
    "{courier} [left it|dumped it] [outside in the rain|with a neighbour I don't know|at a "
    "shop miles away] and nobody rang the bell. [Awful|Terrible|Useless].",
    "[Marked as delivered|Tracking said delivered] but [it wasn't there|nothing arrived] "
    "until [the next day|two days later], [very stressful|so annoying].",
    "[Way too much|Ridiculous amounts of] plastic packaging for one {item}, [wasteful"
    "|disappointing|not good].",
)
POSITIVE["parcel"] = POSITIVE["delivery"]
NEUTRAL["parcel"] = NEUTRAL["delivery"]

# The downside of a mixed review: milder than NEGATIVE.
MILD = {
    "delivery": (
        "delivery took [a bit|a little|somewhat] longer than promised",
        "it arrived {days} days [late|after the promised date]",
        "[shipping|delivery] was [slow|slower than I hoped]",
    ),
    "parcel": (
        "the [box|packaging] was [a bit|slightly] [battered|squashed]",
        "{courier} left it with a neighbour",
        "there was [a lot of|too much] plastic packaging",
    ),
    "price": (
        "it is [a bit|rather|quite] [pricey|expensive] for what it is",
        "[shipping|postage] is [a bit|slightly] too [expensive|high]",
        "I wish it were [cheaper|a bit cheaper]",
    ),
    "quality": (
        "the [fabric|material] [pills|creases] [a little|easily|a bit]",
        "the [stitching|finish] could be [better|neater]",
        "it [faded|shrank] [slightly|a bit] after washing",
    ),
    "sizing": (
        "it [runs|comes up] [small|large|a size small], so [size up|size down]",
        "the {size} is [a bit|slightly] [tight|loose] [around the shoulders|at the waist]",
        "the sleeves are [a bit|rather] [long|short]",
    ),
    "service": (
        "support took [a while|{waited} days] to [answer|reply]",
        "[I had to|it took] [two|three] emails to get [an answer|help]",
    ),
    "refund": (
        "the refund took [a while|longer than expected|{waited} days]",
        "[returns|returning] [is|was] a [bit of a|slight] hassle",
    ),
    "website": (
        "the [app|website] is [a bit|rather] [slow|clunky]",
        "the [size filter|search] [does not work well|is confusing]",
    ),
}

GENERAL = {
    "positive": (
        "[Love|Loving] it[!|.]",
        "[Really|Very|So] [happy|pleased] with [this purchase|it|my order][!|.]",
        "[Exactly|Just] [what I wanted|as pictured|as described][, thank you|].",
    ),
    "neutral": (
        "It [is|'s] [a standard|a basic|an ordinary] {item}.",
        "[Does|It does] [the job|what it says].",
        "[Bought|Ordered] it [for work|for everyday wear|as a spare].",
    ),
    "negative": (
        "[Very|Really|Hugely|Deeply] disappointed[.|!]",
        "[Would not|Wouldn't|Can't] recommend[.|!]",
        "[Total|Complete|Utter] waste of money[.|!]",
    ),
}

OPENERS = (
    "[Bought|Ordered|Got] the {product} [in {colour}|in size {size}|as a gift|for my "
    "[partner|sister|brother|mum|dad]|for everyday wear|for a trip].",
    "[Second|Third|First] order [from {shop}|here|with you].",
    "[Ordered|Bought] [the|this] {item} [last week|a few weeks ago|in the sale|on a whim].",
)

CLOSERS = {
    "positive": (
        "Would [definitely|happily|100%] [buy|order] again[!|.]",
        "[Highly|Totally|Warmly] recommend[!|.]",
        "Five stars from me[!|.]",
        "[Thanks|Thank you], {shop}[!|.]",
    ),
    "neutral": (
        "We'll see how it holds up.",
        "[Nothing more to add|That's all].",
        "[Might|May] order [another colour|again].",
    ),
    "mixed": (
        "[Still|Overall] [happy|okay] with it.",
        "[Three|3] stars[ for now|].",
        "[Might|Would] [buy|order] again if [that improves|they fix that].",
    ),
    "negative": (
        "[Never again|Won't be ordering again|I'm done with this shop][.|!]",
        "Save your money[.|!]",
        "[Returning it|Sending it back|Returned it][ for a refund|].",
    ),
}

CONTRAST = ("but", "however,", "though", "unfortunately", "sadly", "the only thing is,")
CONCEDE = ("That said,", "Still,", "On the plus side,", "But", "Apart from that,")

TITLES = {
    "positive": (
        "[Love|Loving] it",
        "[Great|Excellent|Perfect|Lovely] {item}",
        "[Very|Really|So] happy",
        "[Five stars|5 stars]",
        "[Brilliant|Fantastic|Great] [purchase|buy]",
        "Would buy again",
    ),
    "neutral": (
        "[OK|Fine|As described]",
        "[Standard|Basic|Plain] {item}",
        "Does the job",
        "{item}",
    ),
    "mixed": (
        "[Good|Nice] {item}, [but|however]",
        "Mixed feelings",
        "[Almost|Nearly] [great|perfect]",
        "[Good|Nice] but not [great|perfect]",
    ),
    "negative": (
        "[Very|Really] disappointed",
        "[Do not|Don't] [buy|bother]",
        "[Terrible|Awful|Poor] [quality|experience|service]",
        "Not [worth it|as described|good]",
        "Never again",
    ),
}

TOPIC_TITLES = {
    ("delivery", "negative"): ("[Late|Very late] delivery", "{days} days late"),
    ("delivery", "positive"): ("[Fast|Quick|Speedy] delivery",),
    ("price", "negative"): ("[Overpriced|Rip-off]",),
    ("price", "positive"): ("[Great|Good|Excellent] value",),
    ("quality", "negative"): ("[Fell apart|Poor quality|Cheap material]",),
    ("quality", "positive"): ("[Great|Excellent|Top] quality",),
    ("sizing", "negative"): ("[Wrong|Awful|Strange] sizing",),
    ("sizing", "positive"): ("[Perfect|Great] fit",),
    ("refund", "negative"): ("[Still|Waiting] for my refund",),
}

# Topics that a second, positive sentence may be about.
_PRODUCT_TOPICS = ("quality", "sizing", "delivery", "price")


def review(
    rng: random.Random, *, topic: str, tone: str, slots: Mapping[str, str]
) -> tuple[str, str]:
    """A review's (title, body) mainly about `topic`, written in `tone`."""
    sentences: list[str] = []
    if rng.random() < 0.45:
        sentences.append(render(pick(OPENERS, rng), rng, slots))
    if tone == "mixed":
        good = pick([t for t in _PRODUCT_TOPICS if t != topic], rng)
        upside = render(pick(POSITIVE[good], rng), rng, slots).rstrip(".!")
        downside = render(pick(MILD[topic], rng), rng, slots)
        if rng.random() < 0.6:
            sentences.append(f"{upside}, {pick(CONTRAST, rng)} {_lower_first(downside)}.")
        else:
            sentences.append(f"{downside}. {pick(CONCEDE, rng)} {_lower_first(upside)}.")
    else:
        pool = {"positive": POSITIVE, "neutral": NEUTRAL, "negative": NEGATIVE}[tone]
        first = pick(pool[topic], rng)
        sentences.append(render(first, rng, slots))
        if rng.random() < 0.55:
            other = topic if tone == "negative" or rng.random() < 0.4 else None
            candidates = [
                template
                for template in pool[other or pick(_PRODUCT_TOPICS, rng)]
                if template != first
            ]
            if candidates:
                sentences.append(render(pick(candidates, rng), rng, slots))
        if rng.random() < 0.35:
            sentences.append(render(pick(GENERAL[tone], rng), rng, slots))
    if rng.random() < 0.5:
        sentences.append(render(pick(CLOSERS[tone], rng), rng, slots))
    body = _style(" ".join(dict.fromkeys(sentences)), tone, rng)
    titles = TOPIC_TITLES.get((topic, tone), ())
    source = pick(titles, rng) if titles and rng.random() < 0.5 else pick(TITLES[tone], rng)
    return render(source, rng, slots), body


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _style(text: str, tone: str, rng: random.Random) -> str:
    """A little writer variety: some people type in lower case or shout."""
    roll = rng.random()
    if roll < 0.05:
        return text.lower()
    if tone == "negative" and roll < 0.2:
        return text.replace(". ", "! ").rstrip(".") + "!"
    return text


# --- tickets ------------------------------------------------------------------------------

SUBJECTS = {
    "delivery": (
        "Where is my order {order}?",
        "Order {order} [is late|has not arrived|still not delivered]",
        "[Delivery|Parcel] [delay|problem] - {order}",
        "[Tracking not updating|No tracking update] for {order}",
    ),
    "parcel": (
        "[Parcel|Order {order}] [marked delivered but not received|damaged in transit]",
        "Delivery [address|problem] for {order}",
    ),
    "price": (
        "Price [drop|change] on {product}",
        "Question about [pricing|shipping costs|the {coupon} code]",
        "[Price match|Refund of the difference] request",
    ),
    "quality": (
        "[Damaged|Faulty|Defective] {item} ({order})",
        "Quality problem with [my|the] {product}",
        "{product} [broke|fell apart|arrived damaged]",
    ),
    "sizing": (
        "[Exchange|Swap] size for {order}",
        "[Size advice|Which size?] for the {product}",
        "Wrong size [received|delivered] - {order}",
    ),
    "service": (
        "Complaint about [customer service|support|my last call]",
        "No [answer|reply] to my [emails|previous message]",
        "[Feedback|Complaint] about [an agent|your support]",
    ),
    "refund": (
        "Refund for {order}",
        "[Where is|Still waiting for] my refund?",
        "Return [received?|status] - {order}",
    ),
    "website": (
        "[Can't|Cannot|Unable to] [log in|check out|pay]",
        "[Discount|Voucher|Promo] code [not working|rejected]",
        "[Website|App] [error|problem|keeps crashing]",
    ),
}

GREETINGS = {
    "positive": ("Hi[ there|],", "Hello[ again|],", "Hi {shop} team,", "Hey,"),
    "neutral": ("Hello,", "Hi,", "Dear {shop} team,", "Good [morning|afternoon],", ""),
    "mixed": ("Hello,", "Hi,", "Dear [support|customer service],", ""),
    "negative": ("Hello,", "To whom it may concern,", "Dear [support|customer service],", ""),
}

SIGNOFFS = {
    "positive": ("[Thanks|Thank you] [so much|again|]!\n{name}", "Best,\n{name}", "{name}"),
    "neutral": (
        "[Thanks|Thank you],\n{name}",
        "[Best|Regards|Kind regards],\n{name}",
        "{name}",
        "",
    ),
    "mixed": ("Thanks,\n{name}", "Regards,\n{name}", "{name}", ""),
    "negative": ("{name}", "Regards,\n{name}", "", "[Waiting for your answer|Awaiting a reply]."),
}

OPENING = {
    ("delivery", "neutral"): (
        "I ordered the {product} ({order}) and the tracking has not updated since "
        "[Monday|two days ago|yesterday|the weekend]. Could you check where it is?",
        "[My|The] order {order} was due on {promised}. Is there any news from {courier}?",
        "Could you tell me when order {order} will [arrive|be delivered]? I [will be away"
        "|am travelling] next week.",
    ),
    ("delivery", "mixed"): (
        "I [usually|normally] [love|like] ordering from you, but {order} is {days} days late "
        "and I need it [for the weekend|for a trip|for a party]. Can you help?",
        "[Thanks for the quick dispatch|The order confirmation came quickly], but the parcel "
        "({order}) is now {days} days [late|overdue]. What is going on?",
    ),
    ("delivery", "negative"): (
        "My order {order} was promised for {promised} and it is now {days} days late. "
        "[Nobody has told me anything|The tracking is useless|{courier} says they never got "
        "it]. [This is really frustrating|I am extremely disappointed|This is unacceptable].",
        "[Where is my parcel|Where is my order]?! {days} days [late|overdue] and [not a single"
        " update|no reply to my emails]. [Terrible|Awful|Shocking] service.",
        "I paid for delivery and {order} is {days} days late. I needed it [for a wedding"
        "|for my holiday|for a birthday]. [Now it's useless to me|Thanks for nothing]. I want "
        "[a refund of the shipping|my money back].",
    ),
    ("parcel", "neutral"): (
        "Tracking for {order} says delivered but I [can't find it|haven't received it]. "
        "Could you check with {courier}?",
        "Could I change the delivery address for {order}? [I'm away|I'll be at work] on "
        "{promised}.",
    ),
    ("parcel", "mixed"): (
        "The {product} is [lovely|nice], but the box was [crushed|wet] and [it got a mark"
        "|one item is missing]. What can you do?",
    ),
    ("parcel", "negative"): (
        "{courier} [left my parcel|dumped order {order}] [outside in the rain|with a stranger]"
        " and now [it's ruined|it's gone]. [Unacceptable|Really angry|Terrible service].",
        "Order {order} was marked delivered but [never arrived|is not here]. [Nobody helps"
        "|Your chat is useless]. [I want a refund|Sort it out now].",
    ),
    ("refund", "neutral"): (
        "I sent back the {product} from order {order} [last week|{waited} days ago]. When can "
        "I expect the refund?",
        "Could you confirm that you received my return for {order}? [Thanks|Thank you].",
    ),
    ("refund", "mixed"): (
        "The return was easy, [thanks|which I appreciate], but it has been {waited} days and "
        "the refund of {price} is [still not|not yet] on my account.",
    ),
    ("refund", "negative"): (
        "It has been {waited} days since you received my return and I still have not got "
        "my refund of {price}. [This is ridiculous|I'm losing patience|I want my money back "
        "now].",
        "You [say|claim] you never received my return for {order}, but {courier} tracking "
        "shows it was delivered. [This is outrageous|Sort this out|Unacceptable].",
    ),
    ("quality", "neutral"): (
        "The {product} from order {order} has [a loose button|a small mark|a loose thread]. "
        "Can I [exchange|return] it?",
        "Is the {product} [machine washable|supposed to crease like this]? The label is not clear.",
    ),
    ("quality", "mixed"): (
        "I like the {product}, but [the zip broke|a seam opened|it started pilling] after {n} "
        "[days|wears]. Can you [replace it|help]?",
    ),
    ("quality", "negative"): (
        "The {product} I received [has a hole|is damaged|fell apart after {n} wears]. "
        "[Very poor quality|This is not acceptable|Really disappointing] for {price}.",
        "[Disgusted|Furious|Really upset] with the {product}: the colour [ran|bled] and "
        "ruined [my other clothes|a white shirt]. I expect compensation.",
    ),
    ("sizing", "neutral"): (
        "The {product} is too [small|big]. Can I exchange it for size {other_size}?",
        "I am between size {size} and {other_size} for the {product}. Which would you recommend?",
    ),
    ("sizing", "mixed"): (
        "[Lovely|Nice|Great] {item}, but the {size} is [far too|much too] [small|big]. Can I "
        "swap it for size {other_size}?",
    ),
    ("sizing", "negative"): (
        "Second time the size is wrong! I ordered size {size} and [got|received] {other_size}. "
        "[Useless|Terrible|Sloppy]. Please [send the right one|refund me].",
        "Your size chart is [wrong|misleading], the {size} [fits like|is more like] size "
        "{other_size}. [Annoying|So frustrating], I have to return it again.",
    ),
    ("price", "neutral"): (
        "I bought the {product} for {price} and it is now {diff} cheaper. Can you refund the "
        "difference?",
        "Does the {coupon} code also work on sale items?",
    ),
    ("price", "mixed"): (
        "I like your shop, but the {product} dropped by {diff} right after I ordered. "
        "Could you do something about it?",
    ),
    ("price", "negative"): (
        "You [charged|took] {price} and two days later the same {item} is {diff} cheaper. "
        "[That's a rip-off|That feels like a scam|Really unfair]. Refund the difference.",
        "[Why|How] are shipping costs so [high|ridiculous]? {price} for one {item} is "
        "[outrageous|absurd].",
    ),
    ("service", "neutral"): (
        "I called [yesterday|on Monday] about my order and was told someone would call back. "
        "Could you check?",
        "Could I speak to someone about [my account|an order|a return]?",
    ),
    ("service", "mixed"): (
        "The agent [was friendly|was polite], but [nothing happened afterwards|the problem is "
        "still there|I never got the promised email].",
    ),
    ("service", "negative"): (
        "I [called|wrote] [twice|three times] and [nobody|no one] [called back|replied]. "
        "[Terrible|Awful|Appalling] customer service.",
        "The agent on the phone was [rude|dismissive|unhelpful] and hung up on me. "
        "[Unacceptable|I am furious|Very upsetting].",
    ),
    ("website", "neutral"): (
        "I can't [log in|check out|apply my discount code]. The page [shows an error"
        "|keeps loading]. Can you help?",
        "How do I [change my delivery address|update my email|delete a saved card]?",
    ),
    ("website", "mixed"): (
        "[Love|Like] the new app, but [checkout|payment|the basket] [fails|crashes] every "
        "time I try to pay.",
    ),
    ("website", "negative"): (
        "Your website [charged me twice|crashed during payment|lost my basket] [again|twice]. "
        "[Fix it|This is a joke|Ridiculous].",
        "The {coupon} code [does not work|is rejected] and [nobody answers|the chat is dead]."
        " [Useless|Pathetic|Awful].",
    ),
}

FOLLOWUP = {
    "positive": ("Thanks for [looking into it|checking]! Any update yet?",),
    "neutral": (
        "[Any update|Any news] on this? [It's been|That was] {n} days [ago|since I wrote].",
        "Just following up on my [message|request] about {order}.",
    ),
    "mixed": (
        "Thanks for the reply, but [nothing has changed|I still have no answer|the issue is "
        "still there]. Any update?",
    ),
    "negative": (
        "This is the [second|third|fourth] time I'm writing. [Still no|No] [answer|solution"
        "|refund]. [Very poor service|Terrible service|Unacceptable].",
        "[Still|STILL] waiting. [Nobody|No one] [cares|reads these emails] apparently. "
        "[Disgraceful|Pathetic|I will never order again].",
        "Another [{n}|few] days [gone|passed] and nothing. [I want this sorted now|Enough is "
        "enough].",
    ),
}

REOPEN = {
    "positive": ("Sorry to bother you again, the [refund|parcel] [still has not|hasn't] arrived.",),
    "neutral": (
        "Sorry, this is not solved yet. [The refund has not arrived|The parcel never came"
        "|The replacement has the same problem].",
        "I have to reopen this: [the exchange did not arrive|the code still fails].",
    ),
    "mixed": (
        "Thanks for closing this, but it is [not actually solved|still not fixed]. "
        "[The refund is missing|The parcel is still not here].",
    ),
    "negative": (
        "You [marked|closed] this as solved but [nothing happened|it is NOT solved]. "
        "[Unbelievable|Ridiculous|Are you kidding me]?",
        "Not solved! [The refund never came|The replacement is damaged too|Still no parcel]. "
        "[Worst|Terrible] [service|experience] ever.",
    ),
}

THANKS = {
    "positive": (
        "[Thanks|Thank you] [so much|a lot], [that's sorted|received it|all good now][!|.]",
        "[Perfect|Great|Brilliant], [thank you|thanks] for your help[!|.]",
        "[Got it|It arrived], [thanks|many thanks]! [Great service|Very kind of you].",
    ),
    "neutral": ("[Ok|OK], [noted|received].", "[Received|Got it]. Thanks.", "Ok, thank you."),
    "mixed": (
        "Ok, [thanks|thank you]. [Took a while though|A bit late, but fine].",
        "[Fine|Alright], but [it should not have taken so long|I hope it doesn't happen again].",
    ),
    "negative": (
        "[Finally|At last]. [That took far too long|Not impressed].",
        "[Whatever|Fine]. [I won't be ordering again|Too little, too late].",
    ),
}

AGENT: dict[str, dict[str, tuple[str, ...]] | tuple[str, ...]] = {
    "agent_reply": {
        "delivery": (
            "I'm sorry your parcel is [late|delayed]. I've checked order {order} with {courier}"
            " and it is [on its way|at the local depot]; it should [arrive|be with you] within "
            "[two|three] working days.",
            "Thanks for letting us know. I've [opened an investigation|raised a trace] with "
            "{courier} for {order} and will update you [as soon as I hear back|within 48 "
            "hours].",
        ),
        "parcel": (
            "I'm sorry about this. I've [opened a claim|raised a trace] with {courier} for "
            "{order}; if it doesn't turn up in 48 hours we'll send a replacement.",
            "Thanks for the photos. I've arranged a replacement for {order} at no cost.",
        ),
        "refund": (
            "I've checked your return for {order}: it [reached our warehouse|was received] and "
            "the refund of {price} [is being processed|has been approved]. It usually takes "
            "3-5 working days to show.",
            "Sorry for the wait. I've asked our warehouse to [confirm|check] the return of "
            "{order} and will get back to you [shortly|tomorrow].",
        ),
        "quality": (
            "I'm sorry the {product} isn't up to standard. Could you send us a photo? We'll "
            "[replace it|refund it] free of charge.",
            "Thanks for telling us. I've arranged a free return label for {order}; a "
            "replacement [will follow|goes out as soon as it's scanned].",
        ),
        "sizing": (
            "Happy to help. I've set up an exchange to size {other_size} for {order}; the "
            "return label is in your email.",
            "For the {product} we'd suggest size {other_size}; it [comes up|runs] slightly "
            "[small|large].",
        ),
        "price": (
            "Thanks for your message. As a one-off, I've refunded the difference of {diff} to "
            "your original payment method.",
            "The {coupon} code cannot be combined with sale prices, sorry. I've added a 10% "
            "voucher to your account instead.",
        ),
        "service": (
            "I'm sorry about your experience. I've [passed your feedback to|escalated this to] "
            "our team lead and will personally make sure this is sorted.",
            "Apologies that nobody came back to you. I'm looking into it now.",
        ),
        "website": (
            "Sorry for the trouble. Could you try clearing your browser cache or using the "
            "app? Our team is [looking into|aware of] the checkout issue.",
            "I've reset your login; you should have an email with a link to set a new password.",
        ),
    },
    "agent_followup": (
        "Thanks for your patience. I'm still waiting for an update from [{courier}|our "
        "warehouse|the team] and will let you know as soon as I have it.",
        "Apologies for the delay. I've [chased this again|escalated this] today.",
    ),
    "agent_solved": {
        "delivery": (
            "Good news: {courier} confirms that {order} [has been delivered|was delivered "
            "today]. [Sorry again for the delay|Apologies for the wait]; I've refunded the "
            "shipping cost.",
        ),
        "parcel": (
            "A replacement for {order} [is on its way|was sent today]; [no need to return "
            "anything|please keep the damaged one].",
        ),
        "refund": (
            "The refund of {price} for {order} [has been issued|went through today]; it can "
            "take 3-5 working days to show on your statement.",
        ),
        "quality": (
            "A replacement {item} [is on its way|has been sent], and the return is free of charge.",
            "We've refunded {price} for the {product}; no need to send it back.",
        ),
        "sizing": ("Your exchange to size {other_size} [has been sent|is on its way].",),
        "price": ("We've refunded {diff} to your original payment method.",),
        "service": (
            "I've spoken with the team about your experience; [this should not have happened"
            "|we're sorry], and I've added a 15% voucher to your account.",
        ),
        "website": (
            "Our developers have fixed the [checkout|login|voucher] problem; it should work now.",
            "Your account is fixed; you can log in again.",
        ),
    },
    "agent_reopen": (
        "I'm so sorry this isn't resolved. I've reopened the ticket and escalated it to my "
        "team lead.",
        "Apologies, I've reopened this and am checking again with [{courier}|the warehouse|"
        "our finance team].",
    ),
}

AGENT_GREETINGS = ("Hi {name},", "Hello {name},", "Dear {name},")
AGENT_SIGNOFFS = (
    "[Best regards|Kind regards|Best wishes],\n{agent}[ from the {shop} team| | at {shop}]",
    "[Thanks again|Many thanks],\n{agent}, {shop} Customer Care",
)


def ticket_subject(rng: random.Random, *, topic: str, slots: Mapping[str, str]) -> str:
    """A subject line for a new ticket on `topic`."""
    return render(pick(SUBJECTS[topic], rng), rng, slots)


def customer_message(
    rng: random.Random, *, role: str, topic: str, tone: str, slots: Mapping[str, str]
) -> str:
    """A message from the customer: role is opening, followup, reopen or thanks."""
    if role == "opening":
        options = OPENING.get((topic, tone))
        if options is None:  # no positive complaints: a polite neutral one instead
            options = OPENING[(topic, "neutral")]
        core = render(pick(options, rng), rng, slots)
    else:
        pool = {"followup": FOLLOWUP, "reopen": REOPEN, "thanks": THANKS}[role]
        core = render(pick(pool[tone], rng), rng, slots)
    if role == "thanks" or rng.random() < 0.25:
        return _style(core, tone, rng)
    parts = [
        render(pick(GREETINGS[tone], rng), rng, slots),
        core,
        render(pick(SIGNOFFS[tone], rng), rng, slots),
    ]
    return _style("\n\n".join(part for part in parts if part), tone, rng)


def agent_message(rng: random.Random, *, role: str, topic: str, slots: Mapping[str, str]) -> str:
    """A message from a support agent: reply, followup, solved or reopen."""
    pool = AGENT[role]
    core = pick(pool[topic] if isinstance(pool, dict) else pool, rng)
    if role == "agent_solved":
        core += " [Anything else, just reply to this email.|Thanks for your patience!|]"
    parts = [pick(AGENT_GREETINGS, rng), core, pick(AGENT_SIGNOFFS, rng)]
    return "\n\n".join(render(part, rng, slots) for part in parts)
