"""The model goals of docs/models.md, measured on simulator data (accuracy ratios, not timings).

    python -m benchmarks.model_goals [--machines 4 --tools 3 --replicates 2] [--search-time 15]

Simulates (seeded; the last run of each machine left cutting), lands silver and
gold.experiment_runs without Kafka, writes meta.simulation_runs, then trains both models into a
fresh MLflow store and scores. Each goal is a ratio against a baseline on the same holdout:

  tool_life champion: holdout RMSE of ln T / the oracle's                      (goal <= 1.15)
  tool_rul champion:  remaining-life MAE at 50 % / the tool_life champion's     (goal <= 0.30)
                      remaining-life MAE at 25 % / the tool_life champion's     (goal <= 0.50)
  partial dependence of life falls in speed, feed and depth                     (pd_drop_* > 0)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

GOALS = [("tool_life", "ratio_holdout_rmse_ln_t_to_oracle", 1.15),
         ("tool_rul", "ratio_mae_rul_at_50_to_tool_life_champion", 0.30),
         ("tool_rul", "ratio_mae_rul_at_25_to_tool_life_champion", 0.50)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=4)
    parser.add_argument("--tools", type=int, default=3)
    parser.add_argument("--replicates", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--search-time", type=float, default=15.0, help="ml.search_time_s per candidate")
    args = parser.parse_args(argv)

    from toollife.lakehouse import tables
    from toollife.config import load_config
    from toollife.gold import experiment_runs as er
    from toollife.gold.simulated import silver_frames
    from toollife.ingestion.schemas import SOURCES
    from toollife.ml import jobs
    from toollife.runtime.session import get_spark
    from toollife.simulation import manifest, simulate

    root = Path(tempfile.mkdtemp(prefix="toollife-model-goals-"))
    config = load_config(overrides={
        "lakehouse": {"root": str(root / "tables"), "checkpoint_root": str(root / "checkpoints")},
        "ml": {"store_dir": str(root / "mlflow"), "search_time_s": args.search_time},
        "spark": {"extra_conf": {"spark.ui.enabled": "false"}}})
    spark = get_spark(config, app_name="toollife-bench-models")
    sim = simulate(overrides={"seed": args.seed, "machines": args.machines, "tools": args.tools,
                              "replicates": args.replicates, "in_progress": {"per_machine": 1}})
    for key, df in silver_frames(spark, sim).items():
        tables.overwrite(df, config, SOURCES[key].silver)
    te, sr = er.read_silver(spark, config)
    er.merge_runs(spark, config, er.build_experiment_runs(te, sr, config))
    manifest.write_table(config, manifest.build_manifest(sim, target="benchmark"))

    trained = jobs.train(spark, config)
    scored = jobs.score(spark, config)
    print(json.dumps({"simulation": sim.simulation_id, "store": str(root), **trained, "scoring": scored},
                     indent=1, default=str))
    failed = 0
    print("\ngoals (champion figures on the holdout of unseen design points):")
    for name, metric, bound in GOALS:
        champion = trained[name]["champion"]
        figures = next(c for c in trained[name]["candidates"].values() if c["version"] == champion)
        value = figures[metric]
        failed += value > bound
        print(f"  {name} v{champion} {metric} = {value:.3f}  (goal <= {bound})  {'ok' if value <= bound else 'MISSED'}")
    for name in ("tool_life", "tool_rul"):
        champion = trained[name]["champion"]
        figures = next(c for c in trained[name]["candidates"].values() if c["version"] == champion)
        drops = {s: figures[f"pd_drop_{s}"] for s in ("cutting_speed", "feed", "depth_of_cut")}
        falls = all(v > 0 for v in drops.values())
        failed += not falls
        print(f"  {name} partial dependence falls in speed, feed, depth: {falls} "
              + ", ".join(f"{k} {v:+.3f}" for k, v in drops.items()))
    spark.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
