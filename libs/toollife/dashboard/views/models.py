"""Models: champion and challenger of each registered model, the promotion history, and the
remaining useful life of the tools cutting now (gold.tool_life_predictions, meta.model_promotions), and
as the live scorer sees them, batch by batch (gold.tool_life_live)."""

import streamlit as st

from toollife.dashboard import data, ui

config = ui.config()
st.title("Tool-life models")

PREDICTION_COLUMNS = ["experiment_id", "machine_id", "tool_id", "run_id", "replicate", "model_name", "model_version",
                      "remaining_life_min", "minutes_cut", "predicted_life_min", "predicted_life_lower_min",
                      "predicted_life_upper_min", "scored_at"]

with ui.section("Tools cutting now"):
    predictions = ui.read(config, "gold.tool_life_predictions")
    if ui.available(predictions):
        cutting = data.tools_cutting(predictions.frame)
        if cutting.empty:
            st.info("No tool is cutting now: no prediction in `gold.tool_life_predictions` has a remaining life.")
        else:
            st.caption("latest score per run and model, the shortest remaining useful life first")
            shown = [c for c in PREDICTION_COLUMNS if c in cutting.columns]
            st.dataframe(cutting[shown], hide_index=True, column_config={
                c: st.column_config.NumberColumn(format="%.1f")
                for c in shown if c.endswith("_min")})

promotions = ui.read(config, "meta.model_promotions")
with ui.section("Champion and challenger"):
    if ui.available(promotions):
        aliases = data.current_aliases(promotions.frame)
        for model, group in aliases.groupby("model_name", sort=True):
            cols = st.columns(max(len(group), 1))
            for col, r in zip(cols, group.itertuples()):
                metric = r.new_metric if isinstance(r.new_metric, (int, float)) else float("nan")
                col.metric(f"{model} @{r.alias}", f"version {r.version}", delta=f"holdout metric {metric:.4g}",
                           delta_color="off", delta_arrow="off", help=f"decision: {r.decision}, at {r.decided_at}")
        st.dataframe(aliases, hide_index=True)

if promotions.ok:
    with ui.section("Promotion history"):
        history = promotions.frame.sort_values("decided_at", ascending=False).reset_index(drop=True)
        st.dataframe(history, hide_index=True)

LIVE_COLUMNS = ["machine_id", "tool_id", "experiment_id", "run_id", "replicate", "remaining_life_min", "minutes_cut",
                "predicted_life_min", "predicted_life_lower_min", "predicted_life_upper_min", "model_version",
                "last_reading_ts", "scored_at", "reason"]

with ui.section("Tools cutting now, live"):
    live = ui.read(config, "gold.tool_life_live")
    if ui.available(live):
        cutting = data.live_cutting(live.frame)
        if cutting.empty:
            st.info("No tool is cutting now: every run in `gold.tool_life_live` has ended.")
        else:
            st.caption("the live scorer's latest prediction per run still cutting (champion at the time of "
                       "its batch), the shortest remaining useful life first")
            shown = [c for c in LIVE_COLUMNS if c in cutting.columns]
            st.dataframe(cutting[shown], hide_index=True, column_config={
                c: st.column_config.NumberColumn(format="%.1f") for c in shown if c.endswith("_min")})
