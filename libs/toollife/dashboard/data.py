"""What the dashboard pages show, as plain pandas functions (no Streamlit, no Spark).

Each function takes the frames :mod:`toollife.lakehouse.reader` reads (shaped like the real
tables) and returns a small frame or dict ready to display. The statistics themselves are not
recomputed here: effects, intervals, Taylor coefficients and cost optimum come from the gold
tables, and the figures from :mod:`toollife.doe.plots`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

RUN_KEY = ["experiment_id", "machine_id", "tool_id", "run_id", "replicate"]
COMBINATION = ["experiment_id", "machine_id", "tool_id"]


def _utc(series: pd.Series) -> pd.Series:
    s = pd.to_datetime(series)
    return s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")


# --------------------------------------------------------------------------- Plant
def experiments_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment: machines, tools, runs by status, first start and last end."""
    status = runs["status"].fillna("running")
    out = runs.assign(_completed=status.eq("completed"), _running=status.eq("running"),
                      _aborted=status.eq("aborted")).groupby("experiment_id").agg(
        machines=("machine_id", "nunique"), tools=("tool_id", "nunique"), runs=("run_id", "size"),
        completed=("_completed", "sum"), running=("_running", "sum"), aborted=("_aborted", "sum"),
        first_start=("started_at", "min"), last_end=("ended_at", "max"))
    return out.reset_index()


def machine_tool_matrix(runs: pd.DataFrame, value: str = "runs") -> pd.DataFrame:
    """Machines (rows) x tools (columns): number of runs, or ``value='median_life'`` the median
    observed tool life of the completed runs."""
    if value == "median_life":
        done = runs[runs["status"] == "completed"]
        table = done.pivot_table(index="machine_id", columns="tool_id", values="tool_life_min", aggfunc="median")
    else:
        table = runs.pivot_table(index="machine_id", columns="tool_id", values="run_id", aggfunc="size",
                                 fill_value=0)
    table.index.name, table.columns.name = "machine", "tool"
    return table


def combination_status(optimal: pd.DataFrame) -> pd.DataFrame:
    """Per machine x tool combination of gold.doe_optimal_settings: analysed or why skipped."""
    cols = [c for c in [*COMBINATION, "status", "skip_reason", "n_runs", "n_runs_not_completed", "computed_at"]
            if c in optimal.columns]
    return optimal[cols].sort_values(COMBINATION).reset_index(drop=True)


def ingest_lag(batch_stats: pd.DataFrame, now: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per ingested source (meta.ingest_batch_stats): the last batch, how long ago it was
    written, and its event-time lag (written_at - the newest event time it held)."""
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    df = batch_stats.assign(written_at=_utc(batch_stats["written_at"]), max_event_ts=_utc(batch_stats["max_event_ts"]))
    rows = []
    for source, g in df.groupby("source", sort=True):
        last = g.sort_values(["written_at", "batch_id"]).iloc[-1]
        lag = last["written_at"] - last["max_event_ts"] if pd.notna(last["max_event_ts"]) else pd.NaT
        rows.append({
            "source": source,
            "last_ingest": last["written_at"],
            "minutes_since_last_ingest": (now - last["written_at"]).total_seconds() / 60.0,
            "event_time_lag_min": lag.total_seconds() / 60.0 if pd.notna(lag) else np.nan,
            "last_batch_id": int(last["batch_id"]),
            "last_batch_rows": int(last["rows_in"]),
            "batches": len(g),
            "silver_rows": int(g["silver_rows"].sum()),
            "quarantined": int(g["quarantined"].sum()),
            "duplicates_dropped": int(g["duplicates_dropped"].sum()),
        })
    return pd.DataFrame(rows)


def human_duration(minutes: float) -> str:
    """12.5 -> '12.5 min', 135 -> '2 h 15 min', 472749 -> '328 d 7 h' (simulated clocks may lie far back)."""
    if minutes is None or not np.isfinite(minutes):
        return "-"
    sign, m = ("-" if minutes < 0 else ""), abs(float(minutes))
    if m < 60:
        return f"{sign}{m:.1f} min"
    if m < 24 * 60:
        return f"{sign}{int(m // 60)} h {int(round(m % 60))} min"
    return f"{sign}{int(m // 1440)} d {int(round((m % 1440) / 60))} h"


def time_bucket(times: pd.Series) -> str:
    """pandas frequency for a time axis: minutes within two hours, hours within two days, else days."""
    span = times.max() - times.min() if len(times) else pd.Timedelta(0)
    if span <= pd.Timedelta(hours=2):
        return "min"
    return "h" if span <= pd.Timedelta(days=2) else "D"


def quarantine_over_time(quarantine: pd.DataFrame, freq: str | None = None) -> pd.DataFrame:
    """Quarantined records per time bucket (rows, by ingest time) and reason code (columns)."""
    t = _utc(quarantine["ingest_time"])
    freq = freq or time_bucket(t)
    table = (quarantine.assign(bucket=t.dt.floor(freq).dt.tz_localize(None))
             .pivot_table(index="bucket", columns="reason_code", values="kafka_offset", aggfunc="size", fill_value=0))
    table.index.name, table.columns.name = "ingest time (UTC)", "reason"
    return table


def quarantine_by_reason(quarantine: pd.DataFrame) -> pd.DataFrame:
    return (quarantine.groupby(["reason_code", "source"]).size().rename("records").reset_index()
            .sort_values(["records", "reason_code"], ascending=[False, True]).reset_index(drop=True))


def job_runs_table(job_runs: pd.DataFrame, limit: int = 50) -> pd.DataFrame:
    cols = [c for c in ["started_at", "job", "status", "duration_s", "env", "user", "error", "metrics", "run_id"]
            if c in job_runs.columns]
    return job_runs.sort_values("started_at", ascending=False)[cols].head(limit).reset_index(drop=True)


def job_runs_summary(job_runs: pd.DataFrame) -> pd.DataFrame:
    """Per job: runs, failures, last run, its status and duration."""
    df = job_runs.sort_values("started_at")
    out = df.groupby("job").agg(runs=("run_id", "size"), failed=("status", lambda s: int((s != "succeeded").sum())),
                                last_started=("started_at", "last"), last_status=("status", "last"),
                                last_duration_s=("duration_s", "last"))
    return out.reset_index()


# --------------------------------------------------------------------------- DOE
def combinations(optimal: pd.DataFrame) -> pd.DataFrame:
    """The experiment x machine x tool combinations with their analysis status, analysed first."""
    c = optimal[[*COMBINATION, "status"]].drop_duplicates(COMBINATION)
    return c.sort_values(["status", *COMBINATION], key=lambda s: s.ne("ok") if s.name == "status" else s
                         ).reset_index(drop=True)


def pick(frame: pd.DataFrame, experiment_id: str, machine_id: str, tool_id: str) -> pd.DataFrame:
    sel = (frame["experiment_id"] == experiment_id) & (frame["machine_id"] == machine_id) & (frame["tool_id"] == tool_id)
    return frame[sel].reset_index(drop=True)


def effects_table(effects: pd.DataFrame) -> pd.DataFrame:
    """The effect rows of one combination, largest |t| (or |effect|) first."""
    cols = [c for c in ["term", "effect", "coefficient", "std_error", "t_value", "p_value", "significant", "aliases",
                        "method"] if c in effects.columns]
    size = effects["t_value"].abs().fillna(effects["effect"].abs())
    return effects.assign(_size=size).sort_values("_size", ascending=False)[cols].reset_index(drop=True)


def analysed_factors(optimal: pd.DataFrame, configured: Sequence[str]) -> list[str]:
    """Every factor the DOE job analysed (its ``best_coded_<factor>`` columns: the configured ones
    and the user's factors of imported experiments), configured ones first."""
    found = [c[len("best_coded_"):] for c in optimal.columns if c.startswith("best_coded_")]
    return [f for f in configured if f in found or not found] + [f for f in found if f not in configured]


def fit_rows(effects: pd.DataFrame, fit: str = "least_squares") -> pd.DataFrame:
    """The effect rows of one fit (gold.doe_effects.fit: least_squares | censored_mle); rows
    written before the column existed are least squares."""
    if "fit" not in effects.columns:
        return effects if fit == "least_squares" else effects.iloc[0:0]
    col = effects["fit"].fillna("least_squares")
    return effects[col == fit].reset_index(drop=True)


def life_column(runs: pd.DataFrame) -> str:
    """gold.experiment_runs' analysed life: tool_life (in life_unit), tool_life_min before it existed."""
    return "tool_life" if "tool_life" in runs.columns else "tool_life_min"


def design_factors(runs: pd.DataFrame, factors: Sequence[str]) -> list[str]:
    """The configured factors this combination varies (its coded_<factor> is not all null)."""
    return [f for f in factors if f"coded_{f}" in runs.columns and runs[f"coded_{f}"].notna().any()]


def analysis_runs(runs: pd.DataFrame, factors: Sequence[str], response: str) -> pd.DataFrame:
    """Completed runs with one column per design factor holding its coded level (named after the
    factor, as the effect terms are) and the analysed response: ``ln_tool_life`` (the log of
    tool_life, as gold.doe_effects analyses it) or ``tool_life``."""
    life_col = life_column(runs)
    done = runs[(runs["status"] == "completed") & runs[life_col].notna()]
    out = pd.DataFrame({f: done[f"coded_{f}"].to_numpy(float) for f in factors}, index=done.index)
    life = done[life_col].to_numpy(float)
    out[response] = np.log(life) if response.startswith("ln") else life
    return out.reset_index(drop=True)


def interaction_pairs(effects: pd.DataFrame, factors: Sequence[str]) -> list[tuple[str, str]]:
    """Two-factor interactions of the design, most significant first (by p-value, then |effect|);
    pairs without an effect row (aliased away) come last."""
    rank: dict[tuple[str, str], tuple[float, float]] = {}
    for row in effects.itertuples():
        parts = str(row.term).split(":")
        if len(parts) == 2 and all(p in factors for p in parts):
            p = float(row.p_value) if pd.notna(row.p_value) else 1.0
            rank[(parts[0], parts[1])] = (p, -abs(float(row.effect)))
    pairs = [(a, b) for i, a in enumerate(factors) for b in factors[i + 1:]]
    return sorted(pairs, key=lambda ab: rank.get(ab, (2.0, 0.0)))


def best_settings(row: Mapping[str, Any], factors: Sequence[str]) -> pd.DataFrame:
    """Factor | best level (natural units) | coded level, from a gold.doe_optimal_settings row."""
    out = []
    for f in factors:
        coded = row.get(f"best_coded_{f}")
        natural = row.get(f"best_{f}")
        free = coded is None or (isinstance(coded, float) and math.isnan(coded))
        if free:
            level = "free (not in the model)"
        elif isinstance(natural, (int, float, np.number)) and not isinstance(natural, bool):
            level = f"{float(natural):g}"
        else:
            level = str(natural)
        out.append({"factor": f, "best level": level, "coded": None if free else float(coded)})
    return pd.DataFrame(out)


def taylor_params(row: Mapping[str, Any]) -> dict[str, float] | None:
    """The fitted Taylor coefficients of a gold.doe_optimal_settings row as toollife.doe.taylor
    takes them, or None without a usable fit. A coolant/coating multiplier the combination could
    not estimate counts as 1, as in the gold cost optimum (C then refers to the level that ran)."""
    names = {"n": "taylor_n", "a": "taylor_a", "b": "taylor_b", "C": "taylor_C",
             "coolant_multiplier": "taylor_coolant_multiplier", "coating_multiplier": "taylor_coating_multiplier"}
    out = {}
    for key, col in names.items():
        v = row.get(col)
        v = float("nan") if v is None else float(v)
        if math.isnan(v) and key.endswith("multiplier"):
            v = 1.0
        out[key] = v
    if not all(math.isfinite(out[k]) for k in ("n", "a", "b", "C")) or not 0 < out["n"] < 1:
        return None
    return out


def baseline_conditions(config: Mapping[str, Any]) -> dict[str, Any]:
    """Feed, depth, coolant/coating switches and current speed of the cost comparison (conf doe.baseline)."""
    doe = config["doe"]
    base, cats = doe["baseline"], doe["categorical_levels"]
    on = {name: str(base.get(name)) == str(cats[name][1]) if name in cats else False for name in ("coolant", "coating")}
    return {"f": float(base["feed"]), "d": float(base["depth_of_cut"]), "coolant": on["coolant"],
            "coating": on["coating"], "current_speed": float(base["cutting_speed"]),
            "label": f"feed {base['feed']} mm/rev, depth {base['depth_of_cut']} mm, "
                     f"coolant {base.get('coolant')}, coating {base.get('coating')}"}


def runs_at(runs: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """Speed and life of the completed runs cut at the baseline feed, depth, coolant and coating
    (the Taylor curve's conditions), for drawing them on it."""
    done = runs[runs["status"] == "completed"]
    base = config["doe"]["baseline"]
    sel = np.isclose(done["feed"].astype(float), float(base["feed"])) & \
        np.isclose(done["depth_of_cut"].astype(float), float(base["depth_of_cut"]))
    for name in ("coolant", "coating"):
        if name in done.columns:
            sel &= done[name].astype(str).eq(str(base.get(name))).to_numpy()
    return done.loc[sel, ["cutting_speed", "tool_life_min"]].reset_index(drop=True)


def recommendation(plan: pd.DataFrame, factors: Sequence[str]) -> tuple[dict[str, Any], pd.DataFrame]:
    """One combination's rows of gold.doe_next_experiments -> (kind, reason, parent, generation,
    response) and the runs to make in natural units, in run order (columns only where they vary:
    ``step`` for steepest ascent, the factors the plan sets)."""
    plan = plan.sort_values("run_no").reset_index(drop=True)
    head = plan.iloc[0]
    summary = {k: head.get(k) for k in ("kind", "reason", "root_experiment_id", "parent_experiment_id",
                                        "generation", "response")}
    cols = ["run_no", "point_type"] + [c for c in ["step", *factors] if c in plan.columns and plan[c].notna().any()]
    runs = plan[cols] if "run_no" in plan.columns and plan["run_no"].notna().any() else plan.iloc[0:0][cols]
    return summary, runs.reset_index(drop=True)


def follow_up_summary(row: Mapping[str, Any], alpha: float = 0.05) -> pd.DataFrame:
    """A gold.doe_follow_up row as (about, finding) rows a process engineer reads: the aliases
    before and after, what the follow-up resolved, the stationary point and the cost optimum."""
    def given(key: str) -> bool:
        v = row.get(key)
        return v is not None and not (isinstance(v, float) and math.isnan(v)) and v != ""

    out = [("follow-up of", f"{row.get('parent_experiment_id')} ({row.get('parent_kind')}), "
                            f"{int(row['n_runs'])} runs analysed together, model: {row.get('model')}")]
    if given("aliases_before") or given("aliases_after"):
        out.append(("aliases", f"before: {row.get('aliases_before') or 'none'}; after: {row.get('aliases_after') or 'none'}"))
    if given("resolved"):
        out.append(("resolved", str(row["resolved"])))
    if given("nature"):
        stationary = f" at {row['stationary_json']}" if given("stationary_json") else ""
        predicted = f", predicted response {row['predicted_at_stationary']:.3f}" if given("predicted_at_stationary") else ""
        out.append(("stationary point", f"{row['nature']}{stationary}{predicted}"))
    if given("cost_optimal_speed"):
        ci = (f" ({1 - alpha:.0%} CI {row['cost_optimal_speed_ci_low']:.0f}-{row['cost_optimal_speed_ci_high']:.0f})"
              if given("cost_optimal_speed_ci_low") and given("cost_optimal_speed_ci_high") else "")
        out.append(("cost-optimal speed", f"{row['cost_optimal_speed']:.0f} m/min{ci}"))
    return pd.DataFrame(out, columns=["about", "finding"])


# --------------------------------------------------------------------------- Models
def tools_cutting(predictions: pd.DataFrame) -> pd.DataFrame:
    """The latest prediction per run and model for tools still cutting (a remaining useful
    life), the shortest remaining life first."""
    df = predictions
    if "remaining_life_min" in df.columns:
        df = df[df["remaining_life_min"].notna()]
    keys = [c for c in [*RUN_KEY, "model_name"] if c in df.columns]
    if "scored_at" in df.columns:
        df = df.sort_values("scored_at").drop_duplicates(keys, keep="last")
    sort = [c for c in ["remaining_life_min", *keys] if c in df.columns]
    return df.sort_values(sort).reset_index(drop=True)


def live_cutting(live: pd.DataFrame) -> pd.DataFrame:
    """gold.tool_life_live: the runs still cutting, the shortest remaining useful life first (the
    runs without a prediction yet, e.g. too few readings, last)."""
    df = live[live["status"] == "running"] if "status" in live.columns else live
    sort = [c for c in ["remaining_life_min", *RUN_KEY] if c in df.columns]
    return df.sort_values(sort, na_position="last").reset_index(drop=True)


def current_aliases(promotions: pd.DataFrame) -> pd.DataFrame:
    """Who holds each alias now: the latest decision per model and alias."""
    df = promotions.sort_values("decided_at").drop_duplicates(["model_name", "alias"], keep="last")
    cols = [c for c in ["model_name", "alias", "version", "new_metric", "champion_metric", "replaced_version",
                        "decision", "decided_at"] if c in df.columns]
    order = df["alias"].ne("champion")                   # champion first, then the others by name
    return df.assign(_o=order).sort_values(["model_name", "_o", "alias"])[cols].reset_index(drop=True)


# --------------------------------------------------------------------------- Quality
QUALITY_TABLE_COLUMNS = ("table_name", "table", "qualified_table")
QUALITY_TIME_COLUMNS = ("validated_at", "checked_at", "run_at", "finished_at", "created_at")


def _first(columns: Sequence[str], candidates: Sequence[str]) -> str | None:
    return next((c for c in candidates if c in columns), None)


def quality_over_time(quality: pd.DataFrame) -> pd.DataFrame | None:
    """Share of passed expectations per table (columns) and validation run time (rows), or None
    if the table lacks a recognisable table/time/success column."""
    tcol = _first(quality.columns, QUALITY_TABLE_COLUMNS)
    ccol = _first(quality.columns, QUALITY_TIME_COLUMNS)
    if tcol is None or ccol is None or "success" not in quality.columns:
        return None
    df = quality.assign(_t=_utc(quality[ccol]).dt.tz_localize(None), _ok=quality["success"].astype(float))
    table = df.pivot_table(index="_t", columns=tcol, values="_ok", aggfunc="mean")
    table.index.name, table.columns.name = ccol, "table"
    return table


def quality_latest(quality: pd.DataFrame) -> pd.DataFrame:
    """The latest validation of each table: expectations passed, failed (critical / warning)."""
    tcol = _first(quality.columns, QUALITY_TABLE_COLUMNS)
    ccol = _first(quality.columns, QUALITY_TIME_COLUMNS)
    if tcol is None or ccol is None or "success" not in quality.columns:
        return quality.tail(50)
    last = quality[ccol] == quality.groupby(tcol)[ccol].transform("max")
    df = quality[last]
    sev = df["severity"] if "severity" in df.columns else pd.Series("critical", index=df.index)
    failed = ~df["success"].astype(bool)
    out = pd.DataFrame({tcol: df[tcol], ccol: df[ccol], "passed": ~failed,
                        "failed_critical": failed & sev.eq("critical"), "failed_warning": failed & sev.ne("critical")})
    return out.groupby([tcol, ccol]).sum().reset_index()
