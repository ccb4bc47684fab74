"""Quality: the data-quality results per table over time (meta.data_quality)."""

import streamlit as st

from toollife.dashboard import data, ui

config = ui.config()
st.title("Data quality")

quality = ui.read(config, "meta.data_quality")
if not ui.available(quality):
    st.stop()

with ui.section("Latest validation per table"):
    st.dataframe(data.quality_latest(quality.frame), hide_index=True)

with ui.section("Expectations passed over time"):
    over_time = data.quality_over_time(quality.frame)
    if over_time is None:
        st.caption("meta.data_quality has no table / time / success columns to chart; its rows are below.")
    else:
        st.line_chart(over_time, y_label="share of expectations passed")

with ui.section("Failed expectations"):
    frame = quality.frame
    failed = frame[~frame["success"].astype(bool)] if "success" in frame.columns else frame
    if failed.empty:
        st.success("Every expectation passed.")
    else:
        st.dataframe(failed.tail(200), hide_index=True)
