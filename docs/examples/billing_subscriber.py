"""Store every Reelsmith charge exactly once."""

import asyncio
import json
import os
import signal

import nats
from nats.js.api import AckPolicy, ConsumerConfig


def store(charge: dict) -> None:
    print(f"{charge['model']}: {charge['units']} {charge['unit']} = ${charge['amount_usd']}")


async def main() -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)

    nc = await nats.connect(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    js = nc.jetstream()
    await js.add_consumer(  # create-or-update: safe on every start
        "BILLING",
        ConsumerConfig(
            durable_name="billing-team",
            filter_subject="billing.cost.recorded",
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30,
        ),
    )
    sub = await js.pull_subscribe_bind(durable="billing-team", stream="BILLING")
    seen: set[str] = set()  # in production: a unique key on event id, written with the charge
    while not stop.is_set():
        try:
            messages = await sub.fetch(100, timeout=2)
        except TimeoutError:  # nats.errors.TimeoutError, and the plain one fetch() also raises
            continue
        for msg in messages:
            event = json.loads(msg.data)
            if event["id"] not in seen:
                store(event["data"])
                seen.add(event["id"])
            await msg.ack()  # after storing: a crash before this redelivers, never loses
    # Unsubscribe first: drain() waits on the pull subscription's queue, which never empties.
    await sub.unsubscribe()
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
