"""Read back what JetStream stored: every message of a stream, for duplicate and leak checks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import nats
import nats.js.errors


@dataclass(frozen=True)
class Stored:
    stream: str
    seq: int
    subject: str
    data: bytes
    headers: dict[str, str]


async def stream_messages(nats_url: str, stream: str) -> list[Stored]:
    """Every message still in `stream`, in order (empty if the stream does not exist)."""
    nc = await asyncio.wait_for(nats.connect(nats_url), 10)
    try:
        js = nc.jetstream(timeout=5)
        try:
            info = await js.stream_info(stream)
        except nats.js.errors.NotFoundError:
            return []
        found: list[Stored] = []
        if not info.state.messages:
            return found
        for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
            try:
                raw = await js.get_msg(stream, seq)
            except nats.js.errors.NotFoundError:
                continue
            found.append(Stored(stream, seq, raw.subject, raw.data or b"", dict(raw.headers or {})))
        return found
    finally:
        await nc.close()
