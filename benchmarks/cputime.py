"""CPU seconds of the Spark JVM and every process it started (Python workers), from /proc.

On a shared 2-core machine wall times swing with other load; the CPU a step consumed is much
steadier, so the benchmarks report it next to wall time (Linux only; None elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()      # the command name may contain spaces
    ticks = sum(int(v) for v in fields[11:15])        # utime, stime, cutime, cstime
    return int(fields[1]), ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float | None:
    """CPU seconds used so far by ``root`` and all its live descendants (and reaped children)."""
    if not Path("/proc").is_dir() or _stat(root) is None:
        return None
    parents: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                parents.setdefault(st[0], []).append(int(entry))
                cpu[int(entry)] = st[1]
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += cpu.get(pid, 0.0)
        stack.extend(parents.get(pid, []))
    return total


def spark_cpu_seconds(spark) -> float | None:
    """CPU seconds of this session's JVM (local mode: driver and executors) and its Python workers."""
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    return tree_cpu_seconds(proc.pid) if proc is not None else None
