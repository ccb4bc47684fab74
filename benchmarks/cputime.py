"""CPU seconds and peak memory of the Spark JVM and every process it started (Python workers), from /proc.

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


# --------------------------------------------------------------------------- peak memory
def descendants(root: int) -> list[int]:
    """Live descendants of ``root`` (not ``root`` itself)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                parents.setdefault(st[0], []).append(int(entry))
    out, stack = [], list(parents.get(root, []))
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(parents.get(pid, []))
    return out


def _status_kb(pid: int, *keys: str) -> dict[str, int]:
    """Fields of /proc/<pid>/status in kB (those present; empty once the process is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name in keys:
            out[name] = int(value.split()[0])
    return out


def reset_peak_rss(pid: int) -> bool:
    """Reset the kernel's peak RSS (VmHWM) of ``pid`` to its current RSS (Linux >= 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _is_python(pid: int) -> bool:
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    return b"python" in argv0.rsplit(b"/", 1)[-1]


class PeakMemory:
    """Peak resident memory of a Spark JVM and of the Python processes it started (the daemon and
    the workers) while a block runs, from /proc.

    The JVM's figure is the kernel's own high-water mark (VmHWM, reset on entry), so nothing is
    missed between samples. Python workers come and go (one per task slot, reused, ended when
    idle), so a thread reads every descendant's VmHWM every ``interval`` seconds and keeps the
    largest per process; VmHWM only grows, so a worker that has finished growing is read exactly.
    The sum of the workers' VmRSS at each sample gives their largest footprint at one time.
    The sampling runs in this process, which is not part of the JVM's tree: its CPU is not
    counted by :func:`tree_cpu_seconds` of the JVM.
    """

    def __init__(self, root: int | None, interval: float = 0.25):
        self.root, self.interval = root, interval
        self.worker_peak_kb: dict[int, int] = {}
        self.workers_sum_kb = 0
        self.jvm_peak_kb = 0
        self._python: set[int] = set()

    @classmethod
    def of_spark(cls, spark, interval: float = 0.25) -> "PeakMemory":
        proc = getattr(spark.sparkContext._gateway, "proc", None)
        return cls(proc.pid if proc is not None and Path("/proc").is_dir() else None, interval)

    def _sample(self) -> None:
        total = 0
        for pid in descendants(self.root):
            if pid not in self._python and not _is_python(pid):
                continue          # e.g. a short-lived command the JVM forked: it starts with the JVM's RSS
            self._python.add(pid)
            st = _status_kb(pid, "VmHWM", "VmRSS")
            if st:
                self.worker_peak_kb[pid] = max(self.worker_peak_kb.get(pid, 0), st.get("VmHWM", 0))
                total += st.get("VmRSS", 0)
        self.workers_sum_kb = max(self.workers_sum_kb, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "PeakMemory":
        import threading

        if self.root is None:
            return self
        for pid in [self.root, *descendants(self.root)]:
            reset_peak_rss(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        if self.root is None:
            return False
        self._stop.set()
        self._thread.join()
        self._sample()
        self.jvm_peak_kb = _status_kb(self.root, "VmHWM").get("VmHWM", 0)
        return False

    def result(self) -> dict[str, float]:
        """MB: ``jvm`` (the driver JVM's peak RSS), ``python_worker`` (the largest peak RSS of
        one Python process), ``python_workers_sum`` (the largest sum over them at one sample)."""
        mb = 1024.0
        return {"jvm": self.jvm_peak_kb / mb,
                "python_worker": max(self.worker_peak_kb.values(), default=0) / mb,
                "python_workers_sum": self.workers_sum_kb / mb,
                "python_processes": len(self.worker_peak_kb)}
