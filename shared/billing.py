"""Billing's contract: the cost and budget events other teams subscribe to, and the
request/reply bodies of `billing.quote`, `billing.commit`, `billing.summary`,
`billing.limits.get` and `billing.limits.set`.

Every model carries `schema_version`. Adding an optional field keeps the version;
removing, renaming or re-typing a field bumps it. Unknown fields are ignored on input,
so a subscriber on version 1 keeps working when fields are added.

Example::

    cost = CostRecorded(job_id=j, client_id=c, stage="render", scene=2, provider="replicate",
                        model="kwaivgi/kling-v1.6-pro", prediction_id=p, unit="video_second",
                        units=5, unit_price_usd=0.095, amount_usd=0.475, occurred_at=utc_now())
    await bus.publish(cost.envelope(job_id=j, client_id=c, event_id=cost.event_id))
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.events import Payload, derived_id
from shared.micro import ErrorBody, ErrorReply
from shared.models import GenerationRequest

SCHEMA_VERSION = 1

Unit = Literal[
    "image", "video", "video_second", "input_token", "output_token", "character", "gpu_second"
]
Role = Literal["script", "frame", "clip", "voice"]
Quality = Literal["standard", "hd"]
# A refinement redoes one scene's script and frame: paid work reserved like the others.
CommitStage = Literal["storyboard", "refine", "render"]
BudgetLevel = Literal["soft", "hard"]
BudgetStatus = Literal["ok", "soft_exceeded", "hard_exceeded"]
Outcome = Literal["succeeded", "failed", "canceled"]

Money = float
SceneSeconds = Annotated[float, Field(gt=0, le=60)]


# --- events (stream BILLING) ---------------------------------------------------------


class CostRecorded(Payload):
    """One billed charge of one paid model call, with the units the provider reported.

    Sent for every call that cost money: succeeded, failed after being billed, or
    canceled after starting. A call billed in two units (an LLM's input and output
    tokens) sends one event per `kind`.
    """

    subject = "billing.cost.recorded"

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    job_id: str = Field(description="The job the call worked for.")
    client_id: str = Field(description="The client that owns the job.")
    stage: str = Field(description="Pipeline stage: storyboard, refine, render, export.")
    scene: int | None = Field(default=None, description="Scene index (1-based), if any.")
    provider: str = Field(description="Who billed the call, e.g. replicate.")
    model: str = Field(description="Provider model id, e.g. black-forest-labs/flux-schnell.")
    prediction_id: str = Field(description="The provider's id of the call.")
    kind: str = Field(
        default="",
        description="Which charge of the call this is; defaults to `unit`. Part of the "
        "idempotency key.",
    )
    unit: Unit = Field(description="Billing unit of `units`.")
    units: float = Field(ge=0, description="Units billed, as the provider reported them.")
    hardware: str | None = Field(
        default=None, description="Hardware of a `gpu_second` charge, e.g. nvidia-a100-80gb."
    )
    unit_price_usd: Money = Field(ge=0, description="USD per unit.")
    amount_usd: Money = Field(ge=0, description="USD charged: units × unit price.")
    outcome: Outcome = Field(default="succeeded", description="How the call ended.")
    occurred_at: datetime = Field(description="When the provider billed the call (UTC).")

    @model_validator(mode="after")
    def _kind_defaults_to_unit(self) -> CostRecorded:
        if not self.kind:
            self.kind = self.unit
        return self

    @property
    def idempotency_key(self) -> str:
        """provider + prediction id + kind: the same charge always has the same key."""
        return f"{self.provider}:{self.prediction_id}:{self.kind}"

    @property
    def event_id(self) -> str:
        """An event id derived from the idempotency key, so a producer that re-sends a
        charge re-sends the same id and JetStream drops the copy."""
        return derived_id(self.subject, self.idempotency_key)


class JobCostUpdated(Payload):
    """A job's running cost after a change; `actual_cost` never decreases."""

    subject = "billing.job.cost_updated"

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    job_id: str
    actual_cost: Money = Field(ge=0, description="USD recorded for the job so far.")
    estimated_cost: Money | None = Field(
        default=None, description="USD quoted when the job was committed, if it was."
    )
    cost_events: int = Field(ge=0, description="Charges recorded for the job so far.")


class BudgetAlert(Payload):
    """The day's spend plus committed money reached a daily limit (once per level per
    UTC day). At `hard`, new paid work is refused until `resets_at`."""

    subject = "billing.budget.alert"

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    level: BudgetLevel
    day: date = Field(description="The UTC day the limit was reached on.")
    spent_today_usd: Money = Field(ge=0)
    committed_usd: Money = Field(ge=0, description="Estimates of running jobs not yet spent.")
    limit_usd: Money = Field(ge=0, description="The limit that was reached.")
    resets_at: datetime = Field(description="Next UTC midnight.")


class BudgetChanged(Payload):
    """Today's limits changed, or a new UTC day began: paid work held for the budget
    (paused jobs) may go on now. The envelope's `client_id` is who changed the limits
    (`billing` for a new day); its `job_id` is empty."""

    subject = "billing.budget.changed"

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    reason: Literal["limits_changed", "day_rolled_over"]
    day: date = Field(description="The UTC day whose limits these are.")
    soft_limit_usd: Money = Field(ge=0)
    hard_limit_usd: Money = Field(ge=0)
    changed_by: str | None = Field(
        default=None, description="The admin who changed the limits (none for a new day)."
    )
    occurred_at: datetime


# --- request/reply bodies (core NATS) --------------------------------------------------


class BudgetState(BaseModel):
    """Today's money: spent, committed by running jobs, and the limits."""

    schema_version: int = SCHEMA_VERSION
    day: date
    spent_today_usd: Money
    committed_usd: Money
    soft_limit_usd: Money
    hard_limit_usd: Money
    state: BudgetStatus
    resets_at: datetime
    retry_after_s: int | None = Field(
        default=None, description="Seconds to `resets_at`, set when state is hard_exceeded."
    )


class LineItem(BaseModel):
    role: Role
    stage: CommitStage
    model: str
    unit: Unit
    units: float
    unit_price_usd: Money
    amount_usd: Money
    detail: str = Field(default="", description="How the units were estimated.")


class Quote(BaseModel):
    """An up-front estimate: one line per role and billing unit."""

    schema_version: int = SCHEMA_VERSION
    backend: str
    quality: Quality
    pricing_version: str
    currency: Literal["USD"] = "USD"
    scene_count: int
    scene_durations_s: list[float]
    variations: int
    line_items: list[LineItem]
    estimated_cost: Money
    budget: BudgetState | None = None

    def stage_cost(self, stage: CommitStage) -> Money:
        return round(sum(i.amount_usd for i in self.line_items if i.stage == stage), 6)


class QuoteRequest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    request: GenerationRequest
    client_id: str
    backend: str
    scene_durations_s: list[SceneSeconds] | None = Field(
        default=None,
        max_length=60,
        description="The storyboard's own scene lengths, when they differ from the plan.",
    )


class CommitRequest(BaseModel):
    """Reserve a stage's estimate against today's budget before starting paid work."""

    schema_version: int = SCHEMA_VERSION
    job_id: str
    client_id: str
    stage: CommitStage
    backend: str
    request: GenerationRequest
    scene_durations_s: list[SceneSeconds] | None = Field(default=None, max_length=60)
    commit_id: str | None = Field(
        default=None, description="Idempotency key; defaults to `{job_id}:{stage}`."
    )

    @property
    def key(self) -> str:
        return self.commit_id or f"{self.job_id}:{self.stage}"


class CommitReply(BaseModel):
    schema_version: int = SCHEMA_VERSION
    accepted: bool
    commit_id: str
    job_id: str
    stage: CommitStage
    amount_usd: Money = Field(description="Reserved for this stage (0 when refused).")
    quote: Quote
    budget: BudgetState
    reason: Literal["daily_budget_exhausted"] | None = None
    retry_after_s: int | None = None


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
MAX_LIMIT_USD = 1_000_000.0


class LimitsUpdate(BaseModel):
    """Today's limits as an admin sets them (`PUT /api/v2/billing/budget`)."""

    hard_limit_usd: Money = Field(
        gt=0,
        le=MAX_LIMIT_USD,
        description="Today's hard limit (USD): paid work waits while today's exposure is at it.",
    )
    soft_limit_usd: Money | None = Field(
        default=None,
        gt=0,
        le=MAX_LIMIT_USD,
        description="Today's soft limit (alert only); at most the hard limit. Default: "
        "today's soft limit, lowered to the new hard limit if it is above it.",
    )
    reason: Reason = Field(description="Why, for the audit trail.")

    @field_validator("soft_limit_usd")
    @classmethod
    def _soft_below_hard(cls, value: float | None, info: ValidationInfo) -> float | None:
        hard = info.data.get("hard_limit_usd")
        if value is not None and hard is not None and value > hard:
            raise ValueError(f"must not exceed hard_limit_usd ({hard:g})")
        return value


class LimitsChangeRequest(LimitsUpdate):
    """`billing.limits.set`: today's limits, with who sets them (the gateway fills it)."""

    schema_version: int = SCHEMA_VERSION
    changed_by: str = Field(min_length=1, max_length=200)


class LimitsRequest(BaseModel):
    """`billing.limits.get`: today's budget, its limits and the recent changes."""

    schema_version: int = SCHEMA_VERSION
    days: int = Field(default=7, ge=1, le=366, description="Changes of the last N UTC days.")


class LimitsChange(BaseModel):
    """One change of a day's limits, as the audit trail keeps it."""

    day: date
    changed_by: str
    changed_at: datetime
    old_soft_limit_usd: Money
    old_hard_limit_usd: Money
    new_soft_limit_usd: Money
    new_hard_limit_usd: Money
    reason: str


class Limits(BaseModel):
    """Today's budget with its limits: the configured defaults, or an admin's override."""

    schema_version: int = SCHEMA_VERSION
    budget: BudgetState
    default_soft_limit_usd: Money
    default_hard_limit_usd: Money
    overridden: bool = Field(description="Whether an admin set today's limits.")
    changes: list[LimitsChange] = Field(
        default_factory=list, description="Changes of the last days, newest first."
    )


class SummaryRequest(BaseModel):
    """`client_id=None` asks for every client (admins only: the caller checks)."""

    schema_version: int = SCHEMA_VERSION
    client_id: str | None = None
    day: date | None = Field(default=None, description="One UTC day; default the last `days`.")
    days: int = Field(default=30, ge=1, le=366)


class ClientSpend(BaseModel):
    client_id: str
    amount_usd: Money
    cost_events: int


class ModelSpend(BaseModel):
    model: str
    unit: Unit
    units: float
    amount_usd: Money
    cost_events: int


class DaySpend(BaseModel):
    day: date
    amount_usd: Money
    cost_events: int


class Summary(BaseModel):
    schema_version: int = SCHEMA_VERSION
    client_id: str | None
    start_day: date
    end_day: date
    total_usd: Money
    by_client: list[ClientSpend]
    by_model: list[ModelSpend]
    by_day: list[DaySpend]
    budget: BudgetState | None = Field(
        default=None, description="Global budget; only in the all-clients summary."
    )


__all__ = [
    "SCHEMA_VERSION",
    "BudgetAlert",
    "BudgetChanged",
    "BudgetLevel",
    "BudgetState",
    "BudgetStatus",
    "ClientSpend",
    "CommitReply",
    "CommitRequest",
    "CommitStage",
    "CostRecorded",
    "DaySpend",
    "ErrorBody",
    "ErrorReply",
    "JobCostUpdated",
    "Limits",
    "LimitsChange",
    "LimitsChangeRequest",
    "LimitsRequest",
    "LimitsUpdate",
    "LineItem",
    "ModelSpend",
    "Quality",
    "Quote",
    "QuoteRequest",
    "Role",
    "Summary",
    "SummaryRequest",
    "Unit",
]
