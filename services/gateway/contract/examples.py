"""Request bodies the API documentation shows (and "try it" starts from). The contract
tests check that each one passes its operation's request model."""

from __future__ import annotations

from typing import Any

BRIEF: dict[str, Any] = {
    "campaign_id": "spring-launch",
    "prompt": "Introducing Glow Serum. Brightens skin in 7 days. Vegan and cruelty free.",
    "platform": "tiktok",
    "duration_s": 15,
    "variations": 1,
    "quality": "standard",
    "brand": {"colors": ["#ff3366", "#1a1a2e"], "tone": "playful"},
    "product": "Glow Serum",
    "audience": "Skincare fans, 20-35",
    "key_messages": ["Brighter skin in 7 days", "Vegan"],
    "call_to_action": "Shop now",
}
STORYBOARD_EDIT: dict[str, Any] = {
    "scenes": [{"index": 1, "caption": "Glow in 7 days", "duration_s": 4}],
}
REFINE: dict[str, Any] = {"feedback": "Show the bottle closer, in warmer morning light."}
EXPORT: dict[str, Any] = {"aspect": "1:1", "variation": 1}
