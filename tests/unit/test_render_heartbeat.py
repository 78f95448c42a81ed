"""Signing and QC report no progress of their own: the renderer says it is alive while
they run, so the stuck-job reaper does not take a slow check for a hung render."""

from __future__ import annotations

import asyncio

import pytest

from services.renderer import rendering


async def test_alive_is_said_until_the_block_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendering, "ALIVE_EVERY_S", 0.01)
    beats = 0
    three = asyncio.Event()

    async def alive() -> None:
        nonlocal beats
        beats += 1
        if beats == 3:
            three.set()

    async with rendering._heartbeat(alive):
        # A step that outlasts several heartbeats (QC of a long file on a busy machine).
        await asyncio.wait_for(three.wait(), 5)
    assert beats >= 3
    # The heartbeat ended with the block: nothing is left to say "alive" later.
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "render-alive"]


async def test_a_failing_step_still_stops_the_heartbeat() -> None:
    beat = asyncio.Event()

    async def alive() -> None:
        beat.set()

    with pytest.raises(RuntimeError):
        async with rendering._heartbeat(alive):
            await asyncio.wait_for(beat.wait(), 5)
            raise RuntimeError("QC crashed")
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "render-alive"]
