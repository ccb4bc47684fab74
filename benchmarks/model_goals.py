"""The model goals of docs/models.md, measured on simulator data (accuracy ratios, not timings).

    python -m benchmarks.model_goals [--seeds 7,11,23,31,47 | --seed 7] [--machines 4 --tools 3 --replicates 2]
                                     [--search-time 15] [--verbose]

Per seed, in a lakehouse of its own: simulates (the last run of each machine left cutting), lands
silver and gold.experiment_runs without Kafka, writes meta.simulation_runs, trains both models into
a fresh MLflow store and scores. Each goal is a ratio against a baseline on the same holdout of
unseen design points, over the seeds:

  tool_life champion: holdout RMSE of ln T / the oracle's                    (every seed <= 1.15)
  tool_rul champion:  remaining-life MAE at 50 % / the tool_life champion's   (mean <= 0.30, worst <= 0.40)
                      remaining-life MAE at 25 % / the tool_life champion's   (mean <= 0.50, worst <= 0.60)
                      coverage of its 80 % interval at 25 % and 50 % of life  (0.75-0.85 on every seed)
  tool_life partial dependence of life falls in speed, feed and depth        (pd_drop_* > 0)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

GOALS = [("tool_life", "ratio_holdout_rmse_ln_t_to_oracle", 1.15),
         ("tool_rul", "ratio_mae_rul_at_50_to_tool_life_champion", 0.30),
         ("tool_rul", "ratio_mae_rul_at_25_to_tool_life_champion", 0.50)]
# over the seeds: (model, metric, bound on the mean, bound on the worst seed)
SEED_GOALS = [("tool_life", "ratio_holdout_rmse_ln_t_to_oracle", None, 1.15),
              ("tool_rul", "ratio_mae_rul_at_50_to_tool_life_champion", 0.30, 0.40),
              ("tool_rul", "ratio_mae_rul_at_25_to_tool_life_champion", 0.50, 0.60)]
COVERAGE = ("tool_rul", ("holdout_coverage_at_25", "holdout_coverage_at_50"), (0.75, 0.85))


def _champion_figures(trained, name):
    champion = trained[name]["champion"]
    return champion, next(c for c in trained[name]["candidates"].values() if c["version"] == champion)


def one_seed(spark, args, seed: int) -> dict:
    """Simulate, land, train and score one seed in its own lakehouse; the champions' figures."""
    from toollife.lakehouse import tables
    from toollife.config import load_config
    from toollife.gold import experiment_runs as er
    from toollife.gold.simulated import silver_frames
    from toollife.ingestion.schemas import SOURCES
    from toollife.ml import jobs
    from toollife.simulation import manifest, simulate

    root = Path(tempfile.mkdtemp(prefix=f"toollife-model-goals-{seed}-"))
    config = load_config(overrides={
        "lakehouse": {"root": str(root / "tables"), "checkpoint_root": str(root / "checkpoints")},
        "ml": {"store_dir": str(root / "mlflow"), "search_time_s": args.search_time},
        "spark": {"extra_conf": {"spark.ui.enabled": "false"}}})
    sim = simulate(overrides={"seed": seed, "machines": args.machines, "tools": args.tools,
                              "replicates": args.replicates, "in_progress": {"per_machine": 1}})
    for key, df in silver_frames(spark, sim).items():
        tables.overwrite(df, config, SOURCES[key].silver)
    te, sr = er.read_silver(spark, config)
    er.merge_runs(spark, config, er.build_experiment_runs(te, sr, config))
    manifest.write_table(config, manifest.build_manifest(sim, target="benchmark"))
    trained = jobs.train(spark, config)
    scored = jobs.score(spark, config)
    if args.verbose:
        print(json.dumps({"simulation": sim.simulation_id, "store": str(root), **trained, "scoring": scored},
                         indent=1, default=str))
    return {name: _champion_figures(trained, name) for name in ("tool_life", "tool_rul")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=4)
    parser.add_argument("--tools", type=int, default=3)
    parser.add_argument("--replicates", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None, help="one seed (the goals of one run)")
    parser.add_argument("--seeds", default="7,11,23,31,47", help="comma-separated seeds: goals on the mean and worst")
    parser.add_argument("--search-time", type=float, default=15.0, help="ml.search_time_s per candidate")
    parser.add_argument("--verbose", action="store_true", help="print each training's job metrics")
    args = parser.parse_args(argv)

    from toollife.config import load_config
    from toollife.runtime.session import get_spark

    seeds = [args.seed] if args.seed is not None else [int(s) for s in args.seeds.split(",") if s.strip()]
    spark = get_spark(load_config(overrides={"spark": {"extra_conf": {"spark.ui.enabled": "false"}}}),
                      app_name="toollife-bench-models")
    figures = {seed: one_seed(spark, args, seed) for seed in seeds}
    spark.stop()

    failed = 0
    n_fractions = len(load_config()["ml"]["rul_fractions"])
    metrics = [(n, m) for n, m, *_ in SEED_GOALS] + [(COVERAGE[0], m) for m in COVERAGE[1]]
    print("\nper seed (champions on the holdout of unseen design points; coverage of the "
          "tool_rul interval at 25 % / 50 % of life cut):")
    print("  seed  " + "  ".join(f"{n}:{m}" for n, m in metrics))
    for seed in seeds:
        print(f"  {seed:4d}  " + "  ".join(f"{figures[seed][n][1].get(m, float('nan')):.3f}" for n, m in metrics))
    for name, metric, mean_bound, worst_bound in SEED_GOALS:
        values = np.array([figures[s][name][1][metric] for s in seeds])
        ok = (mean_bound is None or values.mean() <= mean_bound) and values.max() <= worst_bound
        failed += not ok
        print(f"  {name} {metric}: mean {values.mean():.3f} (goal {mean_bound or '-'}), worst {values.max():.3f} "
              f"(goal <= {worst_bound})  {'ok' if ok else 'MISSED'}")
    low, high = COVERAGE[2]
    for metric in COVERAGE[1]:
        values = np.array([figures[s][COVERAGE[0]][1].get(metric, np.nan) for s in seeds])
        ok = bool(np.all((values >= low) & (values <= high)))
        failed += not ok
        # a holdout of n samples per fraction measures an exact 80 % with a binomial standard error
        n = np.array([figures[s][COVERAGE[0]][1]["n_holdout"] for s in seeds]) / n_fractions
        print(f"  {COVERAGE[0]} {metric}: {', '.join(f'{v:.2f}' for v in values)} (goal {low}-{high} on every seed)"
              f"  {'ok' if ok else 'MISSED'}; pooled {np.average(values, weights=n):.3f}, "
              f"binomial s.e. of one seed {np.sqrt(0.8 * 0.2 / n.mean()):.3f} (n = {n.mean():.0f} per fraction)")
    for seed in seeds:
        _, life = figures[seed]["tool_life"]
        drops = {s: life[f"pd_drop_{s}"] for s in ("cutting_speed", "feed", "depth_of_cut")}
        falls = all(v > 0 for v in drops.values())
        failed += not falls
        print(f"  seed {seed} tool_life partial dependence falls in speed, feed, depth: {falls} "
              + ", ".join(f"{k} {v:+.3f}" for k, v in drops.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
