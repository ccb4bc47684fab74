"""Model features, pure pandas/numpy (no Spark): the same code builds the training samples and
the features of a tool that is cutting now, so training and serving cannot drift apart.

* :data:`PLANNING_FEATURES` - the settings a planner knows before cutting (``tool_life`` model);
* :func:`sensor_features` - one run's sensor readings summarised up to a cut-off (minutes of
  cutting since ``run_started``); a reading after the cut-off never reaches a feature;
* :func:`rul_samples` - ``tool_rul`` training samples: every completed run cut off at several
  fractions of its observed life;
* :func:`features_now` - the same features for tools still cutting, over what they cut so far;
* :func:`with_wear_curve_life` - the life a learned wear curve reads off each sample's readings
  (:mod:`toollife.ml.wear_curve`; training learns the curve after the samples, from its runs only).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from toollife.ml import wear_curve as wc

RUN_KEY = ["experiment_id", "machine_id", "tool_id", "run_id", "replicate"]
# replicates of one design point share it: they never straddle train and test
DESIGN_POINT = ["experiment_id", "machine_id", "tool_id", "run_id"]
NUMERIC_SETTINGS = ["cutting_speed", "feed", "depth_of_cut"]
CATEGORICAL_SETTINGS = ["coolant", "coating", "machine_id", "tool_id"]
PLANNING_FEATURES = [*NUMERIC_SETTINGS, *CATEGORICAL_SETTINGS]
SENSORS = ["spindle_power", "vibration_rms", "temperature", "acoustic_emission", "flank_wear"]
WEAR_CRITERION_MM = 0.3   # flank wear VB at the end of tool life (ISO 3685)
# Lean on purpose: measured on a 4 machines x 3 tools x 2 replicates simulation, adding the power,
# vibration, temperature and AE summaries made the remaining-life error at 50 % worse (0.38 against
# 0.26-0.29 of the tool_life error), the trees spending splits on noise.
SENSOR_FEATURES = ["minutes_cut", "flank_wear_last", "flank_wear_slope", "flank_wear_recent_slope", "wear_life_min",
                   "wear_curve_life_min"]
# tool_rul predicts ln T relative to this feature (the life the learned wear curve reads off the
# tool's own readings): trees approximating the identity of ln T in it cost 2-4x the error
WEAR_CURVE_LIFE = "wear_curve_life_min"
WEAR_COLUMNS = [*RUN_KEY, "minutes", "value"]     # flank-wear readings, minutes after run_started
SUMMARIES = [f"{s}_{stat}" for s in SENSORS for stat in ("last", "mean", "slope")]
RUL_FEATURES = [*PLANNING_FEATURES, *SENSOR_FEATURES]
# frames of one row per run (and cut-off): the run key, then the features not already in it
NOW_COLUMNS = [*RUN_KEY, *[c for c in RUL_FEATURES if c not in RUN_KEY], "n_flank_wear_readings"]
SAMPLE_COLUMNS = [*NOW_COLUMNS, "fraction", "tool_life_min"]


def _utc(value):
    """Timestamps as UTC-aware: Spark hands naive session-local ones, the simulator aware ones."""
    tz = value.dt.tz if isinstance(value, pd.Series) else value.tz
    if tz is None:
        return value.dt.tz_localize("UTC") if isinstance(value, pd.Series) else value.tz_localize("UTC")
    return value.dt.tz_convert("UTC") if isinstance(value, pd.Series) else value.tz_convert("UTC")


def _slope(t: np.ndarray, y: np.ndarray) -> float:
    if t.size < 2 or np.ptp(t) == 0:
        return float("nan")
    tc = t - t.mean()
    return float(np.dot(tc, y - y.mean()) / np.dot(tc, tc))


def minutes_since(ts: pd.Series, started_at) -> np.ndarray:
    return ((_utc(pd.to_datetime(ts)) - _utc(pd.Timestamp(started_at))).dt.total_seconds() / 60.0).to_numpy(float)


def sensor_features(readings: pd.DataFrame, started_at: pd.Timestamp, cutoff_min: float,
                    curve: wc.WearCurve | None = None) -> dict[str, float]:
    """One run's readings (columns ``ts``, ``sensor``, ``value``) up to ``cutoff_min`` minutes after
    ``started_at``, summarised per sensor (:data:`SUMMARIES`: the newest reading, the mean and the
    least-squares slope per minute), plus the minutes cut, the flank-wear readings so far, the
    recent wear rate and the life it extrapolates to, and the life ``curve`` reads off them (NaN
    without one). The models use :data:`SENSOR_FEATURES`."""
    minutes = minutes_since(readings["ts"], started_at)
    upto = readings.assign(_t=minutes)
    upto = upto[(upto["_t"] >= 0) & (upto["_t"] <= cutoff_min + 1e-9)].sort_values("_t", kind="mergesort")
    out: dict[str, float] = {"minutes_cut": float(cutoff_min)}
    for s in SENSORS:
        one = upto[upto["sensor"] == s]
        t, y = one["_t"].to_numpy(float), one["value"].to_numpy(float)
        out[f"{s}_last"] = float(y[-1]) if y.size else float("nan")   # a mean of older ones lags the wear
        out[f"{s}_mean"] = float(y.mean()) if y.size else float("nan")
        out[f"{s}_slope"] = _slope(t, y)
    wear = out["flank_wear_last"]
    out["n_flank_wear_readings"] = float((upto["sensor"] == "flank_wear").sum())
    # the shop-floor estimate: extrapolate the recent wear rate (the last three quarters of the cut, past most of the
    # break-in) to the criterion; the models learn how far the accelerating stage cuts it short
    one = upto[upto["sensor"] == "flank_wear"]
    recent = one[one["_t"] >= cutoff_min / 4]
    rate = _slope(recent["_t"].to_numpy(float), recent["value"].to_numpy(float))
    out["flank_wear_recent_slope"] = rate
    out["wear_life_min"] = (cutoff_min + max(WEAR_CRITERION_MM - wear, 0.0) / rate
                            if np.isfinite(rate) and rate > 0 and np.isfinite(wear) else float("nan"))
    out[WEAR_CURVE_LIFE] = (wc.estimate_life(one["_t"].to_numpy(float), one["value"].to_numpy(float), cutoff_min, curve)
                            if curve is not None else float("nan"))
    return out


def rul_samples(runs: pd.DataFrame, readings: pd.DataFrame, fractions: Iterable[float]) -> pd.DataFrame:
    """``tool_rul`` training samples: each completed run of ``runs`` (with ``started_at`` and
    ``tool_life_min``) cut off at every fraction of its life; one row per run and fraction with
    the run key, the planning and sensor features, ``fraction`` and ``tool_life_min``."""
    fractions = sorted(float(f) for f in fractions)
    if not fractions or not all(0.0 < f < 1.0 for f in fractions):
        raise ValueError(f"cut-off fractions must lie in (0, 1), got {fractions}")
    completed = runs[runs["tool_life_min"].notna() & runs["started_at"].notna()]
    by_run = {key: grp for key, grp in readings.groupby(RUN_KEY, sort=False)}
    empty = readings.iloc[0:0]
    rows = []
    for run in completed.to_dict("records"):
        mine = by_run.get(tuple(run[k] for k in RUN_KEY), empty)
        for frac in fractions:
            feats = sensor_features(mine, run["started_at"], frac * float(run["tool_life_min"]))
            rows.append({**{k: run[k] for k in RUN_KEY}, **feats, "fraction": frac,
                         "tool_life_min": float(run["tool_life_min"])})
    samples = pd.DataFrame(rows, columns=[*RUN_KEY, *SENSOR_FEATURES, "n_flank_wear_readings", "fraction",
                                          "tool_life_min"])
    settings = completed[RUN_KEY + [c for c in PLANNING_FEATURES if c not in RUN_KEY]]
    return samples.merge(settings, on=RUN_KEY, how="left")[SAMPLE_COLUMNS]


def features_now(runs: pd.DataFrame, readings: pd.DataFrame, curve: wc.WearCurve | None = None) -> pd.DataFrame:
    """Features of tools that are cutting: each run of ``runs`` (with ``started_at`` and
    ``minutes_cut``, the cutting time so far) summarised over all its readings up to now."""
    by_run = {key: grp for key, grp in readings.groupby(RUN_KEY, sort=False)}
    empty = readings.iloc[0:0]
    rows = []
    for run in runs.to_dict("records"):
        cut = run["minutes_cut"]
        feats = (sensor_features(by_run.get(tuple(run[k] for k in RUN_KEY), empty), run["started_at"], float(cut), curve)
                 if pd.notna(run["started_at"]) and pd.notna(cut) else {"minutes_cut": cut})
        rows.append({**{k: run[k] for k in RUN_KEY}, **feats})
    frame = pd.DataFrame(rows, columns=[*RUN_KEY, *SENSOR_FEATURES, "n_flank_wear_readings"])
    settings = runs[RUN_KEY + [c for c in PLANNING_FEATURES if c not in RUN_KEY]]
    return frame.merge(settings, on=RUN_KEY, how="left")[NOW_COLUMNS]


def wear_points(wear: pd.DataFrame, runs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(t / T, VB) of every flank-wear reading of ``wear`` (:data:`WEAR_COLUMNS`) whose run is one
    of the completed ``runs`` (run key + ``tool_life_min``): what :func:`wear_curve.learn` pools."""
    mine = wear.merge(runs[[*RUN_KEY, "tool_life_min"]], on=RUN_KEY, how="inner")
    return (mine["minutes"] / mine["tool_life_min"]).to_numpy(float), mine["value"].to_numpy(float)


def with_wear_curve_life(samples: pd.DataFrame, wear: pd.DataFrame, curve: wc.WearCurve) -> pd.DataFrame:
    """``samples`` (run key + ``minutes_cut``) with :data:`WEAR_CURVE_LIFE` read off each run's
    flank-wear readings up to its cut, as :func:`sensor_features` reads it when scoring."""
    by_run = {key: grp for key, grp in wear.groupby(RUN_KEY, sort=False)}
    empty = wear.iloc[0:0]
    lives = []
    for key, cut in zip(samples[RUN_KEY].itertuples(index=False, name=None), samples["minutes_cut"]):
        mine = by_run.get(key, empty)
        lives.append(wc.estimate_life(mine["minutes"].to_numpy(float), mine["value"].to_numpy(float),
                                      float(cut), curve))
    return samples.assign(**{WEAR_CURVE_LIFE: np.asarray(lives, float)})
