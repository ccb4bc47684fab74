"""Train the two registered models, log everything to MLflow, register every candidate and move
the aliases by the promotion rule.

``tool_life`` answers "what life will a tool get at these settings?" from the settings alone;
``tool_rul`` answers "how long will the tool cutting now last?" from the settings plus the sensor
features over the part of the run cut so far. Both predict ln T. Per model and candidate (a
Random Forest and a histogram gradient boosting, each with a time-bounded grouped search):

* a holdout of whole design points (replicates never straddle train and test) and a
  leave-one-tool-out evaluation (every tool in turn is one the model never saw);
* beside the candidate's figures, on the same rows: the oracle (the simulator's own law for those
  runs: the noise floor), the physics baseline (``toollife.doe.fit_taylor`` per machine x tool
  on the training runs), and for ``tool_rul`` the ``tool_life`` champion, which ignores sensors;
* the registered model is fitted on the training design points only, so the holdout stays
  unseen and the next training can re-score it fairly;
* ``tool_rul`` starts from the life a wear curve learned from the training runs reads off the
  tool's own readings (:mod:`.wear_curve`); its trees predict ln T relative to that estimate;
* the interval is split-conformal on the search's out-of-fold residuals (:mod:`.intervals`),
  per estimated fraction of life for ``tool_rul``; the holdout only checks its coverage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from toollife.ml import evaluation, models, plots, quiet, tracking, wear_curve
from toollife.ml import features as feat
from toollife.ml.serving import Serving, ln_offset
from toollife.ml.specs import SPECS, ModelSpec, TrainingData

log = logging.getLogger("toollife.ml")


@dataclass
class Candidate:
    model_name: str
    kind: str
    model: Any
    search: models.SearchResult
    metrics: dict[str, float]
    serving: Serving
    importances: dict[str, dict[str, float]]
    version: str | None = None
    run_id: str | None = None


def fit_candidates(spec: ModelSpec, data: TrainingData, frame: pd.DataFrame, held_out: set[tuple],
                   config: Mapping[str, Any],
                   tool_life_champion: Callable[[pd.DataFrame], np.ndarray] | None = None,
                   curve: wear_curve.WearCurve | None = None) -> list[Candidate]:
    """Search, fit and evaluate every candidate of one model on the same split."""
    ml = config["ml"]
    seed, jobs = int(ml["seed"]), int(ml["fit_threads"])
    ln_t, ln_base = np.log(frame["tool_life_min"].to_numpy(float)), ln_offset(spec.offset, frame)
    X, y = frame[list(spec.features)], ln_t - ln_base
    is_test = evaluation.holdout_mask(frame, held_out)
    train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    if len(test) == 0 or len(train) == 0:
        raise ValueError(f"{spec.name}: the holdout split left {len(train)} training and {len(test)} holdout rows")
    groups = models.design_point_groups(frame)
    baselines = evaluation.baseline_metrics(spec, data, frame, train, test, config, tool_life_champion)
    out = []
    for kind in models.CANDIDATES:
        found = models.search(kind, X.iloc[train], y[train], groups[train], spec.numeric,
                              grid=models.PARAM_GRIDS[spec.name][kind], folds=int(ml["cv_folds"]), seed=seed,
                              time_bound_s=float(ml["search_time_s"]), n_jobs=jobs)
        model = models.build_candidate(kind, spec.numeric, found.params, seed, jobs).fit(X.iloc[train], y[train])
        ln_pred = model.predict(X.iloc[test]) + ln_base[test]
        metrics = {"cv_rmse_ln_t": found.cv_rmse_ln_t, "search_tried": float(found.tried),
                   "search_seconds": found.seconds, "n_train": float(len(train)), "n_holdout": float(len(test))}
        for i, fold in enumerate(found.fold_metrics):
            metrics.update({f"fold{i}_{k}": v for k, v in fold.items()})
        metrics.update(evaluation.scores(spec, frame.iloc[test], ln_pred, "holdout_"))
        loto = np.full(len(frame), np.nan)
        for tool in frame["tool_id"].unique():
            mask = (frame["tool_id"] == tool).to_numpy()
            if mask.all():
                break
            other = models.build_candidate(kind, spec.numeric, found.params, seed, jobs).fit(X[~mask], y[~mask])
            loto[mask] = other.predict(X[mask]) + ln_base[mask]
            metrics.update({f"loto_{tool}_{k}": v for k, v in
                            models.regression_metrics(ln_t[mask], loto[mask]).items() if k.endswith("ln_t")})
        if np.isfinite(loto).all():
            metrics.update(evaluation.scores(spec, frame, loto, "loto_"))
        metrics.update(baselines)
        for key in ("holdout_rmse_ln_t", "loto_rmse_ln_t"):
            base = key.replace("holdout_", "oracle_holdout_") if key.startswith("holdout") else None
            if base and baselines.get(base):
                metrics[f"ratio_{key}_to_oracle"] = metrics[key] / baselines[base]
        if spec.name == "tool_rul":
            for pct in (25, 50):
                ref = baselines.get(f"tool_life_champion_holdout_mae_rul_min_at_{pct}")
                if ref:
                    metrics[f"ratio_mae_rul_at_{pct}_to_tool_life_champion"] = (
                        metrics[f"holdout_mae_rul_min_at_{pct}"] / ref)
        metrics.update(evaluation.partial_dependence_drop(model, X.iloc[train], feat.NUMERIC_SETTINGS))
        interval = evaluation.calibrate_interval(spec, frame.iloc[train], ln_base[train] + found.oof, float(ml["interval"]),
                                      ml["rul_fractions"])
        metrics.update(evaluation.coverage_metrics(spec, frame.iloc[test], ln_pred, interval, "holdout_"))
        out.append(Candidate(spec.name, kind, model, found, metrics, Serving(interval, curve, spec.offset),
                             evaluation.importances(model, X.iloc[test], y[test], seed)))
    return out


# --------------------------------------------------------------------------- MLflow
def _git_commit(config: Mapping[str, Any]) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=config.get("base_dir") or ".", capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def conf_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def pip_requirements() -> list[str]:
    """What the scoring side needs to load the model: pinned to what trained it."""
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("scikit-learn", "skops", "numpy", "pandas", "scipy", "mlflow")]


def _log_inputs(spec: ModelSpec, data: TrainingData, frame: pd.DataFrame, is_test: np.ndarray) -> None:
    import mlflow
    from mlflow.data.delta_dataset_source import DeltaDatasetSource

    tables_read = ["gold.experiment_runs"] + (["silver.sensor_readings"] if spec.name == "tool_rul" else [])
    for qualified in tables_read:
        source = DeltaDatasetSource(path=data.paths[qualified], delta_table_version=data.versions[qualified])
        for context, rows in (("training", frame[~is_test]), ("holdout", frame[is_test])):
            with quiet.integer_columns_hint_off():   # from_pandas and log_input each infer the schema
                dataset = mlflow.data.from_pandas(
                    rows[list(dict.fromkeys([*feat.RUN_KEY, *spec.features, "tool_life_min"]))], source=source,
                    targets="tool_life_min", name=f"{qualified}@v{data.versions[qualified]}:{context}")
                mlflow.log_input(dataset, context=context)


def _log_figures(spec: ModelSpec, cand: Candidate, frame: pd.DataFrame, is_test: np.ndarray, out: Path) -> None:
    import mlflow

    X, y = frame[list(spec.features)], np.log(frame["tool_life_min"].to_numpy(float))
    ln_pred = cand.serving.ln_life(cand.model.predict(X[is_test]), frame[is_test])
    title = f"{spec.name} {cand.kind} (holdout)"
    mlflow.log_artifact(str(plots.predicted_vs_actual(y[is_test], ln_pred, out / "predicted_vs_actual.png", title)), "plots")
    mlflow.log_artifact(str(plots.residuals(y[is_test], ln_pred, out / "residuals.png", title)), "plots")
    mlflow.log_artifact(str(plots.partial_dependence(cand.model, X[~is_test], feat.NUMERIC_SETTINGS,
                                                     out / "partial_dependence.png", spec.name)), "plots")
    if spec.name == "tool_rul":
        held = frame[is_test]
        life, cut, frac = evaluation.rul_truth(held)
        truth = models.remaining_life(life, cut)
        errors = {cand.kind: np.abs(models.remaining_life(np.exp(ln_pred), cut) - truth)}
        mlflow.log_artifact(str(plots.error_by_fraction(frac, errors, out / "rul_error_by_fraction.png",
                                                        "remaining-life error (holdout)")), "plots")


def log_and_register(client, spec: ModelSpec, cand: Candidate, data: TrainingData, frame: pd.DataFrame,
                     held_out: set[tuple], config: Mapping[str, Any]) -> None:
    """One MLflow run per candidate: params, metrics, importances, plots, inputs, tags, the model
    (skops, signature, input example, pinned requirements); registered as a new version."""
    import mlflow
    from mlflow.models import infer_signature

    is_test = evaluation.holdout_mask(frame, held_out)
    X = frame[list(spec.features)]
    experiment = tracking.experiment_id(client, config, spec.name)
    with mlflow.start_run(experiment_id=experiment, run_name=f"{spec.name}-{cand.kind}") as run:
        ml = config["ml"]
        mlflow.log_params({"candidate": cand.kind, **{f"model.{k}": v for k, v in cand.search.params.items()},
                           "features": ",".join(spec.features), "holdout_fraction": ml["holdout_fraction"],
                           "cv_folds": ml["cv_folds"], "search_time_s": ml["search_time_s"], "seed": ml["seed"],
                           "interval": ml["interval"],
                           **({"rul_fractions": ",".join(map(str, ml["rul_fractions"]))} if spec.name == "tool_rul" else {}),
                           **{f"version.{t}": v for t, v in data.versions.items()}})
        mlflow.log_metrics({k: v for k, v in cand.metrics.items() if np.isfinite(v)})
        mlflow.set_tags({"model_name": spec.name, "question": spec.question, "git_commit": _git_commit(config),
                         "conf_hash": conf_hash(config), "simulation_ids": ",".join(data.simulation_ids) or "none",
                         "env": config.get("env", "")})
        _log_inputs(spec, data, frame, is_test)
        mlflow.log_dict(cand.importances, "importances.json")
        mlflow.log_dict({"tried": [{"params": p, "cv_rmse_ln_t": r} for p, r in cand.search.history]}, "search.json")
        with tempfile.TemporaryDirectory() as tmp:
            _log_figures(spec, cand, frame, is_test, Path(tmp))
        example = X[~is_test].head(5)
        with quiet.integer_columns_hint_off(), quiet.registry_prints_to_debug():
            info = mlflow.sklearn.log_model(
                cand.model, name="model", registered_model_name=spec.name,
                signature=infer_signature(example, cand.model.predict(example)), input_example=example,
                serialization_format="skops", skops_trusted_types=models.SKOPS_TRUSTED_TYPES,
                pip_requirements=pip_requirements())
        cand.run_id, cand.version = run.info.run_id, str(info.registered_model_version)
    metric_name = config["ml"]["promotion_metric"][spec.name]
    for key, value in {"candidate": cand.kind, "training_run_id": cand.run_id, "metric": metric_name,
                       "metric_value": f"{cand.metrics[metric_name]:.6g}",
                       **cand.serving.to_tags()}.items():
        client.set_model_version_tag(spec.name, cand.version, key, value)
    client.update_registered_model(spec.name, description=spec.question)


# --------------------------------------------------------------------------- promotion
def promote(client, model_name: str, candidates: Sequence[Candidate], metric: str,
            rescore: Callable[[str], float]) -> list[dict[str, Any]]:
    """Move the aliases by the rule of :func:`tracking.decide`, best candidate first; the current
    champion is re-scored on this holdout (``rescore(version)``), never compared by old numbers.
    Returns one ``meta.model_promotions`` record per alias change."""
    known = {c.version: c.metrics[metric] for c in candidates}
    records = []
    for cand in sorted(candidates, key=lambda c: c.metrics[metric]):
        champion = tracking.alias_version(client, model_name, tracking.CHAMPION)
        champion_metric = None
        if champion is not None:
            champion_metric = known[champion] if champion in known else rescore(champion)
            known[champion] = champion_metric
        alias = tracking.decide(cand.metrics[metric], champion_metric)
        replaced = tracking.alias_version(client, model_name, alias)
        client.set_registered_model_alias(model_name, alias, cand.version)
        if alias == tracking.CHAMPION and champion is None:
            why = "no champion yet: the best candidate becomes champion"
        elif alias == tracking.CHAMPION:
            why = f"{metric} {cand.metrics[metric]:.4g} beats the champion v{champion}'s {champion_metric:.4g} on the same holdout"
        else:
            why = f"{metric} {cand.metrics[metric]:.4g} does not beat the champion v{champion}'s {champion_metric:.4g}"
        records.append({"model_name": model_name, "version": cand.version, "alias": alias,
                        "replaced_version": replaced, "metric": metric, "new_metric": float(cand.metrics[metric]),
                        "champion_metric": None if champion_metric is None else float(champion_metric),
                        "decision": "promoted" if alias == tracking.CHAMPION else "challenger",
                        "reason": why, "candidate": cand.kind, "training_run_id": cand.run_id,
                        "decided_at": datetime.now(timezone.utc)})
        log.info("%s v%s -> %s (%s)", model_name, cand.version, alias, why)
    return records


def rescorer(client, spec: ModelSpec, frame: pd.DataFrame, held_out: set[tuple], metric: str,
             wear: pd.DataFrame | None) -> Callable[[str], float]:
    """Score a registered version on this training's holdout with the promotion metric, its
    readings read against the version's own wear curve."""
    import mlflow

    held = frame[evaluation.holdout_mask(frame, held_out)]

    def rescore(version: str) -> float:
        model = mlflow.pyfunc.load_model(f"models:/{spec.name}/{version}")
        serving = tracking.serving(client, spec.name, version)
        mine = held if serving.curve is None or wear is None else feat.with_wear_curve_life(held, wear, serving.curve)
        ln_pred = serving.predictor(model.predict, spec.features)(mine)
        return evaluation.scores(spec, mine, ln_pred, "holdout_")[metric]

    return rescore


def champion_predictor(model_name: str, version: str) -> Callable[[pd.DataFrame], np.ndarray]:
    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    columns = list(SPECS[model_name].features)
    return lambda frame: np.asarray(model.predict(frame[columns]), float).ravel()


def held_out_design_points(runs: pd.DataFrame, fraction: float, seed: int) -> set[tuple]:
    """The design points both models hold out (so tool_rul and tool_life share one holdout)."""
    _, test = models.holdout_split(runs, fraction, seed)
    return set(runs.iloc[test][feat.DESIGN_POINT].itertuples(index=False, name=None))


def train_all(client, data: TrainingData, config: Mapping[str, Any],
              only: Sequence[str] = tracking.MODEL_NAMES) -> tuple[dict[str, list[Candidate]], list[dict[str, Any]]]:
    """Both models (tool_life first: tool_rul is compared with its champion)."""
    from threadpoolctl import threadpool_limits

    ml = config["ml"]
    with threadpool_limits(limits=int(ml["fit_threads"]), user_api="openmp"):
        return _train_all(client, data, config, only)


def _train_all(client, data, config, only):
    ml = config["ml"]
    held_out = held_out_design_points(data.runs, float(ml["holdout_fraction"]), int(ml["seed"]))
    results, promotions = {}, []
    for name in only:
        spec = SPECS[name]
        frame = data.runs if name == "tool_life" else data.samples
        if frame.empty:
            raise ValueError(f"{name}: no training rows (completed runs with readings)")
        curve = None
        if spec.offset:
            curve, frame = _with_learned_curve(spec, data, frame, held_out)
        baseline = None
        if name == "tool_rul":
            life_champion = tracking.alias_version(client, "tool_life", tracking.CHAMPION)
            baseline = champion_predictor("tool_life", life_champion) if life_champion else None
        cands = fit_candidates(spec, data, frame, held_out, config, baseline, curve)
        for cand in cands:
            log_and_register(client, spec, cand, data, frame, held_out, config)
        metric = ml["promotion_metric"][name]
        promotions += promote(client, name, cands, metric, rescorer(client, spec, frame, held_out, metric, data.wear))
        results[name] = cands
    return results, promotions


def _with_learned_curve(spec: ModelSpec, data: TrainingData, frame: pd.DataFrame,
                        held_out: set[tuple]) -> tuple[wear_curve.WearCurve, pd.DataFrame]:
    """The wear curve of the training runs (the holdout's never reach it) and the samples with the
    life it reads off each; a sample with too few readings for one is dropped (it would not be scored)."""
    if data.wear is None:
        raise ValueError(f"{spec.name}: training needs the flank-wear readings of its runs")
    training_runs = data.runs[~evaluation.holdout_mask(data.runs, held_out)]
    curve = wear_curve.learn(*feat.wear_points(data.wear, training_runs))
    frame = feat.with_wear_curve_life(frame, data.wear, curve)
    dropped = int(frame[spec.offset].isna().sum())
    if dropped:
        log.info("%s: %d sample(s) with fewer than %d flank-wear readings at their cut-off left out",
                 spec.name, dropped, wear_curve.MIN_READINGS)
    return curve, frame[frame[spec.offset].notna()].reset_index(drop=True)
