"""Models: champion and challenger of each registered model with the champion's holdout plots
(from MLflow), the promotion history, the remaining useful life of the tools cutting now
(gold.tool_life_predictions, meta.model_promotions), and as the live scorer sees them, batch by
batch, with the remaining life over time against the alert thresholds (gold.tool_life_live and
its Change Data Feed)."""

import io
import tempfile
from pathlib import Path

import streamlit as st

from toollife.dashboard import data, models_view, ui

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
    with ui.section("Champion holdout plots"):
        st.caption("what training logged to MLflow for each champion: predicted against actual tool life on the "
                   "holdout, the remaining-life error by fraction of life cut, the residuals")
        plots_dir = Path(tempfile.gettempdir()) / "toollife-dashboard-plots"
        for model in sorted(promotions.frame["model_name"].dropna().unique()):
            version, pngs = models_view.champion_plots(config, model, plots_dir)
            if not pngs:
                st.info(f"{model}: no champion with holdout plots in the MLflow store")
                continue
            cols = st.columns(len(pngs))
            for col, png in zip(cols, pngs):
                col.image(str(png), caption=f"{model} v{version}: {png.stem.replace('_', ' ')}")

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
            changes = ui.read_changes(config, "gold.tool_life_live", columns=models_view.HISTORY_COLUMNS)
            history = models_view.remaining_life_history(changes.frame, cutting) if changes.ok else None
            if history is None or history.empty:
                st.info("No remaining-life history yet: the live scorer has not scored these tools.")
            else:
                fig = models_view.remaining_life_figure(history, config["live"]["alert_thresholds_min"])
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
                st.image(buf.getvalue())
