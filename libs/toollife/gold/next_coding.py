"""The planner's parameters, the analysed response of each run and the coding of a region
(pure pandas; see :mod:`toollife.gold.next_plan` for how they are used)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from toollife.doe.kernel import snap_levels

KEY = ["experiment_id", "machine_id", "tool_id"]
RESPONSES = ("ln_tool_life", "tool_life", "cost_per_part")
GEN = "_gen"
LIFE = "tool_life_min"
COMPLETED = "_completed"
NEW_FACTORIAL = "new_factorial"
SKIPPED = "skipped"


class Skip(ValueError):
    """A combination that cannot be planned; the message is the reason."""

@dataclass(frozen=True)
class NextParams:
    """What the per-batch maths needs (picklable: shipped to the Python workers)."""

    factors: tuple[str, ...]
    categorical: Mapping[str, tuple[str, str]]
    response: str = "ln_tool_life"
    alpha: float = 0.05
    maximize: bool = True
    relevant_effect: float | None = None
    target_power: float = 0.8
    n_steps: int = 5
    axial_alpha: Any = "rotatable"
    center_points: int = 3
    n_confirm: int = 3
    limits: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    cost: Mapping[str, float] = field(default_factory=dict)
    baseline: Mapping[str, Any] = field(default_factory=dict)
    string_factors: frozenset = frozenset()      # user factors whose natural level is a string column
    life_response: str = "ln_tool_life"          # planned on instead of cost_per_part where the experiment does
    life_maximize: bool = True                   # not vary cutting_speed, feed and depth_of_cut

    @classmethod
    def from_config(cls, config: Mapping[str, Any], columns: Mapping[str, str] | None = None) -> "NextParams":
        """``columns``: {name: Spark type name} of gold.experiment_runs: its ``coded_<name>``
        columns add the user's factors (:func:`toollife.gold.doe_screen.discover_factors`)."""
        from toollife.gold.doe_screen import discover_factors

        doe = config["doe"]
        nx = doe["next_experiment"]
        response = nx["response"] or ("ln_tool_life" if doe["log_response"] else "tool_life")
        if response not in RESPONSES:
            raise ValueError(f"doe.next_experiment.response must be one of {RESPONSES} or null, got {response!r}")
        limits = {}
        for f, lh in {**nx["limits"], **nx["extra_limits"]}.items():
            if lh is None:
                continue
            lo, hi = (float(v) for v in lh)
            if not lo < hi:
                raise ValueError(f"doe.next_experiment.limits.{f}: low {lo} must be < high {hi}")
            limits[f] = (lo, hi)
        axial = nx["axial_alpha"]
        try:
            axial = float(axial)
        except (TypeError, ValueError):
            pass
        maximize = bool(doe["maximize"]) if response != "cost_per_part" else False
        factors = discover_factors(doe["factors"], columns) if columns is not None else tuple(doe["factors"])
        return cls(
            factors=factors,
            string_factors=frozenset(f for f in factors if f not in doe["factors"]
                                     and (columns or {}).get(f) == "string"),
            life_response="ln_tool_life" if doe["log_response"] else "tool_life", life_maximize=bool(doe["maximize"]),
            categorical={f: (str(v[0]), str(v[1])) for f, v in doe["categorical_levels"].items()},
            response=response, alpha=float(doe["alpha"]), maximize=maximize,
            relevant_effect=None if nx["relevant_effect"] is None else float(nx["relevant_effect"]),
            target_power=float(nx["target_power"]), n_steps=int(nx["n_steps"]), axial_alpha=axial,
            center_points=int(nx["center_points"]), n_confirm=int(nx["n_confirm"]), limits=limits,
            cost={k: float(v) for k, v in doe["cost"].items()}, baseline=dict(doe["baseline"]),
        )

    @property
    def log_response(self) -> bool:
        return self.response == "ln_tool_life"

    def is_categorical(self, factor: str) -> bool:
        return factor in self.categorical or factor in self.string_factors


# --------------------------------------------------------------------------- responses
def responses(runs: pd.DataFrame, params: NextParams) -> np.ndarray:
    """The analysed response of each run (NaN: lost -- not completed, or no usable life)."""
    from toollife.doe import cost_per_part_at_life

    life = pd.to_numeric(runs[LIFE], errors="coerce").to_numpy(float)
    done = runs[COMPLETED].to_numpy(bool) if COMPLETED in runs.columns else np.isfinite(life)
    life = np.where(done & np.isfinite(life) & (life > 0), life, np.nan)
    if params.response != "cost_per_part":
        return life                         # recommend_next takes ln itself (log_response)

    def natural(name):
        base = float(params.baseline[name])
        if name in runs.columns:
            x = pd.to_numeric(runs[name], errors="coerce").to_numpy(float)
            return np.where(np.isfinite(x), x, base)
        return np.full(len(runs), base)

    return cost_per_part_at_life(natural("cutting_speed"), natural("feed"), life, params.cost)


# --------------------------------------------------------------------------- coding
@dataclass
class Coding:
    """Coded <-> natural of one region: numeric factors x = (v - centre) / half; categorical
    factors -1/+1 by their levels."""

    factors: list[str]
    centre: dict[str, float]
    half: dict[str, float]
    levels: dict[str, tuple[str, str]]

    def code(self, runs: pd.DataFrame) -> np.ndarray:
        X = np.empty((len(runs), len(self.factors)))
        for j, f in enumerate(self.factors):
            if f in self.levels:
                lo, hi = self.levels[f]
                v = runs[f].astype(object).to_numpy()
                X[:, j] = np.where(v == hi, 1.0, np.where(v == lo, -1.0, np.nan))
            else:
                v = pd.to_numeric(runs[f], errors="coerce").to_numpy(float)
                X[:, j] = (v - self.centre[f]) / self.half[f]
        # exact levels: 0.30 coded from 0.15/0.30 must be 1, not 0.9999999999999998
        return snap_levels(X)

    def natural(self, f: str, x: np.ndarray) -> np.ndarray:
        if f in self.levels:
            lo, hi = self.levels[f]
            return np.where(x > 0, hi, lo).astype(object)
        return self.centre[f] + np.asarray(x, dtype=float) * self.half[f]

    def coded_limits(self, limits: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        out = {}
        for f in self.factors:
            if f in self.levels:
                out[f] = (-1.0, 1.0)
            elif f in limits:
                lo, hi = limits[f]
                out[f] = ((lo - self.centre[f]) / self.half[f], (hi - self.centre[f]) / self.half[f])
        return out

def root_coding(root: pd.DataFrame, params: NextParams) -> Coding:
    """The root experiment's coding: the factors it varies (non-null coded level, as in
    gold.experiment_runs) with its own low/high."""
    factors = [f for f in params.factors if f"coded_{f}" in root.columns and root[f"coded_{f}"].notna().any()]
    if not factors:
        raise Skip("the experiment varies none of the configured factors")
    centre, half, levels = {}, {}, {}
    for f in factors:
        if f in params.categorical:
            levels[f] = params.categorical[f]
            continue
        if f in params.string_factors:           # a user's categorical factor: its levels are in the rows
            coded = root[f"coded_{f}"].to_numpy(float)
            lo, hi = root[f].to_numpy(object)[coded == -1], root[f].to_numpy(object)[coded == 1]
            if not len(lo) or not len(hi):
                raise Skip(f"categorical factor {f} has no run at its -1 or its +1 level")
            levels[f] = (str(lo[0]), str(hi[0]))
            continue
        x = pd.to_numeric(root[f], errors="coerce").to_numpy(float)
        lo, hi = np.nanmin(x), np.nanmax(x)
        if not hi > lo:
            raise Skip(f"every run sets {f} to {lo:g}: a factor run at one level has no low and high to "
                       "plan from (too few runs of this combination)")
        centre[f], half[f] = (lo + hi) / 2.0, (hi - lo) / 2.0
    return Coding(factors, centre, half, levels)


# --------------------------------------------------------------------------- JSON
def _jsonable(v: Any) -> Any:
    if isinstance(v, pd.DataFrame):
        return [_jsonable(r) for r in v.to_dict("records")]
    if isinstance(v, pd.Series):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else round(float(v), 10)
    return v

def dumps(v: Any) -> str:
    return json.dumps(_jsonable(v), sort_keys=True, separators=(",", ":"))
