"""The models the fake serves: identity, input schema, output shape, latency and media size.

Schemas follow the real models' pages closely enough for the backend's inputs; fields the
pipeline never sends are left out (unknown inputs are ignored, as Cog does)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["llm", "image", "video", "speech", "music"]
OutputShape = Literal["chunks", "uri_list", "uri"]
InputType = Literal["string", "integer", "number", "boolean", "uri"]

ASPECT_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
IMAGE_FORMATS = ("webp", "jpg", "png")
# Long side of a video frame for each nominal height ("480p" is Wan's 832x480).
LONG_SIDE = {480: 832, 512: 912, 720: 1280, 768: 1360, 1080: 1920}


@dataclass(frozen=True)
class InputField:
    name: str
    type: InputType
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    description: str = ""


@dataclass(frozen=True)
class ClipRule:
    """How an image-to-video model turns its input into a clip."""

    fps: int
    image_field: str
    height: int
    default_duration_s: float
    durations_s: tuple[int, ...] = ()
    duration_field: str | None = "duration"
    frames_field: str | None = None
    default_frames: int = 0
    # An input that picks the height: {"resolution": {"720p": 720}} or {"mode": {...}}.
    height_field: str | None = None
    heights: dict[str, int] = field(default_factory=dict)
    audio_field: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    owner: str
    name: str
    kind: Kind
    output: OutputShape
    inputs: tuple[InputField, ...]
    latency_s: float
    official: bool = True
    version_id: str = ""
    megapixels: float = 1.0
    clip: ClipRule | None = None
    description: str = ""

    @property
    def ref(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def version(self) -> str:
        """What predictions show as `version`: opaque for official models, else the id."""
        if self.official:
            return "dp-" + hashlib.sha256(self.ref.encode()).hexdigest()[:32]
        return self.version_id

    def input_field(self, name: str) -> InputField | None:
        return next((f for f in self.inputs if f.name == name), None)


def _prompt(required: bool = True) -> InputField:
    return InputField("prompt", "string", required=required, description="Text prompt")


def _seed() -> InputField:
    return InputField("seed", "integer", description="Random seed; random if unset")


def _aspect(choices: tuple[str, ...] = ASPECT_RATIOS, default: str | None = "1:1") -> InputField:
    return InputField("aspect_ratio", "string", default=default, choices=choices)


def _image_format(default: str = "webp") -> tuple[InputField, ...]:
    return (
        InputField("output_format", "string", default=default, choices=IMAGE_FORMATS),
        InputField("output_quality", "integer", default=80, minimum=0, maximum=100),
    )


LLAMA = ModelSpec(
    "meta",
    "meta-llama-3-70b-instruct",
    "llm",
    "chunks",
    (
        _prompt(),
        InputField("system_prompt", "string", default="You are a helpful assistant"),
        InputField("max_tokens", "integer", default=512, minimum=1),
        InputField("min_tokens", "integer", default=0, minimum=0),
        InputField("temperature", "number", default=0.6, minimum=0, maximum=5),
        InputField("top_p", "number", default=0.9, minimum=0, maximum=1),
        InputField("top_k", "integer", default=50, minimum=-1),
        InputField("presence_penalty", "number", default=1.15),
        InputField("frequency_penalty", "number", default=0.2),
        InputField("stop_sequences", "string"),
        InputField("prompt_template", "string"),
        _seed(),
    ),
    latency_s=3.0,
    description="A 70 billion parameter language model from Meta, fine tuned for chat",
)

FLUX_SCHNELL = ModelSpec(
    "black-forest-labs",
    "flux-schnell",
    "image",
    "uri_list",
    (
        _prompt(),
        _aspect(),
        InputField("num_outputs", "integer", default=1, minimum=1, maximum=4),
        InputField("num_inference_steps", "integer", default=4, minimum=1, maximum=4),
        _seed(),
        *_image_format(),
        InputField("megapixels", "string", default="1", choices=("1", "0.25")),
        InputField("go_fast", "boolean", default=True),
        InputField("disable_safety_checker", "boolean", default=False),
    ),
    latency_s=2.0,
)

FLUX_DEV = ModelSpec(
    "black-forest-labs",
    "flux-dev",
    "image",
    "uri_list",
    (
        _prompt(),
        InputField("image", "uri"),
        _aspect(),
        InputField("num_outputs", "integer", default=1, minimum=1, maximum=4),
        InputField("num_inference_steps", "integer", default=28, minimum=1, maximum=50),
        InputField("guidance", "number", default=3, minimum=0, maximum=10),
        InputField("prompt_strength", "number", default=0.8, minimum=0, maximum=1),
        _seed(),
        *_image_format(),
        InputField("megapixels", "string", default="1", choices=("1", "0.25")),
        InputField("go_fast", "boolean", default=True),
        InputField("disable_safety_checker", "boolean", default=False),
    ),
    latency_s=2.0,
)

FLUX_11_PRO = ModelSpec(
    "black-forest-labs",
    "flux-1.1-pro",
    "image",
    "uri",
    (
        _prompt(),
        _aspect(),
        InputField("image_prompt", "uri"),
        _seed(),
        *_image_format(),
        InputField("safety_tolerance", "integer", default=2, minimum=1, maximum=6),
        InputField("prompt_upsampling", "boolean", default=False),
    ),
    latency_s=2.0,
)

FLUX_PRO = ModelSpec(
    "black-forest-labs",
    "flux-pro",
    "image",
    "uri",
    (
        _prompt(),
        _aspect(),
        InputField("image_prompt", "uri"),
        InputField("steps", "integer", default=25, minimum=1, maximum=50),
        InputField("guidance", "number", default=3, minimum=2, maximum=5),
        _seed(),
        *_image_format(),
        InputField("safety_tolerance", "integer", default=2, minimum=1, maximum=6),
    ),
    latency_s=2.0,
)

PORTRAIT_OR_LANDSCAPE = ("16:9", "9:16", "1:1")


def _wan(height: int) -> ModelSpec:
    return ModelSpec(
        "wan-video",
        f"wan-2.1-i2v-{height}p",
        "video",
        "uri",
        (
            InputField("image", "uri", required=True, description="Input image to start from"),
            _prompt(required=False),
            _aspect(PORTRAIT_OR_LANDSCAPE, default=None),
            InputField("num_frames", "integer", default=81, minimum=81, maximum=100),
            InputField("sample_steps", "integer", default=30, minimum=1, maximum=40),
            InputField("sample_guide_scale", "number", default=5, minimum=0, maximum=10),
            _seed(),
        ),
        latency_s=60.0,
        clip=ClipRule(
            fps=16,
            image_field="image",
            height=height,
            default_duration_s=81 / 16,
            duration_field=None,
            frames_field="num_frames",
            default_frames=81,
        ),
    )


def _kling(name: str, height: int, modes: bool) -> ModelSpec:
    mode = (InputField("mode", "string", default="standard", choices=("standard", "pro")),)
    return ModelSpec(
        "kwaivgi",
        name,
        "video",
        "uri",
        (
            InputField("start_image", "uri", required=True, description="First frame"),
            _prompt(required=False),
            InputField("negative_prompt", "string", default=""),
            InputField("duration", "integer", default=5, choices=(5, 10)),
            _aspect(PORTRAIT_OR_LANDSCAPE, default=None),
            InputField("cfg_scale", "number", default=0.5, minimum=0, maximum=1),
            InputField("end_image", "uri"),
            *(mode if modes else ()),
        ),
        latency_s=60.0,
        clip=ClipRule(
            fps=24,
            image_field="start_image",
            height=height,
            default_duration_s=5,
            durations_s=(5, 10),
            height_field="mode" if modes else None,
            heights={"standard": 720, "pro": 1080} if modes else {},
        ),
    )


MINIMAX_VIDEO_01 = ModelSpec(
    "minimax",
    "video-01",
    "video",
    "uri",
    (
        _prompt(),
        InputField("first_frame_image", "uri", description="First frame of the video"),
        InputField("prompt_optimizer", "boolean", default=True),
    ),
    latency_s=72.0,
    clip=ClipRule(
        fps=25, image_field="first_frame_image", height=720, default_duration_s=6, durations_s=(6,)
    ),
)

HAILUO_02 = ModelSpec(
    "minimax",
    "hailuo-02",
    "video",
    "uri",
    (
        _prompt(),
        InputField("first_frame_image", "uri"),
        InputField("duration", "integer", default=6, choices=(6, 10)),
        InputField("resolution", "string", default="1080p", choices=("512p", "768p", "1080p")),
        InputField("prompt_optimizer", "boolean", default=True),
    ),
    latency_s=72.0,
    clip=ClipRule(
        fps=24,
        image_field="first_frame_image",
        height=1080,
        default_duration_s=6,
        durations_s=(6, 10),
        height_field="resolution",
        heights={"512p": 512, "768p": 768, "1080p": 1080},
    ),
)

VEO_31_FAST = ModelSpec(
    "google",
    "veo-3.1-fast",
    "video",
    "uri",
    (
        _prompt(),
        InputField("image", "uri", description="Input image to start generating from"),
        InputField("duration", "integer", default=8, choices=(4, 6, 8)),
        InputField("resolution", "string", default="1080p", choices=("720p", "1080p")),
        _aspect(("16:9", "9:16"), default="16:9"),
        InputField("generate_audio", "boolean", default=True),
        InputField("negative_prompt", "string"),
        _seed(),
    ),
    latency_s=60.0,
    clip=ClipRule(
        fps=24,
        image_field="image",
        height=1080,
        default_duration_s=8,
        durations_s=(4, 6, 8),
        height_field="resolution",
        heights={"720p": 720, "1080p": 1080},
        audio_field="generate_audio",
    ),
)

SPEECH_02_HD = ModelSpec(
    "minimax",
    "speech-02-hd",
    "speech",
    "uri",
    (
        InputField("text", "string", required=True, max_length=10000),
        InputField("voice_id", "string", default="Wise_Woman"),
        InputField("speed", "number", default=1, minimum=0.5, maximum=2),
        InputField("volume", "number", default=1, minimum=0, maximum=10),
        InputField("pitch", "integer", default=0, minimum=-12, maximum=12),
        InputField(
            "emotion",
            "string",
            default="auto",
            choices=(
                "auto",
                "neutral",
                "happy",
                "sad",
                "angry",
                "fearful",
                "disgusted",
                "surprised",
            ),
        ),
        InputField(
            "sample_rate",
            "integer",
            default=32000,
            choices=(8000, 16000, 22050, 24000, 32000, 44100),
        ),
        InputField("audio_format", "string", default="mp3", choices=("mp3", "wav")),
        InputField("channel", "string", default="mono", choices=("mono", "stereo")),
        InputField("english_normalization", "boolean", default=False),
    ),
    latency_s=5.0,
)

MUSICGEN = ModelSpec(
    "meta",
    "musicgen",
    "music",
    "uri",
    (
        _prompt(required=False),
        InputField(
            "model_version",
            "string",
            default="stereo-melody-large",
            choices=("stereo-melody-large", "stereo-large", "melody-large", "large"),
        ),
        InputField("duration", "integer", default=8, minimum=1, maximum=30),
        InputField("output_format", "string", default="wav", choices=("wav", "mp3")),
        InputField("input_audio", "uri"),
        _seed(),
    ),
    latency_s=40.0,
    official=False,
    version_id="671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb",
)

MODELS: dict[str, ModelSpec] = {
    spec.ref: spec
    for spec in (
        LLAMA,
        FLUX_SCHNELL,
        FLUX_DEV,
        FLUX_11_PRO,
        FLUX_PRO,
        _wan(480),
        _wan(720),
        _kling("kling-v1.6-pro", 1080, modes=False),
        _kling("kling-v2.1", 720, modes=True),
        MINIMAX_VIDEO_01,
        HAILUO_02,
        VEO_31_FAST,
        SPEECH_02_HD,
        MUSICGEN,
    )
}

BY_VERSION: dict[str, ModelSpec] = {
    spec.version_id: spec for spec in MODELS.values() if not spec.official
}


def find_version(version: str) -> ModelSpec | None:
    """A `version` as POST /v1/predictions takes it: a 64-hex id, `owner/name:id`, or
    `owner/name` (official models only)."""
    ref, _, version_id = version.partition(":")
    if not version_id:
        if spec := BY_VERSION.get(ref):
            return spec
        spec = MODELS.get(ref)
        return spec if spec is not None and spec.official else None
    spec = MODELS.get(ref)
    if spec is not None and not spec.official and spec.version_id == version_id:
        return spec
    return None
