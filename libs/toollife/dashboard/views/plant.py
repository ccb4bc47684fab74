"""Plant: the experiments, machines x tools, the last ingest and its lag, the quarantine by
reason over time, and the job runs."""

import streamlit as st

from toollife.dashboard import data, ui

config = ui.config()
st.title("Plant")

runs = ui.read(config, "gold.experiment_runs",
               columns=[*data.RUN_KEY, "status", "started_at", "ended_at", "tool_life_min"])

with ui.section("Experiments"):
    if ui.available(runs):
        summary = data.experiments_summary(runs.frame)
        cols = st.columns(4)
        cols[0].metric("experiments", len(summary))
        cols[1].metric("machines", runs.frame["machine_id"].nunique())
        cols[2].metric("tools", runs.frame["tool_id"].nunique())
        cols[3].metric("runs", len(runs.frame), help="completed, running and aborted")
        st.dataframe(summary, hide_index=True)

with ui.section("Machines × tools"):
    if ui.available(runs):
        left, right = st.columns(2)
        left.caption("runs per machine and tool")
        left.dataframe(data.machine_tool_matrix(runs.frame))
        right.caption("median observed tool life (min) of the completed runs")
        right.dataframe(data.machine_tool_matrix(runs.frame, "median_life").round(1))
        optimal = ui.read(config, "gold.doe_optimal_settings",
                          columns=[*data.COMBINATION, "status", "skip_reason", "n_runs", "n_runs_not_completed",
                                   "computed_at"])
        if ui.available(optimal):
            st.caption("DOE analysis per combination (gold.doe_optimal_settings)")
            st.dataframe(data.combination_status(optimal.frame), hide_index=True)

with ui.section("Last ingest"):
    stats = ui.read(config, "meta.ingest_batch_stats")
    if ui.available(stats):
        lag = data.ingest_lag(stats.frame)
        cols = st.columns(max(len(lag), 1))
        for col, row in zip(cols, lag.itertuples()):
            col.metric(f"{row.source}: last ingest", f"{data.human_duration(row.minutes_since_last_ingest)} ago",
                       help=f"batch {row.last_batch_id} written at {row.last_ingest:%Y-%m-%d %H:%M:%S} UTC")
            col.metric(f"{row.source}: event-time lag", data.human_duration(row.event_time_lag_min),
                       help="written_at minus the newest event time in that batch (simulated clocks may start in the past)")
        st.dataframe(lag, hide_index=True)

with ui.section("Quarantine by reason over time"):
    quarantine = ui.read(config, "silver.quarantine", columns=["source", "reason_code", "ingest_time", "kafka_offset"])
    if ui.available(quarantine):
        over_time = data.quarantine_over_time(quarantine.frame)
        st.bar_chart(over_time, x_label="ingest time (UTC)", y_label="quarantined records", stack=True)
        st.dataframe(data.quarantine_by_reason(quarantine.frame), hide_index=True)

with ui.section("Job runs"):
    job_runs = ui.read(config, "meta.job_runs")
    if ui.available(job_runs):
        st.dataframe(data.job_runs_summary(job_runs.frame), hide_index=True)
        st.caption("latest runs (meta.job_runs)")
        st.dataframe(data.job_runs_table(job_runs.frame), hide_index=True,
                     column_config={"duration_s": st.column_config.NumberColumn("duration (s)", format="%.1f")})
