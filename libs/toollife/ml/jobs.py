"""What jobs/train_tool_life.py and jobs/score_tool_life.py run (kept here so jobs/ stay thin)."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from toollife.ml import datasets, scoring, tracking, training

log = logging.getLogger("toollife.ml")


def train(spark, config: Mapping[str, Any], models=tracking.MODEL_NAMES) -> dict[str, Any]:
    """Train, log, register and promote; returns the job metrics (each candidate's holdout figures
    beside the oracle and the physics baseline, and the aliases after promotion)."""
    client = tracking.configure(config)
    data = datasets.load_training_data(spark, config)
    results, promotions = training.train_all(client, data, config, only=list(models))
    datasets.record_promotions(spark, config, promotions)
    out: dict[str, Any] = {"tracking_uri": tracking.tracking_uri(config), "versions_read": data.versions,
                           "completed_runs": len(data.runs), "rul_samples": len(data.samples)}
    for name, cands in results.items():
        metric = config["ml"]["promotion_metric"][name]
        out[name] = {
            "champion": tracking.alias_version(client, name, tracking.CHAMPION),
            "challenger": tracking.alias_version(client, name, tracking.CHALLENGER),
            "candidates": {c.kind: {"version": c.version, metric: round(c.metrics[metric], 4),
                                    **{k: round(v, 4) for k, v in c.metrics.items() if k in SUMMARY_METRICS}}
                           for c in cands},
        }
    out["promotions"] = [{k: r[k] for k in ("model_name", "version", "alias", "replaced_version", "decision")}
                         for r in promotions]
    return out


SUMMARY_METRICS = (
    "holdout_rmse_ln_t", "oracle_holdout_rmse_ln_t", "physics_holdout_rmse_ln_t", "ratio_holdout_rmse_ln_t_to_oracle",
    "loto_rmse_ln_t", "physics_loto_rmse_ln_t",
    "holdout_mae_rul_min_at_25", "holdout_mae_rul_min_at_50",
    "tool_life_champion_holdout_mae_rul_min_at_25", "tool_life_champion_holdout_mae_rul_min_at_50",
    "ratio_mae_rul_at_25_to_tool_life_champion", "ratio_mae_rul_at_50_to_tool_life_champion",
    "pd_drop_cutting_speed", "pd_drop_feed", "pd_drop_depth_of_cut",
    "holdout_coverage", "holdout_coverage_at_10", "holdout_coverage_at_25", "holdout_coverage_at_50",
    "holdout_coverage_at_75", "n_holdout",
)


def score(spark, config: Mapping[str, Any], experiments=None) -> dict[str, Any]:
    client = tracking.configure(config)
    return scoring.score(spark, config, client, experiments=experiments)
