"""Follow-up experiments: run the recommended next runs of gold.doe_next_experiments through the
same simulated physics (``toollife simulate --plan-from gold.doe_next_experiments|FILE``).

Each parent experiment in the plan becomes one follow-up experiment, ``<parent>-F1`` (the
follow-up of ``X-F1`` is ``X-F2``, so the lineage reads off the id), holding the recommended runs
of every machine x tool of the plan, with the natural levels the plan gives (already clipped to
the machine limits). The truth is the parent's: same seed and physics conf give the same machine
and tool random effects (they depend on the seed and the machine/tool index only), while the
follow-up's runs get random streams of their own (scatter, anomalies, sensor noise), keyed by the
follow-up's id. The parent is recorded in the manifest and in ``meta.simulation_runs``
(``parent_experiment_id``), which is where the analysis finds it.

The plan is read from a CSV or JSON(-lines) export of the table, or from the Delta table itself,
with the ``deltalake`` package when it is installed (no JVM), else with Spark.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from toollife.simulation.core import SimulationResult, StartFor, config_hash, resolve_sim_config, result_from_plan
from toollife.simulation.plan import (CATEGORICAL, STREAM_ORDER, Factor, experiment_key, plan_from_runs, rng,
                                      true_taylor)

_FOLLOW = re.compile(r"^(?P<base>.+)-F(?P<n>\d+)$")
_ID = re.compile(r"^[MT](\d+)$")


def follow_up_id(parent: str) -> str:
    """``X`` -> ``X-F1``, ``X-F1`` -> ``X-F2``."""
    m = _FOLLOW.match(parent)
    return f"{m['base']}-F{int(m['n']) + 1}" if m else f"{parent}-F1"


def parent_by_name(experiment_id: str) -> str | None:
    """The parent the naming convention gives: ``X-F1`` -> ``X``, ``X-F2`` -> ``X-F1``."""
    m = _FOLLOW.match(experiment_id)
    if not m:
        return None
    return m["base"] if int(m["n"]) <= 1 else f"{m['base']}-F{int(m['n']) - 1}"


# --------------------------------------------------------------------------- reading a plan
PLAN_TABLE = "gold.doe_next_experiments"


def missing_plan_table(source: str, config: Mapping[str, Any]) -> Exception:
    """The one line for a ``--plan-from <layer>.<table>`` that is not there: which job fills it."""
    from toollife.config import ConfigError
    from toollife.errors import MissingInputError
    from toollife.lakehouse.reader import FILLED_BY, filled_by

    root = config["lakehouse"]["root"]
    if source in FILLED_BY:
        job = filled_by(source)
        run = f"`toollife submit {job}`" if job.startswith("jobs/") else job
        return MissingInputError(f"--plan-from {source}: no table {source} under {root} (lakehouse.root) yet; "
                                 f"it is filled by {job}: run {run} first")
    return ConfigError(f"--plan-from {source}: no table {source} under {root} (lakehouse.root), and it is not "
                       f"a lakehouse table; the plan is {PLAN_TABLE}, filled by {filled_by(PLAN_TABLE)} "
                       "(or give a CSV/JSON export of it)")


def read_plan(source: str, config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The plan as pandas: a CSV / JSON / JSON-lines file, or ``<layer>.<table>`` (Delta)."""
    path = Path(source)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".json", ".jsonl", ".ndjson"):
            text = path.read_text()
            lines = suffix != ".json" or not text.lstrip().startswith("[")
            return pd.read_json(path, lines=lines, orient="records")
        raise ValueError(f"--plan-from {source}: a plan file must be .csv, .json or .jsonl")
    if "/" in source or "." not in source or source.count(".") != 1:
        raise ValueError(f"--plan-from {source!r}: no such file, and not a <layer>.<table> name")
    from toollife.config import load_config
    from toollife.lakehouse import reader

    config = config or load_config()
    read = reader.read(config, source)     # delta-rs: local disk or the bucket, no JVM
    if read.frame is None:
        raise missing_plan_table(source, config)
    return read.frame


def _parents(plan: pd.DataFrame) -> list[str]:
    return sorted(plan["experiment_id"].dropna().astype(str).unique())


def plan_factors(plan: pd.DataFrame) -> list[str]:
    """Factors the plan sets: every ``coded_<f>`` with a natural ``<f>`` column that has a value."""
    out = []
    for col in plan.columns:
        if col.startswith("coded_"):
            f = col[len("coded_"):]
            if f in plan.columns and plan[f].notna().any():
                out.append(f)
    return out


def _index(ids: pd.Series, what: str) -> np.ndarray:
    out = []
    for v in ids.astype(str):
        m = _ID.match(v)
        if not m or int(m[1]) < 1:
            raise ValueError(f"plan {what} {v!r} is not a simulator id (M01.., T01..)")
        out.append(int(m[1]) - 1)
    return np.asarray(out, dtype=np.int64)


# --------------------------------------------------------------------------- one follow-up
def simulate_follow_up(config: Mapping[str, Any] | None, plan: pd.DataFrame, parent: str, *,
                       experiment_id: str | None = None, max_request_size: int | None = None,
                       start_for: StartFor | None = None) -> SimulationResult:
    """Simulate the planned runs of ``parent`` (rows of gold.doe_next_experiments) as one
    follow-up experiment (default id :func:`follow_up_id`) with the conf's seed and physics."""
    sim = resolve_sim_config(config)
    seed = int(sim["seed"])
    rows = plan[plan["experiment_id"].astype(str) == parent]
    if "point_type" in rows.columns:
        rows = rows[rows["point_type"].notna()]
    if rows.empty:
        raise ValueError(f"the plan has no runs for experiment {parent!r} (experiments in it: {_parents(plan)})")
    experiment_id = experiment_id or follow_up_id(parent)
    if not 1 <= len(experiment_id) <= 64:
        raise ValueError(f"follow-up experiment_id must have 1..64 characters, got {experiment_id!r}")
    names = plan_factors(rows)
    if not names:
        raise ValueError("the plan has no factor columns (coded_<factor> with a natural <factor> column)")
    order = [c for c in ("machine_id", "tool_id", "run_no") if c in rows.columns]
    rows = rows.sort_values(order, kind="mergesort").reset_index(drop=True)
    factors = []
    for f in names:
        values = rows[f].dropna()
        if f in CATEGORICAL or values.map(lambda v: isinstance(v, str)).any():
            levels = sorted(set(values.astype(str)))
            known = list(sim["physics"][CATEGORICAL[f]]) if f in CATEGORICAL else levels
            unknown = [lv for lv in levels if lv not in known]
            if unknown:
                raise ValueError(f"plan: factor {f!r} has level(s) {unknown}, not one of {known}")
            lo, hi = (levels + levels)[:2] if len(levels) < 2 else (levels[0], levels[-1])
            factors.append(Factor(f, lo, hi))
        else:
            x = pd.to_numeric(values, errors="raise").astype(float)
            if f in ("cutting_speed", "feed", "depth_of_cut") and not (x > 0).all():
                raise ValueError(f"plan: factor {f!r} needs positive levels, got {sorted(set(x))[:5]}")
            factors.append(Factor(f, float(x.min()), float(x.max())))
        if rows[f].isna().any():
            raise ValueError(f"plan: factor {f!r} has no level in {int(rows[f].isna().sum())} run(s)")

    runs = pd.DataFrame({"machine_id": rows["machine_id"].astype(str), "tool_id": rows["tool_id"].astype(str)})
    runs["machine_idx"] = _index(runs["machine_id"], "machine_id")
    runs["tool_idx"] = _index(runs["tool_id"], "tool_id")
    runs["run_id"] = runs.groupby(["machine_id", "tool_id"]).cumcount() + 1
    runs["replicate"] = 1
    for fac in factors:
        runs[fac.name] = rows[fac.name].astype(object if fac.categorical else float).to_numpy()
        runs[f"x_{fac.name}"] = pd.to_numeric(rows[f"coded_{fac.name}"], errors="coerce").to_numpy(float)
    for col in ("kind", "point_type", "step"):
        if col in rows.columns:
            runs[col] = rows[col].to_numpy()
    ek = experiment_key(experiment_id)
    orders = np.zeros(len(runs), dtype=np.int64)
    for (mi, ti), idx in runs.groupby(["machine_idx", "tool_idx"]).indices.items():
        if sim["randomize"]:
            orders[idx] = rng(seed, STREAM_ORDER, mi, ti, ek).permutation(len(idx)) + 1
        else:
            orders[idx] = np.arange(1, len(idx) + 1)
    runs["run_order"] = orders
    combos = runs[["machine_idx", "tool_idx"]].drop_duplicates().sort_values(["machine_idx", "tool_idx"])
    taylor = true_taylor(sim, combos["machine_idx"].tolist(), combos["tool_idx"].tolist())
    kinds = sorted(set(rows["kind"].dropna().astype(str))) if "kind" in rows.columns else []
    per = runs.groupby(["machine_id", "tool_id"]).size()
    n_txt = f"{per.min()}" if per.min() == per.max() else f"{per.min()}-{per.max()}"
    label = f"follow-up of {parent}: {', '.join(kinds) or 'planned runs'}, {n_txt} runs per machine x tool"
    coded = runs[[f"x_{f.name}" for f in factors]].rename(columns=lambda c: c[2:])
    built = plan_from_runs(sim, runs, factors, taylor, design=label, coded=coded, exp_key=ek)

    digest = hashlib.sha256(json.dumps({"parent": parent, "experiment_id": experiment_id, "runs": runs[
        ["machine_id", "tool_id", "run_id", *names]].astype(str).to_dict("list")}, sort_keys=True).encode()).hexdigest()
    chash = hashlib.sha256(f"{config_hash(sim)}|{digest}".encode()).hexdigest()
    valid_hash = config_hash(sim, exclude=("bad_messages",))
    prefix = hashlib.blake2b(f"{seed}|{valid_hash}|{digest}".encode(), digest_size=6).hexdigest()
    return result_from_plan(sim, built, experiment_id=experiment_id, prefix=prefix,
                            simulation_id=f"sim-{seed}-{chash[:10]}", chash=chash,
                            max_request_size=max_request_size, parent_experiment_id=parent, start_for=start_for)


def simulate_plan(config: Mapping[str, Any] | None, plan: pd.DataFrame, parents: Sequence[str] | None = None,
                  *, experiment_id: str | None = None, start_for: StartFor | None = None) -> list[SimulationResult]:
    """One follow-up per parent experiment of the plan (``parents``: only these; default: every
    parent whose follow-up is not itself in the plan, i.e. the open recommendations -- the
    plan keeps the recommendation of ``X`` after ``X-F1`` ran)."""
    known = _parents(plan)
    chosen = list(parents) if parents else [p for p in known if follow_up_id(p) not in known]
    missing = [p for p in chosen if p not in known]
    if missing:
        raise ValueError(f"experiment(s) {missing} are not in the plan (it holds {known})")
    if experiment_id and len(chosen) != 1:
        raise ValueError("--experiment-id names one follow-up: choose its parent with --parent")
    results = []
    for p in chosen:   # one after another on the clock: ``start_for`` hears of each (``note``)
        results.append(simulate_follow_up(config, plan, p, experiment_id=experiment_id, start_for=start_for))
        if start_for is not None and hasattr(start_for, "note"):
            start_for.note(results[-1])
    return results
