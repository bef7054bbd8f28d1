"""Resident memory and CPU time of a process and all its descendants, from /proc (Linux)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int | None) -> Iterator[int]:
    """``pid`` (this process by default) and every process now below it."""
    pending = [pid or os.getpid()]
    while pending:
        current = pending.pop()
        yield current
        pending += _children(current)


def tree_rss_mb(pid: int | None = None) -> float:
    """RSS in MB of ``pid`` (this process by default) and every process below it."""
    return round(sum(_rss_kb(process) for process in _tree(pid)) / 1024, 1)


def _cpu_ticks(pid: int) -> int:
    """The process's own CPU time and that of its children it has reaped (a worker that exited
    would otherwise take its time out of the sum): utime, stime, cutime and cstime, the 12th to
    15th fields after the command's closing parenthesis (proc(5))."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(field) for field in fields[11:15])
    except (OSError, IndexError, ValueError):
        return 0


def tree_cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user and system) ``pid`` and every process now below it have used so far."""
    return sum(_cpu_ticks(process) for process in _tree(pid)) / os.sysconf("SC_CLK_TCK")
