"""Importing real tool-life and wear data (worksheets, wear logs) into the lakehouse.

* :mod:`.spec`     what to import: the command's options or a YAML map file -> :class:`ImportSpec`
* :mod:`.reading`  the input file (CSV, Parquet, Excel; local or s3a://) -> strings + line numbers
* :mod:`.rules`    typed readings / runs and the quarantine rows with their reasons (pandas)
* :mod:`.life`     tool life from a wear curve at a criterion (numpy)
* :mod:`.landing`  the Spark side: silver.wear_measurements, silver.import_quarantine and the
  imported rows of gold.experiment_runs, each a row_hash MERGE
* :mod:`.cli`      ``toollife import runs|wear ...``: spark-submits jobs/import_measurements.py

Everything but :mod:`.landing` is pure (pandas/numpy, no Spark).
"""
