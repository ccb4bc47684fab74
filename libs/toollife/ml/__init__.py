"""Tool-life models: Random Forest and gradient boosting, tracked and registered in MLflow with
champion / challenger aliases, and scored back into Delta.

Pure parts (no Spark): :mod:`features` (the model features, shared by training and scoring),
:mod:`models` (candidates, grouped splits, search, metrics, baselines), :mod:`tracking` (the
MLflow store and the promotion rule). Spark edges: :mod:`spark_features`, :mod:`datasets`,
:mod:`scoring`. :mod:`jobs` holds what the two spark-submit entry points run.
"""
