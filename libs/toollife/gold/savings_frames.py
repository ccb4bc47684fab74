"""gold.doe_savings rows of a batch of machine x tool combinations (pure pandas, no Spark).

Production volume and today's practice come from conf ``doe.production``: a plant-wide
``parts_per_year`` and, under ``per_combination`` keyed ``"<machine>/<tool>"``, any of
parts_per_year, the current cutting conditions (``doe.baseline`` keys) and the cost parameters
(``doe.cost`` keys) for that machine x tool; everything else falls back to ``doe.baseline`` and
``doe.cost``. An imported experiment uses the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from toollife.doe.savings import SAVINGS_KEYS, annual_savings, experiment_cost, payback_days
from toollife.config import ConfigError

TAYLOR_FACTORS = ("cutting_speed", "feed", "depth_of_cut")
EXTRA_KEYS = ["parts_per_year", "experiment_cost", "payback_days", "n_runs", "n_runs_completed"]


@dataclass(frozen=True)
class SavingsParams:
    """What the workers need (picklable): the plant default and the per-combination overrides."""

    cost: Mapping[str, float]
    baseline: Mapping[str, Any]
    parts_per_year: float
    per_combination: Mapping[str, Mapping[str, Any]]
    alpha: float = 0.05

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SavingsParams":
        doe = config["doe"]
        prod = doe["production"]
        allowed = {"parts_per_year", *doe["baseline"], *doe["cost"]}
        for combo, entry in (prod.get("per_combination") or {}).items():
            where = f"doe.production.per_combination.{combo}"
            if "/" not in str(combo):
                raise ConfigError(f"config key '{where}' must be named '<machine>/<tool>', e.g. 'M01/T02'", key=where)
            unknown = sorted(set(entry or {}) - allowed)
            if unknown:
                raise ConfigError(f"unknown config key '{where}.{unknown[0]}' (known keys here: "
                                  f"{', '.join(sorted(allowed))})", key=f"{where}.{unknown[0]}")
        return cls(cost=dict(doe["cost"]), baseline=dict(doe["baseline"]), parts_per_year=float(prod["parts_per_year"]),
                   per_combination={str(k): dict(v or {}) for k, v in (prod.get("per_combination") or {}).items()},
                   alpha=float(doe["alpha"]))

    def practice(self, machine: str, tool: str) -> tuple[dict, dict, float]:
        """(cost parameters, current conditions, parts per year) of one machine x tool."""
        over = self.per_combination.get(f"{machine}/{tool}", {})
        cost = {k: float(over.get(k, v)) for k, v in self.cost.items()}
        practice = {k: over.get(k, v) for k, v in self.baseline.items()}
        return cost, practice, float(over.get("parts_per_year", self.parts_per_year))


def savings_frame(runs: pd.DataFrame, gid: np.ndarray, keys: pd.DataFrame, params: SavingsParams) -> pd.DataFrame:
    """One row per combination (``keys``: machine_id, tool_id and ``_key``): the figures of
    :func:`toollife.doe.savings.annual_savings`, the experiments' cost and the payback, or
    status 'skipped' with the reason. ``runs`` holds ``_completed``, ``life``,
    ``cutting_time_min``, the Taylor factors and coolant/coating; ``gid`` the combination of each."""
    rows = []
    order = np.argsort(gid, kind="stable")
    bounds = np.searchsorted(gid[order], np.arange(len(keys) + 1))
    for g in range(len(keys)):
        r = runs.iloc[order[bounds[g]:bounds[g + 1]]]
        machine, tool = keys["machine_id"].iloc[g], keys["tool_id"].iloc[g]
        cost, practice, ppy = params.practice(machine, tool)
        row = {"_key": int(keys["_key"].iloc[g]), "parts_per_year": ppy, "n_runs": len(r),
               "n_runs_completed": int(r["_completed"].sum()),
               "experiment_cost": experiment_cost(r["cutting_time_min"], cost)}
        varied = [f for f in TAYLOR_FACTORS if f in r and pd.to_numeric(r[f], errors="coerce").nunique() > 1]
        if "cutting_speed" not in varied:
            row.update(status="skipped", reason="no cost analysis: the experiment does not vary cutting_speed "
                                                f"(it varies {', '.join(varied) or 'none of cutting_speed, feed, depth_of_cut'})")
            rows.append(row)
            continue
        # a factor the experiment held fixed is costed at the level it ran (the fit cannot move it)
        for f in ("feed", "depth_of_cut", "coolant", "coating"):
            if f in r and r[f].notna().any() and r[f].nunique() == 1:
                practice[f] = r[f].dropna().iloc[0]
        figures, why = annual_savings(r, cost, practice, ppy, alpha=params.alpha, life="life",
                                      completed=r["_completed"].to_numpy(bool))
        if figures is None:
            row.update(status="skipped", reason=why)
        else:
            row.update(figures, status="ok", reason=None,
                       significant=bool(figures["annual_saving_low"] > 0),
                       payback_days=payback_days(row["experiment_cost"], figures["annual_saving"]))
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in SAVINGS_KEYS + EXTRA_KEYS + ["status", "reason", "significant"]:
        if c not in out:
            out[c] = np.nan if c not in ("status", "reason", "significant") else None
    return out


def plant_totals(rows: pd.DataFrame) -> dict[str, Any]:
    """Plant-wide figures over the latest experiment of each machine x tool.

    The annual saving sums the estimates of the combinations whose saving is distinguishable from
    zero; its interval sums their bounds (conservative: as if the combinations' errors were
    perfectly correlated). Payback: the cost of every experiment of the costed combinations over
    that saving; an experiment whose result is not costed (e.g. an imported one without cutting
    speed, feed and depth as factors) bought no saving here, so it does not lengthen the payback."""
    ok = rows[rows["status"] == "ok"].sort_values("experiment_id").groupby(["machine_id", "tool_id"]).tail(1)
    sig = ok[ok["significant"].eq(True)]
    saving = float(sig["annual_saving"].sum())
    costed = rows.merge(ok[["machine_id", "tool_id"]], on=["machine_id", "tool_id"], how="inner")
    cost = float(costed["experiment_cost"].fillna(0).sum())
    return {"combinations": int(len(rows[["machine_id", "tool_id"]].drop_duplicates())), "combinations_costed": int(len(ok)), "combinations_significant": int(len(sig)),
            "annual_saving": saving, "annual_saving_low": float(sig["annual_saving_low"].sum()),
            "annual_saving_high": float(sig["annual_saving_high"].sum()), "experiment_cost": cost,
            "payback_days": float(cost / saving * 365.0) if saving > 0 else float("nan")}
