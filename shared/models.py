"""Domain models shared by the gateway and the workers: the brief, scenes, the job."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from shared.checks.findings import (
    ChecksStatus,
    ContentCredentials,
    PreflightOverride,
    PreflightReport,
    QcReport,
)
from shared.creative.platforms import platform_spec

HexColor = Annotated[str, StringConstraints(pattern=r"^#(?:[0-9a-fA-F]{3}){1,2}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
BannedWord = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


# DNS limits (RFC 1035, 2.3.4): a name of at most 253 characters, labels of 1-63. The URL
# parser lets longer ones through and the resolver then fails on them, so they are refused
# here, where the error names the field.
MAX_HOST_CHARS = 253
MAX_LABEL_CHARS = 63


def _http_url(value: str) -> str:
    try:
        url = _HTTP_URL.validate_python(value)
    except ValidationError:
        raise ValueError("must be an absolute http:// or https:// URL") from None
    host = (url.host or "").removesuffix(".")  # the root's dot is not part of the name
    if not host.startswith("["):  # an IPv6 literal has no labels
        if len(host) > MAX_HOST_CHARS:
            raise ValueError(
                f"the host name is {len(host)} characters long; at most {MAX_HOST_CHARS}"
            )
        if any(not 1 <= len(label) <= MAX_LABEL_CHARS for label in host.split(".")):
            raise ValueError(
                f"each dot-separated part of the host name must be 1-{MAX_LABEL_CHARS} characters"
            )
    return str(url)


# Kept a string (normalised by pydantic's URL parser) so a brief dumps to plain JSON.
WebhookUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_http_url)]


class Platform(StrEnum):
    tiktok = "tiktok"
    instagram_reel = "instagram_reel"
    youtube_short = "youtube_short"
    instagram_feed = "instagram_feed"
    youtube = "youtube"


PLATFORM_SIZE: dict[Platform, tuple[int, int]] = {
    Platform.tiktok: (1080, 1920),
    Platform.instagram_reel: (1080, 1920),
    Platform.youtube_short: (1080, 1920),
    Platform.instagram_feed: (1080, 1080),
    Platform.youtube: (1920, 1080),
}

# The stages whose failure fails a job (a refinement or an export failing leaves it as it was).
FailedStage = Literal["storyboard", "render"]


class JobStatus(StrEnum):
    queued = "queued"
    storyboarding = "storyboarding"
    storyboard_ready = "storyboard_ready"
    refining = "refining"
    approved = "approved"
    rendering = "rendering"
    completed = "completed"
    failed = "failed"
    canceled = "canceled"
    # Accepted, but its next paid stage waits for budget (the job's `paused` says why).
    paused = "paused"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.completed, JobStatus.failed, JobStatus.canceled)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The three looks of the design system (`shared.creative.styles`): kinetic type on colour
# fields, product-first minimal, captions-forward native.
Style = Literal["bold", "clean", "social"]
STYLES: tuple[Style, ...] = ("bold", "clean", "social")
# How a variation's opening scene stops the scroll.
HookAngle = Literal["claim", "question", "product"]


class Brand(StrictModel):
    colors: list[HexColor] = Field(default_factory=list, max_length=8)
    logo_asset_id: str | None = Field(default=None, max_length=64)
    font_asset_id: str | None = Field(default=None, max_length=64)
    tone: str | None = Field(default=None, max_length=100)
    banned_words: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    ] = Field(
        default_factory=list,
        max_length=50,
        description="Words and phrases the brand never says (on screen or spoken): preflight "
        "refuses a storyboard that uses one.",
    )
    disclaimers: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    ] = Field(
        default_factory=list,
        max_length=5,
        description="Legal lines every video must show, long enough to be read (preflight "
        "checks the time on screen against a reading speed).",
    )
    ai_label: bool | None = Field(
        default=None,
        description='Show a visible "AI-generated" label: true or false, or null to follow the '
        "platform's policy (shared/creative/platforms.toml).",
    )


class GenerationRequest(StrictModel):
    """What a client asks for in `POST /api/v2/jobs`."""

    campaign_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    platform: Platform
    duration_s: int = Field(
        ge=1,
        le=180,
        description="Length in seconds; each platform's limits (5-60 s today) are checked "
        "when the job is created (422 naming the platform's rule).",
    )
    variations: int = Field(default=1, ge=1, le=5)
    quality: Literal["standard", "hd"] = "standard"
    assets: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    brand: Brand = Field(default_factory=Brand)
    product: ShortText | None = None
    audience: ShortText | None = None
    key_messages: list[ShortText] = Field(default_factory=list, max_length=10)
    call_to_action: ShortText | None = None
    style: Style | None = Field(
        default=None,
        description="The look of frames and video: `bold` (kinetic type on colour fields), "
        "`clean` (product-first minimal) or `social` (captions-forward native look). "
        "Default: chosen from the brand tone.",
    )
    chain_clips: bool = Field(
        default=False,
        description="Replicate backend: each scene's clip starts from the previous clip's "
        "last frame (continuity; the clips are then made one after another).",
    )
    webhook_url: WebhookUrl | None = Field(
        default=None,
        description="Where the job's state changes are POSTed, signed the Standard-Webhooks"
        " way; private and loopback addresses are refused.",
        json_schema_extra={"format": "uri"},
    )

    @field_validator("duration_s")
    @classmethod
    def _fits_the_platform(cls, value: int, info: ValidationInfo) -> int:
        # The platform's own limits (data in shared/creative/platforms.toml), so a brief
        # that cannot run where it is meant to is refused before anything is made.
        platform = info.data.get("platform")
        if platform is not None:
            delivery = platform_spec(platform).delivery
            if not delivery.min_duration_s <= value <= delivery.max_duration_s:
                raise ValueError(
                    f"{platform} takes videos of {delivery.min_duration_s:g}-"
                    f"{delivery.max_duration_s:g} s (platform rule {platform}.duration); "
                    f"{value} s asked"
                )
        return value


class Scene(BaseModel):
    index: int = Field(ge=1)
    beat: str = ""
    script: str = Field(description="The spoken line (voice-over), shown as the caption layer.")
    caption: str = Field(description="The scene's on-screen headline.")
    claim: str | None = Field(
        default=None,
        description="The brief's claim (key message) this scene puts on screen, verbatim.",
    )
    visual_prompt: str
    duration_s: float = Field(gt=0)
    image_key: str | None = None
    image_url: str | None = None
    revision: int = 1
    clip_asset_id: str | None = Field(
        default=None, description="An uploaded video used as this scene's clip."
    )
    plate_key: str | None = Field(
        default=None,
        description="Storage key of the scene's picture without text (a model's frame with "
        "the product composited): the start image of the scene's clip.",
    )
    disclaimers: list[str] = Field(
        default_factory=list,
        description="Legal lines shown on this scene (the brand kit's disclaimers, placed "
        "where they can be read).",
    )


class VariationPlan(BaseModel):
    """What one variation of the ad tests: its look, how it hooks, how it asks."""

    variation: int = Field(ge=1, le=5)
    style: Style
    hook_angle: HookAngle
    hook: str = Field(description="The opening scene's headline in this variation.")
    hook_script: str = Field(description="The opening scene's spoken line in this variation.")
    call_to_action: str
    hypothesis: str = Field(description="What this variation tests, in one sentence.")


class Storyboard(BaseModel):
    scenes: list[Scene]
    style: Style | None = None
    claims_left_out: list[str] = Field(
        default_factory=list,
        description="Claims of the brief that did not fit the ad's length (not on screen).",
    )
    variations: list[VariationPlan] = Field(
        default_factory=list, description="Per variation: style, hook angle, CTA, hypothesis."
    )

    def plan_for(self, variation: int) -> VariationPlan | None:
        return next((v for v in self.variations if v.variation == variation), None)

    @property
    def duration_s(self) -> float:
        return round(sum(s.duration_s for s in self.scenes), 3)


class SceneEdit(StrictModel):
    """One scene in a `PATCH .../storyboard`: `index` names the scene as it is now."""

    index: int = Field(ge=1)
    script: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    caption: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    visual_prompt: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    duration_s: float | None = Field(default=None, ge=1, le=30)
    clip_asset_id: str | None = Field(
        default=None, max_length=64, description="An uploaded video for this scene; null clears."
    )


class StoryboardEdit(StrictModel):
    scenes: list[SceneEdit] = Field(default_factory=list, max_length=30)
    order: list[int] | None = Field(
        default=None, description="Scene indexes in their new order; must be a permutation."
    )

    @field_validator("order")
    @classmethod
    def _order_unique(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("order must not repeat a scene index")
        return value


class RefineRequest(StrictModel):
    feedback: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ]


class OverrideRequest(StrictModel):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)
    ] = Field(description="Why the storyboard may run despite its preflight errors.")


class ApproveRequest(StrictModel):
    """`POST /jobs/{id}/approve`'s optional body."""

    override: OverrideRequest | None = Field(
        default=None,
        description="Approve although preflight found errors; recorded on the job with who "
        "approved and which checks were overridden.",
    )


class Progress(BaseModel):
    stage: str = "queued"
    percent: float = 0.0
    message: str = ""


Aspect = Literal["9:16", "1:1", "16:9"]
ASPECT_SIZE: dict[str, tuple[int, int]] = {
    "9:16": (1080, 1920),
    "1:1": (1080, 1080),
    "16:9": (1920, 1080),
}


class VideoOutput(BaseModel):
    """One finished video of a job: a rendered variation or an export of one."""

    kind: Literal["render", "export"] = "render"
    variation: int = 1
    aspect: Aspect | None = None
    key: str
    url: str
    poster_key: str | None = None
    poster_url: str | None = None
    duration_s: float
    width: int
    height: int
    size_bytes: int
    style: Style | None = None
    hypothesis: str | None = Field(default=None, description="What this variation tests.")
    captions_key: str | None = Field(
        default=None, description="WebVTT captions (SRT beside it, same name)."
    )
    contact_sheet_key: str | None = None
    loudness_lufs: float | None = Field(default=None, description="Integrated, BS.1770.")
    true_peak_dbtp: float | None = None
    qc: QcReport | None = Field(default=None, description="What was measured on this file.")
    credentials: ContentCredentials | None = Field(
        default=None, description="The Content Credentials (C2PA) embedded in this file."
    )


class ExportRequest(StrictModel):
    aspect: Aspect
    variation: int = Field(default=1, ge=1, le=5)


class CostItem(BaseModel):
    """One line of a job's estimate: what a role costs on the chosen model."""

    role: str
    stage: str
    model: str
    unit: str
    units: float
    unit_price_usd: float
    amount_usd: float


# The stages a job can be paused before: each is paid work that reserves its money first.
PausedStage = Literal["storyboard", "refine", "render"]
PauseReason = Literal["daily_budget_exhausted"]


class BudgetSnapshot(BaseModel):
    """Today's budget as billing reported it when the job was paused."""

    day: date = Field(description="The UTC day the budget is for.")
    spent_today_usd: float
    committed_usd: float = Field(description="Reserved by running jobs and not yet spent.")
    hard_limit_usd: float = Field(description="Today's hard limit (an admin may raise it).")
    resets_at: datetime = Field(description="The next UTC midnight.")


class Pause(BaseModel):
    """Why a job is `paused`, what waits, and when it goes on by itself."""

    reason: PauseReason = Field(description="`daily_budget_exhausted`: the hard daily limit.")
    stage: PausedStage = Field(description="The paid stage that starts once the job resumes.")
    since: datetime
    message: str = Field(description="The pause in a sentence, for people.")
    resumes: str = Field(description="When the job goes on without anyone acting.")
    budget: BudgetSnapshot | None = None


class Job(BaseModel):
    """The one representation of a job: POST answer, GET, list, SSE."""

    id: str
    campaign_id: str
    status: JobStatus
    progress: Progress = Field(default_factory=Progress)
    storyboard: Storyboard | None = None
    approved: bool = False
    approved_at: datetime | None = None
    estimated_cost: float | None = None
    actual_cost: float | None = None
    cost_items: list[CostItem] = Field(default_factory=list)
    retry_count: int = Field(
        default=0, description="Times a stage of the job was started again (reaper or retry)."
    )
    error_message: str | None = None
    failed_stage: FailedStage | None = Field(
        default=None, description="The stage a failed job failed in."
    )
    retryable: bool = Field(
        default=False,
        description="Whether `POST /jobs/{id}/retry` can restart the job from its failed stage.",
    )
    video_url: str | None = None
    outputs: list[VideoOutput] = Field(default_factory=list)
    checks_status: ChecksStatus | None = Field(
        default=None,
        description="The worst of the preflight and every output's QC: `pass`, `warn` or "
        "`fail` (null before the storyboard is checked). Details: `GET /jobs/{id}/checks`.",
    )
    preflight: PreflightReport | None = None
    preflight_override: PreflightOverride | None = Field(
        default=None, description="Set when the storyboard was approved despite errors."
    )
    paused: Pause | None = Field(
        default=None,
        description="Set while the job is `paused`: the reason, the stage that waits, since "
        "when, the budget then, and when it resumes by itself.",
    )
    created_at: datetime
    updated_at: datetime
    poll_after_ms: int = 2000


class JobPage(BaseModel):
    items: list[Job]
    next_cursor: str | None = None
