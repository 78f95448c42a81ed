"""Upload throughput and gateway memory: multipart uploads of 1, 10 and 50 MiB over loopback.

Starts the real system (as `bench/pipeline.py` does), uploads a valid WAV of each size
`--repeat` times with `POST /api/v2/upload-asset` (time to the 201: streaming to storage plus
the assets service's validation), deletes each asset again, and prints MB/s per size. During
one more 50 MiB upload it resets the gateway process's peak RSS (`/proc/<pid>/clear_refs`) and
reads `VmHWM` afterwards: the growth must stay under 16 MiB, since the gateway never holds the
file. A figure, not a pass/fail test.

Example::

    .venv/bin/python bench/upload.py
    .venv/bin/python bench/upload.py --url http://127.0.0.1:8080 --token "$TOKEN" --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from _system import add_system_arguments, check_system_arguments, running_system

MiB = 1024 * 1024
SIZES_MIB = (1, 10, 50)
TARGET_RSS_GROWTH_MIB = 16.0
# 192 kHz stereo 16-bit PCM: 50 MiB is 68 s of audio, inside the 120 s limit.
RATE, CHANNELS = 192_000, 2
SAMPLE_EVERY_S = 0.005


def wav_file(folder: Path, size: int) -> Path:
    """A valid WAV of exactly `size` bytes (silence), written sparsely."""
    data = size - 44
    block = 2 * CHANNELS
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, CHANNELS, RATE, RATE * block, block, 16)
        + b"data"
        + struct.pack("<I", data)
    )
    path = folder / f"bench-{size}.wav"
    with path.open("wb") as fh:
        fh.write(header)
        fh.truncate(size)
    return path


async def upload(
    http: aiohttp.ClientSession, url: str, token: str, path: Path
) -> tuple[float, int, dict[str, object]]:
    """Seconds to the answer, its status and body; the file streams from disk."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    with path.open("rb") as fh:
        form = aiohttp.FormData()
        form.add_field("file", fh, filename=path.name, content_type="audio/wav")
        async with http.post(f"{url}/api/v2/upload-asset", data=form, headers=headers) as r:
            body = await r.json()
            status = r.status
    return time.perf_counter() - started, status, body


async def delete(http: aiohttp.ClientSession, url: str, token: str, asset_id: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.delete(f"{url}/api/v2/assets/{asset_id}", headers=headers) as r:
        await r.read()


# --------------------------------------------------------------------------- gateway memory


def listening_pid(port: int) -> int | None:
    """The local process listening on TCP `port` (via /proc: Linux, same user or root)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(entry.name)
    return None


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS; False where that is not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def peak_growth_mib(
    pid: int, work: asyncio.Future[tuple[float, int, dict[str, object]]]
) -> tuple[float, str]:
    """Peak RSS growth of `pid` while `work` runs: exact with clear_refs, else sampled."""
    exact = reset_peak(pid)
    baseline = peak = status_kib(pid, "VmRSS")
    while not work.done():
        peak = max(peak, status_kib(pid, "VmRSS"))
        await asyncio.sleep(SAMPLE_EVERY_S)
    await work
    if exact:
        peak = max(peak, status_kib(pid, "VmHWM"))
    return (peak - baseline) / 1024, "VmHWM after clear_refs" if exact else "sampled VmRSS"


# --------------------------------------------------------------------------- run


async def bench(args: argparse.Namespace) -> None:
    async with running_system(args) as system:
        label = "external system" if args.url else "launched by the benchmark"
        rows = []
        with tempfile.TemporaryDirectory(prefix="reelsmith-upload-") as tmp:
            folder = Path(tmp)
            files = {size: wav_file(folder, size * MiB) for size in SIZES_MIB}
            async with aiohttp.ClientSession() as http:
                for size, path in files.items():
                    times = []
                    for _ in range(args.repeat):
                        seconds, status, body = await upload(http, system.url, system.token, path)
                        if status != 201:
                            raise RuntimeError(f"{size} MiB upload answered {status}: {body}")
                        times.append(seconds)
                        await delete(http, system.url, system.token, str(body["asset_id"]))
                    rows.append((size, times))
                    print(f"bench: {size} MiB x {args.repeat} done", flush=True)
                memory = await measure_memory(http, system.url, system.token, files[50])
                over = await refuse_over_limit(http, system.url, system.token, folder)
        report(rows, memory, over, label)


async def measure_memory(
    http: aiohttp.ClientSession, url: str, token: str, path: Path
) -> tuple[float, str] | None:
    port = urlsplit(url).port
    pid = listening_pid(port) if port else None
    if pid is None:
        return None
    work = asyncio.ensure_future(upload(http, url, token, path))
    growth = await peak_growth_mib(pid, work)
    _, status, body = work.result()
    if status == 201:
        await delete(http, url, token, str(body["asset_id"]))
    return growth


async def refuse_over_limit(
    http: aiohttp.ClientSession, url: str, token: str, folder: Path
) -> tuple[float, int]:
    path = wav_file(folder, 50 * MiB + 1)
    seconds, status, _ = await upload(http, url, token, path)
    return seconds, status


def report(
    rows: list[tuple[int, list[float]]],
    memory: tuple[float, str] | None,
    over: tuple[float, int],
    label: str,
) -> None:
    print()
    print(f"upload benchmark ({label}; time to the 201, validation included)")
    print("  size      median      best      MB/s (median)")
    for size, times in rows:
        median = statistics.median(times)
        rate = size * MiB / 1e6 / median
        print(f"  {size:>3} MiB  {median * 1000:7.0f} ms  {min(times) * 1000:6.0f} ms  {rate:9.1f}")
    if memory is None:
        print("  gateway peak RSS growth (50 MiB): unknown (gateway not a local process)")
    else:
        growth, how = memory
        verdict = "meets" if growth < TARGET_RSS_GROWTH_MIB else "above"
        print(
            f"  gateway peak RSS growth (50 MiB): {growth:.1f} MiB "
            f"({how}; target < {TARGET_RSS_GROWTH_MIB:.0f} MiB: {verdict})"
        )
    print(f"  50 MiB + 1 byte: {over[1]} in {over[0] * 1000:.0f} ms")
    print(f"  cpu_count {os.cpu_count()}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="uploads per size (default 3)")
    add_system_arguments(parser)
    args = parser.parse_args()
    check_system_arguments(parser, args)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    try:
        await bench(args)
    except (RuntimeError, TimeoutError, aiohttp.ClientError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        sys.exit(130)
