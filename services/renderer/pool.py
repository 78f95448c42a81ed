"""The process pool clips are encoded in: one process per core, started once, each
dying with the renderer so a killed replica leaves no encoder writing behind it."""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # The parent handles Ctrl-C; workers finish or are cancelled through it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Pay the engine's imports (PyAV, numpy, Pillow) at start-up, not in the first clip.
    import services.renderer.engine  # noqa: F401


def clip_pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent runs an event loop and threads (aiosqlite, nats).
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_die_with_parent,
    )
