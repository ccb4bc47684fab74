"""A small lakehouse written WITHOUT Spark (deltalake.write_deltalake), shaped like the real one.

The schemas are the platform's own Spark schemas converted to Arrow (``effects_schema()``,
``optimal_schema()``, ``experiment_runs_schema()``, the ingestion and lineage schemas), and the
gold DOE rows are computed by the same pure pandas functions the Spark job runs per batch
(``toollife.gold.doe_frames.effects_frame`` / ``optimal_frame``), so the dashboard sees what it
would see after ``make demo``. The model and quality tables (issues 10 and 11) have no schema in
the library yet; they are written with the columns those issues describe.

One experiment ``EXP-1`` on machines M01, M02 x tools T01, T02: a 2^(5-1) design, twice
replicated, with tool life from a Taylor law plus noise (seeded); M02/T02 also has a tool still
cutting, and M01/T02 lost a design point (both its runs aborted). M03/T01 ran only three runs, so the DOE job skips it, as it would.

The fixtures at the end are imported by the test modules that use them
(``from dashboard_lakehouse import filled_lakehouse, ...``).
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from toollife.lakehouse import reader

EXPERIMENT = "EXP-1"
LEVELS = {"cutting_speed": (180.0, 300.0), "feed": (0.2, 0.3), "depth_of_cut": (2.0, 3.0),
          "coolant": ("dry", "flood"), "coating": ("TiN", "TiAlN")}
TRUE_TAYLOR = {"n": 0.25, "a": 0.6, "b": 0.15, "C": 190.0, "coolant": 1.12, "coating": 1.15}
T0 = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)
COMPUTED_AT = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)


def _arrow(spark_schema) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema   # pure Python: no JVM, no session

    return pa.schema([f.remove_metadata() for f in to_arrow_schema(spark_schema, timezone="UTC")])


def _write(config: Mapping[str, Any], qualified: str, frame: pd.DataFrame, schema: pa.Schema,
           partition_by: list[str] | None = None) -> pd.DataFrame:
    table = pa.Table.from_pandas(frame.reindex(columns=schema.names), schema=schema, preserve_index=False)
    # the live table keeps a Change Data Feed, as the scorer creates it (its history on the Models page)
    feed = {"delta.enableChangeDataFeed": "true"} if qualified == "gold.tool_life_live" else None
    write_deltalake(reader.path(config, qualified), table, partition_by=partition_by, mode="overwrite",
                    configuration=feed)
    return table.to_pandas()


# --------------------------------------------------------------------------- gold
def experiment_runs(config: Mapping[str, Any]) -> pd.DataFrame:
    from toollife.doe import fractional_factorial

    rng = np.random.default_rng(12)
    factors = list(LEVELS)
    design = fractional_factorial(list("ABCDE"), ["E=ABCD"]).set_axis(factors, axis=1)
    rows = []
    combos = [("M01", "T01", 1.00), ("M01", "T02", 0.93), ("M02", "T01", 1.05), ("M02", "T02", 0.97)]
    for machine, tool, scale in combos:
        for replicate in (1, 2):
            for run_id, point in enumerate(design.itertuples(index=False), start=1):
                rows.append(_run(machine, tool, run_id, replicate, dict(zip(factors, point)), scale, rng))
    for row in rows:                # M01/T02 lost a design point (both replicates chipped): least squares
        if (row["machine_id"], row["tool_id"], row["run_id"]) == ("M01", "T02", 3):
            row.update(status="aborted", tool_life_min=None)
    cutting = _run("M02", "T02", 17, 1, dict(zip(factors, (-1, -1, -1, 1, 1))), 0.97, rng)
    cutting.update(status="running", ended_at=None, tool_life_min=None, cutting_time_min=25.0)
    rows.append(cutting)
    for run_id in (1, 2, 3):        # too few runs for any analysis: the DOE job skips this one
        rows.append(_run("M03", "T01", run_id, 1, dict(zip(factors, design.iloc[run_id - 1])), 1.0, rng))
    frame = pd.DataFrame(rows)
    from toollife.gold.doe_savings import savings_schema
    from toollife.gold.experiment_runs import experiment_runs_schema

    return frame.reindex(columns=_arrow(experiment_runs_schema(config)).names)


def _run(machine, tool, run_id, replicate, coded, scale, rng) -> dict[str, Any]:
    natural = {f: LEVELS[f][0 if c < 0 else 1] for f, c in coded.items()}
    t = TRUE_TAYLOR
    c_eff = t["C"] * scale * (t["coolant"] if natural["coolant"] == "flood" else 1) * \
        (t["coating"] if natural["coating"] == "TiAlN" else 1)
    life = (c_eff / (natural["cutting_speed"] * natural["feed"] ** t["a"] * natural["depth_of_cut"] ** t["b"])) \
        ** (1 / t["n"]) * float(np.exp(rng.normal(0, 0.05)))
    start = T0 + timedelta(hours=3 * (run_id + 16 * (replicate - 1)))
    row = {"experiment_id": EXPERIMENT, "machine_id": machine, "tool_id": tool, "run_id": run_id,
           "replicate": replicate, "status": "completed", "started_at": start,
           "ended_at": start + timedelta(minutes=life), **natural,
           "factors_json": pd.Series(natural).to_json(),
           **{f"coded_{f}": float(c) for f, c in coded.items()},
           "design_factors": list(LEVELS), "tool_life_min": life, "cutting_time_min": life,
           "flank_wear_mm": 0.3, "wear_rate_mm_per_min": 0.3 / life, "n_readings": int(life) * 5,
           "row_hash": f"{machine}-{tool}-{run_id}-{replicate}", "updated_at": COMPUTED_AT}
    for sensor in ("spindle_power", "vibration_rms", "temperature", "acoustic_emission", "flank_wear"):
        row.update({f"{sensor}_mean": 1.0, f"{sensor}_max": 2.0, f"{sensor}_slope": 0.01})
    return row


def doe_tables(config: Mapping[str, Any], runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """gold.doe_effects and gold.doe_optimal_settings rows, by the DOE job's own pandas functions."""
    from toollife.gold.doe_frames import effects_frame, optimal_frame
    from toollife.gold.doe_screen import COMPLETED, DoeParams

    params = DoeParams.from_config(config)
    pdf = runs.assign(**{COMPLETED: runs["status"].eq("completed")})
    effects = effects_frame(pdf, params).assign(response=params.response, computed_at=COMPUTED_AT)
    optimal = optimal_frame(pdf, params).assign(response=params.response, computed_at=COMPUTED_AT)
    return effects, optimal


def next_experiments(config: Mapping[str, Any], runs: pd.DataFrame) -> pd.DataFrame:
    """gold.doe_next_experiments rows, by the planning job's own pandas function."""
    from toollife.gold import next_coding as nc
    from toollife.gold import next_plan as nx

    params = nc.NextParams.from_config(config)
    pdf = runs.assign(**{nc.GEN: 0, nc.COMPLETED: runs["status"].eq("completed")})
    keys = pdf[nc.KEY].drop_duplicates().sort_values(nc.KEY).reset_index(drop=True)
    plan = nx.next_experiments_frame(pdf, params)
    plan = keys.iloc[plan.pop("_key")].reset_index(drop=True).join(plan)
    return plan.assign(root_experiment_id=plan["experiment_id"], row_hash="h", recommended_at=COMPUTED_AT)


def savings(config: Mapping[str, Any], runs: pd.DataFrame) -> pd.DataFrame:
    """gold.doe_savings rows, by the savings job's own pandas function."""
    from toollife.gold.savings_frames import SavingsParams, savings_frame

    keys = runs[["experiment_id", "machine_id", "tool_id"]].drop_duplicates().sort_values(
        ["experiment_id", "machine_id", "tool_id"]).reset_index(drop=True)
    gid = runs.merge(keys.reset_index(), on=["experiment_id", "machine_id", "tool_id"], how="left")["index"].to_numpy()
    frame = runs.assign(_completed=runs["status"].eq("completed"), life=runs["tool_life_min"])
    out = savings_frame(frame, gid, keys.assign(_key=np.arange(len(keys))), SavingsParams.from_config(config))
    out = keys.iloc[out.pop("_key")].reset_index(drop=True).join(out)
    return out.assign(alpha=0.05, computed_at=COMPUTED_AT)


# --------------------------------------------------------------------------- silver / meta
def quarantine() -> pd.DataFrame:
    reasons = ["malformed_json", "missing_field", "out_of_range", "unknown_sensor"]
    rows = []
    for i in range(14):
        ingest = T0 + timedelta(hours=26 + (i % 3), minutes=i)
        rows.append({"source": "sensor_readings" if i % 4 else "tool_events", "reason_code": reasons[i % 4],
                     "reason": f"bad record {i}", "event_id": None, "kafka_key": "M01", "raw_value": "{",
                     "payload_bytes": 1, "kafka_topic": "sensor-readings", "kafka_partition": i % 3,
                     "kafka_offset": 100 + i, "kafka_timestamp": ingest, "ingest_time": ingest,
                     "ingest_date": ingest.date()})
    return pd.DataFrame(rows)


def batch_stats() -> pd.DataFrame:
    rows = []
    for source in ("sensor_readings", "tool_events"):
        for batch in range(3):
            written = T0 + timedelta(hours=26 + batch)
            rows.append({"source": source, "query_id": f"q-{source}", "batch_id": batch, "rows_in": 1000 + batch,
                         "silver_rows": 990, "quarantined": 5, "duplicates_dropped": 5, "late_rows": 0,
                         "late_duplicates": 0, "max_event_ts": written - timedelta(minutes=4 + batch),
                         "watermark": written - timedelta(hours=1), "written_at": written})
    return pd.DataFrame(rows)


def job_runs() -> pd.DataFrame:
    rows = []
    for i, (job, status) in enumerate([("ingest_sensors", "succeeded"), ("aggregate_experiments", "succeeded"),
                                       ("compute_doe_effects", "failed"), ("compute_doe_effects", "succeeded")]):
        started = T0 + timedelta(hours=28, minutes=5 * i)
        rows.append({"run_id": f"run-{i}", "job": job, "env": "local", "status": status, "started_at": started,
                     "finished_at": started + timedelta(seconds=40), "duration_s": 40.0, "user": "ci",
                     "spark_app_id": f"local-{i}", "args": "{}", "metrics": "{}",
                     "error": "ValueError: boom" if status == "failed" else None})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- models, quality (issues 10, 11)
PREDICTIONS_SCHEMA = pa.schema([
    ("experiment_id", pa.string()), ("machine_id", pa.string()), ("tool_id", pa.string()), ("run_id", pa.int64()),
    ("replicate", pa.int64()), ("model_name", pa.string()), ("model_version", pa.string()),
    ("predicted_life_min", pa.float64()), ("predicted_life_lower_min", pa.float64()),
    ("predicted_life_upper_min", pa.float64()), ("minutes_cut", pa.float64()), ("remaining_life_min", pa.float64()),
    ("scored_at", pa.timestamp("us", tz="UTC")),
])
PROMOTIONS_SCHEMA = pa.schema([
    ("model_name", pa.string()), ("version", pa.string()), ("alias", pa.string()), ("replaced_version", pa.string()),
    ("new_metric", pa.float64()), ("champion_metric", pa.float64()), ("decision", pa.string()),
    ("decided_at", pa.timestamp("us", tz="UTC")),
])
QUALITY_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("table_name", pa.string()), ("version_start", pa.int64()), ("version_end", pa.int64()),
    ("expectation", pa.string()), ("severity", pa.string()), ("success", pa.bool_()),
    ("observed_value", pa.string()), ("unexpected_count", pa.int64()), ("unexpected_examples", pa.string()),
    ("validated_at", pa.timestamp("us", tz="UTC")),
])


def predictions() -> pd.DataFrame:
    scored = T0 + timedelta(hours=30)
    rows = []
    # three tools cutting now (remaining life), an older score of one of them, and a completed run
    for (machine, tool, run_id, cut, life) in [("M02", "T02", 17, 25.0, 61.0), ("M01", "T01", 18, 10.0, 22.0),
                                               ("M01", "T02", 19, 30.0, 95.0)]:
        rows.append({"experiment_id": EXPERIMENT, "machine_id": machine, "tool_id": tool, "run_id": run_id,
                     "replicate": 1, "model_name": "tool_rul", "model_version": "2", "predicted_life_min": life,
                     "predicted_life_lower_min": life * 0.8, "predicted_life_upper_min": life * 1.2,
                     "minutes_cut": cut, "remaining_life_min": life - cut, "scored_at": scored})
    rows.append({**rows[0], "model_version": "1", "remaining_life_min": 50.0, "scored_at": scored - timedelta(hours=1)})
    rows.append({**rows[0], "run_id": 1, "model_name": "tool_life", "minutes_cut": None, "remaining_life_min": None})
    return pd.DataFrame(rows)


def live() -> pd.DataFrame:
    """gold.tool_life_live: two tools cutting (one without a prediction yet) and one closed run."""
    scored = T0 + timedelta(hours=30)
    base = {"experiment_id": EXPERIMENT, "replicate": 1, "model_name": "tool_rul", "model_version": "2",
            "status": "running", "started_at": T0, "last_reading_ts": scored, "last_reading_kafka_ts": scored,
            "scored_at": scored, "ended_at": pd.NaT, "closed_at": pd.NaT}
    return pd.DataFrame([
        {**base, "machine_id": "M01", "tool_id": "T02", "run_id": 21, "minutes_cut": 12.0, "predicted_life_min": 40.0,
         "remaining_life_min": 28.0},
        {**base, "machine_id": "M02", "tool_id": "T01", "run_id": 22, "minutes_cut": 0.5, "n_flank_wear_readings": 1.0,
         "reason": "fewer than 3 flank-wear readings so far"},
        {**base, "machine_id": "M02", "tool_id": "T02", "run_id": 23, "minutes_cut": 18.0, "predicted_life_min": 21.0,
         "remaining_life_min": 3.0},
        {**base, "machine_id": "M03", "tool_id": "T01", "run_id": 24, "status": "completed", "minutes_cut": 30.0,
         "predicted_life_min": 31.0, "remaining_life_min": 1.0, "true_life_min": 30.5, "ended_at": scored,
         "closed_at": scored},
    ])


def live_earlier() -> list[pd.DataFrame]:
    """Two earlier scorer batches of :func:`live`'s runs: 4 and 8 minutes cut less, so the
    Models page has a remaining life over time to draw."""
    final = live()
    batches = []
    for back in (8.0, 4.0):
        b = final.copy()
        b["minutes_cut"] = (b["minutes_cut"] - back).clip(lower=0.0)
        b["remaining_life_min"] = b["remaining_life_min"] + back
        b["last_reading_ts"] = b["scored_at"] = b["last_reading_ts"] - timedelta(minutes=back)
        b["predicted_life_lower_min"] = b["predicted_life_min"] - 5.0
        b["predicted_life_upper_min"] = b["predicted_life_min"] + 5.0
        batches.append(b)
    return batches


def promotions() -> pd.DataFrame:
    t = T0 + timedelta(hours=29)
    return pd.DataFrame([
        {"model_name": "tool_life", "version": "1", "alias": "champion", "replaced_version": None,
         "new_metric": 0.110, "champion_metric": None, "decision": "first champion", "decided_at": t},
        {"model_name": "tool_life", "version": "2", "alias": "challenger", "replaced_version": None,
         "new_metric": 0.130, "champion_metric": 0.110, "decision": "worse than champion", "decided_at": t + timedelta(hours=1)},
        {"model_name": "tool_rul", "version": "1", "alias": "champion", "replaced_version": None,
         "new_metric": 9.5, "champion_metric": None, "decision": "first champion", "decided_at": t},
        {"model_name": "tool_rul", "version": "2", "alias": "champion", "replaced_version": "1",
         "new_metric": 7.1, "champion_metric": 9.5, "decision": "beats champion", "decided_at": t + timedelta(hours=2)},
    ])


def data_quality() -> pd.DataFrame:
    rows = []
    for k, when in enumerate([T0 + timedelta(hours=27), T0 + timedelta(hours=29)]):
        for table in ("silver.sensor_readings", "gold.experiment_runs"):
            for expectation, severity in (("not_null_keys", "critical"), ("freshness", "warning")):
                ok = not (k == 1 and table == "gold.experiment_runs" and expectation == "freshness")
                rows.append({"run_id": f"dq-{k}", "table_name": table, "version_start": k, "version_end": k + 1,
                             "expectation": expectation, "severity": severity, "success": ok,
                             "observed_value": "ok" if ok else "3 h old", "unexpected_count": 0 if ok else 1,
                             "unexpected_examples": None, "validated_at": when})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the lakehouse
def write_lakehouse(config: Mapping[str, Any], *, models: bool = True, quality: bool = True,
                    empty: bool = False) -> dict[str, pd.DataFrame]:
    """Write every table the dashboard reads under ``config['lakehouse']['root']``; returns the
    frames as written (Arrow-typed, read back by pandas), keyed by qualified name. ``empty``
    writes every table with its schema and no rows."""
    from toollife.gold.doe_effects import DoeParams, effects_schema, optimal_schema
    from toollife.ingestion import schemas
    from toollife.lakehouse.lineage import JOB_RUNS_SCHEMA
    from toollife.gold.doe_savings import savings_schema
    from toollife.gold.experiment_runs import experiment_runs_schema
    from toollife.gold.next_coding import NextParams
    from toollife.gold.next_experiments import next_schema
    from toollife.live.scorer import LIVE_SCHEMA

    runs = experiment_runs(config)
    effects, optimal = doe_tables(config, runs)
    params = DoeParams.from_config(config)
    plan = [
        ("gold.experiment_runs", runs, _arrow(experiment_runs_schema(config)), None),
        ("gold.doe_effects", effects, _arrow(effects_schema()), ["experiment_id"]),
        ("gold.doe_optimal_settings", optimal, _arrow(optimal_schema(params)), ["experiment_id"]),
        ("gold.doe_next_experiments", next_experiments(config, runs), _arrow(next_schema(NextParams.from_config(config))),
         ["experiment_id"]),
        ("gold.doe_savings", savings(config, runs), _arrow(savings_schema()), ["experiment_id"]),
        ("silver.quarantine", quarantine(), _arrow(schemas.QUARANTINE), ["ingest_date"]),
        ("meta.ingest_batch_stats", batch_stats(), _arrow(schemas.BATCH_STATS), None),
        ("meta.job_runs", job_runs(), _arrow(JOB_RUNS_SCHEMA), None),
    ]
    if models:
        plan += [("gold.tool_life_predictions", predictions(), PREDICTIONS_SCHEMA, None),
                 ("meta.model_promotions", promotions(), PROMOTIONS_SCHEMA, None),
                 ("gold.tool_life_live", live(), _arrow(LIVE_SCHEMA), None)]
    if quality:
        plan.append(("meta.data_quality", data_quality(), QUALITY_SCHEMA, None))
    written = {}
    if models and not empty:
        for batch in live_earlier():
            _write(config, "gold.tool_life_live", batch, _arrow(LIVE_SCHEMA))
    for qualified, frame, schema, parts in plan:
        written[qualified] = _write(config, qualified, frame.iloc[0:0] if empty else frame, schema, parts)
    return written


# --------------------------------------------------------------------------- fixtures
def _config(base_config, root):
    config = copy.deepcopy(base_config)
    config["lakehouse"]["root"] = str(root)
    return config


@pytest.fixture(scope="session")
def filled_lakehouse(base_config, tmp_path_factory):
    """(config, frames written) of a lakehouse with every table the dashboard reads."""
    config = _config(base_config, tmp_path_factory.mktemp("dash-filled") / "tables")
    return config, write_lakehouse(config)


@pytest.fixture(scope="session")
def empty_tables_lakehouse(base_config, tmp_path_factory):
    """Every table exists, none has a row."""
    config = _config(base_config, tmp_path_factory.mktemp("dash-empty-tables") / "tables")
    write_lakehouse(config, empty=True)
    return config


@pytest.fixture
def point_app_at(monkeypatch):
    """Point the dashboard (which reads conf from the environment, as `toollife dashboard` hands
    it over) at a lakehouse root."""
    def point(config_or_root):
        root = config_or_root["lakehouse"]["root"] if isinstance(config_or_root, dict) else str(config_or_root)
        monkeypatch.setenv("TOOLLIFE__LAKEHOUSE__ROOT", root)
        return root
    return point
