"""The lakehouse: where each table lives and its schema's home (``tables``), the run record
(``lineage``), maintenance (OPTIMIZE / VACUUM), the bootstrap of schemas, reading without Spark
(``reader``: delta-rs, DuckDB) and ``toollife tables``. Imports only ``toollife.config`` and
``toollife.errors``; Spark sessions are handed in, never built here."""
