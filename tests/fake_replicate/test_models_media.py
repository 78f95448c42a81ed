"""The catalog's models make real, decodable media of the right shape, with billing units."""

from __future__ import annotations

import io
from typing import Any

import av
import pytest
import replicate
from PIL import Image
from replicate.helpers import FileOutput

from tests.fake_replicate.conftest import MakeFake, client_for
from tools.fake_replicate.catalog import MUSICGEN

PRICED_MODELS = (
    "meta/meta-llama-3-70b-instruct",
    "black-forest-labs/flux-schnell",
    "black-forest-labs/flux-dev",
    "black-forest-labs/flux-1.1-pro",
    "black-forest-labs/flux-pro",
    "wan-video/wan-2.1-i2v-480p",
    "wan-video/wan-2.1-i2v-720p",
    "kwaivgi/kling-v1.6-pro",
    "kwaivgi/kling-v2.1",
    "minimax/hailuo-02",
    "minimax/video-01",
    "google/veo-3.1-fast",
    "minimax/speech-02-hd",
    "meta/musicgen",
)


@pytest.fixture
async def media_client(make_fake: MakeFake) -> replicate.Client:
    """Very short model latencies (clips ~0.1 s) at 1/8 resolution."""
    return client_for(await make_fake(latency_scale=0.002))


async def _image(output: FileOutput) -> Image.Image:
    return Image.open(io.BytesIO(await output.aread()))


def test_catalog_covers_the_pricing_table() -> None:
    import tomllib
    from pathlib import Path

    from tools.fake_replicate import MODELS

    pricing = tomllib.loads(Path("shared/pricing.toml").read_text())
    priced = {name for name in pricing["models"] if not name.startswith("local/")}
    assert priced <= set(MODELS)
    assert set(PRICED_MODELS) == priced


async def test_flux_schnell_frames_at_the_aspect_ratio(media_client: replicate.Client) -> None:
    prediction = await media_client.models.predictions.async_create(
        model="black-forest-labs/flux-schnell",
        input={"prompt": "a cat on a skateboard", "aspect_ratio": "9:16", "num_outputs": 2},
    )
    await prediction.async_wait()
    assert prediction.metrics["image_count"] == 2
    outputs = [FileOutput(url, media_client) for url in prediction.output]
    images = [await _image(output) for output in outputs]
    assert [image.format for image in images] == ["WEBP", "WEBP"]
    # Flux's 1 MP size at 9:16 (768x1344), divided by 8.
    assert images[0].size == (96, 168)
    assert abs(images[0].width / images[0].height - 9 / 16) < 0.02
    # Two outputs of one prediction differ (seed + n).
    assert images[0].tobytes() != images[1].tobytes()


async def test_frames_differ_per_prompt_and_follow_format(media_client: replicate.Client) -> None:
    async def frame(model: str, **extra: Any) -> Image.Image:
        output = await media_client.async_run(model, input={"seed": 5, **extra})
        single = output[0] if isinstance(output, list) else output
        return await _image(single)

    apple = await frame("black-forest-labs/flux-dev", prompt="red apple", output_format="jpg")
    pear = await frame("black-forest-labs/flux-dev", prompt="green pear", output_format="jpg")
    assert apple.format == "JPEG" and apple.size == pear.size == (128, 128)
    assert apple.resize((1, 1)).getpixel((0, 0)) != pear.resize((1, 1)).getpixel((0, 0))
    wide = await frame(
        "black-forest-labs/flux-1.1-pro", prompt="x", aspect_ratio="16:9", output_format="png"
    )
    assert wide.format == "PNG" and wide.width > wide.height
    portrait = await frame("black-forest-labs/flux-pro", prompt="x", aspect_ratio="4:5")
    assert abs(portrait.width / portrait.height - 0.8) < 0.03
    small = await frame("black-forest-labs/flux-schnell", prompt="x", megapixels="0.25")
    assert small.size == (64, 64)


async def test_flux_11_pro_returns_one_uri(media_client: replicate.Client) -> None:
    prediction = await media_client.models.predictions.async_create(
        model="black-forest-labs/flux-1.1-pro", input={"prompt": "x"}
    )
    await prediction.async_wait()
    assert isinstance(prediction.output, str)
    assert prediction.output.endswith("/out-0.webp")
    assert prediction.metrics["image_count"] == 1


def _portrait_png() -> str:
    import base64

    buffer = io.BytesIO()
    Image.new("RGB", (90, 160), (30, 60, 220)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


CLIPS = [
    # model, input, (width, height) at 1/8, fps, frames
    ("wan-video/wan-2.1-i2v-480p", {"image": "portrait"}, (60, 104), 16, 81),
    (
        "wan-video/wan-2.1-i2v-720p",
        {"image": "portrait", "aspect_ratio": "16:9"},
        (160, 90),
        16,
        81,
    ),
    ("kwaivgi/kling-v1.6-pro", {"start_image": "portrait", "duration": 10}, (136, 240), 24, 240),
    ("kwaivgi/kling-v2.1", {"start_image": "portrait"}, (90, 160), 24, 120),
    (
        "kwaivgi/kling-v2.1",
        {"start_image": "portrait", "mode": "pro", "end_image": "portrait", "aspect_ratio": "1:1"},
        (136, 136),
        24,
        120,
    ),
    ("minimax/video-01", {"prompt": "x", "first_frame_image": "portrait"}, (90, 160), 25, 150),
    (
        "minimax/hailuo-02",
        {"prompt": "x", "duration": 10, "resolution": "768p"},
        (170, 96),
        24,
        240,
    ),
    (
        "google/veo-3.1-fast",
        {"prompt": "x", "duration": 4, "aspect_ratio": "9:16"},
        (136, 240),
        24,
        96,
    ),
]


@pytest.mark.parametrize(("model", "given", "size", "fps", "frames"), CLIPS)
async def test_clips_are_h264_of_the_requested_shape(
    media_client: replicate.Client,
    model: str,
    given: dict[str, Any],
    size: tuple[int, int],
    fps: int,
    frames: int,
) -> None:
    image = _portrait_png()
    prediction = await media_client.models.predictions.async_create(
        model=model, input={k: image if v == "portrait" else v for k, v in given.items()}
    )
    await prediction.async_wait()
    assert prediction.status == "succeeded", prediction.error
    assert isinstance(prediction.output, str) and prediction.output.endswith(".mp4")
    data = await FileOutput(prediction.output, media_client).aread()
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert (video.width, video.height) == size
        assert container.duration is not None
        assert abs(container.duration / 1e6 - frames / fps) < 0.1
        decoded = sum(1 for _ in container.decode(video=0))
        audio = len(container.streams.audio)
    assert decoded == frames
    assert audio == (1 if model == "google/veo-3.1-fast" else 0)  # veo generates audio
    seconds = prediction.metrics["video_output_duration_seconds"]
    assert abs(seconds - frames / fps) < 0.01


async def test_clip_opens_on_the_input_image(media_client: replicate.Client) -> None:
    output = await media_client.async_run(
        "kwaivgi/kling-v2.1", input={"start_image": _portrait_png()}
    )
    with av.open(io.BytesIO(await output.aread())) as container:
        first = next(container.decode(video=0)).to_image()
    red, green, blue = first.resize((1, 1)).getpixel((0, 0))  # type: ignore[misc]
    assert blue > 180 and red < 70 and green < 100


async def test_speech_length_follows_the_text(media_client: replicate.Client) -> None:
    text = "Fresh cold brew in a can, ready when you are. " * 3  # 138 characters
    prediction = await media_client.models.predictions.async_create(
        model="minimax/speech-02-hd", input={"text": text, "voice_id": "Deep_Voice_Man"}
    )
    await prediction.async_wait()
    assert prediction.metrics["input_character_count"] == len(text)
    data = await FileOutput(prediction.output, media_client).aread()
    assert prediction.output.endswith(".mp3")
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.audio[0].codec_context.name in ("mp3", "mp3float")
        assert abs(container.duration / 1e6 - len(text) / 15) < 0.3
    wav = await media_client.async_run(
        "minimax/speech-02-hd", input={"text": "Hello there", "audio_format": "wav", "speed": 2}
    )
    with av.open(io.BytesIO(await wav.aread())) as container:
        assert abs(container.duration / 1e6 - 11 / 30) < 0.1


async def test_musicgen_is_billed_by_time_only(media_client: replicate.Client) -> None:
    prediction = await media_client.predictions.async_create(
        version=MUSICGEN.version_id, input={"prompt": "upbeat", "duration": 3}
    )
    await prediction.async_wait()
    assert set(prediction.metrics) == {"predict_time", "total_time"}
    # Model seconds (latency_scale undone): ~40 s x 3/8 less the queue.
    assert 8 < prediction.metrics["predict_time"] < 20
    data = await FileOutput(prediction.output, media_client).aread()
    with av.open(io.BytesIO(data)) as container:
        assert abs(container.duration / 1e6 - 3) < 0.05
        assert container.streams.audio[0].channels == 2


async def test_media_generation_keeps_the_server_responsive(make_fake: MakeFake) -> None:
    # A 480x270 clip renders in a worker thread while GETs keep being answered.
    fake = await make_fake(latency_scale=0.001, resolution_divisor=4)
    client = client_for(fake)
    prediction = await client.models.predictions.async_create(
        model="kwaivgi/kling-v1.6-pro", input={"start_image": _portrait_png()}
    )
    answered = 0
    while (await client.predictions.async_get(prediction.id)).status != "succeeded":
        answered += 1
        assert answered < 5000
    assert answered >= 5
    assert fake.predictions[prediction.id].output_complete
