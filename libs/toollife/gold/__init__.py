"""Gold layer: experiment runs (one row per run) and the DOE analysis of every machine x tool.

* :mod:`toollife.gold.experiment_runs` -- silver events + readings -> gold.experiment_runs (MERGE);
* :mod:`toollife.gold.doe_effects` -- gold.experiment_runs -> gold.doe_effects and
  gold.doe_optimal_settings (runs gathered per combination in the JVM, then vectorised pandas over
  Arrow batches of combinations);
* :mod:`toollife.gold.simulated` -- silver-shaped frames from the simulator, without Kafka.
"""
