"""Run the fake standalone:

    python -m tools.fake_replicate --port 8123 --token r8_dev --latency-scale 0.05

It prints its base URL on the first line of stdout, then serves until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from tools.fake_replicate.config import FakeConfig, Faults
from tools.fake_replicate.fake import FakeReplicate


def parse_args(argv: list[str] | None = None) -> tuple[FakeConfig, str, int]:
    parser = argparse.ArgumentParser(prog="python -m tools.fake_replicate", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123, help="0 picks a free port")
    parser.add_argument("--token", default="r8_dev")
    parser.add_argument("--latency-scale", type=float, default=0.05)
    parser.add_argument("--output-ttl", type=float, default=3600.0, help="seconds")
    parser.add_argument("--resolution-divisor", type=int, default=1)
    parser.add_argument("--max-wait-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--webhook-secret", default=None)
    parser.add_argument("--faults", default="{}", help='JSON, e.g. {"get_429_fraction": 0.1}')
    args = parser.parse_args(argv)
    fields: dict[str, object] = {
        "token": args.token,
        "latency_scale": args.latency_scale,
        "output_ttl_s": args.output_ttl,
        "resolution_divisor": args.resolution_divisor,
        "max_wait_scale": args.max_wait_scale,
        "seed": args.seed,
        "faults": Faults.model_validate(json.loads(args.faults)),
    }
    if args.webhook_secret:
        fields["webhook_secret"] = args.webhook_secret
    return FakeConfig.model_validate(fields), args.host, args.port


async def main(argv: list[str] | None = None) -> None:
    config, host, port = parse_args(argv)
    fake = FakeReplicate(config)
    print(await fake.start(host, port), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
