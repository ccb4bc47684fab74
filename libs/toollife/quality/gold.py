"""Gold suites: the analysis tables, each checked whole at its newest version (they are small,
rewritten by MERGE or per experiment, and their keys must be unique across the table, not
only among the new rows); they are checked only when they changed since the last validation.

* ``gold.experiment_runs``: schema, non-null run key, status enum, the run key unique, life
  and cutting time positive; referential integrity: every run has its ``run_started`` event in
  ``silver.tool_events`` (a warning by default: a late run_started can still arrive).
* ``gold.doe_effects``: non-null keys; every effect row belongs to an experiment run.
* ``gold.doe_optimal_settings``: one row per experiment x machine x tool, status ok | skipped.
* ``gold.tool_life_predictions``: schema, the prediction key unique, model name known,
  predictions non-negative.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from pyspark.sql import SparkSession

from toollife.lakehouse import tables
from toollife.gold import doe_effects as de
from toollife.gold.doe_screen import STATUSES
from toollife.gold import experiment_runs as er
from toollife.ingestion import schemas
from toollife.quality import expectations as ex
from toollife.quality.core import Suite, current_version, path_sql, table_suite
from toollife.runtime.sql import quote_identifier

LAYER = "gold"
PREDICTIONS = tables.Table("gold", "tool_life_predictions")
PREDICTION_KEY = [*er.RUN_KEY, "model_name"]
MODEL_NAMES = ("tool_life", "tool_rul")        # toollife.ml.tracking.MODEL_NAMES (not imported: it pulls in mlflow)


def _join(cols) -> str:
    return " AND ".join(f"b.{quote_identifier(c)} <=> r.{quote_identifier(c)}" for c in cols)


def runs_checks(config: Mapping[str, Any], silver_version: int | None) -> list:
    key = ", ".join(er.RUN_KEY)
    checks = [
        ex.columns_include("schema", er.experiment_runs_schema(config)),   # + imported factors' columns
        ex.not_null("keys_not_null", er.RUN_KEY + ["status", "row_hash"]),
        ex.in_set("status_known", "status", er.STATUSES),
        ex.compound_unique("run_key_unique", er.RUN_KEY),
        ex.unexpected_rows("life_positive",
                           f"SELECT {key}, tool_life_min, cutting_time_min FROM {{batch}} "
                           "WHERE tool_life_min <= 0 OR cutting_time_min < 0 OR flank_wear_mm < 0"),
    ]
    if silver_version is not None:
        events = path_sql(config, schemas.SOURCES["tool_events"].silver, silver_version)
        checks.append(ex.unexpected_rows(
            "run_has_run_started",
            f"SELECT {', '.join(f'b.{c}' for c in er.RUN_KEY)} FROM {{batch}} b LEFT ANTI JOIN "
            f"(SELECT DISTINCT {key} FROM {events} WHERE event = 'run_started') r ON {_join(er.RUN_KEY)} "
            f"WHERE coalesce(b.source, '{er.SIMULATION}') = '{er.SIMULATION}'",   # imported runs have no events
            severity="warning", description="every experiment run has its run_started event"))
    return checks


def effects_checks(config: Mapping[str, Any], runs_version: int | None) -> list:
    checks = [ex.not_null("keys_not_null", de.GROUP_COLS + ["term", "method", "n_runs"])]
    if runs_version is not None:
        runs = path_sql(config, er.EXPERIMENT_RUNS, runs_version)
        cols = de.GROUP_COLS
        checks.append(ex.unexpected_rows(
            "effect_has_experiment_run",
            f"SELECT DISTINCT {', '.join(f'b.{c}' for c in cols)} FROM {{batch}} b LEFT ANTI JOIN "
            f"(SELECT DISTINCT {', '.join(cols)} FROM {runs}) r ON {_join(cols)}",
            description="every effect row has its experiment runs"))
    return checks


def optimal_checks() -> list:
    return [
        ex.not_null("keys_not_null", de.GROUP_COLS + ["status"]),
        ex.compound_unique("key_unique", de.GROUP_COLS),
        ex.in_set("status_known", "status", STATUSES),
    ]


def predictions_checks() -> list:
    from toollife.ml.datasets import PREDICTIONS_SCHEMA

    return [
        ex.columns("schema", PREDICTIONS_SCHEMA),
        ex.not_null("keys_not_null", PREDICTION_KEY + ["model_version", "scored_at"]),
        ex.compound_unique("prediction_key_unique", PREDICTION_KEY),
        ex.in_set("model_known", "model_name", MODEL_NAMES),
        ex.unexpected_rows("predictions_non_negative",
                           "SELECT * FROM {batch} WHERE predicted_life_min < 0 OR remaining_life_min < 0 "
                           "OR predicted_life_lower_min > predicted_life_upper_min"),
    ]


def suites(spark: SparkSession, config: Mapping[str, Any], *, done: Mapping[str, int], as_of: datetime,
           skipped: dict[str, str], only: set[str] | None = None) -> list[Suite]:
    silver_events = schemas.SOURCES["tool_events"].silver
    wanted = {
        er.EXPERIMENT_RUNS: lambda: runs_checks(config, current_version(spark, config, silver_events)),
        de.EFFECTS: lambda: effects_checks(config, current_version(spark, config, er.EXPERIMENT_RUNS)),
        de.OPTIMAL: optimal_checks,
        PREDICTIONS: predictions_checks,
    }
    out = []
    for tbl, checks in wanted.items():
        if only is not None and tbl.qualified not in only:
            continue
        suite = table_suite(spark, config, tbl, [], done, skipped, incremental=False)
        if suite is not None:
            suite.checks = checks()
            out.append(suite)
    return out
