"""toollife: tool-life Design-of-Experiments platform for machining plants.

Layers (arrows point one way): jobs/ and airflow/ -> stages (simulation, ingestion, doe jobs,
models) -> config, session, tables. ``toollife.doe`` and the simulator physics import no pyspark.
"""

__version__ = "0.1.0"
