"""§5.13-14: the LLM answers with a JSON storyboard drawn from the prompt, as a list of chunks
(and SSE), with token metrics; malformed/invalid modes; max_tokens truncation."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import replicate

from shared.models import GenerationRequest, Platform
from shared.providers.replicate.script import parse_script, script_prompt, to_storyboard
from tests.fake_replicate.conftest import TOKEN, MakeFake, client_for
from tools.fake_replicate import Faults

LLM = "meta/meta-llama-3-70b-instruct"
BRIEF = (
    "Write a storyboard for a vertical ad.\n"
    "Brand: Glow Coffee - cold brew in a can for busy commuters.\n"
    "Tone: upbeat, morning energy.\n"
    "scene_count: 4\n"
    "duration_s: 30\n"
    "Return JSON only."
)
SEEDED = {"prompt": BRIEF, "max_tokens": 4000, "seed": 11}


async def _storyboard(client: replicate.Client, prompt: str, **extra: object) -> str:
    output = await client.async_run(LLM, input={"prompt": prompt, "max_tokens": 4000, **extra})
    assert isinstance(output, list) and all(isinstance(chunk, str) for chunk in output)
    assert len(output) > 20  # token-like chunks, not one string
    return "".join(output)


async def test_storyboard_follows_the_prompt(client: replicate.Client) -> None:
    board = json.loads(await _storyboard(client, BRIEF))
    scenes = board["scenes"]
    assert len(scenes) == 4
    for scene in scenes:
        assert set(scene) == {"script", "caption", "visual_prompt", "duration_s"}
        assert all(isinstance(scene[k], str) and scene[k] for k in ("script", "caption"))
    # Durations roughly (not exactly) fill the requested length.
    total = sum(scene["duration_s"] for scene in scenes)
    assert 30 * 0.85 <= total <= 30 * 1.15
    # The words come from the brief, not a canned ad.
    text = json.dumps(board).lower()
    brief_words = {"glow", "coffee", "cold", "brew", "busy", "commuters", "upbeat", "morning"}
    assert "glow coffee" in text
    assert len({word for word in brief_words if word in text}) >= 5


async def test_storyboard_puts_the_key_messages_on_screen(client: replicate.Client) -> None:
    # The backend's script prompt: the key messages become captions, said and named as claims.
    request = GenerationRequest(
        campaign_id="c",
        prompt="Introducing Glow Serum for women tired of dull skin. Vegan.",
        platform=Platform.tiktok,
        duration_s=15,
        key_messages=["Brighter skin in 7 days", "98% saw smoother skin"],
        call_to_action="Order today",
    )
    system, prompt = script_prompt(request, 4)
    text = await _storyboard(client, prompt, system_prompt=system)
    scenes = json.loads(text)["scenes"]
    assert [scene["caption"] for scene in scenes] == [
        "Brighter skin in 7 days",
        "98% saw smoother skin",
        "Vegan",
        "Order today",
    ]
    assert [scene["claim"] for scene in scenes] == [*[s["caption"] for s in scenes[:3]], None]
    assert all(scene["caption"] in scene["script"] for scene in scenes)
    # The backend reads it as a storyboard with every claim on screen.
    board = to_storyboard(parse_script(text, 15), request)
    assert board.claims_left_out == [] and board.scenes[0].claim == "Brighter skin in 7 days"


async def test_defaults_and_other_prompts(client: replicate.Client) -> None:
    board = json.loads(await _storyboard(client, "Sneakers made from ocean plastic"))
    assert len(board["scenes"]) == 5
    assert "sneakers" in json.dumps(board).lower() and "glow" not in json.dumps(board).lower()
    # The control line may also sit in the system prompt.
    single = json.loads(
        await _storyboard(client, "Rewrite scene 2 for Glow Coffee", system_prompt="scene_count: 1")
    )
    assert len(single["scenes"]) == 1


async def test_token_metrics(client: replicate.Client) -> None:
    prediction = await client.models.predictions.async_create(
        model=LLM, input={"prompt": BRIEF, "max_tokens": 4000}
    )
    await prediction.async_wait()
    metrics = prediction.metrics
    text = "".join(prediction.output)
    assert metrics["output_token_count"] == round(len(text.split()) * 1.3)
    default_system_prompt = "You are a helpful assistant"
    prompt_words = len(BRIEF.split()) + len(default_system_prompt.split())
    assert metrics["input_token_count"] == round(prompt_words * 1.3)
    assert 0 < metrics["time_to_first_token"] < metrics["predict_time"]
    assert metrics["tokens_per_second"] > 0
    assert metrics["total_time"] > metrics["predict_time"]


async def test_output_is_cut_at_max_tokens(client: replicate.Client) -> None:
    prediction = await client.models.predictions.async_create(
        model=LLM,
        input={"prompt": BRIEF},  # the default max_tokens is 512, as for real
    )
    await prediction.async_wait()
    assert prediction.metrics["output_token_count"] <= 512
    short = await client.async_run(LLM, input={"prompt": BRIEF, "max_tokens": 40})
    with pytest.raises(json.JSONDecodeError):
        json.loads("".join(short))


async def test_malformed_answers_are_fenced_and_repairable(make_fake: MakeFake) -> None:
    client = client_for(await make_fake(faults=Faults(llm_malformed_fraction=1.0)))
    text = await _storyboard(client, BRIEF)
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    fenced = re.search(r"```json\n(.*?)\n```", text, re.S)
    assert fenced is not None and text.rstrip().endswith("!")
    assert len(json.loads(fenced.group(1))["scenes"]) == 4


async def test_invalid_answers_are_not_json(make_fake: MakeFake) -> None:
    client = client_for(await make_fake(faults=Faults(llm_invalid_fraction=1.0)))
    text = await _storyboard(client, BRIEF)
    assert "{" not in text and "glow" in text.lower()


async def test_output_grows_while_processing(make_fake: MakeFake) -> None:
    fake = await make_fake(latency_scale=0.4)
    async with httpx.AsyncClient(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        created = await http.post(
            f"/v1/models/{LLM}/predictions", json={"input": {"prompt": BRIEF, "max_tokens": 4000}}
        )
        lengths: list[int] = []
        status = "starting"
        while status not in ("succeeded", "failed"):
            body = (await http.get(f"/v1/predictions/{created.json()['id']}")).json()
            status = body["status"]
            if status == "processing" and body["output"]:
                lengths.append(len(body["output"]))
    assert len(set(lengths)) >= 3 and lengths == sorted(lengths)
    assert lengths[-1] <= len(body["output"])


async def test_stream_sends_the_chunks_as_sse(make_fake: MakeFake) -> None:
    fake = await make_fake(latency_scale=0.1)
    # The same seed gives the same text (durations are drawn from it).
    client = client_for(fake)
    created = await client.models.predictions.async_create(model=LLM, input=SEEDED)
    assert created.urls["stream"] == f"{fake.base_url}/v1/stream/{created.id}"
    # The client's stream() creates a prediction and reads its urls.stream.
    events = await asyncio.to_thread(lambda: list(client.stream(LLM, input=SEEDED)))
    kinds = [event.event.value for event in events]
    assert kinds[-1] == "done" and kinds.count("output") > 20
    streamed = "".join(str(event) for event in events)
    assert len(json.loads(streamed)["scenes"]) == 4
    assert len({event.id for event in events}) == len(events)
    async_text = "".join(
        [str(event) async for event in await client.async_stream(LLM, input=SEEDED)]
    )
    assert async_text == streamed
    # Only the LLM streams.
    frame = await client.models.predictions.async_create(
        model="black-forest-labs/flux-schnell", input={"prompt": "x"}
    )
    assert "stream" not in frame.urls
