"""The demo's closing summary, read back from the tables with delta-rs (no Spark session) and
checked against the simulator's truth (meta.simulation_runs)."""

from __future__ import annotations

import logging
from typing import Any, Mapping

import pandas as pd

from toollife.lakehouse import reader


def quality_summary(config: Mapping[str, Any], quality: Mapping[str, Mapping[str, int]]) -> list[str]:
    from toollife.quality.core import data_docs_index

    lines = ["    data quality (expectations this demo ran, meta.data_quality):"]
    for layer in ("bronze", "silver", "gold"):
        c = quality.get(layer)
        lines.append(f"      {layer:6s} " + (f"{c['passed']} passed, {c['warned']} warned, {c['failed']} failed"
                                            if c else "nothing new to check"))
    lines.append(f"      data docs: {data_docs_index(config)}")
    return lines


def summarize(config: Mapping[str, Any], experiment: str) -> str:
    """Read the tables back (delta-rs, no Spark session) and compare the analysis with the
    simulator's truth."""
    lines = ["", "==> summary (from the Delta tables)"]
    for name in ("bronze.sensor_readings_raw", "bronze.tool_events_raw", "silver.sensor_readings",
                 "silver.tool_events", "silver.quarantine", "gold.experiment_runs", "gold.doe_effects",
                 "gold.doe_optimal_settings", "gold.tool_life_predictions", "gold.doe_next_experiments",
                 "gold.doe_follow_up", "gold.doe_savings", "meta.model_promotions", "meta.job_runs"):
        count = reader.count(config, name)
        lines.append(f"    {name:32s} {'missing' if count is None else count}")

    quarantine = reader.read_frame(config, "silver.quarantine", columns=["reason_code"])
    if quarantine is not None:
        reasons = quarantine["reason_code"].value_counts().sort_index()
        lines.append("    quarantined by reason: " + ", ".join(f"{k}={n}" for k, n in reasons.items()))

    effects = reader.read_frame(config, "gold.doe_effects",
                                columns=["experiment_id", "machine_id", "tool_id", "fit", "term", "significant"])
    effects = effects[(effects["fit"].fillna("least_squares") == "least_squares")       # not the censored_mle rows
                      & effects["experiment_id"].str.startswith(experiment)]           # the simulation and its follow-up
    significant = effects[effects["significant"].fillna(False).astype(bool)]["term"].value_counts()
    combos = len(effects[["machine_id", "tool_id"]].drop_duplicates())
    lines.append(f"    terms significant (of {combos} machine x tool combinations): "
                 + ", ".join(f"{term}={n}" for term, n in significant.items()))

    optimal = reader.read_frame(config, "gold.doe_optimal_settings", filters=[("experiment_id", "=", experiment)])
    skipped = optimal[optimal["status"] != "ok"]
    lines.append(f"    combinations analysed: {len(optimal) - len(skipped)} of {len(optimal)}"
                 + "".join(f"; {r.machine_id}/{r.tool_id} {r.status}: {r.skip_reason}" for r in skipped.itertuples()))
    optimal = optimal[optimal["status"] == "ok"]
    truth = simulation_truth(config, experiment)
    true_taylor = list(truth["taylor"]) if truth is not None else []
    lines.append("    Taylor exponents per machine x tool, fitted (median) vs the simulator's truth:")
    for param in ("n", "a", "b"):
        true_value = sum(t[param] for t in true_taylor) / max(len(true_taylor), 1)
        lines.append(f"      {param}: fitted {optimal[f'taylor_{param}'].median():.3f}   true {true_value:.3f}")
    lines.append(f"    median predicted tool life at the best settings: {optimal['predicted_tool_life_min'].median():.1f} min")
    lines.append(f"    median cost-optimal cutting speed: {optimal['cost_optimal_cutting_speed'].median():.0f} m/min, "
                 f"saving {optimal['savings_per_part'].median():.3f} per part against the baseline settings")
    lines += model_summary(config, truth)
    lines += live_summary(config)
    lines += loop_summary(config, experiment)
    return "\n".join(lines)


def simulation_truth(config: Mapping[str, Any], experiment: str) -> pd.Series | None:
    """The newest meta.simulation_runs row of ``experiment`` (the follow-up has its own), or None."""
    runs = reader.read_frame(config, "meta.simulation_runs", filters=[("experiment_id", "=", experiment)])
    if runs is None or runs.empty:
        return None
    return runs.sort_values("created_at").iloc[-1]


def model_summary(config: Mapping[str, Any], truth: pd.Series | None) -> list[str]:
    """Each champion's holdout figures beside the oracle and the physics baseline, the remaining
    life of the tools still cutting against the simulator's truth (:func:`simulation_truth`),
    and where to look."""
    from toollife.ml import datasets, tracking

    logging.getLogger("mlflow").setLevel(logging.WARNING)   # the summary is for people, not a log
    client = tracking.configure(config)
    lines = ["    models (holdout of unseen design points; the oracle is the simulator's own law):"]
    for name in tracking.MODEL_NAMES:
        version = tracking.alias_version(client, name, tracking.CHAMPION)
        if version is None:
            lines.append(f"      {name}: no champion")
            continue
        mv = client.get_model_version(name, version)
        m = client.get_run(mv.run_id).data.metrics
        lines.append(f"      {name} champion v{version} ({mv.tags.get('candidate')}): RMSE ln T {m['holdout_rmse_ln_t']:.3f}"
                     f"  oracle {m['oracle_holdout_rmse_ln_t']:.3f}  physics (Taylor per machine x tool)"
                     f" {m['physics_holdout_rmse_ln_t']:.3f}  unseen tool {m['loto_rmse_ln_t']:.3f}")
        if name == "tool_rul":
            lines.append(f"        remaining-life MAE at 25 % / 50 % of life cut: {m['holdout_mae_rul_min_at_25']:.2f}"
                         f" / {m['holdout_mae_rul_min_at_50']:.2f} min; the tool_life champion"
                         f" {m['tool_life_champion_holdout_mae_rul_min_at_25']:.2f} / "
                         f"{m['tool_life_champion_holdout_mae_rul_min_at_50']:.2f} min")
            level = float(mv.tags.get("interval", "nan"))
            cover = [f"{m[k]:.0%} at {k.rsplit('_', 1)[1]} %" for k in ("holdout_coverage_at_25", "holdout_coverage_at_50")
                     if k in m]
            if cover:
                lines.append(f"        its {level:.0%} interval covers the true life of the holdout tools: " + ", ".join(cover))
    promotions = reader.read_frame(config, "meta.model_promotions", columns=["decision"])
    decisions = promotions["decision"].value_counts().sort_index() if promotions is not None else pd.Series(dtype=int)
    lines.append("      alias changes in meta.model_promotions: " + ", ".join(f"{k}={n}" for k, n in decisions.items()))
    live = reader.read_frame(config, datasets.PREDICTIONS.qualified, filters=[("model_name", "=", "tool_rul"), ("status", "=", "running")])
    live = live.sort_values("remaining_life_min") if live is not None else pd.DataFrame()
    true_life = {(r["machine_id"], r["tool_id"], r["run_id"], r["replicate"]): r["true_tool_life_min"]
                 for r in (truth["runs"] if truth is not None else [])}
    level = float(config["ml"]["interval"])
    lines.append(f"    tools cutting now ({len(live)}), remaining useful life by tool_rul against the truth:")
    for r in live.itertuples():
        true = true_life.get((r.machine_id, r.tool_id, r.run_id, r.replicate))
        told = "no prediction: " + r.reason if r.reason else (
            f"{r.remaining_life_min:5.1f} min left ({level:.0%} interval {max(r.predicted_life_lower_min - r.minutes_cut, 0):.1f}"
            f"-{r.predicted_life_upper_min - r.minutes_cut:.1f})")
        lines.append(f"      {r.machine_id}/{r.tool_id} run {r.run_id}.{r.replicate}: cut {r.minutes_cut:5.1f} min, {told}"
                     + (f"; true {true - r.minutes_cut:.1f} min left" if true is not None else ""))
    lines.append(f"    MLflow: `make mlflow-ui`, then open http://127.0.0.1:5000 (store {tracking.tracking_uri(config)})")
    return lines


def loop_summary(config: Mapping[str, Any], experiment: str, shown: int = 2) -> list[str]:
    """The round of the experiment loop: what was recommended after ``experiment``, and for a few
    combinations (of different kinds where there are) the reason, what the follow-up resolved,
    and the recommendation after it."""
    from toollife.gold.next_experiments import FOLLOW_UP, NEXT
    from toollife.simulation.follow_up import follow_up_id

    follow_up = follow_up_id(experiment)
    plan = reader.read_frame(config, NEXT.qualified, filters=[("run_no", "<=", 1)])
    first = plan[plan["experiment_id"] == experiment].sort_values(["machine_id", "tool_id"])
    kinds = first["kind"].value_counts()
    lines = [f"    experiment loop: after {experiment}, gold.doe_next_experiments recommends "
             + ", ".join(f"{k}={n}" for k, n in kinds.items()) + f"; the follow-up {follow_up} ran them"]
    resolved = reader.read_frame(config, FOLLOW_UP.qualified, filters=[("experiment_id", "=", follow_up)])
    resolved = resolved if resolved is not None else pd.DataFrame(columns=["machine_id", "tool_id"])
    after = plan[plan["experiment_id"] == follow_up].set_index(["machine_id", "tool_id"])
    picks = first.drop_duplicates("kind").head(shown)
    picks = pd.concat([picks, first.drop(picks.index)]).head(shown)   # different kinds first
    for r in picks.itertuples():
        lines.append(f"      {r.machine_id}/{r.tool_id}: {r.kind}: {r.reason}")
        fu = resolved[(resolved["machine_id"] == r.machine_id) & (resolved["tool_id"] == r.tool_id)]
        for f in fu.itertuples():
            found = ([f"{int(f.n_runs)} runs analysed with {experiment} ({f.model})"] if pd.notna(f.n_runs)
                     else ["its points run"])
            if f.resolved:
                found.append(f"resolved {f.resolved}")
            if f.nature:
                found.append(f"stationary point: {f.nature}")
            if pd.notna(f.cost_optimal_speed):
                found.append(f"cost-optimal speed {f.cost_optimal_speed:.0f} m/min")
            lines.append(f"        {follow_up} ({f.parent_kind}): " + "; ".join(found))
        if (r.machine_id, r.tool_id) in after.index:
            nxt = after.loc[[(r.machine_id, r.tool_id)]].iloc[0]
            lines.append(f"        next: {nxt['kind']}: {nxt['reason']}")
    lines.append("    the DOE page of the dashboard shows every combination's recommendation (`make dashboard`)")
    return lines


def live_summary(config: Mapping[str, Any]) -> list[str]:
    """The live scorer's view (gold.tool_life_live, gold.tool_alerts): remaining life of the tools cutting, alerts."""
    live = reader.read_frame(config, "gold.tool_life_live", filters=[("status", "=", "running")])
    if live is None:
        return ["    live scorer: no gold.tool_life_live"]
    live = live.sort_values("remaining_life_min")
    lines = [f"    live scorer (jobs/score_live.py): {len(live)} tool(s) cutting, remaining useful life now:"]
    for r in live.itertuples():
        told = ("no prediction: " + r.reason) if r.reason else (
            f"{r.remaining_life_min:5.1f} min left ({max(r.predicted_life_lower_min - r.minutes_cut, 0):.1f}"
            f"-{max(r.predicted_life_upper_min - r.minutes_cut, 0):.1f})")
        lines.append(f"      {r.machine_id}/{r.tool_id} run {r.run_id}.{r.replicate}: cut {r.minutes_cut:5.1f} min, {told}, "
                     f"tool_rul v{r.model_version}, newest reading {pd.Timestamp(r.last_reading_ts):%Y-%m-%d %H:%M:%S}")
    alerts = reader.read_frame(config, "gold.tool_alerts")
    alerts = alerts.sort_values("raised_at") if alerts is not None else pd.DataFrame()
    lines.append(f"    alerts raised (gold.tool_alerts, Kafka tool-alerts): {len(alerts)}")
    for r in alerts.itertuples():
        bound = getattr(r, "bound", None)
        by = (f"by the interval's lower end ({r.bound_remaining_life_min:.1f} min; estimate {r.remaining_life_min:.1f})"
              if bound == "lower" else f"({r.remaining_life_min:.1f} min left)")
        lines.append(f"      {r.machine_id}/{r.tool_id} run {r.run_id}.{r.replicate}: below {r.threshold_min:g} min "
                     f"{by}, {'published' if pd.notna(r.published_at) else 'pending'}")
    return lines


def where_to_look(config: Mapping[str, Any]) -> str:
    """The commands that open the results, for the end of the demo's output."""
    thrift = config["thrift"]
    return "\n".join([
        "", "==> look at the results (each command keeps running; Ctrl-C stops it)",
        "    make dashboard   Streamlit dashboard (plant, DOE charts, models): http://127.0.0.1:8501",
        f"    make thrift      JDBC for BI tools: jdbc:hive2://{thrift['host']}:{thrift['port']}/default"
        " (driver org.apache.hive.jdbc.HiveDriver)",
        "    make mlflow-ui   MLflow runs and registered models: http://127.0.0.1:5000",
        "    notebooks/doe_exploration.ipynb   the DOE of one machine x tool, step by step",
    ])


def savings_summary(config: Mapping[str, Any]) -> list[str]:
    """The plant-wide annual saving with its interval and the payback, and the report's path."""
    from toollife.dashboard.report import write_report
    from toollife.errors import UserError

    try:
        path, headline = write_report(config, "pdf")
    except UserError as exc:
        return ["", "==> what it is worth", f"    {exc}"]
    return ["", "==> what it is worth (gold.doe_savings)", f"    {headline}",
            f"    report for the plant manager: {path}  (`toollife report --format xlsx` for Excel)"]


def imported_summary(config: Mapping[str, Any]) -> list[str]:
    """Per imported experiment: its tools by status and the significant terms of its DOE."""
    runs = reader.read_frame(config, "gold.experiment_runs", columns=["experiment_id", "status", "source", "life_unit"])
    if runs is None or "source" not in runs or not (runs["source"] != "simulation").any():
        return []
    effects = reader.read_frame(config, "gold.doe_effects")
    lines = ["", "==> your own data (toollife import; gold.experiment_runs, gold.doe_effects)"]
    for exp, g in runs[runs["source"] != "simulation"].groupby("experiment_id"):
        counts = g["status"].value_counts()
        status = ", ".join(f"{k} {n}" for k, n in counts.items())
        line = f"    {exp}: {len(g)} runs ({status}) from {g['source'].iloc[0].rsplit('/', 1)[-1]}"
        if effects is not None:
            e = effects[effects["experiment_id"] == exp]
            if "fit" in e:
                e = e[e["fit"] == "least_squares"]
            sig = sorted(e.loc[e["significant"].eq(True), "term"])
            line += f"; significant: {', '.join(sig) if sig else 'none'}" if len(e) else "; not analysed"
        lines.append(line)
    return lines
