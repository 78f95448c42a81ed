"""Checkpoints of created predictions, so a prediction is paid for once.

Before a create is sent, an intent is recorded under the prediction's key
(`{job}.{stage}.{slot}.{n}`: job, pipeline stage, scene slot, prediction attempt); the id
the create returns is recorded before polling starts. A replica that picks the work up
after a crash finds the id and follows the same prediction; if it finds only the intent
(the crash fell between create and record) it looks for the prediction among the
account's recent ones before creating another.

The bucket is a JetStream key-value bucket, so every replica sees every checkpoint;
entries expire after a day (outputs expire after an hour, jobs end sooner).

Example::

    store = await Checkpoints.open(bus)
    await store.save(key, Checkpoint(model=m, created_at=time.time(), job_attempt=1))
    found = await store.load(key)
"""

from __future__ import annotations

import re

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue
from pydantic import BaseModel, ValidationError

from shared.bus import Bus
from shared.logging import get_logger

log = get_logger(__name__)

BUCKET = "replicate_predictions"
RATE_BUCKET = "replicate_rate"
KEEP_S = 86_400
RATE_KEEP_S = 180
_UNSAFE = re.compile(r"[^A-Za-z0-9_=-]")


class Checkpoint(BaseModel):
    model: str
    created_at: float  # Unix seconds when the create was sent: deadlines count from it
    prediction_id: str | None = None  # None: an intent, the create may not have happened
    job_attempt: int = 1
    seed: int | None = None


def checkpoint_key(job_id: str, stage: str, slot: str, attempt: int) -> str:
    """`job/stage/slot/attempt` as a key-value key (tokens of `[A-Za-z0-9_=-]`)."""
    parts = (job_id, stage, slot, str(attempt))
    return ".".join(_UNSAFE.sub("_", part) or "_" for part in parts)


class Checkpoints:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, bus: Bus) -> Checkpoints:
        return cls(await bus.key_value(BUCKET, ttl_s=KEEP_S))

    async def load(self, key: str) -> Checkpoint | None:
        try:
            entry = await self.kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        if not entry.value:
            return None
        try:
            return Checkpoint.model_validate_json(entry.value)
        except ValidationError:
            log.warning("replicate.checkpoint_unreadable", extra={"key": key})
            return None

    async def load_revision(self, key: str) -> tuple[Checkpoint | None, int | None]:
        """The checkpoint and its revision (None, None when there is none)."""
        try:
            entry = await self.kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None, None
        if not entry.value:
            return None, entry.revision
        try:
            return Checkpoint.model_validate_json(entry.value), entry.revision
        except ValidationError:
            log.warning("replicate.checkpoint_unreadable", extra={"key": key})
            return None, entry.revision

    async def claim(self, key: str, checkpoint: Checkpoint, revision: int | None) -> bool:
        """Write `checkpoint` only if the key is still as last read (absent when `revision`
        is None): of two replicas racing for one prediction, exactly one wins."""
        value = checkpoint.model_dump_json().encode()
        try:
            if revision is None:
                await self.kv.create(key, value)
            else:
                await self.kv.update(key, value, last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        return True

    async def save(self, key: str, checkpoint: Checkpoint) -> None:
        await self.kv.put(key, checkpoint.model_dump_json().encode())


CheckpointErrors = (nats.errors.Error, TimeoutError)
