"""Entry point of the dashboard (``streamlit run app.py``; ``toollife dashboard`` does that).

Each page is a script under views/, registered with ``st.navigation`` so it has its own URL:
``/`` (Summary, the default page: what the experiments are worth), ``/plant``, ``/doe``, ``/models``,
``/quality``.
"""

import logging

import streamlit as st

from toollife.dashboard import ui

st.set_page_config(page_title="toollife", page_icon=":material/precision_manufacturing:", layout="wide")

PAGES = [
    st.Page("views/summary.py", title="Summary", icon=":material/savings:", default=True),
    st.Page("views/plant.py", title="Plant", icon=":material/factory:", url_path="plant"),
    st.Page("views/doe.py", title="DOE", icon=":material/science:", url_path="doe"),
    st.Page("views/models.py", title="Models", icon=":material/model_training:", url_path="models"),
    st.Page("views/quality.py", title="Quality", icon=":material/rule:", url_path="quality"),
]

page = st.navigation(PAGES)
ui.sidebar(ui.config())
try:
    page.run()
except Exception as exc:  # noqa: BLE001 - last boundary: one line for the user, the traceback in the server log
    logging.getLogger("toollife.dashboard").exception("page %s failed", page.title)
    st.error(f"This page could not be shown: {type(exc).__name__}: {exc}")
