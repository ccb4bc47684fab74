"""Summary: what the experiments are worth (gold.doe_savings): the plant-wide annual saving with
its interval and the payback, where the money is (a Pareto of the combinations), the combinations
whose saving is not yet distinguishable from zero with their next experiment, and the trend over
the experiment rounds."""

import streamlit as st

from toollife.dashboard import savings_view, ui

config = ui.config()
st.title("Summary")

savings = ui.read(config, "gold.doe_savings", columns=savings_view.SAVINGS_COLUMNS)

with ui.section("What it is worth"):
    if ui.available(savings):
        t = savings_view.totals(savings.frame)
        cols = st.columns(4)
        cols[0].metric("annual saving", f"{t['annual_saving']:,.0f}",
                       help="sum over the combinations whose saving is distinguishable from zero")
        cols[1].metric("95 % interval", f"{t['annual_saving_low']:,.0f} – {t['annual_saving_high']:,.0f}")
        cols[2].metric("experiments cost", f"{t['experiment_cost']:,.0f}")
        cols[3].metric("payback", "n/a" if t["payback_days"] != t["payback_days"] else f"{t['payback_days']:.0f} days")
        st.caption(savings_view.headline(t))

with ui.section("Where the money is"):
    if ui.available(savings):
        ranked = savings_view.ranked(savings.frame)
        st.bar_chart(ranked, x="combination", y="annual_saving", sort="-annual_saving", horizontal=True)
        st.dataframe(ranked, hide_index=True)

with ui.section("Not yet distinguishable from zero"):
    if ui.available(savings):
        nxt = ui.read(config, "gold.doe_next_experiments", columns=["machine_id", "tool_id", "kind", "reason"])
        table = savings_view.undecided(savings.frame, nxt.frame if nxt.ok else None)
        if len(table):
            st.dataframe(table, hide_index=True)
        else:
            st.success("every costed combination's saving is distinguishable from zero")

with ui.section("Trend across experiment rounds"):
    if ui.available(savings):
        st.line_chart(savings_view.trend(savings.frame), x="experiment_id", y="annual_saving")
