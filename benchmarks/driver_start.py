"""A new driver JVM with the class archive (toollife.runtime.class_archive) against one without it.

What every spark-submit pays before its work: `toollife submit jobs/init_lakehouse.py` (a real job:
conf, session, Delta, the lakehouse tables created, meta.job_runs) into a fresh lakehouse, run
alternately with and without `spark.class_archive_path`, so both see the same machine load.
Reports wall and CPU seconds (the whole process tree, reaped) and the ratio archive / none.

  python -m benchmarks.driver_start [--pairs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from toollife.runtime import class_archive
from toollife.config import load_config

REPO = Path(__file__).resolve().parents[1]


def one_run(with_archive: bool, scratch: Path, n: int) -> tuple[float, float]:
    env = dict(os.environ,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               TOOLLIFE__LAKEHOUSE__ROOT=str(scratch / f"lakehouse-{n}"),
               TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT=str(scratch / f"checkpoints-{n}"))
    if not with_archive:
        env["TOOLLIFE__SPARK__CLASS_ARCHIVE_PATH"] = "null"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run([str(Path(sys.executable).parent / "toollife"), "submit", str(REPO / "jobs" / "init_lakehouse.py")],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        raise SystemExit(f"init_lakehouse failed:\n{(run.stdout + run.stderr)[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args(argv)
    archive = class_archive.archive_path(load_config())
    if archive is None or not archive.is_file():
        print(f"no class archive at {archive}: run `make setup` first", file=sys.stderr)
        return 2
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="toollife-driver-start-") as scratch:
        for n in range(args.pairs):
            for with_archive in (n % 2 == 0, n % 2 == 1):       # alternate which goes first
                wall, cpu = one_run(with_archive, Path(scratch), len(results[True]) + len(results[False]))
                results[with_archive].append((wall, cpu))
                print(f"  {'archive' if with_archive else 'none   '}  wall {wall:5.1f} s  cpu {cpu:5.1f} s", flush=True)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in results.items()}
    print(f"spark-submit jobs/init_lakehouse.py, median of {args.pairs}: "
          f"wall {med[True][0]:.1f} s with the archive vs {med[False][0]:.1f} s without (ratio {med[True][0] / med[False][0]:.2f}); "
          f"cpu {med[True][1]:.1f} vs {med[False][1]:.1f} s (ratio {med[True][1] / med[False][1]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
