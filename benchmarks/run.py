"""`make bench`: every benchmark, one after the other (never in parallel: each is a ratio against
a baseline measured in the same run, on the same 2 cores). Pick some with BENCH="simulator doe".

  simulator  toollife simulate's produce rate / Kafka's ProducerPerformance     (goal >= 0.25)
  ingest     silver ingest rate / the same Spark reading into a noop sink       (goal >= 0.30)
  validate   validation alone: the fast path vs the exact rule engine vs from_json
  doe        DOE effects job vs vectorised pandas and groupby.apply, 20k/200k   (goals in the module)
  models     tool_life / tool_rul champions vs the oracle and the tool_life champion (docs/models.md)
  live       live scorer + ingestion together: Kafka -> gold.tool_life_live latency, live RUL error, alerts
  start      a spark-submit's driver start with the class archive / without it
  dedupe     the silver dedupe of one batch into a 10M-row silver / an empty one (goal <= 1.3)
  batch      one small silver micro-batch: its seconds and Spark jobs, the fixed cost of every batch

ingest and doe run with --floor: they also print the best ratio any design could reach here.
"""

from __future__ import annotations

import importlib
import os
import sys

BENCHMARKS = {
    "simulator": "benchmarks.simulator_vs_producer_perf",
    "ingest": "benchmarks.ingest_vs_noop",
    "validate": "benchmarks.validate_paths",
    "doe": "benchmarks.doe_effects_scaling",
    "models": "benchmarks.model_goals",
    "live": "benchmarks.live_goals",
    "start": "benchmarks.driver_start",
    "dedupe": "benchmarks.dedupe_vs_table_size",
    "batch": "benchmarks.silver_batch_cost",
}
ARGS = {"ingest": ["--floor"], "doe": ["--floor"]}


def main() -> int:
    chosen = os.environ.get("BENCH", " ".join(BENCHMARKS)).split()
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = 0
    for name in chosen:
        args = ARGS.get(name, [])
        print(f"\n===== {name}: python -m {BENCHMARKS[name]} {' '.join(args)}", flush=True)
        failed += bool(importlib.import_module(BENCHMARKS[name]).main(args))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
