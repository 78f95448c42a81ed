"""What each kind of model produces for one prediction. Synchronous: runs in a worker thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tools.fake_replicate import llm, media
from tools.fake_replicate.catalog import LONG_SIDE, ModelSpec


@dataclass
class Generated:
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (extension, bytes)
    chunks: list[str] = field(default_factory=list)
    # Billing units for `metrics` (fake-only key names, see the reference §5.14).
    units: dict[str, float] = field(default_factory=dict)


def _images(spec: ModelSpec, values: dict[str, Any], seed: int, divisor: int) -> Generated:
    megapixels = float(values.get("megapixels") or spec.megapixels)
    size = media.image_size(values["aspect_ratio"], megapixels, divisor)
    fmt = values["output_format"]
    count = int(values.get("num_outputs") or 1)
    files = [
        (
            fmt,
            media.encode_image(
                media.draw_image(values["prompt"], seed + n, size), fmt, values["output_quality"]
            ),
        )
        for n in range(count)
    ]
    return Generated(files=files, units={"image_count": count})


def clip_shape(
    spec: ModelSpec, values: dict[str, Any], image_size: tuple[int, int] | None, divisor: int
) -> tuple[tuple[int, int], int, int]:
    """((width, height), fps, frame count) of the clip this input asks for."""
    rule = spec.clip
    assert rule is not None
    height = rule.heights.get(values.get(rule.height_field or "") or "", rule.height)
    aspect = values.get("aspect_ratio")
    if not aspect:
        portrait = image_size is not None and image_size[1] > image_size[0]
        aspect = "9:16" if portrait else "16:9"
    size = media.video_size(height, LONG_SIDE[height], aspect, divisor)
    if rule.frames_field:
        frames = int(values.get(rule.frames_field) or rule.default_frames)
    else:
        seconds = float(values.get(rule.duration_field or "") or rule.default_duration_s)
        frames = round(seconds * rule.fps)
    return size, rule.fps, frames


def _clip(
    spec: ModelSpec, values: dict[str, Any], images: dict[str, bytes], seed: int, divisor: int
) -> Generated:
    rule = spec.clip
    assert rule is not None
    source = images.get(rule.image_field)
    start = media.open_image(source) if source is not None else None
    end = media.open_image(images["end_image"]) if "end_image" in images else None
    size, fps, frames = clip_shape(spec, values, start.size if start else None, divisor)
    if start is None:
        start = media.draw_image(values.get("prompt") or spec.name, seed, size)
    audio = bool(values.get(rule.audio_field or ""))
    data = media.clip(start, end, size, fps, frames, seed, with_audio=audio)
    return Generated(
        files=[("mp4", data)], units={"video_output_duration_seconds": round(frames / fps, 3)}
    )


def _speech(values: dict[str, Any]) -> Generated:
    text = values["text"]
    fmt = values["audio_format"]
    channels = 2 if values["channel"] == "stereo" else 1
    data = media.speech(
        text,
        values["voice_id"],
        float(values["speed"]),
        int(values["pitch"]),
        int(values["sample_rate"]),
        channels,
        fmt,
    )
    return Generated(files=[(fmt, data)], units={"input_character_count": len(text)})


def generate(
    spec: ModelSpec,
    values: dict[str, Any],
    images: dict[str, bytes],
    seed: int,
    divisor: int,
    llm_mode: llm.LlmMode = "json",
) -> Generated:
    """The outputs of one prediction; ValueError when an input file is not usable."""
    if spec.kind == "llm":
        text = llm.respond(values["prompt"], values["system_prompt"] or "", seed, llm_mode)
        pieces = llm.truncate(llm.chunks(text), int(values["max_tokens"]))
        prompt_text = f"{values['system_prompt'] or ''} {values['prompt']}"
        return Generated(
            chunks=pieces,
            units={
                "input_token_count": llm.token_count(prompt_text),
                "output_token_count": llm.token_count("".join(pieces)),
            },
        )
    if spec.kind == "image":
        return _images(spec, values, seed, divisor)
    if spec.kind == "video":
        return _clip(spec, values, images, seed, divisor)
    if spec.kind == "speech":
        return _speech(values)
    fmt = values["output_format"]
    return Generated(files=[(fmt, media.music(float(values["duration"]), seed, fmt))])
