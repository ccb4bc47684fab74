"""toollife: tool-life Design-of-Experiments platform for machining plants.

Floors, bottom up (imports run one way; docs/architecture.md): errors, contracts -> config, doe
(pure statistics, no pyspark) -> lakehouse -> runtime (the Spark runtime) -> services, simulation
-> ingestion -> gold -> ml -> quality, live, dashboard -> cli, demo; jobs/ and airflow/ on top.
"""

__version__ = "0.1.0"
