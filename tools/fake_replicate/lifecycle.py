"""Predictions over time: starting -> processing (growing logs, outputs) -> terminal, with
cancel, deadlines, data expiry and webhook notifications."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import heapq
import json
import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any

from tools.fake_replicate import faults as fault_rules
from tools.fake_replicate.catalog import ModelSpec
from tools.fake_replicate.config import FakeConfig, Faults
from tools.fake_replicate.fetch import InputFetcher, InputFetchError
from tools.fake_replicate.generate import Generated, clip_shape, generate
from tools.fake_replicate.media import CONTENT_TYPES
from tools.fake_replicate.progress import failure_logs, progress_line, start_logs
from tools.fake_replicate.records import Plan, PredictionRecord, now_utc
from tools.fake_replicate.store import ID_ALPHABET, Blob, BlobStore
from tools.fake_replicate.webhooks import Channel, WebhookSender

DELIVERY = "https://replicate.delivery"
CONTENT_POLICY_ERROR = "The input or output was flagged as sensitive. (E005)"
OOM_ERROR = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity)"
# Shares of a prediction's nominal latency: queue (starting), run, upload (output ready,
# status still processing, the window the sync-mode quirk returns in).
QUEUE_SHARE, FINALIZE_SHARE = 0.15, 0.05


def nominal_latency(spec: ModelSpec, values: dict[str, Any]) -> float:
    """Seconds the real model would take for this input, before `latency_scale`."""
    if spec.kind == "video":
        _, fps, frames = clip_shape(spec, values, None, 1)
        return spec.latency_s * (frames / fps) / 5.0
    if spec.kind == "image":
        return spec.latency_s * (1 + 0.25 * (int(values.get("num_outputs") or 1) - 1))
    if spec.kind == "music":
        return spec.latency_s * float(values["duration"]) / 8.0
    if spec.kind == "speech":
        return spec.latency_s * max(1.0, len(values["text"]) / 500)
    return spec.latency_s


def _steps(spec: ModelSpec, values: dict[str, Any]) -> int:
    if spec.kind == "image":
        return int(values.get("num_inference_steps") or values.get("steps") or 4)
    if spec.kind == "music":
        return int(values["duration"]) * 50
    return {"llm": 10, "video": 30, "speech": 10}[spec.kind]


class Engine:
    def __init__(
        self,
        config: FakeConfig,
        faults: Callable[[], Faults],
        store: BlobStore,
        fetcher: InputFetcher,
        webhooks: WebhookSender,
        executor: Executor,
    ) -> None:
        self.config = config
        self.faults = faults
        self.store = store
        self.fetcher = fetcher
        self.webhooks = webhooks
        self.executor = executor
        self.base_url = ""
        # Not reseeded by reset(): ids stay unique for a server's whole life.
        self._ids = random.Random(config.seed * 7919 + 17)
        self.reset()

    def reset(self) -> None:
        for task in getattr(self, "runs", {}).values():
            task.cancel()
        self.dice = fault_rules.Dice(self.config.seed)
        self.predictions: dict[str, PredictionRecord] = {}
        self.runs: dict[str, asyncio.Task[None]] = {}
        self.channels: dict[str, list[Channel]] = {}
        self.expiry: list[tuple[float, str]] = []
        self.creates: Counter[str] = Counter()
        self.cancels = 0
        self._signatures: Counter[str] = Counter()

    # --- creating -----------------------------------------------------------------------

    def new_id(self) -> str:
        return "".join(self._ids.choice(ID_ALPHABET) for _ in range(26))

    def plan(self, spec: ModelSpec, values: dict[str, Any], sync: bool) -> Plan:
        faults = self.faults()
        nominal = nominal_latency(spec, values) * self.dice.uniform(0.8, 1.2)
        queue = nominal * QUEUE_SHARE
        llm_mode: Any = "json"
        if spec.kind == "llm":
            if self.dice.roll(faults.llm_invalid_fraction):
                llm_mode = "invalid"
            elif self.dice.roll(faults.llm_malformed_fraction):
                llm_mode = "malformed"
        seed = values.get("seed")
        scale = self.config.latency_scale
        return Plan(
            queue_s=queue * scale,
            run_s=nominal * (1 - QUEUE_SHARE - FINALIZE_SHARE) * scale,
            finalize_s=nominal * FINALIZE_SHARE * scale,
            nominal_queue_s=queue,
            nominal_run_s=nominal - queue,
            seed=int(seed) if seed is not None else self.dice.seed(),
            fate=fault_rules.fate(self.dice, faults),
            llm_mode=llm_mode,
            sync_processing=sync and self.dice.roll(faults.sync_processing_fraction),
        )

    def create(
        self,
        spec: ModelSpec,
        raw_input: dict[str, Any],
        values: dict[str, Any],
        token: str,
        *,
        sync: bool = False,
        deployment: str | None = None,
        webhook: str | None = None,
        webhook_events: frozenset[str] = frozenset(),
        webhook_completed: str | None = None,
        cancel_after_s: float | None = None,
    ) -> PredictionRecord:
        loop = asyncio.get_running_loop()
        # Hashed: inputs may hold data URLs of a few hundred KB.
        signature = hashlib.sha256(
            (spec.ref + json.dumps(raw_input, sort_keys=True)).encode()
        ).hexdigest()
        self._signatures[signature] += 1
        self.creates[spec.ref] += 1
        record = PredictionRecord(
            id=self.new_id(),
            spec=spec,
            input=raw_input,
            values=values,
            token=token,
            plan=self.plan(spec, values, sync),
            seq=sum(self.creates.values()),
            created_at=now_utc(),
            created_mono=loop.time(),
            create_count=self._signatures[signature],
            deployment=deployment,
        )
        self.predictions[record.id] = record
        channels = []
        if webhook:
            channels.append(self.webhooks.channel(webhook, webhook_events, self._snapshot(record)))
        if webhook_completed:
            channels.append(
                self.webhooks.channel(
                    webhook_completed, frozenset({"completed"}), self._snapshot(record)
                )
            )
        self.channels[record.id] = channels
        if cancel_after_s is not None:
            deadline_s = cancel_after_s * self.config.latency_scale
            record.deadline = record.created_at + timedelta(seconds=deadline_s)
            loop.call_later(deadline_s, self._deadline_passed, record)
        task = asyncio.create_task(self._run(record), name=f"prediction-{record.id}")
        self.runs[record.id] = task
        task.add_done_callback(lambda _: self._forget_run(record.id, task))
        return record

    def _forget_run(self, prediction_id: str, task: asyncio.Task[None]) -> None:
        if self.runs.get(prediction_id) is task:
            del self.runs[prediction_id]

    def _snapshot(self, record: PredictionRecord) -> Callable[[], dict[str, Any]]:
        return lambda: record.as_json(self.base_url)

    # --- state changes ------------------------------------------------------------------

    def _emit(self, record: PredictionRecord, event: str) -> None:
        record.touch()
        for channel in self.channels.get(record.id, ()):
            channel.notify(event)

    def _elapsed(self, since: float | None) -> float:
        """Nominal (unscaled) seconds since a monotonic moment, for metrics."""
        if since is None:
            return 0.0
        return (asyncio.get_running_loop().time() - since) / self.config.latency_scale

    def _finish(self, record: PredictionRecord, status: Any, metrics: dict[str, float]) -> None:
        record.status = status
        record.completed_at = now_utc()
        record.terminal_mono = asyncio.get_running_loop().time()
        record.metrics = {k: round(v, 3) for k, v in metrics.items()}
        heapq.heappush(self.expiry, (record.terminal_mono + self.config.output_ttl_s, record.id))
        self._emit(record, "completed")

    def _stop_metrics(self, record: PredictionRecord) -> dict[str, float]:
        return {
            "predict_time": self._elapsed(record.started_mono),
            "total_time": self._elapsed(record.created_mono),
        }

    def cancel(self, record: PredictionRecord) -> None:
        """Canceling a terminal prediction changes nothing."""
        if record.terminal:
            return
        self.cancels += 1
        self._stop(record, "canceled")

    def _stop(self, record: PredictionRecord, status: str) -> None:
        if (task := self.runs.get(record.id)) is not None:
            task.cancel()
        record.output = None
        self._finish(record, status, self._stop_metrics(record))

    def _deadline_passed(self, record: PredictionRecord) -> None:
        if not record.terminal:
            # Replicate reports `aborted` when the deadline passes before the model started.
            self._stop(record, "aborted" if record.status == "starting" else "canceled")

    def _fail(self, record: PredictionRecord, error: str, exception: str) -> None:
        record.error = error
        record.logs += failure_logs(record.spec, exception)
        self._finish(record, "failed", self._stop_metrics(record))

    def sweep(self) -> None:
        """Remove outputs, inputs and logs of predictions past their retention."""
        now = asyncio.get_running_loop().time()
        while self.expiry and self.expiry[0][0] <= now:
            _, prediction_id = heapq.heappop(self.expiry)
            if (record := self.predictions.get(prediction_id)) is None:
                continue
            record.output, record.input, record.logs = None, {}, ""
            record.data_removed = True
            self.store.drop_outputs(record.files)

    # --- running ------------------------------------------------------------------------

    async def _run(self, record: PredictionRecord) -> None:
        plan = record.plan
        await asyncio.sleep(plan.queue_s)
        loop = asyncio.get_running_loop()
        record.status = "processing"
        record.started_at, record.started_mono = now_utc(), loop.time()
        record.logs = start_logs(record.spec, record.values, plan.seed)
        self._emit(record, "start")
        if plan.fate == "hanging":
            await asyncio.Event().wait()  # until canceled
        try:
            images = await self._fetch_inputs(record)
        except InputFetchError as e:
            self._fail(record, str(e), f"FileNotFoundError: {e}")
            return
        job = loop.run_in_executor(
            self.executor,
            generate,
            record.spec,
            record.values,
            images,
            plan.seed,
            self.config.resolution_divisor,
            plan.llm_mode,
        )
        if not await self._progress(record, job):
            return
        try:
            generated = await job
        except ValueError as e:
            self._fail(record, str(e), f"PIL.UnidentifiedImageError: {e}")
            return
        if plan.fate == "content_policy":
            self._fail(record, CONTENT_POLICY_ERROR, "cog.server.exceptions.NSFWError: E005")
            return
        self._publish(record, generated)
        await asyncio.sleep(plan.finalize_s)
        self._succeed(record, generated)

    async def _fetch_inputs(self, record: PredictionRecord) -> dict[str, bytes]:
        images = {}
        for field in record.spec.inputs:
            value = record.values.get(field.name)
            if field.type == "uri" and isinstance(value, str) and value:
                images[field.name] = await self.fetcher.fetch(field.name, value)
        return images

    async def _progress(self, record: PredictionRecord, job: asyncio.Future[Generated]) -> bool:
        """Grow the logs (and an LLM's output) step by step over the run time; False if the
        prediction failed on the way."""
        total = _steps(record.spec, record.values)
        updates = min(total, 10)
        pause = record.plan.run_s / updates
        for update in range(1, updates + 1):
            await asyncio.sleep(pause)
            if record.plan.fate == "failed" and update > updates // 2:
                self._fail(record, OOM_ERROR, f"torch.OutOfMemoryError: {OOM_ERROR}")
                return False
            if record.spec.kind == "llm":
                if job.done() and job.exception() is None:
                    chunks = job.result().chunks
                    record.output = chunks[: len(chunks) * update // updates]
                    self._emit(record, "output")
                continue
            current = total * update // updates
            record.logs += progress_line(current, total, self._elapsed(record.started_mono))
            self._emit(record, "logs")
        return True

    def _publish(self, record: PredictionRecord, generated: Generated) -> None:
        """Make the outputs exist (status stays `processing` until `_succeed`)."""
        if record.spec.kind == "llm":
            record.output = generated.chunks
        else:
            urls = []
            for n, (ext, data) in enumerate(generated.files):
                path = f"xezq/{record.id}/out-{n}.{ext}"
                blob = Blob(data, CONTENT_TYPES[ext])
                self.store.put_output(path, blob)
                record.files.append(path)
                if self.config.data_uri_outputs == "always":
                    urls.append(data_uri(blob))
                else:
                    urls.append(f"{DELIVERY}/{path}")
            record.output = urls if record.spec.output == "uri_list" else urls[0]
        record.output_complete = True
        self._emit(record, "output")

    def _succeed(self, record: PredictionRecord, generated: Generated) -> None:
        plan = record.plan
        predict = plan.nominal_run_s
        metrics = {"predict_time": predict, "total_time": plan.nominal_queue_s + predict}
        if record.spec.official:
            metrics.update(generated.units)
        if record.spec.kind == "llm":
            first_token = predict * 0.1
            metrics["time_to_first_token"] = first_token
            metrics["tokens_per_second"] = generated.units["output_token_count"] / max(
                0.001, predict - first_token
            )
            record.logs += (
                f"Generated {int(generated.units['output_token_count'])} tokens in {predict:.2f}s\n"
            )
        self._finish(record, "succeeded", metrics)

    async def close(self) -> None:
        tasks = list(self.runs.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def data_uri(blob: Blob) -> str:
    return f"data:{blob.content_type};base64,{base64.b64encode(blob.data).decode()}"
