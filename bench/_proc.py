"""CPU time of a process from `/proc` (Linux), for figures that do not depend on how busy the
machine is: a server's CPU microseconds per request stays put when other work slows its
throughput down.

Example::

    pid = listening_pid(8080)
    before = cpu_seconds(pid)
    ...  # load it
    used = cpu_seconds(pid) - before
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LISTEN = "0A"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, proc(5)).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size of the process."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no VmRSS for pid {pid}")


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("net/tcp", "net/tcp6"):
        path = PROC / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def listening_pid(port: int) -> int:
    """The process holding a listening TCP socket on `port` (needs permission to read the
    other processes' file descriptors: the same user, or root)."""
    inodes = _listening_inodes(port)
    if not inodes:
        raise LookupError(f"nothing listens on port {port}")
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(entry.name)
        except (PermissionError, FileNotFoundError, ProcessLookupError):
            continue
    raise LookupError(f"no readable process holds port {port}")
