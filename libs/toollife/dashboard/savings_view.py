"""What the summary page and the report show about gold.doe_savings (pure pandas, no Spark).

One place for both, so the dashboard's first page and the forwarded report say the same figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from toollife.gold.savings_frames import plant_totals

SAVINGS_COLUMNS = ["experiment_id", "machine_id", "tool_id", "status", "reason", "parts_per_year",
                   "cost_per_part_now", "cost_per_part_optimal", "saving_per_part",
                   "annual_saving", "annual_saving_low", "annual_saving_high", "significant", "optimal_speed",
                   "tool_changes_per_year_now", "tool_changes_per_year_optimal", "experiment_cost", "payback_days"]


def totals(savings: pd.DataFrame) -> dict[str, Any]:
    """Plant-wide annual saving with its interval, the experiments' cost and the payback."""
    return plant_totals(savings)


def headline(t: dict[str, Any], currency: str = "") -> str:
    """The one line the demo prints and the report opens with."""
    if not t["combinations_significant"]:
        return (f"no machine x tool combination has a saving distinguishable from zero yet "
                f"({t['combinations_costed']} costed of {t['combinations']}): see the recommended next experiments")
    payback = "n/a" if not np.isfinite(t["payback_days"]) else f"{t['payback_days']:.0f} days"
    return (f"annual saving {currency}{t['annual_saving']:,.0f} (95 % interval {currency}{t['annual_saving_low']:,.0f}"
            f" to {currency}{t['annual_saving_high']:,.0f}) on {t['combinations_significant']} of {t['combinations']} "
            f"machine x tool combinations; the experiments cost {currency}{t['experiment_cost']:,.0f}, payback {payback}")


def ranked(savings: pd.DataFrame) -> pd.DataFrame:
    """The costed combinations by annual saving, largest first, with the cumulative share (a Pareto)."""
    ok = savings[savings["status"] == "ok"].copy()
    ok["combination"] = ok["machine_id"] + " × " + ok["tool_id"]
    ok = ok.sort_values("annual_saving", ascending=False)
    positive = ok["annual_saving"].clip(lower=0)
    ok["cumulative_share"] = positive.cumsum() / positive.sum() if positive.sum() > 0 else np.nan
    return ok[["experiment_id", "combination", "annual_saving", "annual_saving_low", "annual_saving_high",
               "significant", "payback_days", "cumulative_share"]].reset_index(drop=True)


def undecided(savings: pd.DataFrame, next_experiments: pd.DataFrame | None) -> pd.DataFrame:
    """Combinations whose saving is not yet distinguishable from zero, with the next experiment
    recommended for them (gold.doe_next_experiments: its kind and reason)."""
    out = savings[(savings["status"] != "ok") | ~savings["significant"].eq(True)]
    out = out[["experiment_id", "machine_id", "tool_id", "status", "reason", "annual_saving",
               "annual_saving_low", "annual_saving_high"]]
    if next_experiments is not None and len(next_experiments):
        nxt = (next_experiments.drop_duplicates(["machine_id", "tool_id"], keep="last")
               [["machine_id", "tool_id", "kind", "reason"]].rename(columns={"kind": "next_experiment",
                                                                           "reason": "why"}))
        out = out.merge(nxt, on=["machine_id", "tool_id"], how="left")
    return out.reset_index(drop=True)


def trend(savings: pd.DataFrame) -> pd.DataFrame:
    """Per experiment (round), the summed significant saving and how many combinations it costs."""
    sig = savings.assign(_sig=savings["significant"].eq(True))
    g = sig.groupby("experiment_id", sort=True)
    return pd.DataFrame({
        "annual_saving": g.apply(lambda x: x.loc[x["_sig"], "annual_saving"].sum(), include_groups=False),
        "combinations_significant": g["_sig"].sum(),
        "combinations": g.size(),
    }).reset_index()
