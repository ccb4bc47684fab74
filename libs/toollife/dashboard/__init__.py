"""The toollife dashboard: a Streamlit app over the lakehouse's Delta tables, without Spark.

``toollife dashboard`` (or ``make dashboard``) starts it on 127.0.0.1:8501. It reads the tables
with delta-rs (:mod:`toollife.lakehouse.reader`), shapes them with plain pandas
(:mod:`toollife.dashboard.data`) and draws the DOE figures with :mod:`toollife.doe.plots`, the
same functions the library and notebooks use. Pages: ``views/plant.py``, ``views/doe.py``,
``views/models.py``, ``views/quality.py``; ``app.py`` is the entry point Streamlit runs.
"""

from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
