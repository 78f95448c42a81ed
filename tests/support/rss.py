"""Peak resident memory of a process and its children, from /proc (Linux)."""

from __future__ import annotations

from pathlib import Path


def peak_rss_mib(pid: int) -> float | None:
    """`VmHWM` (the high-water mark of resident memory) of `pid` in MiB; None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def children(pid: int) -> list[int]:
    """Direct children of `pid` (every thread's list, so none is missed)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(set(found))


def tree_peak_rss_mib(pid: int) -> dict[str, float | None]:
    """The process's own peak and the largest peak among its (live) children."""
    own = peak_rss_mib(pid)
    kids = [p for p in (peak_rss_mib(c) for c in children(pid)) if p is not None]
    return {"process": own, "largest_child": max(kids) if kids else None}
