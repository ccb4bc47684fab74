"""The dashboard's pages: each module is a script Streamlit runs (see ../app.py)."""
