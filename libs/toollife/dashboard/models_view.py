"""What the Models page draws: remaining life over time of the tools cutting now, and the
champion's holdout plots that training logged to MLflow.

The history comes from gold.tool_life_live's Change Data Feed: the live scorer MERGEs one row per
run, so each commit's post-image is the prediction of one micro-batch. The holdout plots are the
PNGs ``toollife.ml.training`` logs under ``plots/`` of each candidate's run; nothing is recomputed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from toollife.dashboard.data import RUN_KEY

HISTORY_COLUMNS = [*RUN_KEY, "status", "last_reading_ts", "minutes_cut", "remaining_life_min", "predicted_life_min",
                   "predicted_life_lower_min", "predicted_life_upper_min", "model_version"]
# the champion's pictures a maintenance planner reads, in this order (training logs more)
HOLDOUT_PLOTS = ("predicted_vs_actual.png", "rul_error_by_fraction.png", "residuals.png")


def remaining_life_history(changes: pd.DataFrame, cutting: pd.DataFrame) -> pd.DataFrame:
    """Per run cutting now (``cutting``: gold.tool_life_live's running rows), every prediction the
    scorer stored for it, oldest first, with the remaining life's interval (the predicted life's
    interval minus the minutes cut, at least 0). A batch re-scored for the same newest reading
    counts once (its last commit)."""
    keys = cutting[RUN_KEY].drop_duplicates()
    rows = changes.merge(keys, on=RUN_KEY, how="inner")
    rows = rows[rows["remaining_life_min"].notna()]
    if "_commit_version" in rows.columns:
        rows = rows.sort_values("_commit_version")
    rows = rows.drop_duplicates([*RUN_KEY, "last_reading_ts"], keep="last")
    out = rows.assign(
        remaining_lower_min=np.maximum(rows["predicted_life_lower_min"] - rows["minutes_cut"], 0.0),
        remaining_upper_min=np.maximum(rows["predicted_life_upper_min"] - rows["minutes_cut"], 0.0),
        tool=rows["machine_id"] + "/" + rows["tool_id"] + " run " + rows["run_id"].astype(str))
    cols = [*RUN_KEY, "tool", "last_reading_ts", "minutes_cut", "remaining_life_min", "remaining_lower_min",
            "remaining_upper_min", "model_version"]
    return out[cols].sort_values([*RUN_KEY, "last_reading_ts"]).reset_index(drop=True)


def remaining_life_figure(history: pd.DataFrame, thresholds_min: Iterable[float]) -> Figure:
    """Remaining life (min) against the newest reading's time, one line and interval band per tool,
    the alert thresholds as dashed lines."""
    fig = Figure(figsize=(8, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for tool, g in history.groupby("tool", sort=True):
        line, = ax.plot(g["last_reading_ts"], g["remaining_life_min"], marker="o", ms=3, label=tool)
        ax.fill_between(g["last_reading_ts"], g["remaining_lower_min"], g["remaining_upper_min"],
                        color=line.get_color(), alpha=0.18, linewidth=0)
    for k, threshold in enumerate(sorted({float(t) for t in thresholds_min})):
        ax.axhline(threshold, color="tab:red", ls="--", lw=1, label="alert threshold" if k == 0 else None)
    ax.set_xlabel("newest reading")
    ax.set_ylabel("remaining life (min)")
    ax.set_ylim(bottom=0)
    ax.set_title("Remaining useful life of the tools cutting now (band: prediction interval)")
    ax.legend(fontsize=8, loc="upper right")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def champion_plots(config: Mapping[str, Any], model_name: str, dest: Path) -> tuple[str | None, list[Path]]:
    """(version, PNG files) of the champion of ``model_name``: its holdout plots, downloaded from
    the MLflow artifact store of conf (local or the bucket) into ``dest``. (None, []) when there
    is no champion."""
    import mlflow

    from toollife.ml import tracking

    uri = tracking.tracking_uri(config)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None, []      # no store yet: do not create one from a dashboard
    client = tracking.configure(config)
    version = tracking.alias_version(client, model_name, tracking.CHAMPION)
    if version is None:
        return None, []
    run_id = client.get_model_version(model_name, version).run_id
    target = Path(dest) / run_id
    if not (target / "plots").is_dir():      # a run's artifacts never change: download once
        target.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="plots", dst_path=str(target))
    found = [target / "plots" / name for name in HOLDOUT_PLOTS]
    return version, [p for p in found if p.is_file()]
