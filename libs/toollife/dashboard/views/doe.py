"""DOE: for one experiment x machine x tool, the effects and their significance, the Pareto,
half-normal, main-effects and interaction plots, the best settings with their intervals, and
the Taylor curve and cost per part against cutting speed with the optimum marked; then the next
experiment the loop recommends (gold.doe_next_experiments) and what a follow-up resolved
(gold.doe_follow_up).

Every number comes from the gold tables the DOE job wrote; every figure from toollife.doe.plots.
"""

import streamlit as st

from toollife.dashboard import data, ui

config = ui.config()
doe_conf = config["doe"]
st.title("Design of experiments")

optimal = ui.read(config, "gold.doe_optimal_settings")
if not ui.available(optimal):
    st.stop()

all_factors = data.analysed_factors(optimal.frame, doe_conf["factors"])   # configured + the user's (imports)
combos = data.combinations(optimal.frame)
first = combos.iloc[0]
cols = st.columns(3)
experiments = sorted(combos["experiment_id"].unique())
experiment = cols[0].selectbox("experiment", experiments, index=experiments.index(first["experiment_id"]))
in_exp = combos[combos["experiment_id"] == experiment]
machines = sorted(in_exp["machine_id"].unique())
machine = cols[1].selectbox("machine", machines,
                            index=machines.index(first["machine_id"]) if first["machine_id"] in machines else 0)
in_machine = in_exp[in_exp["machine_id"] == machine]
tools = sorted(in_machine["tool_id"].unique())
tool = cols[2].selectbox("tool", tools, index=tools.index(first["tool_id"]) if first["tool_id"] in tools else 0)



def next_experiment_section(experiment: str, machine: str, tool: str) -> None:
    """The recommendation for this combination, and what its follow-ups resolved."""
    combination = [("machine_id", "=", machine), ("tool_id", "=", tool)]
    with ui.section("Next experiment"):
        plan_read = ui.read(config, "gold.doe_next_experiments", filters=[("experiment_id", "=", experiment),
                                                                           *combination])
        if ui.available(plan_read, f"{experiment} · {machine} · {tool}"):
            summary, runs = data.recommendation(plan_read.frame, all_factors)
            lineage = (f" · analysed with its lineage from {summary['root_experiment_id']}"
                       if summary["root_experiment_id"] not in (None, experiment) else "")
            st.markdown(f"**{summary['kind']}** (response `{summary['response']}`{lineage})")
            st.info(summary["reason"])
            if len(runs):
                st.caption(f"{len(runs)} runs to make, in natural units, clipped to the machine limits; "
                           f"`toollife simulate --plan-from gold.doe_next_experiments --parent {experiment}` runs them")
                st.dataframe(runs, hide_index=True)
        follow_read = ui.read(config, "gold.doe_follow_up", filters=combination)
        if follow_read.ok:
            rows = follow_read.frame
            rows = rows[(rows["experiment_id"] == experiment) | (rows["parent_experiment_id"] == experiment)]
            for fu in rows.sort_values("experiment_id").to_dict("records"):
                st.markdown(f"**{fu['experiment_id']}**, what the follow-up resolved:")
                st.dataframe(data.follow_up_summary(fu, alpha), hide_index=True)


alpha = float(doe_conf["alpha"])
row = data.pick(optimal.frame, experiment, machine, tool).iloc[0].to_dict()
if row["status"] == "skipped":
    st.warning(f"{experiment} · {machine} · {tool} was not analysed: {row.get('skip_reason')}")
    next_experiment_section(experiment, machine, tool)
    st.stop()
incomplete = row["status"] == "incomplete"      # lost runs: effects by least squares, no best settings yet
if incomplete:
    st.warning(f"{experiment} · {machine} · {tool} lost runs: {row.get('skip_reason')}")

# only this combination's rows, and of the runs only the columns the figures use
combination = [("experiment_id", "=", experiment), ("machine_id", "=", machine), ("tool_id", "=", tool)]
effects_read = ui.read(config, "gold.doe_effects", filters=combination)
runs_read = ui.read(config, "gold.experiment_runs", filters=combination)   # one combination: a few rows
scope = f"{experiment} · {machine} · {tool}"
# the least-squares rows (as before the censored fit existed); censored_mle rows in their own section
effects = data.fit_rows(effects_read.frame) if effects_read.ok else None
censored = data.fit_rows(effects_read.frame, "censored_mle") if effects_read.ok else None
runs = runs_read.frame if runs_read.ok else None
factors = data.design_factors(runs, all_factors) if runs is not None else []
response = str(effects["response"].iloc[0]) if effects is not None and len(effects) else (
    "ln_tool_life" if doe_conf["log_response"] else "tool_life")

with ui.section("Effects"):
    if ui.available(effects_read, scope):
        table = data.effects_table(effects)
        method = str(table["method"].iloc[0])
        st.caption(f"response `{response}` · {row['n_runs']} completed runs · "
                   f"{'ANOVA on replicates' if method == 'anova' else 'Lenth pseudo standard error'} · "
                   f"alpha = {alpha:g} · {int(table['significant'].sum())} of {len(table)} terms significant")
        st.dataframe(table.drop(columns="method"), hide_index=True, column_config={
            "significant": st.column_config.CheckboxColumn("significant"),
            "p_value": st.column_config.NumberColumn("p", format="%.4f"),
            "effect": st.column_config.NumberColumn(format="%.4f"),
            "coefficient": st.column_config.NumberColumn(format="%.4f"),
            "std_error": st.column_config.NumberColumn("std error", format="%.4f"),
            "t_value": st.column_config.NumberColumn("t", format="%.2f"),
        })
        left, right = st.columns(2)
        with left:
            ui.figure("pareto_figure", effects, alpha=alpha, title=f"Pareto chart of effects ({machine} · {tool})")
        with right:
            ui.figure("half_normal_figure", effects, title=f"Half-normal plot ({machine} · {tool})")

if censored is not None and len(censored):
    with ui.section("Censored lives: maximum likelihood"):
        st.caption(f"response `ln_tool_life` · {censored['note'].iloc[0]} · Wald z tests · alpha = {alpha:g}")
        st.dataframe(data.effects_table(censored), hide_index=True)

with ui.section("Main effects and interactions"):
    if ui.available(runs_read, scope) and factors:
        analysed = data.analysis_runs(runs, factors, response)
        ui.figure("main_effects_figure", analysed, factors, response)
        pairs = data.interaction_pairs(effects if effects is not None else analysed.iloc[0:0], factors)
        if pairs:
            labels = [f"{a} × {b}" for a, b in pairs]
            choice = st.selectbox("interaction", labels, index=0,
                                  help="two-factor interactions, the most significant first")
            f1, f2 = pairs[labels.index(choice)]
            left, _ = st.columns(2)
            with left:
                ui.figure("interaction_figure", analysed, f1, f2, response)

if incomplete:
    next_experiment_section(experiment, machine, tool)
    st.stop()

with ui.section("Best settings"):
    best = data.best_settings(row, factors or doe_conf["factors"])
    cols = st.columns(3)
    cols[0].metric("predicted tool life", f"{row['predicted_tool_life_min']:.1f} min")
    cols[1].metric(f"{1 - alpha:.0%} confidence interval", f"{row['ci_low']:.1f} – {row['ci_high']:.1f} min",
                   help="where the mean life at these settings lies")
    cols[2].metric(f"{1 - alpha:.0%} prediction interval", f"{row['pi_low']:.1f} – {row['pi_high']:.1f} min",
                   help="where the life of the next single tool at these settings lies")
    st.dataframe(best, hide_index=True)
    df_resid = row.get("df_resid")
    df_text = f"{int(df_resid)} residual df" if df_resid is not None and df_resid == df_resid else "no residual df"
    st.caption(f"reduced model ({row.get('method')}, {df_text}): {row.get('terms') or '-'}")

with ui.section("Taylor tool life and cost per part"):
    taylor = data.taylor_params(row)
    if taylor is None and row.get("taylor_note"):
        st.info(str(row["taylor_note"]))
    elif taylor is None:
        st.info("No usable Taylor fit for this combination (speed, feed or depth not varied, or n outside (0, 1)), "
                "so there is no cost optimum.")
    else:
        base = data.baseline_conditions(config)
        cost = dict(doe_conf["cost"])
        observed = data.runs_at(runs, config) if runs is not None else None
        cols = st.columns(4)
        cols[0].metric("Taylor n", f"{row['taylor_n']:.3f}", help=f"± {row['taylor_n_se']:.3f} (standard error)")
        cols[1].metric("cost-optimal speed", f"{row['cost_optimal_cutting_speed']:.0f} m/min",
                       help=f"tool life there: {row['cost_optimal_tool_life_min']:.1f} min")
        cols[2].metric("cost per part", f"{row['cost_per_part_optimal']:.3f}",
                       delta=f"{-row['savings_per_part']:.3f} vs {base['current_speed']:g} m/min",
                       delta_color="inverse")
        cols[3].metric("Taylor fit R²", f"{row['taylor_r_squared']:.3f}")
        st.caption(f"at the baseline conditions of conf `doe.baseline`: {base['label']}")
        left, right = st.columns(2)
        with left:
            ui.figure("taylor_curve_figure", taylor, base["f"], base["d"], coolant=base["coolant"],
                      coating=base["coating"], cost=cost, observed=observed)
        with right:
            ui.figure("cost_curve_figure", taylor, base["f"], base["d"], cost, coolant=base["coolant"],
                      coating=base["coating"], current_speed=base["current_speed"])

next_experiment_section(experiment, machine, tool)
