"""Which process of the launched system spends the CPU, and on what.

`service_processes` finds the launcher's children (nats-server and the five services) from
the gateway's listening port; `CpuMeter` reads their CPU seconds from `/proc` around a run
(a figure that other load on the machine moves much less than wall time); `PySpy` records
a process with py-spy in raw (collapsed stack) format while the run goes on, and
`flame_summary` turns such a file into its top self and inclusive frames.

Example::

    procs = service_processes(8080)                # {"gateway": 4242, "nats": 4240, ...}
    meter = CpuMeter(procs)
    async with PySpy(procs["gateway"], Path("gateway.txt")):
        ...                                        # the run
    used = meter.used()                            # CPU seconds per process
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from _proc import PROC, cpu_seconds, listening_pid

PY_SPY = Path(sys.executable).parent / "py-spy"
PY_SPY_STOP_S = 30.0
PLUMBING = (
    *("(asyncio/", "(threading.py)", "(futures/thread.py)", "(contextlib.py)"),
    *("<frozen runpy>", "<module>", "run_service ("),
)


def _parent(pid: int) -> int:
    return int((PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])


def _children(pid: int) -> list[int]:
    found = []
    for task in (PROC / str(pid) / "task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _name(pid: int) -> str:
    argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    words = [a.decode(errors="replace") for a in argv if a]
    for word in words:
        if word.startswith("services."):
            return word.removeprefix("services.")
    return "nats" if words and Path(words[0]).name == "nats-server" else Path(words[0]).name


def service_processes(gateway_port: int) -> dict[str, int]:
    """The launcher's children by name (`gateway`, `storyboard`, ..., `nats`; a second
    storyboard worker is `storyboard-2`), found from the gateway's listening port; plus this
    benchmark process as `bench` (the load generator)."""
    launcher = _parent(listening_pid(gateway_port))
    found: dict[str, int] = {}
    for pid in sorted(_children(launcher)):  # started in order: `storyboard` before its replicas
        name = _name(pid)
        copies = sum(1 for known in found if known == name or known.startswith(f"{name}-"))
        found[f"{name}-{copies + 1}" if copies else name] = pid
    found["bench"] = _self_pid()
    return found


def _self_pid() -> int:
    return int((PROC / "self").resolve().name)


class CpuMeter:
    """CPU seconds each process used since the meter was made."""

    def __init__(self, procs: dict[str, int]) -> None:
        self.procs = procs
        self.start = {name: cpu_seconds(pid) for name, pid in procs.items()}

    def used(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) - self.start[name] for name, pid in self.procs.items()}


def print_cpu(used: dict[str, float], wall_s: float, jobs: int) -> None:
    print()
    print(f"CPU per process during the run ({wall_s:.2f} s wall, {jobs} jobs)")
    print(f"  {'process':14} {'cpu s':>7} {'cores':>6} {'ms/job':>7}")
    for name, seconds in sorted(used.items(), key=lambda item: -item[1]):
        cores = seconds / wall_s if wall_s > 0 else 0.0
        print(f"  {name:14} {seconds:7.2f} {cores:6.2f} {1000 * seconds / max(jobs, 1):7.2f}")
    replicated = Counter(
        name.rsplit("-", 1)[0] for name in used if name.rsplit("-", 1)[-1].isdigit()
    )
    for service in sorted(replicated):
        seconds = sum(v for k, v in used.items() if k == service or k.startswith(f"{service}-"))
        cores = seconds / wall_s if wall_s > 0 else 0.0
        label = f"{service} x{replicated[service] + 1}"
        print(f"  {label:14} {seconds:7.2f} {cores:6.2f} {1000 * seconds / max(jobs, 1):7.2f}")
    total = sum(used.values())
    print(f"  {'all':14} {total:7.2f} {total / wall_s if wall_s else 0.0:6.2f}")


class PySpy:
    """`py-spy record --gil --format raw` of one process while the block runs (stopped with
    SIGINT, on which py-spy writes its file)."""

    def __init__(self, pid: int, output: Path, rate: int = 100) -> None:
        self.argv = [str(PY_SPY), "record", "--pid", str(pid), "--rate", str(rate)]
        # Only the thread holding the GIL: on a busy machine, threads woken from a wait
        # (the executor's, aiosqlite's) sit runnable in the kernel's queue and py-spy would
        # count them as busy. Native code that drops the GIL (JPEG encoding, a SQLite
        # statement) is missed, which the per-process CPU figures bound: they matched.
        self.argv += ["--gil", "--format", "raw", "--nolineno", "--output", str(output)]
        self.output = output
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> PySpy:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(PY_SPY_STOP_S):
                _, stderr = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            return
        if not self.output.exists():
            print(f"bench: py-spy wrote nothing: {stderr.decode()[-300:]}", file=sys.stderr)


@dataclass(frozen=True)
class Flame:
    samples: int
    self_counts: Counter[str]
    inclusive: Counter[str]


def _frame(raw: str) -> str:
    """`draw (shared/creative/layers.py)` -> `draw (creative/layers.py)`: py-spy's frame
    with the file's last two path parts."""
    function, _, where = raw.partition(" (")
    where = where.rstrip(")")
    parts = where.split("/")
    return f"{function} ({'/'.join(parts[-2:])})" if where else function


def flame_summary(path: Path) -> Flame:
    """Samples, and per frame the samples it is the leaf of (self) and is anywhere in
    (inclusive, once per stack), from a py-spy raw file (`frame;frame;... count` lines)."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")]
        samples += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return Flame(samples, self_counts, inclusive)


def _ours(frame: str) -> bool:
    """Not the event loop's, a thread's or the interpreter's start-up frames, which are
    in (nearly) every stack and say nothing about where the time goes."""
    return not any(part in frame for part in PLUMBING)


def print_flame(name: str, flame: Flame, rate: int, top: int = 12) -> None:
    seconds = flame.samples / rate
    print()
    print(f"py-spy: {name}, {flame.samples} samples with the GIL ({seconds:.1f} s at {rate} Hz)")
    inclusive = Counter({frame: n for frame, n in flame.inclusive.items() if _ours(frame)})
    for title, counts in (("self", flame.self_counts), ("inclusive", inclusive)):
        print(f"  top {title}:")
        for frame, count in counts.most_common(top):
            print(f"    {100 * count / max(flame.samples, 1):5.1f}%  {frame}")
