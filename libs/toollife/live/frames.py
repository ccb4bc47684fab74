"""The live scorer's logic, pure pandas/numpy (no Spark, no MLflow, no Kafka).

A micro-batch hands over the features of the runs that received readings (computed by the same
:func:`toollife.ml.features.features_now` as training's samples); here they become predictions,
the rows of ``gold.tool_life_live`` and the alerts that are due. Everything that names an alert
is a function of the run and the threshold only, so a re-run batch or a restarted scorer raises
the same alert with the same id, never a second one.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from toollife.ml import features as feat
from toollife.ml.serving import Serving

RUNNING, COMPLETED, ABORTED = "running", "completed", "aborted"


def incomplete_reason(frame: pd.DataFrame, columns: Sequence[str], min_readings: int) -> pd.Series:
    """Why a row cannot be scored (None when it can): too few flank-wear readings, or missing features.
    The same rule as batch scoring (:func:`toollife.ml.scoring._incomplete`)."""
    few = frame["n_flank_wear_readings"].fillna(0.0) < min_readings
    missing = frame[list(columns)].isna()
    reasons = []
    for i in range(len(frame)):
        if few.iat[i]:
            reasons.append(f"fewer than {min_readings} flank-wear readings so far")
        elif missing.iloc[i].any():
            reasons.append("missing " + ", ".join(c for c, m in zip(columns, missing.iloc[i]) if m))
        else:
            reasons.append(None)
    return pd.Series(reasons, index=frame.index, dtype=object)


def predict(features: pd.DataFrame, model_predict: Callable[[pd.DataFrame], Any], columns: Sequence[str],
            serving: Serving, min_readings: int) -> pd.DataFrame:
    """``features`` (one row per run, :data:`~toollife.ml.features.NOW_COLUMNS`) + predicted life
    (exp of ln T from ``model_predict`` of ``columns`` and the version's ``serving``), its
    calibrated interval, the remaining useful life T - t (>= 0) and ``reason``; a row that cannot be
    scored keeps null predictions."""
    out = features.copy()
    out["reason"] = incomplete_reason(out, [*columns, "minutes_cut"], min_readings)
    ln = np.full(len(out), np.nan)
    ok = out["reason"].isna().to_numpy()
    if ok.any():
        ln[ok] = serving.predictor(model_predict, columns)(out.loc[ok].reset_index(drop=True))
    life = np.exp(ln)
    low, high = serving.interval.bounds(ln, out["minutes_cut"].to_numpy(float))
    out["predicted_life_min"] = life
    out["predicted_life_lower_min"] = np.exp(low)
    out["predicted_life_upper_min"] = np.exp(high)
    out["remaining_life_min"] = np.where(np.isfinite(life), np.maximum(life - out["minutes_cut"].astype(float), 0.0),
                                         np.nan)
    return out


def alert_id(run: Mapping[str, Any], threshold_min: float) -> str:
    """Deterministic: the run key and the threshold, nothing else (so re-raising finds the same id)."""
    text = "|".join(str(run[k]) for k in feat.RUN_KEY) + f"|{float(threshold_min):g}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def alerting_bound(row: Mapping[str, Any]) -> tuple[str, float]:
    """(which bound, remaining minutes by it): the interval's lower end, so an alert comes before
    the end of life at the interval's level; the point estimate when the version has no interval."""
    lower = row.get("predicted_life_lower_min")
    if lower is not None and np.isfinite(lower):
        return "lower", max(float(lower) - float(row["minutes_cut"]), 0.0)
    return "point", float(row["remaining_life_min"])


def due_alerts(scored: pd.DataFrame, thresholds: Iterable[float]) -> pd.DataFrame:
    """One row per (scored running run, threshold) whose remaining life by :func:`alerting_bound`
    is below the threshold, with its ``alert_id``, the ``bound`` and ``bound_remaining_life_min``;
    the caller inserts only ids it has not stored yet (once per run and threshold)."""
    rows = []
    live = scored[scored["remaining_life_min"].notna()]
    for run in live.to_dict("records"):
        bound, remaining = alerting_bound(run)
        for threshold in sorted({float(t) for t in thresholds}):
            if remaining < threshold:
                rows.append({"alert_id": alert_id(run, threshold), "threshold_min": threshold, "bound": bound,
                             "bound_remaining_life_min": remaining, **run})
    return pd.DataFrame(rows, columns=["alert_id", "threshold_min", "bound", "bound_remaining_life_min",
                                       *scored.columns])


def _iso(value) -> str:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def alert_message(row: Mapping[str, Any]) -> dict[str, Any]:
    """A gold.tool_alerts row -> its tool-alert/v1 message (the same bytes every time it is sent)."""
    return {
        "alert_id": row["alert_id"], "ts": _iso(row["last_reading_ts"]), "raised_at": _iso(row["raised_at"]),
        "machine_id": row["machine_id"], "tool_id": row["tool_id"], "experiment_id": row["experiment_id"],
        "run_id": int(row["run_id"]), "replicate": int(row["replicate"]),
        "threshold_min": float(row["threshold_min"]), "remaining_life_min": float(row["remaining_life_min"]),
        "predicted_life_min": float(row["predicted_life_min"]),
        "predicted_life_lower_min": _num(row.get("predicted_life_lower_min")),
        "predicted_life_upper_min": _num(row.get("predicted_life_upper_min")),
        "minutes_cut": float(row["minutes_cut"]), "model_name": row["model_name"],
        "model_version": str(row["model_version"]),
    }


def prediction_at(history: pd.DataFrame, closed: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Live accuracy: for each completed run of ``closed`` (run key + ``true_life_min``), the live
    prediction made closest to ``fraction`` of its true life (from ``history``: every scored version
    of the run's row, run key + ``minutes_cut`` + ``remaining_life_min``), beside the true remaining
    life then and the absolute error."""
    done = closed[closed["true_life_min"].notna()]
    # the change feed's versions carry true_life_min too (null until the run closed): the truth is closed's
    history = history.drop(columns=["true_life_min"], errors="ignore")
    scored = history[history["remaining_life_min"].notna()].merge(done[[*feat.RUN_KEY, "true_life_min"]],
                                                                   on=feat.RUN_KEY)
    if scored.empty:
        return pd.DataFrame(columns=[*feat.RUN_KEY, "minutes_cut", "remaining_life_min", "true_life_min",
                                     "true_remaining_life_min", "abs_error_min"])
    scored = scored.assign(_gap=(scored["minutes_cut"] - fraction * scored["true_life_min"]).abs())
    best = scored.sort_values("_gap", kind="mergesort").groupby(feat.RUN_KEY, sort=True).head(1)
    best = best.assign(true_remaining_life_min=best["true_life_min"] - best["minutes_cut"])
    best = best.assign(abs_error_min=(best["remaining_life_min"] - best["true_remaining_life_min"]).abs())
    return best[[*feat.RUN_KEY, "minutes_cut", "remaining_life_min", "true_life_min", "true_remaining_life_min",
                 "abs_error_min"]].reset_index(drop=True)
