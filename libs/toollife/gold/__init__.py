"""Gold layer: experiment runs (one row per run) and the DOE analysis of every machine x tool.

* :mod:`toollife.gold.experiment_runs` -- silver events + readings -> gold.experiment_runs (MERGE);
* :mod:`toollife.gold.doe_effects` -- gold.experiment_runs -> gold.doe_effects and
  gold.doe_optimal_settings (runs gathered per combination in the JVM, then vectorised pandas over
  Arrow batches of combinations); the pandas side is :mod:`~toollife.gold.doe_screen` (what can be
  analysed) and :mod:`~toollife.gold.doe_frames` (the rows), without Spark;
* :mod:`toollife.gold.next_experiments` -- gold.doe_next_experiments and gold.doe_follow_up, the
  next experiment of every machine x tool; the pandas side is :mod:`~toollife.gold.next_coding`
  (parameters, responses, coding) and :mod:`~toollife.gold.next_plan` (the planning);
* shared by both jobs: :mod:`~toollife.gold.arrow_batches` (Arrow batches of whole combinations),
  :mod:`~toollife.gold.writes` (per-experiment Delta writes), :mod:`~toollife.gold.options` (the
  jobs' ``--experiment-id``);
* :mod:`toollife.gold.simulated` -- silver-shaped frames from the simulator, without Kafka.
"""
