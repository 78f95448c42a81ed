"""What a brief says: claims, proof, offer, pain and call to action, in its own words."""

from __future__ import annotations

import re

from shared.creative.brief import (
    GENERIC_CTAS,
    BriefFacts,
    boldest_claim,
    extract_facts,
    hook_line,
    pain_question,
    plan_variations,
    without_ad_lead,
)
from shared.models import GenerationRequest

PROMPT = (
    "Introducing Glow Serum, a vitamin C serum for busy women tired of dull skin. "
    "Visibly brighter skin in 7 days. 98% saw smoother skin. Zero parabens. "
    "Vegan and cruelty-free. Lasts 24 hours. Loved by 50,000 customers. "
    "Get 20% off your first order with free shipping. Make it upbeat."
)


def _request(**fields: object) -> GenerationRequest:
    values: dict[str, object] = {
        "campaign_id": "c",
        "prompt": PROMPT,
        "platform": "tiktok",
        "duration_s": 15,
    }
    values.update(fields)
    return GenerationRequest.model_validate(values)


def _words_of(facts: BriefFacts) -> list[str]:
    texts = [*facts.claims, *facts.proof, facts.pain or "", facts.offer or "", facts.product or ""]
    return [text for text in texts if text]


def test_claims_come_from_the_prompt_in_its_own_words() -> None:
    # Numbers, percentages, zero/free, certifications and time frames are claims, in order.
    facts = extract_facts(_request())
    assert facts.claims == (
        "Visibly brighter skin in 7 days",
        "98% saw smoother skin",
        "Zero parabens",
        "Vegan and cruelty-free",
        "Lasts 24 hours",
        "Loved by 50,000 customers",
    )
    # Directions about the ad and the offer are not claims.
    assert not any("upbeat" in claim or "off" in claim for claim in facts.claims)


def test_key_messages_come_first_and_claims_are_not_repeated() -> None:
    # Key messages lead, in their order, trimmed; a prompt claim they contain is dropped.
    facts = extract_facts(
        _request(key_messages=["98% saw smoother skin.", "Brighter skin in 7 days"])
    )
    assert facts.claims[:2] == ("98% saw smoother skin", "Brighter skin in 7 days")
    assert facts.claims.count("98% saw smoother skin") == 1
    assert "Visibly brighter skin in 7 days" not in facts.claims
    # The boldest claim is the first key message.
    assert boldest_claim(facts) == "98% saw smoother skin"


def test_boldest_claim_prefers_a_number_without_key_messages() -> None:
    # Without key messages, the first claim with a number leads.
    facts = extract_facts(_request(prompt="Meet Nova Tea. Organic. Calms you in 10 minutes."))
    assert facts.claims == ("Organic", "Calms you in 10 minutes")
    assert boldest_claim(facts) == "Calms you in 10 minutes"
    # No claims at all: nothing to lead with.
    assert boldest_claim(extract_facts(_request(prompt="Great vibes for everyone"))) is None


def test_long_sentences_are_narrowed_to_their_claim_clause() -> None:
    # A long sentence keeps only its claim-like clauses, so a headline stays short.
    facts = extract_facts(
        _request(
            prompt="Our serum is the one your bathroom shelf has been missing all along, "
            "dermatologist-tested and fragrance-free."
        )
    )
    assert facts.claims == ("Dermatologist-tested and fragrance-free",)


def test_proof_offer_pain_and_product() -> None:
    # Proof points, the offer and the pain are found and kept verbatim.
    facts = extract_facts(_request())
    assert facts.product == "Glow Serum"
    assert facts.proof == ("Loved by 50,000 customers",)
    assert facts.offer == "Get 20% off your first order with free shipping"
    assert facts.pain == "tired of dull skin"
    # Other pain phrasings are found too.
    assert extract_facts(_request(prompt="No more frizz on rainy days.")).pain == (
        "No more frizz on rainy days"
    )
    assert extract_facts(_request(prompt="Clean energy without the crash.")).pain == (
        "without the crash"
    )
    assert extract_facts(_request(prompt="Great vibes for everyone")).pain is None


def test_the_product_named_after_ad_for_and_the_rest_of_that_sentence_is_its_claims() -> None:
    # "An ad for Zeno7, a ..." names the product straight after "for" (no article); the
    # rest of the sentence is about the product, so its claim is found, as a headline.
    facts = extract_facts(
        _request(prompt="Launch ad for Zeno7, a smart water bottle that keeps drinks cold 24 hours")
    )
    assert facts.product == "Zeno7"
    assert facts.claims == ("Keeps drinks cold 24 hours",)
    facts = extract_facts(
        _request(prompt="Ad for Zeno vitamin C serum that brightens skin in 7 days")
    )
    assert facts.product == "Zeno vitamin C serum"
    assert facts.claims == ("Brightens skin in 7 days",)


def test_only_the_lead_naming_the_product_is_taken_off() -> None:
    # Every sentence that says what the ad is for loses that lead; a longer word that
    # starts with the name ("Zeno7s") is not the name, and other sentences stay whole.
    text = "Ad for Zeno7s, great. Launch video for the new Zeno7: fast. Nothing else."
    assert without_ad_lead(text, "Zeno7") == "Ad for Zeno7s, great. fast. Nothing else."
    assert without_ad_lead(text, None) == text


def test_a_product_name_stops_where_what_is_said_about_it_starts() -> None:
    named = {
        "Launch ad #7 for the Zeno7 dog food made with real chicken": "Zeno7 dog food",
        "Sale campaign for the Zeno blender made of recycled steel": "Zeno blender",
        "Ad for Brewly, a cold brew coffee maker. Ready in 12 hours.": "Brewly",
        "Meet the new TrailMax 2 jacket, waterproof to 10,000 mm": "TrailMax 2 jacket",
    }
    for prompt, product in named.items():
        assert extract_facts(_request(prompt=prompt)).product == product, prompt
    # An occasion an ad is for is not what it sells.
    assert extract_facts(_request(prompt="An ad for Black Friday. 30% off")).product is None


def test_a_relative_clause_is_narrowed_to_the_promise_but_keeps_its_subject() -> None:
    facts = extract_facts(
        _request(
            prompt="A blender which crushes ice in 10 seconds, with a motor that is 40% quieter."
        )
    )
    assert facts.claims == ("Crushes ice in 10 seconds", "With a motor that is 40% quieter")
    # A name written in lower case on purpose keeps its case.
    facts = extract_facts(
        _request(prompt="Meet Dock. It charges all of your devices fast, iPhone-ready in 5 minutes")
    )
    assert "iPhone-ready in 5 minutes" in facts.claims


def test_pain_becomes_a_question() -> None:
    # A pain already phrased as a complaint is asked; "no more"/"without" become "Tired of".
    assert pain_question("tired of dull skin") == "Tired of dull skin?"
    assert pain_question("No more frizz on rainy days") == "Tired of frizz on rainy days?"
    assert pain_question("without the crash") == "Tired of the crash?"
    assert pain_question("dull skin") == "Dull skin?"


def test_call_to_action_field_prompt_or_default() -> None:
    # The field wins; then a labelled, quoted or imperative one in the prompt; else "Shop now".
    assert extract_facts(_request(call_to_action="Order today")).call_to_action == "Order today"
    assert extract_facts(_request(prompt="Glow Serum. CTA: Book a demo")).call_to_action == (
        "Book a demo"
    )
    assert extract_facts(_request(prompt="Glow Serum. End with 'Tap to try'.")).call_to_action == (
        "Tap to try"
    )
    assert extract_facts(_request(prompt="Glow Serum is here. Shop the drop.")).call_to_action == (
        "Shop the drop"
    )
    assert extract_facts(_request()).call_to_action == "Shop now"


def test_nothing_is_invented() -> None:
    # Every extracted fact is text of the brief (case and spacing aside).
    request = _request(key_messages=["Brighter skin in 7 days"], audience="busy women")
    facts = extract_facts(request)
    brief = " ".join([request.prompt, *request.key_messages]).lower()
    for text in _words_of(facts):
        assert text.lower() in brief, text
    assert facts.audience == "busy women"
    # A brief without facts yields none.
    empty = extract_facts(_request(prompt="Great vibes for everyone"))
    assert empty.claims == () and empty.proof == () and empty.offer is None
    assert empty.product is None


def test_hooks_and_variations_use_brief_text_and_generic_ctas() -> None:
    # Each hook angle builds on the brief; a non-claim hook still says the boldest claim.
    request = _request(variations=4, brand={"tone": "calm"})
    facts = extract_facts(request)
    assert hook_line(facts, "claim") == (
        "Visibly brighter skin in 7 days",
        "Visibly brighter skin in 7 days.",
    )
    assert hook_line(facts, "question")[0] == "Tired of dull skin?"
    assert hook_line(facts, "product")[1] == "Meet Glow Serum. Visibly brighter skin in 7 days."
    # Variation 1 is the control; the others change hook, CTA wording and style.
    hook, script = hook_line(facts, "claim")
    plans = plan_variations(request, facts, "claim", hook, script)
    assert [p.variation for p in plans] == [1, 2, 3, 4]
    assert plans[0].style == "clean" and plans[0].hypothesis.startswith("Control")
    assert len({(p.hook_angle, p.call_to_action, p.style) for p in plans}) == 4
    assert all(p.call_to_action in GENERIC_CTAS for p in plans)
    assert plans[1].hypothesis == (
        "Question hook ('Tired of dull skin?') in the social style with 'Get yours today' "
        "vs. the claim hook, the clean style and 'Shop now' of variation 1."
    )
    # Numbers in hooks are the brief's.
    for plan in plans:
        for number in re.findall(r"\d+%?", plan.hook + plan.hook_script):
            assert number in request.prompt
