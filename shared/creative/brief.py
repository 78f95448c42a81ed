"""What a brief actually says: product, audience, pain, claims, proof, offer, call to action.

Ads are only as good as the facts they put on screen, and an ad must never promise what the
client did not say. So every fact here is text taken from the brief (key messages verbatim,
then claim-like sentences of the prompt); the only words that are not the brief's are the
generic calls to action, which state nothing. Pure and deterministic: the local planner and
the Replicate path both build on it, and tests drive it directly.

Example::

    facts = extract_facts(request)
    facts.claims            # ("Visibly brighter skin in 7 days", "98% saw smoother skin", ...)
    boldest_claim(facts)    # "Visibly brighter skin in 7 days"
    hook_line(facts, "question")  # ("Tired of dull skin?", "Tired of dull skin? Visibly ...")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shared.creative.styles import other_styles, style_of
from shared.models import GenerationRequest, HookAngle, Style, VariationPlan

DEFAULT_CTA = "Shop now"
# Alternatives a variation may test; none of them states a fact about the product.
GENERIC_CTAS = ("Shop now", "Get yours today", "Try it now", "Learn more")
# The order a variation looks for a different hook in, after its own.
HOOK_ANGLES: tuple[HookAngle, ...] = ("claim", "question", "product")
HEADLINE_WORDS = 8  # a longer phrase is split to its claim-like clause when it has one
PHRASE_WORDS = 10

_TRAILING = " \t.,;:!?…-–—\"'“”"
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+|;\s*")
_CLAUSE_BREAK = re.compile(
    r",\s+|\s+[—–-]\s+|:\s+|\s+but\s+|\s+(?:that|which)\s+(?!(?:is|are|was|were|has|have|had)\b)"
)
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+")
_ABOUT_THE_AD = re.compile(
    r"\b(?:ad|ads|advert|video|commercial|campaign|storyboard|tiktok|reels?|instagram|"
    r"youtube|voice-?over|scenes?|make it|keep it|tone|vibe)\b",
    re.IGNORECASE,
)

_NUMBER = re.compile(r"\d|%|\bpercent\b", re.IGNORECASE)
_ZERO_FREE = re.compile(
    r"\bzero\b|\b\w+[- ]free\b(?<!\bfeel free)(?<!\bfor free)(?<!\bbe free)|"
    r"\bfree\s+(?:of|from)\b|"
    r"\bno\s+(?!more\b|one\b|longer\b)\w+",
    re.IGNORECASE,
)
_CERTIFICATION = re.compile(
    r"\b(?:vegan|cruelty[- ]free|dermatologist[- ](?:tested|approved|recommended)|"
    r"clinically[- ](?:tested|proven)|certified|organic|non-gmo|gluten[- ]free|fair[- ]trade|"
    r"hypoallergenic|recyclable|biodegradable|compostable|b corp|fda[- ]approved|patented|"
    r"plant[- ]based|sustainabl[ey]|carbon[- ]neutral)\b",
    re.IGNORECASE,
)
_TIME_FRAME = re.compile(
    r"\bin\s+(?:just\s+|only\s+|under\s+)?(?:\d+|one|two|three|four|five|seven|ten)\s+"
    r"(?:seconds?|minutes?|hours?|days?|weeks?|months?)\b|\b\d+\s*(?:-\s*)?"
    r"(?:seconds?|minutes?|mins?|hours?|hrs?|h|days?|weeks?|months?)\b|\bovernight\b|"
    r"\ball[- ]day\b|\b24/7\b",
    re.IGNORECASE,
)
_PROOF = re.compile(
    r"\b(?:reviews?|reviewed|rated|ratings?|stars?|loved by|trusted by|used by|chosen by|"
    r"tested|award(?:s|-winning)?|winner|best[- ]?sell(?:er|ing)|recommended by|"
    r"customers|testimonials?|as seen (?:in|on))\b|★",
    re.IGNORECASE,
)
_OFFER = re.compile(
    r"\b\d+\s*%\s*off\b|[$€£]\s*\d+(?:[.,]\d+)?\s*off\b|\bhalf[- ](?:off|price)\b|"
    r"\bfree\s+(?:shipping|delivery|returns|trial|gift|sample)\b|\bbuy\s+one,?\s+get\s+one\b|"
    r"\bbogo\b|\b(?:promo|discount)\s+code\b|\buse\s+code\b|\bsave\s+(?:\d+|up to)\b|"
    r"\blimited[- ]time\s+(?:offer|deal|only)\b|\bgift with purchase\b",
    re.IGNORECASE,
)
# A pain named at its start ("tired of dull skin") is kept from there; other pain words
# ("dull", "frizz") mark the whole clause as the pain.
_PAIN_LEAD = re.compile(
    r"\b(?:tired of|sick of|fed up with|no more|say goodbye to|goodbye to|without|"
    r"struggl\w*|hates?|hating|frustrated (?:by|with)|can't stand|worried about|"
    r"stop (?:wasting|struggling|settling|worrying))\b",
    re.IGNORECASE,
)
_PAIN_WORD = re.compile(
    r"\b(?:dull|dry|greasy|oily|frizz\w*|breakouts?|acne|wrinkles?|stress\w*|messy|sticky|"
    r"bloat\w*|pain(?:ful)?|problems?|hassle|annoying|wasted?|wasting|crash(?:es)?|"
    r"exhausted|boring|clutter\w*|itch\w*)\b",
    re.IGNORECASE,
)
# Leads that already read as a question; the others become "Tired of <the rest>?".
_ASKS_ALREADY = re.compile(
    r"^(?:tired of|sick of|fed up with|struggl\w*|hates?|frustrated|can't stand|worried)\b",
    re.IGNORECASE,
)
_TURN_TO_TIRED_OF = re.compile(
    r"^(?:no more|say goodbye to|goodbye to|without|stop)\s+", re.IGNORECASE
)

_CTA_LABEL = re.compile(
    r"\b(?:cta|call to action)\s*(?:is\s*)?[:=–—-]\s*[\"“']?([^\"”'\n.;]{2,60})", re.IGNORECASE
)
_CTA_QUOTED = re.compile(
    r"\b(?:end|close|finish)(?:s|ing)?\s+(?:with|on)\s+[\"“']([^\"”'\n]{2,60})[\"”']",
    re.IGNORECASE,
)
_CTA_IMPERATIVE = re.compile(
    r"^(?:shop|order|buy|pre-?order|grab|download|subscribe|book|reserve|visit|join|sign up|"
    r"tap|click|try|discover|learn more|find out|claim yours|get (?:yours|it|one|started|"
    r"the app))\b",
    re.IGNORECASE,
)
CTA_WORDS = 7

_PRODUCT_PATTERNS = (
    re.compile(
        r"\b(?i:introducing|meet|launch(?:ing)?|promote|promoting)\s+(?:(?:our|the|a|an)\s+)?"
        r"(?:new\s+)?([A-Z][\w'-]*(?:\s+[\w'-]+){0,3})"
    ),
    re.compile(
        r"\bfor\s+(?:our|the|a|an)\s+(?:new\s+)?([\w'-]+(?:\s+[\w'-]+){0,3})", re.IGNORECASE
    ),
    # "An ad for Zeno7, a smart bottle": a name straight after "for" is capitalised.
    re.compile(
        r"\b(?i:ad|advert|advertisement|video|spot|commercial|campaign|promo|reel)\s+"
        r"(?:#\d+\s+)?for\s+([A-Z][\w'-]*(?:\s+[\w'-]+){0,3})"
    ),
)
# Occasions an ad can be "for" that are not what it sells.
_OCCASION = re.compile(
    r"^(?:black friday|cyber monday|christmas|xmas|easter|halloween|thanksgiving|"
    r"new year|valentine|mother|father|prime day|back to school|summer|spring|autumn|fall|"
    r"winter|holiday)",
    re.IGNORECASE,
)

# What says what an ad is for, up to the product's name ("Launch ad #7 for the "), and what
# comes between that name and what is said about the product (", a", " that").
_AD_LEAD = re.compile(
    r"(?:^|(?<=[.!?;\n]))(\s*)[^.!?;\n]*?\b(?:ad|advert|advertisement|video|spot|"
    r"commercial|campaign|promo|reel)\s+(?:#\d+\s+)?for\s+(?:(?:our|the|a|an)\s+)?(?:new\s+)?",
    re.IGNORECASE,
)
_AFTER_NAME = re.compile(r"\b[\s,:;—–-]*(?:(?:that|which)\s+)?", re.IGNORECASE)

# Where a product's name ends: punctuation, or the words that start what is said about it.
_PRODUCT_END = re.compile(
    r"[,.;:!?]| (?:that|which|with|to|in|for|from|by|at|on|and|is|are|was|launch|sale|"
    r"campaign|drop|made|built|designed|crafted|packed|powered|infused|loaded|featuring|"
    r"now|keeps|helps|gives|lets|makes)\b"
)


@dataclass(frozen=True)
class BriefFacts:
    """The facts of one brief, each in the brief's own words."""

    product: str | None
    audience: str | None
    pain: str | None
    claims: tuple[str, ...]  # strongest first: key messages, then the prompt's claims
    proof: tuple[str, ...]
    offer: str | None
    call_to_action: str
    key_messages: tuple[str, ...] = ()


# --------------------------------------------------------------------------- text pieces


def trim(text: str) -> str:
    """The phrase without surrounding whitespace and trailing punctuation."""
    return _BULLET.sub("", text).strip().rstrip(_TRAILING).strip()


def word_count(text: str) -> int:
    return len(text.split())


def sentences(text: str) -> list[str]:
    parts = (trim(part) for part in _SENTENCE_BREAK.split(text))
    return [part for part in parts if len(part) > 2]


def clauses(sentence: str) -> list[str]:
    parts = (trim(part) for part in _CLAUSE_BREAK.split(sentence))
    return [part for part in parts if word_count(part) >= 2]


def normalised(text: str) -> str:
    return " ".join(trim(text).lower().split())


def contains(text: str, phrase: str) -> bool:
    """Whether `phrase` appears in `text`, ignoring case, spacing and trailing punctuation."""
    wanted = normalised(phrase)
    return bool(wanted) and wanted in " ".join(text.lower().split())


def as_sentence(text: str) -> str:
    """`text` ended with a full stop unless it already ends a sentence."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _unique(phrases: Iterable[str], taken: Iterable[str] = ()) -> list[str]:
    """Phrases in order, dropping any that repeat (or sit inside) an earlier one."""
    kept: list[str] = []
    seen = [normalised(t) for t in taken]
    for phrase in phrases:
        key = normalised(phrase)
        if not key or any(key in old or old in key for old in seen):
            continue
        seen.append(key)
        kept.append(phrase)
    return kept


def _phrases(text: str, test: Callable[[str], bool], limit: int = HEADLINE_WORDS) -> list[str]:
    """Sentences of `text` that pass `test`; a long one is narrowed to the clauses that
    pass, so a headline stays short and still the brief's own words."""
    found: list[str] = []
    for sentence in sentences(text):
        if not test(sentence):
            continue
        if word_count(sentence) <= limit:
            found.append(sentence)
            continue
        narrowed = [clause for clause in clauses(sentence) if test(clause)]
        found.extend(narrowed or [sentence])
    return found


# --------------------------------------------------------------------------- extraction


def find_product(request: GenerationRequest) -> str | None:
    if request.product:
        return request.product
    for pattern in _PRODUCT_PATTERNS:
        if match := pattern.search(request.prompt):
            name = _PRODUCT_END.split(match.group(1))[0].strip()
            if name and not _OCCASION.match(name):
                return name
    return None


def _without(text: str, phrase: str | None) -> str:
    return re.sub(re.escape(phrase), " ", text, flags=re.IGNORECASE) if phrase else text


def is_offer(text: str) -> bool:
    return bool(_OFFER.search(text))


def is_claim(text: str, product: str | None = None) -> bool:
    """A checkable promise: a number, a percentage, zero/free/"no X", a certification or
    a time frame. The product's own name ("X200") does not count, nor do lines about the
    ad itself or the offer."""
    if _ABOUT_THE_AD.search(text) or is_offer(text):
        return False
    body = _without(text, product)
    return any(
        pattern.search(body) for pattern in (_NUMBER, _ZERO_FREE, _CERTIFICATION, _TIME_FRAME)
    )


def is_certification(text: str) -> bool:
    return bool(_CERTIFICATION.search(text))


def is_proof(text: str) -> bool:
    return bool(_PROOF.search(text)) and not _ABOUT_THE_AD.search(text)


def _capitalised(phrase: str) -> str:
    """A clause from mid-sentence starts as a headline does ("keeps drinks cold" → "Keeps
    drinks cold"); a name written in lower case on purpose ("iPhone") stays as it is."""
    if phrase[:1].islower() and not phrase[1:2].isupper():
        return sentence_case(phrase)
    return phrase


def find_claims(request: GenerationRequest, product: str | None) -> tuple[str, ...]:
    """Key messages first, in their order, then the prompt's claim-like phrases."""
    messages = _unique(trim(m) for m in request.key_messages)
    found = _phrases(request.prompt, lambda text: is_claim(text, product))
    return tuple(messages + _unique((_capitalised(trim(c)) for c in found), messages))


def find_proof(request: GenerationRequest) -> tuple[str, ...]:
    messages = [trim(m) for m in request.key_messages]
    found = _phrases(request.prompt, is_proof)
    return tuple(_unique((_capitalised(trim(p)) for p in found), messages))


def find_offer(request: GenerationRequest) -> str | None:
    offers = _phrases(request.prompt, is_offer, PHRASE_WORDS)
    return offers[0] if offers else None


def find_pain(request: GenerationRequest) -> str | None:
    """The first phrase of the prompt that names the problem the product solves."""
    for sentence in sentences(request.prompt):
        for clause in [*clauses(sentence), sentence]:
            if match := _PAIN_LEAD.search(clause):
                phrase = trim(clause[match.start() :])
                return " ".join(phrase.split()[:PHRASE_WORDS])
        for clause in [*clauses(sentence), sentence]:
            if (
                _PAIN_WORD.search(clause)
                and not _ABOUT_THE_AD.search(clause)
                and word_count(clause) <= PHRASE_WORDS + 2
            ):
                return clause
    return None


def find_call_to_action(request: GenerationRequest) -> str:
    """The brief's call to action: the field, a labelled or quoted one in the prompt, an
    imperative closing line, else the generic "Shop now"."""
    if request.call_to_action:
        return trim(request.call_to_action)
    for pattern in (_CTA_LABEL, _CTA_QUOTED):
        if match := pattern.search(request.prompt):
            return trim(match.group(1))
    for sentence in sentences(request.prompt):
        for phrase in [sentence, *clauses(sentence)]:
            if (
                _CTA_IMPERATIVE.match(phrase)
                and word_count(phrase) <= CTA_WORDS
                and not is_offer(phrase)
            ):
                return sentence_case(phrase)
    return DEFAULT_CTA


def without_ad_lead(text: str, product: str | None) -> str:
    """`text` without the words that say what the ad is for ("Launch ad for Zeno7, a
    smart bottle that keeps drinks cold 24 hours" → "a smart bottle that keeps drinks cold
    24 hours"): the rest of such a sentence is about the product, and a sentence about
    the ad is never a claim."""
    if not product:
        return text
    name = product.lower()
    kept, start = [], 0
    for lead in _AD_LEAD.finditer(text):
        end = lead.end() + len(name)
        if text[lead.end() : end].lower() != name:
            continue
        # One pattern for every product (a pattern per product was compiled per brief).
        if (after := _AFTER_NAME.match(text, end)) is None:
            continue  # the name goes on ("Zeno7s"): another word
        kept.append(text[start : lead.start()] + lead.group(1))
        start = after.end()
    return "".join(kept) + text[start:]


def extract_facts(request: GenerationRequest) -> BriefFacts:
    product = find_product(request)
    said = request.model_copy(update={"prompt": without_ad_lead(request.prompt, product)})
    return BriefFacts(
        product=product,
        audience=request.audience,
        pain=find_pain(said),
        claims=find_claims(said, product),
        proof=find_proof(said),
        offer=find_offer(said),
        call_to_action=find_call_to_action(said),
        key_messages=tuple(_unique(trim(m) for m in request.key_messages)),
    )


# --------------------------------------------------------------------------- using facts


def boldest_claim(facts: BriefFacts) -> str | None:
    """What the ad should lead with: the first key message, else a claim with a number,
    else the first claim."""
    if facts.key_messages:
        return facts.key_messages[0]
    numbered = [claim for claim in facts.claims if _NUMBER.search(claim)]
    return numbered[0] if numbered else (facts.claims[0] if facts.claims else None)


def ranked_claims(facts: BriefFacts) -> list[str]:
    """The claims in the order the ad spends its scenes on them: boldest first."""
    boldest = boldest_claim(facts)
    return [] if boldest is None else [boldest, *(c for c in facts.claims if c != boldest)]


def claim_on(caption: str, claims: Iterable[str]) -> str | None:
    """The first brief claim a headline shows (None: it shows none)."""
    return next((claim for claim in claims if contains(caption, claim)), None)


def pain_question(pain: str) -> str:
    """The pain as the question a hook asks ("no more frizz" → "Tired of frizz?")."""
    phrase = trim(pain)
    if not _ASKS_ALREADY.match(phrase) and (turned := _TURN_TO_TIRED_OF.match(phrase)):
        phrase = f"tired of {phrase[turned.end() :]}"
    return f"{sentence_case(phrase)}?"


def product_name(facts: BriefFacts) -> str:
    return facts.product or "our product"


def hook_angle_for(facts: BriefFacts) -> HookAngle:
    """The strongest opening the brief supports: a claim, else the pain, else the product."""
    if facts.claims:
        return "claim"
    return "question" if facts.pain else "product"


def hook_angles(facts: BriefFacts) -> list[HookAngle]:
    """Every opening the brief supports, strongest first."""
    possible = {"claim": bool(facts.claims), "question": bool(facts.pain), "product": True}
    return [angle for angle in HOOK_ANGLES if possible[angle]]


def hook_line(facts: BriefFacts, angle: HookAngle) -> tuple[str, str]:
    """(headline, spoken line) of an opening scene. A question or product hook still says
    the boldest claim, so every variation carries it."""
    boldest = boldest_claim(facts)
    if angle == "claim" and boldest:
        return boldest, as_sentence(boldest)
    if angle == "question" and facts.pain:
        headline = pain_question(facts.pain)
    else:
        headline = f"Meet {product_name(facts)}"
    script = as_sentence(headline)
    return headline, f"{script} {as_sentence(boldest)}" if boldest else script


# --------------------------------------------------------------------------- variations


def _hypothesis(plan: VariationPlan, control: VariationPlan) -> str:
    lead = f"{plan.hook_angle.capitalize()} hook ('{plan.hook}') in the {plan.style} style "
    lead += f"with '{plan.call_to_action}'"
    if plan.variation == 1:
        return f"Control: {lead[:1].lower()}{lead[1:]}."
    differences = []
    if plan.hook_angle != control.hook_angle:
        differences.append(f"the {control.hook_angle} hook")
    if plan.style != control.style:
        differences.append(f"the {control.style} style")
    if plan.call_to_action != control.call_to_action:
        differences.append(f"'{control.call_to_action}'")
    if not differences:
        return f"{lead}, repeating variation 1 (the brief allows no other change)."
    joined = ", ".join(differences[:-1]) + (" and " if len(differences) > 1 else "")
    return f"{lead} vs. {joined}{differences[-1]} of variation 1."


def _combinations(
    angles: list[HookAngle], ctas: list[str], styles: list[Style]
) -> list[tuple[HookAngle, str, Style]]:
    """Distinct (angle, CTA, style) combinations other than the first, every dimension
    stepping together so each variation changes as much as the brief allows."""
    first = (angles[0], ctas[0], styles[0])
    found: list[tuple[HookAngle, str, Style]] = []
    for step in range(1, len(angles) * len(ctas) * len(styles) + 1):
        combo = (
            angles[step % len(angles)],
            ctas[step % len(ctas)],
            styles[step % len(styles)],
        )
        if combo != first and combo not in found:
            found.append(combo)
    return found or [first]


def plan_variations(
    request: GenerationRequest,
    facts: BriefFacts,
    hook_angle: HookAngle,
    hook: str,
    hook_script: str,
) -> list[VariationPlan]:
    """One plan per requested variation: variation 1 is the storyboard as planned (the
    control); each other one tests a different hook, CTA wording and — when the brief does
    not fix the style — style."""
    style = style_of(request)
    cta = facts.call_to_action
    control = VariationPlan(
        variation=1,
        style=style,
        hook_angle=hook_angle,
        hook=hook,
        hook_script=hook_script,
        call_to_action=cta,
        hypothesis="",
    )
    angles = [hook_angle, *(a for a in hook_angles(facts) if a != hook_angle)]
    ctas = [cta, *(c for c in GENERIC_CTAS if c.lower() != cta.lower())]
    styles = [style, *(other_styles(style) if request.style is None else [])]
    combos = _combinations(angles, ctas, styles)
    plans = [control.model_copy(update={"hypothesis": _hypothesis(control, control)})]
    for number in range(2, request.variations + 1):
        angle, wording, look = combos[(number - 2) % len(combos)]
        headline, script = (hook, hook_script) if angle == hook_angle else hook_line(facts, angle)
        plan = VariationPlan(
            variation=number,
            style=look,
            hook_angle=angle,
            hook=headline,
            hook_script=script,
            call_to_action=wording,
            hypothesis="",
        )
        plans.append(plan.model_copy(update={"hypothesis": _hypothesis(plan, control)}))
    return plans
