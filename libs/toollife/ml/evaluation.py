"""The figures a training logs, pure (pandas, numpy, scikit-learn's inspection; no MLflow, no
Spark): holdout and leave-one-tool-out scores, the baselines beside them, coverage of the interval,
its calibration, importances and partial dependence."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from toollife.ml import features as feat
from toollife.ml import intervals, models
from toollife.ml.specs import ModelSpec, TrainingData


def holdout_mask(frame: pd.DataFrame, held_out: set[tuple]) -> np.ndarray:
    keys = frame[feat.DESIGN_POINT].itertuples(index=False, name=None)
    return np.fromiter((k in held_out for k in keys), dtype=bool, count=len(frame))


def coverage_metrics(spec: ModelSpec, frame: pd.DataFrame, ln_pred: np.ndarray, interval: intervals.Interval,
                     prefix: str) -> dict[str, float]:
    """Share of rows whose true ln T the interval covers, overall and (tool_rul) per cut-off fraction."""
    cut = frame["minutes_cut"].to_numpy(float) if "minutes_cut" in frame else None
    low, high = interval.bounds(ln_pred, cut)
    hit = intervals.covered(np.log(frame["tool_life_min"].to_numpy(float)), low, high)
    out = {f"{prefix}coverage": float(hit.mean())}
    if spec.name == "tool_rul":
        frac = frame["fraction"].to_numpy(float)
        for f in np.unique(frac):
            out[f"{prefix}coverage_at_{round(100 * f)}"] = float(hit[frac == f].mean())
    return out


def rul_truth(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (frame["tool_life_min"].to_numpy(float), frame["minutes_cut"].to_numpy(float),
            frame["fraction"].to_numpy(float))


def scores(spec: ModelSpec, frame: pd.DataFrame, ln_pred: np.ndarray, prefix: str) -> dict[str, float]:
    out = models.regression_metrics(np.log(frame["tool_life_min"].to_numpy(float)), ln_pred, prefix)
    if spec.name == "tool_rul":
        life, cut, frac = rul_truth(frame)
        out.update(models.rul_metrics(life, np.exp(ln_pred), cut, frac, prefix))
    return out


def baseline_metrics(spec: ModelSpec, data: TrainingData, frame: pd.DataFrame, train: np.ndarray,
                     test: np.ndarray, config: Mapping[str, Any],
                     tool_life_champion: Callable[[pd.DataFrame], np.ndarray] | None) -> dict[str, float]:
    """The oracle, the physics baseline and (tool_rul) the tool_life champion on the holdout rows
    and in leave-one-tool-out, named ``<baseline>_holdout_<metric>`` / ``<baseline>_loto_<metric>``."""
    cats = config["doe"]["categorical_levels"]
    on = {"coolant_level": cats["coolant"][1], "coating_level": cats["coating"][1]}
    out: dict[str, float] = {}
    held = frame.iloc[test]
    if data.truth is not None:
        oracle = models.oracle_ln_life(held, data.truth["taylor"], data.truth["coating_multiplier"],
                                       data.truth["coolant_multiplier"])
        if np.isfinite(oracle).all():
            out.update(scores(spec, held, oracle, "oracle_holdout_"))
    runs_train = frame.iloc[train].drop_duplicates(feat.RUN_KEY)
    out.update(scores(spec, held, models.physics_ln_life(runs_train, held, **on), "physics_holdout_"))
    loto_phys = np.full(len(frame), np.nan)
    for tool in frame["tool_id"].unique():
        mask = (frame["tool_id"] == tool).to_numpy()
        if mask.all():
            break
        loto_phys[mask] = models.physics_ln_life(frame[~mask].drop_duplicates(feat.RUN_KEY), frame[mask], **on)
    if np.isfinite(loto_phys).all():
        out.update(scores(spec, frame, loto_phys, "physics_loto_"))
    if tool_life_champion is not None:
        out.update(scores(spec, held, tool_life_champion(held), "tool_life_champion_holdout_"))
    return out


def importances(model, X: pd.DataFrame, y: np.ndarray, seed: int) -> dict[str, dict[str, float]]:
    from sklearn.inspection import permutation_importance

    perm = permutation_importance(model, X, y, n_repeats=5, random_state=seed, scoring="neg_root_mean_squared_error")
    out = {"permutation": {c: float(v) for c, v in zip(X.columns, perm.importances_mean)}}
    inner = model.named_steps["model"]
    if hasattr(inner, "feature_importances_"):
        names = model.named_steps["encode"].get_feature_names_out()
        out["impurity"] = {str(n): float(v) for n, v in zip(names, inner.feature_importances_)}
    return out


def partial_dependence_drop(model, X: pd.DataFrame, features: Sequence[str]) -> dict[str, float]:
    """ln T at the lowest minus at the highest grid value of each setting: > 0 = life decreases."""
    from sklearn.inspection import partial_dependence

    out = {}
    for f in features:
        pdp = partial_dependence(model, X, [f], grid_resolution=10)
        avg = np.asarray(pdp["average"]).ravel()
        out[f"pd_drop_{f}"] = float(avg[0] - avg[-1])
    return out


def calibrate_interval(spec: ModelSpec, train: pd.DataFrame, ln_oof: np.ndarray, level: float,
                       fractions) -> intervals.Interval:
    """The conformal interval of the out-of-fold predictions ``ln_oof`` of the training rows."""
    resid = np.log(train["tool_life_min"].to_numpy(float)) - ln_oof
    if spec.name != "tool_rul":
        return intervals.calibrate(resid, level)
    estimated = train["minutes_cut"].to_numpy(float) / np.exp(ln_oof)
    return intervals.calibrate(resid, level, estimated, intervals.bin_edges(fractions))
