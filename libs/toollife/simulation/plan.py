"""The experiment plan: a 2-level design run on every machine x tool combination, with the true
tool life of every run, its anomalies and its place on the machine's simulated clock.

Randomness is drawn from independent streams keyed by what they describe
(``default_rng([seed, stream, machine, tool, run_id, replicate])``), so e.g. the scatter of a run
does not change when the run order or the number of machines changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from toollife.doe import design as doe_design
from toollife.simulation.physics import SENSORS, Taylor

# independent random streams
(STREAM_MACHINE, STREAM_TOOL, STREAM_ORDER, STREAM_EPS, STREAM_RUN_ANOMALY, STREAM_SENSOR, STREAM_INJECT,
 STREAM_IN_PROGRESS) = range(1, 9)

CATEGORICAL = {"coolant": "coolant_multiplier", "coating": "coating_multiplier"}
NUMERIC = ("cutting_speed", "feed", "depth_of_cut")
RESERVED = {"machine_id", "tool_id", "machine_idx", "tool_idx", "run_id", "replicate", "run_order",
            "std_order", "exec_order", "V", "f", "d"}
DRIFT_SENSORS = tuple(s for s in SENSORS if s != "flank_wear")


def rng(seed: int, stream: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream, *(int(k) for k in keys)])


def run_keys(row: Mapping[str, Any]) -> tuple[int, ...]:
    """(machine, tool, run_id, replicate[, experiment key]) of a run's random streams. The
    experiment key (``exp_key``) is 0 for a first experiment, so its streams are exactly the
    ones it always had; a follow-up experiment's runs get their own streams (see
    :func:`experiment_key`), while machine and tool random effects stay those of the seed."""
    keys = (int(row["machine_idx"]), int(row["tool_idx"]), int(row["run_id"]), int(row["replicate"]))
    ek = int(row.get("exp_key", 0) or 0)
    return keys + ((ek,) if ek else ())


def experiment_key(experiment_id: str | None) -> int:
    """32-bit key of a follow-up experiment's random streams (0 = a first experiment)."""
    if not experiment_id:
        return 0
    import hashlib

    return int.from_bytes(hashlib.blake2b(experiment_id.encode(), digest_size=4).digest(), "big") or 1


@dataclass(frozen=True)
class Factor:
    name: str
    low: Any
    high: Any
    unit: str | None = None

    @property
    def categorical(self) -> bool:
        return isinstance(self.low, str) or isinstance(self.high, str)


def factors_from_config(sim: Mapping[str, Any]) -> list[Factor]:
    physics = sim["physics"]
    factors = []
    for i, entry in enumerate(sim["design"]["factors"]):
        if not isinstance(entry, Mapping) or not {"name", "low", "high"} <= set(entry):
            raise ValueError(f"simulation.design.factors[{i}] needs name, low, high: got {entry!r}")
        extra = set(entry) - {"name", "low", "high", "unit"}
        if extra:
            raise ValueError(f"simulation.design.factors[{i}]: unknown keys {sorted(extra)}")
        f = Factor(str(entry["name"]), entry["low"], entry["high"], entry.get("unit"))
        if f.name in RESERVED:
            raise ValueError(f"factor name '{f.name}' is reserved")
        if f.low == f.high:
            raise ValueError(f"factor '{f.name}': low and high levels are equal ({f.low!r})")
        if f.name in NUMERIC and (f.categorical or not float(f.low) > 0 or not float(f.high) > 0):
            raise ValueError(f"factor '{f.name}' needs positive numeric levels, got {f.low!r}/{f.high!r}")
        if f.name in CATEGORICAL:
            known = physics[CATEGORICAL[f.name]]
            for level in (f.low, f.high):
                if level not in known:
                    raise ValueError(f"factor '{f.name}': level {level!r} is not one of {sorted(known)}")
        factors.append(f)
    names = [f.name for f in factors]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate factor names in simulation.design.factors: {names}")
    return factors


def design_label(k: int, generators: Sequence[str]) -> str:
    p = len(generators)
    if not p:
        return f"2^{k} full factorial"
    res = doe_design.design_resolution(k, list(generators))
    roman = {3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII", 8: "VIII"}.get(res, str(res))
    return f"2^({k}-{p}) resolution {roman}, {', '.join(generators)}"


def coded_design(factors: Sequence[Factor], generators: Sequence[str], center_points: int = 0) -> pd.DataFrame:
    """Coded -1/+1 design in standard order with a 1-based ``std_order`` (the contract's run_id),
    then ``center_points`` centre runs (all factors 0; numeric factors only: a categorical
    factor has no level between its two, so a design with one cannot have centre points)."""
    names = [f.name for f in factors]
    coded = (doe_design.fractional_factorial(names, list(generators)) if generators
             else doe_design.full_factorial(names))
    center_points = int(center_points or 0)
    if center_points < 0:
        raise ValueError(f"simulation.design.center_points must be >= 0, got {center_points}")
    if center_points:
        cats = [f.name for f in factors if f.categorical]
        if cats:
            raise ValueError(f"simulation.design.center_points needs numeric factors only: categorical factor(s) "
                             f"{cats} have no centre level (drop them from the design or set center_points: 0)")
        coded = doe_design.add_center_points(coded, center_points, names)
    coded = coded.reset_index(drop=True)
    coded.insert(0, "std_order", np.arange(1, len(coded) + 1))
    return coded


def machine_ids(n: int) -> list[str]:
    return [f"M{i:02d}" for i in range(1, n + 1)]


def tool_ids(n: int) -> list[str]:
    return [f"T{i:02d}" for i in range(1, n + 1)]


@dataclass
class Plan:
    runs: pd.DataFrame  # one row per run, in execution order per machine (see build_plan)
    taylor: pd.DataFrame  # one row per machine x tool: true parameters
    factors: list[Factor]
    design: str
    coded: pd.DataFrame  # the design in standard order (one replicate)


def _leave_in_progress(runs: pd.DataFrame, sim: Mapping[str, Any], seed: int) -> None:
    """Mark the last ``in_progress.per_machine`` runs of each machine as still cutting (in place):
    status ``in_progress``, cut so far ``end_min`` = U(min, max) x true life, never chipped."""
    cfg = sim["in_progress"]
    per_machine = int(cfg["per_machine"])
    lo, hi = float(cfg["cut_fraction_min"]), float(cfg["cut_fraction_max"])
    if per_machine < 0 or not 0.0 < lo <= hi < 1.0:
        raise ValueError("simulation.in_progress: per_machine must be >= 0 and "
                         f"0 < cut_fraction_min <= cut_fraction_max < 1, got {dict(cfg)}")
    runs["cut_fraction"] = np.nan
    if per_machine == 0:
        return
    last = runs.groupby("machine_idx")["exec_order"].transform("max")
    chosen = runs.index[runs["exec_order"] > last - per_machine]
    for i in chosen:
        g = rng(seed, STREAM_IN_PROGRESS, *run_keys(runs.loc[i]))
        runs.loc[i, "cut_fraction"] = lo + (hi - lo) * g.random()
    runs.loc[chosen, "status"] = "in_progress"
    runs.loc[chosen, "chipped"] = False
    runs.loc[chosen, "end_min"] = runs.loc[chosen, "true_tool_life_min"] * runs.loc[chosen, "cut_fraction"]


def _check_counts(sim: Mapping[str, Any]) -> tuple[int, int, int, int]:
    seed = int(sim["seed"])
    if seed < 0:
        raise ValueError(f"simulation.seed must be >= 0, got {seed}")
    n_machines, n_tools, r = int(sim["machines"]), int(sim["tools"]), int(sim["replicates"])
    for key, value, top in (("machines", n_machines, 9999), ("tools", n_tools, 9999), ("replicates", r, 10**6)):
        if not 1 <= value <= top:
            raise ValueError(f"simulation.{key} must be between 1 and {top}, got {value}")
    return seed, n_machines, n_tools, r


def true_taylor(sim: Mapping[str, Any], machine_idx: Sequence[int], tool_idx: Sequence[int]) -> pd.DataFrame:
    """True Taylor parameters of machine x tool combinations (0-based indices): the random
    effects come from the seed and the index only, so a follow-up sees the parent's truth."""
    seed = int(sim["seed"])
    physics = sim["physics"]
    n, a, b, C = physics["taylor_n"], physics["taylor_a"], physics["taylor_b"], physics["taylor_C"]
    if not (n > 0 and C > 0):
        raise ValueError("simulation.physics: taylor_n and taylor_C must be > 0")
    rows = []
    for mi, ti in zip(machine_idx, tool_idx):
        u_m = float(np.exp(rng(seed, STREAM_MACHINE, mi).normal(0.0, physics["sigma_machine"])))
        u_t = float(np.exp(rng(seed, STREAM_TOOL, ti).normal(0.0, physics["sigma_tool"])))
        rows.append({
            "machine_id": f"M{mi + 1:02d}", "tool_id": f"T{ti + 1:02d}", "machine_idx": int(mi), "tool_idx": int(ti),
            "n": n, "a": a, "b": b, "C_base": C, "u_machine": u_m, "u_tool": u_t, "C": C * u_m * u_t,
            **{f"m_coating_{k}": float(v) for k, v in physics["coating_multiplier"].items()},
            **{f"m_coolant_{k}": float(v) for k, v in physics["coolant_multiplier"].items()},
        })
    return pd.DataFrame(rows)


def build_plan(sim: Mapping[str, Any]) -> Plan:
    seed, n_machines, n_tools, r = _check_counts(sim)
    factors = factors_from_config(sim)
    generators = list(sim["design"]["generators"] or [])
    coded = coded_design(factors, generators, sim["design"].get("center_points", 0))
    names = [f.name for f in factors]
    idx = [(mi, ti) for mi in range(n_machines) for ti in range(n_tools)]
    taylor = true_taylor(sim, [m for m, _ in idx], [t for _, t in idx])
    frames = []
    for mi, ti in idx:
        runs = doe_design.add_replicates(coded, r)
        if sim["randomize"]:
            runs = doe_design.randomize(runs, [seed, STREAM_ORDER, mi, ti])
        else:
            runs = runs.assign(run_order=np.arange(1, len(runs) + 1))
        runs = runs.rename(columns={name: f"x_{name}" for name in names})
        runs.insert(0, "machine_id", f"M{mi + 1:02d}")
        runs.insert(1, "tool_id", f"T{ti + 1:02d}")
        runs.insert(2, "machine_idx", mi)
        runs.insert(3, "tool_idx", ti)
        frames.append(runs)
    runs = pd.concat(frames, ignore_index=True).rename(columns={"std_order": "run_id"})

    # natural units: exact level values (no mid +- half-range arithmetic that would turn 0.30
    # into 0.30000000000000004); a centre point (0) of a numeric factor is the midpoint
    for f in factors:
        x = runs[f"x_{f.name}"].to_numpy()
        if f.categorical:
            runs[f.name] = np.where(x > 0, f.high, f.low).astype(object)
        else:
            runs[f.name] = np.where(x > 0, float(f.high), np.where(x < 0, float(f.low),
                                                                   (float(f.low) + float(f.high)) / 2.0))
    label = design_label(len(factors), generators)
    if int(sim["design"].get("center_points", 0) or 0):
        label += f", {int(sim['design']['center_points'])} centre points"
    return plan_from_runs(sim, runs, factors, taylor, design=label, coded=coded)


def plan_from_runs(sim: Mapping[str, Any], runs: pd.DataFrame, factors: Sequence[Factor], taylor: pd.DataFrame, *,
                   design: str, coded: pd.DataFrame, exp_key: int = 0) -> Plan:
    """Truth, anomalies and clock of planned runs: ``runs`` has machine_id/tool_id/machine_idx/
    tool_idx, run_id, replicate, run_order and the natural level of every factor in ``factors``
    (standard factors not among them run at ``physics.nominal``). ``exp_key`` != 0 gives the
    runs random streams of their own (a follow-up experiment, :func:`experiment_key`)."""
    seed = int(sim["seed"])
    physics, sensors, anomalies = sim["physics"], sim["sensors"], sim["anomalies"]
    names = [f.name for f in factors]
    n, a, b = physics["taylor_n"], physics["taylor_a"], physics["taylor_b"]
    nominal = physics["nominal"]
    runs = runs.copy()
    runs["exp_key"] = int(exp_key)
    c_of = taylor.set_index(["machine_idx", "tool_idx"])["C"]
    runs["C"] = c_of.loc[list(zip(runs["machine_idx"], runs["tool_idx"]))].to_numpy(float)
    V = runs["cutting_speed"].to_numpy(float) if "cutting_speed" in names else np.full(len(runs), float(nominal["cutting_speed"]))
    fd = runs["feed"].to_numpy(float) if "feed" in names else np.full(len(runs), float(nominal["feed"]))
    d = runs["depth_of_cut"].to_numpy(float) if "depth_of_cut" in names else np.full(len(runs), float(nominal["depth_of_cut"]))
    coolant = runs["coolant"].to_numpy(object) if "coolant" in names else np.full(len(runs), nominal["coolant"], dtype=object)
    coating = runs["coating"].to_numpy(object) if "coating" in names else np.full(len(runs), nominal["coating"], dtype=object)
    runs["V"], runs["f"], runs["d"] = V, fd, d
    runs["coolant_eff"], runs["coating_eff"] = coolant, coating
    runs["m_coating"] = [float(physics["coating_multiplier"][c]) for c in coating]
    runs["m_coolant"] = [float(physics["coolant_multiplier"][c]) for c in coolant]

    # true tool life + run-level anomalies, each from the run's own streams
    eps, chipped, chip_frac, drift_sensor, drift_start, drift_sign = [], [], [], [], [], []
    for row in runs[["machine_idx", "tool_idx", "run_id", "replicate", "exp_key"]].to_dict("records"):
        keys = run_keys(row)
        eps.append(rng(seed, STREAM_EPS, *keys).normal(0.0, physics["sigma"]))
        g = rng(seed, STREAM_RUN_ANOMALY, *keys)
        u = g.random(5)
        chipped.append(bool(u[0] < anomalies["chipping_rate"]))
        chip_frac.append(0.2 + 0.7 * u[1])
        has_drift = bool(u[2] < anomalies["drift_rate"])
        drift_sensor.append(DRIFT_SENSORS[int(u[3] * len(DRIFT_SENSORS))] if has_drift else None)
        drift_start.append(0.1 + 0.6 * u[4])
        drift_sign.append(1.0 if g.random() < 0.7 else -1.0)
    law = Taylor(n, a, b, 1.0)
    runs["eps"] = np.asarray(eps, dtype=float)
    runs["ln_true_tool_life"] = (law.ln_life(V, fd, d, runs["m_coating"], runs["m_coolant"])
                                 + np.log(runs["C"].to_numpy()) / n + runs["eps"].to_numpy())
    runs["true_tool_life_min"] = np.exp(runs["ln_true_tool_life"])
    runs["chipped"] = chipped
    runs["chip_frac"] = chip_frac
    runs["status"] = np.where(runs["chipped"], "aborted", "worn_out")
    runs["end_min"] = np.where(runs["chipped"], runs["true_tool_life_min"] * runs["chip_frac"],
                               runs["true_tool_life_min"])
    runs["drift_sensor"] = drift_sensor
    runs["drift_start_frac"] = drift_start
    runs["drift_sign"] = drift_sign

    # the machine's clock: runs of all its tools in (run_order, tool) order, one after another
    runs = runs.sort_values(["machine_idx", "run_order", "tool_idx"], kind="mergesort").reset_index(drop=True)
    runs["exec_order"] = runs.groupby("machine_idx").cumcount() + 1
    _leave_in_progress(runs, sim, seed)
    gap_ms = int(round(sensors["setup_gap_s"] * 1000))
    dur_ms = np.round(runs["end_min"].to_numpy() * 60000.0).astype(np.int64)
    start_ms = np.zeros(len(runs), dtype=np.int64)
    for mi, idx in runs.groupby("machine_idx").indices.items():
        ends = np.cumsum(dur_ms[idx] + gap_ms)
        start_ms[idx] = np.concatenate([[0], ends[:-1]])
    runs["start_ms"] = start_ms
    runs["end_ms"] = start_ms + dur_ms
    keep = [c for c in taylor.columns if c not in ("machine_idx", "tool_idx")]
    return Plan(runs=runs, taylor=taylor[keep].reset_index(drop=True), factors=list(factors), design=design,
                coded=coded)
