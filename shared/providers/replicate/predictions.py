"""Running one prediction to a usable result: checkpointed create (or re-attach), our
own adaptive polling with a webhook fast path, a deadline that cancels upstream, a new
seed when a prediction fails (not when it was refused by the content policy), the output
accepted by the caller (downloaded and checked), and its cost recorded.

Never `run()` / `wait()`: they have no deadline, and `run` returns an empty output when
the create answers `processing`.

Example::

    runner = PredictionRunner(api, checkpoints, publish_cost, prices, settings, inbox)
    call = PredictionCall(role="frame", model=m, job=work, slot="s1", scene=1,
                          make_input=lambda attempt: frame_input(m, prompt, "9:16", seed(attempt)))
    jpeg = await runner.run(call, accept_frame)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from opentelemetry.trace import SpanKind

from shared.backoff import Backoff
from shared.billing import CostRecorded
from shared.logging import get_logger
from shared.metrics import PREDICTION_SECONDS, PREDICTIONS, PROVIDER_POLLS, PROVIDER_RETRIES
from shared.providers.base import WorkRef
from shared.providers.replicate.checkpoints import (
    Checkpoint,
    CheckpointErrors,
    Checkpoints,
    checkpoint_key,
)
from shared.providers.replicate.client import ReplicateApi
from shared.providers.replicate.costs import CostContext, Prices, cost_events
from shared.providers.replicate.errors import (
    ContentPolicyRefused,
    OutputInvalid,
    PredictionCanceled,
    PredictionFailed,
    PredictionTimedOut,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from shared.providers.replicate.inbox import WebhookInbox
from shared.providers.replicate.models import ModelInput
from shared.providers.replicate.prediction import PredictionState
from shared.providers.replicate.retries import is_content_policy
from shared.providers.replicate.transport import PROVIDER
from shared.settings import Settings
from shared.tracing import span

log = get_logger(__name__)

R = TypeVar("R")
POLL_GROWTH = 0.2  # the next poll comes after this share of the prediction's age
# With webhooks the polls are only a safety net: each waits as long as the prediction's
# age so far (1, 2, 4, 8 s ...), up to three times the usual maximum.
WEBHOOK_POLL_GROWTH = 1.0
WEBHOOK_POLL_MAX_FACTOR = 3.0
SAVE_TRIES = 5
# Between tries of a checkpoint read or write: 0.4 s, 0.8 s, 1.6 s, 3.2 s.
CHECKPOINT_BACKOFF = Backoff(base_s=0.4)
INTENT_POLL_S = 0.25


def next_poll_delay(age_s: float, min_s: float, max_s: float, growth: float = POLL_GROWTH) -> float:
    """Poll quickly while a prediction is young and more slowly as it ages: a frame is
    done in seconds, a clip in minutes, and each poll costs a request of the budget."""
    return min(max_s, max(min_s, age_s * growth))


@dataclass(frozen=True)
class Accepted(Generic[R]):
    """What the caller made of a succeeded prediction, and units it measured itself."""

    value: R
    measured: Mapping[str, float] = field(default_factory=dict)


Accept = Callable[[PredictionState, ModelInput], Awaitable[Accepted[R]]]


@dataclass(frozen=True)
class PredictionCall:
    role: str  # script | frame | clip | voice: picks the deadline
    model: str
    work: WorkRef
    slot: str  # which prediction of the stage: "script", "s3", "v2s3", "voice", ...
    make_input: Callable[[int], ModelInput]  # attempt → input (a new seed per attempt)
    scene: int | None = None
    version: str | None = None  # community models are created by version

    def key(self, attempt: int) -> str:
        return checkpoint_key(self.work.job_id, self.work.stage, self.slot, attempt)

    def describe(self) -> str:
        where = f" for scene {self.scene}" if self.scene is not None else ""
        return f"the {self.role} model ({self.model}){where}"


class _DeadlinePassed(Exception):
    def __init__(self, state: PredictionState) -> None:
        self.state = state


class PredictionRunner:
    def __init__(
        self,
        api: ReplicateApi,
        checkpoints: Checkpoints,
        publish_cost: Callable[[CostRecorded], Awaitable[None]],
        prices: Callable[[], Prices],
        settings: Settings,
        inbox: WebhookInbox | None = None,
    ) -> None:
        self.api = api
        self.checkpoints = checkpoints
        self.publish_cost = publish_cost
        self.prices = prices
        self.settings = settings
        self.inbox = inbox
        self.webhook = (
            settings.public_base_url.rstrip("/") + "/webhooks/replicate"
            if settings.public_base_url
            else None
        )
        self.slots = asyncio.Semaphore(settings.replicate_max_concurrency)
        # job id → prediction id → call: what a job cancel must stop upstream.
        self.in_flight: dict[str, dict[str, PredictionCall]] = {}
        # How long an intent without an id means "another replica is creating it": as long
        # as a create can take with all its retries; older, its creator is presumed dead.
        self.intent_wait_s = settings.replicate_retry_cap_s * settings.replicate_request_attempts
        self.deadlines = {
            "script": settings.replicate_script_deadline_s,
            "frame": settings.replicate_frame_deadline_s,
            "clip": settings.replicate_clip_deadline_s,
            "voice": settings.replicate_voice_deadline_s,
        }

    # ----------------------------------------------------------------------------- run

    async def run(self, call: PredictionCall, accept: Accept[R]) -> R:
        with span(
            f"replicate.predict {call.role}",
            SpanKind.CLIENT,
            attributes={
                "replicate.model": call.model,
                "reelsmith.job_id": call.work.job_id,
                "reelsmith.stage": call.work.stage,
                "reelsmith.scene": call.scene,
            },
        ):
            return await self._run(call, accept)

    async def _run(self, call: PredictionCall, accept: Accept[R]) -> R:
        attempts = self.settings.replicate_prediction_attempts
        problem: ProviderError | None = None
        async with self.slots:
            for attempt in range(1, attempts + 1):
                model_input = call.make_input(attempt)
                state, created_at = await self._start(call, attempt, model_input)
                self._track(call, state.id)
                try:
                    state = await self._follow(call, state, created_at)
                except _DeadlinePassed as passed:
                    self._untrack(call, state.id)
                    state = await self._cancel(call, passed.state)
                    if state.status != "succeeded":  # it may have finished meanwhile
                        await self._record(call, state)
                        problem = PredictionTimedOut(
                            f"{call.describe()} did not finish within "
                            f"{self.deadlines[call.role]:g} s; it was canceled"
                        )
                        self._retrying(call, "deadline", attempt, attempts)
                        continue
                except Exception:
                    self._untrack(call, state.id)
                    raise
                # A cancelled task (job canceled, a sibling failed, shutdown) stays tracked:
                # whoever cancelled it decides whether to cancel upstream (cancel_predictions).
                self._untrack(call, state.id)
                if state.status == "succeeded":
                    try:
                        accepted = await accept(state, model_input)
                    except OutputInvalid as exc:
                        await self._record(call, state)
                        problem = exc
                        self._retrying(call, "output", attempt, attempts)
                        continue
                    await self._record(call, state, accepted.measured)
                    return accepted.value
                await self._record(call, state)
                if state.status == "failed":
                    error = (state.error or "no error message").strip()[:300]
                    if is_content_policy(state.error):
                        raise ContentPolicyRefused(
                            f"{call.describe()} refused the request under its content "
                            f"policy: {error}"
                        )
                    problem = PredictionFailed(f"{call.describe()} failed: {error}")
                    self._retrying(call, "failed", attempt, attempts)
                    continue
                raise PredictionCanceled(f"{call.describe()}: the prediction was canceled")
        assert problem is not None
        raise type(problem)(f"{problem} (after {attempts} attempts)")

    def _retrying(self, call: PredictionCall, reason: str, attempt: int, attempts: int) -> None:
        if attempt < attempts:
            PROVIDER_RETRIES.labels(PROVIDER, call.model, reason).inc()
            log.warning(
                "replicate.prediction_retried",
                extra={"model": call.model, "slot": call.slot, "reason": reason},
            )

    # ----------------------------------------------------------------------------- create

    async def _start(
        self, call: PredictionCall, attempt: int, model_input: ModelInput
    ) -> tuple[PredictionState, float]:
        """Re-attach to the checkpointed prediction, or create one (checkpointed before
        anything else happens to it)."""
        key = call.key(attempt)
        while True:
            found, revision = await self._load(key)
            if found is not None and found.prediction_id is not None:
                state = await self._reattach(call, found)
                if state is not None:
                    return state, found.created_at
            elif found is not None and time.time() - found.created_at < self.intent_wait_s:
                # Another replica is creating this prediction right now (a redelivered
                # message runs twice): wait for its id instead of paying a second time.
                await asyncio.sleep(INTENT_POLL_S)
                continue
            elif found is not None:
                # An intent without an id: a replica died between create and checkpoint.
                lost = await self._find_lost(call, model_input, found.created_at)
                if lost is not None:
                    await self._save(key, found.model_copy(update={"prediction_id": lost.id}))
                    log.info("replicate.prediction_recovered", extra={"slot": call.slot})
                    return lost, found.created_at
            created_at = time.time()
            intent = Checkpoint(
                model=call.model,
                created_at=created_at,
                job_attempt=call.work.attempt,
                seed=model_input.input.get("seed"),
            )
            if await self._claim(key, intent, revision):
                break
            # Another replica claimed the slot between our read and write: follow it.

        async def find_lost() -> PredictionState | None:
            return await self._find_lost(call, model_input, created_at)

        state = await self.api.create(
            call.model,
            model_input.input,
            version=call.version,
            webhook=self.webhook,
            find_lost=find_lost,
        )
        if not state.model:
            state = state.model_copy(update={"model": call.model})
        self._track(call, state.id)  # from now on a job cancel stops it upstream
        try:
            await self._save(key, intent.model_copy(update={"prediction_id": state.id}))
        except BaseException:
            # Not checkpointed: nobody could find it again, so it must not run on.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.api.cancel(state.id, call.model))
            raise
        log.info(
            "replicate.prediction_created",
            extra={
                "model": call.model,
                "slot": call.slot,
                "attempt": attempt,
                "prediction_id": state.id,
            },
        )
        return state, created_at

    async def _reattach(self, call: PredictionCall, found: Checkpoint) -> PredictionState | None:
        assert found.prediction_id is not None
        try:
            state = await self.api.get(found.prediction_id, call.model)
        except ProviderRejected as exc:
            if exc.status != 404:
                raise
            log.warning("replicate.checkpoint_unknown", extra={"slot": call.slot})
            return None
        if found.job_attempt < call.work.attempt and state.status in ("failed", "canceled"):
            # A retried job gets fresh predictions where the earlier attempt's failed.
            return None
        log.info(
            "replicate.prediction_reattached",
            extra={
                "model": call.model,
                "slot": call.slot,
                "status": state.status,
                "prediction_id": state.id,
            },
        )
        return state if state.model else state.model_copy(update={"model": call.model})

    async def _find_lost(
        self, call: PredictionCall, model_input: ModelInput, since: float
    ) -> PredictionState | None:
        """The prediction a create made although its answer was lost (a 5xx after the
        create, a dropped connection, a crash): same model and the same input values."""
        from datetime import UTC, datetime

        if "seed" not in model_input.input:
            # Only the seed (job, stage, slot, attempt) makes an input this call's own; a
            # seedless one (a voice-over's text) can match another job's or client's
            # prediction, or this slot's failed attempt. Creating again is the lesser harm.
            return None
        try:
            recent = await self.api.recent(call.model, datetime.fromtimestamp(since, UTC))
        except ProviderError as exc:
            log.warning("replicate.list_failed", extra={"error": str(exc)})
            return None
        for state in recent:
            if state.model in (call.model, "") and _same_input(state.input, model_input.input):
                return state if state.model else state.model_copy(update={"model": call.model})
        return None

    async def _load(self, key: str) -> tuple[Checkpoint | None, int | None]:
        return await _checkpoint_call(lambda: self.checkpoints.load_revision(key))

    async def _claim(self, key: str, checkpoint: Checkpoint, revision: int | None) -> bool:
        return await _checkpoint_call(lambda: self.checkpoints.claim(key, checkpoint, revision))

    async def _save(self, key: str, checkpoint: Checkpoint) -> None:
        await _checkpoint_call(lambda: self.checkpoints.save(key, checkpoint))

    # ----------------------------------------------------------------------------- follow

    async def _follow(
        self, call: PredictionCall, state: PredictionState, created_at: float
    ) -> PredictionState:
        """Poll (or hear the webhook) until terminal; _DeadlinePassed past the deadline."""
        deadline = created_at + self.deadlines[call.role]
        low, high = self.settings.replicate_poll_min_s, self.settings.replicate_poll_max_s
        growth = POLL_GROWTH
        if self.webhook is not None and self.inbox is not None:
            growth, high = WEBHOOK_POLL_GROWTH, high * WEBHOOK_POLL_MAX_FACTOR
        try:
            while not state.terminal:
                now = time.time()
                if now >= deadline:
                    raise _DeadlinePassed(state)
                delay = min(next_poll_delay(now - created_at, low, high, growth), deadline - now)
                pushed = await self._wait(state.id, delay)
                if pushed is not None:
                    state = pushed.model_copy(update={"model": pushed.model or call.model})
                    break
                PROVIDER_POLLS.labels(PROVIDER, call.model).inc()
                state = await self.api.get(state.id, call.model)
        finally:
            if self.inbox is not None:
                self.inbox.forget(state.id)
        PREDICTIONS.labels(PROVIDER, call.model, state.status).inc()
        PREDICTION_SECONDS.labels(PROVIDER, call.model).observe(time.time() - created_at)
        return state if state.model else state.model_copy(update={"model": call.model})

    async def _wait(self, prediction_id: str, delay_s: float) -> PredictionState | None:
        if self.inbox is None:
            await asyncio.sleep(delay_s)
            return None
        return await self.inbox.wait(prediction_id, delay_s)

    async def _cancel(self, call: PredictionCall, state: PredictionState) -> PredictionState:
        log.warning(
            "replicate.prediction_deadline",
            extra={"model": call.model, "slot": call.slot, "status": state.status},
        )
        canceled = await self.api.cancel(state.id, call.model)
        return canceled if canceled.model else canceled.model_copy(update={"model": call.model})

    # ----------------------------------------------------------------------------- costs

    async def _record(
        self,
        call: PredictionCall,
        state: PredictionState,
        measured: Mapping[str, float] | None = None,
    ) -> None:
        context = CostContext(
            job_id=call.work.job_id,
            client_id=call.work.client_id,
            stage=call.work.stage,
            scene=call.scene,
            measured=measured or {},
        )
        try:
            charges = cost_events(state, context, self.prices())
        except KeyError as exc:
            log.error("replicate.unpriced_model", extra={"model": state.model, "error": str(exc)})
            return
        for charge in charges:
            await self.publish_cost(charge)

    # ----------------------------------------------------------------------------- cancel

    def _track(self, call: PredictionCall, prediction_id: str) -> None:
        self.in_flight.setdefault(call.work.job_id, {})[prediction_id] = call

    def _untrack(self, call: PredictionCall, prediction_id: str) -> None:
        running = self.in_flight.get(call.work.job_id)
        if running is not None:
            running.pop(prediction_id, None)
            if not running:
                del self.in_flight[call.work.job_id]

    def in_flight_of(self, job_id: str) -> dict[str, PredictionCall]:
        return dict(self.in_flight.get(job_id, {}))

    async def cancel_predictions(self, running: Mapping[str, PredictionCall]) -> int:
        """Cancel these predictions upstream (a job was canceled) and record what they
        cost so far. Returns how many were canceled."""

        async def cancel_one(prediction_id: str, call: PredictionCall) -> bool:
            try:
                state = await self.api.cancel(prediction_id, call.model)
                if not state.model:
                    state = state.model_copy(update={"model": call.model})
                await self._record(call, state)
            except ProviderError as exc:
                log.warning("replicate.cancel_failed", extra={"error": str(exc)})
                return False
            return True

        for prediction_id, call in running.items():
            self._untrack(call, prediction_id)
        results = await asyncio.gather(*(cancel_one(p, c) for p, c in running.items()))
        return sum(results)

    def forget_job(self, job_id: str) -> None:
        """Drop what is tracked for a job whose work was stopped without a cancel
        upstream (a shutdown hands it to another replica)."""
        self.in_flight.pop(job_id, None)


def _same_input(found: Mapping[str, object] | None, sent: Mapping[str, object]) -> bool:
    """Inputs match on every plain value we sent (files may come back as other URLs)."""
    if not found:
        return False
    for name, value in sent.items():
        if isinstance(value, str) and value.startswith(("data:", "http")):
            continue
        if found.get(name) != value:
            return False
    return True


async def _checkpoint_call(call: Callable[[], Awaitable[R]]) -> R:
    """`call` against the checkpoint store, tried SAVE_TRIES times with backoff (a NATS
    blip must not lose a prediction that was paid for); then the provider is unavailable."""
    for attempt in range(1, SAVE_TRIES):
        try:
            return await call()
        except CheckpointErrors:
            await asyncio.sleep(CHECKPOINT_BACKOFF.delay_s(attempt))
    try:
        return await call()
    except CheckpointErrors:
        raise ProviderUnavailable("the prediction checkpoints are unreachable") from None
