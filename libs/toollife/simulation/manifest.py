"""The manifest of a simulation: a JSON file under ``simulation.manifest_dir`` and one row of the
Delta table ``meta.simulation_runs``, written with delta-rs: the simulator starts no JVM (a Spark
session for this one row made `toollife simulate` take about 60 s instead of 4 here).

Both hold the simulation id, seed, config hash, counts per topic / injected kind / anomaly, and
the ground truth: the true Taylor parameters of every machine x tool combination (n, a, b, C with
its random effects, the coating/coolant multipliers), the true main effects on ln T, and the
true tool life of every run. The simulation id is deterministic (seed + config hash), so writing
the same simulation again replaces its file and its row (MERGE) instead of adding one.

The manifest also records the simulated clock (``clock``: the first and the last event's time).
``toollife simulate`` starts a new experiment where the last recorded one ended
(:class:`NextStart`), so its events are not all older than the ingestion's watermark (a second
experiment on the same clock start was 100 % "late"), and a simulation already recorded keeps its
recorded start: the same seed and settings publish byte-identical messages again.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from toollife.simulation.core import CONTRACT_VERSION, SimulationResult
from toollife.simulation.messages import Clock, parse_start

TABLE = ("meta", "simulation_runs")


def _clean(value: Any) -> Any:
    """JSON-safe plain python (numpy scalars -> python, NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def truth_runs_records(result: SimulationResult) -> list[dict[str, Any]]:
    runs = result.runs
    names = [f.name for f in result.factors]
    out = []
    for row in runs.to_dict("records"):
        out.append({
            "machine_id": row["machine_id"], "tool_id": row["tool_id"], "run_id": int(row["run_id"]),
            "replicate": int(row["replicate"]), "run_order": int(row["run_order"]),
            "factors": {n: (row[n] if isinstance(row[n], str) else float(row[n])) for n in names},
            "true_tool_life_min": float(row["true_tool_life_min"]),
            "ln_true_tool_life": float(row["ln_true_tool_life"]),
            "status": row["status"], "end_min": float(row["end_min"]),
            "drift_sensor": row["drift_sensor"],
        })
    return out


def build_manifest(result: SimulationResult, *, target: str, topics: Mapping[str, str] | None = None,
                   publish_report: Mapping[str, Any] | None = None, output_path: str | None = None,
                   created_at: datetime | None = None) -> dict[str, Any]:
    """The manifest as a plain dict (``created_at`` is the only wall-clock value)."""
    created_at = created_at or datetime.now(timezone.utc)
    sim = result.config
    phys = sim["physics"]
    taylor_cols = ["machine_id", "tool_id", "n", "a", "b", "C_base", "u_machine", "u_tool", "C"]
    return _clean({
        "simulation_id": result.simulation_id,
        "experiment_id": result.experiment_id,
        "parent_experiment_id": result.parent_experiment_id,
        "seed": result.seed,
        "config_hash": result.config_hash,
        "contract_version": CONTRACT_VERSION,
        "created_at": created_at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "design": result.design,
        "factors": [{"name": f.name, "low": f.low, "high": f.high, "unit": f.unit} for f in result.factors],
        "generators": [] if result.parent_experiment_id else list(sim["design"]["generators"] or []),
        "machines": sim["machines"], "tools": sim["tools"], "replicates": sim["replicates"],
        "target": target,
        "topics": dict(topics or {}),
        "output_path": output_path,
        "counts": result.counts,
        "clock": clock(result),
        "publish": dict(publish_report) if publish_report else None,
        "truth": {
            "coating_multiplier": dict(phys["coating_multiplier"]),
            "coolant_multiplier": dict(phys["coolant_multiplier"]),
            "sigma": phys["sigma"], "sigma_machine": phys["sigma_machine"], "sigma_tool": phys["sigma_tool"],
            "true_effects_ln_t": result.true_effects,
            "taylor": result.taylor[taylor_cols].to_dict("records"),
            "runs": truth_runs_records(result),
        },
        "config": sim,
    })


def clock(result: SimulationResult) -> dict[str, str]:
    """{"start", "end"}: the simulated clock's start and its last event (the latest run's end)."""
    start = result.config["sensors"]["start_time"]
    end_ms = int(result.runs["end_ms"].max()) if len(result.runs) else 0
    return {"start": start, "end": Clock(parse_start(start)).iso(end_ms)}


def choose_start(configured: str, simulation_id: str, recorded: Mapping[str, Mapping[str, str | None]],
                 gap_s: float) -> str:
    """The clock start of simulation ``simulation_id`` (pure).

    ``recorded``: {simulation_id: {"start", "end"}} of the simulations on record. A recorded
    simulation keeps its start (a rerun is byte-identical); a new one starts ``gap_s`` (a tool
    change) after the latest recorded end, rounded up to the second, or at ``configured`` if that
    is later (or nothing is recorded): the configured start is the earliest a simulation starts.
    """
    if simulation_id in recorded and recorded[simulation_id].get("start"):
        return str(recorded[simulation_id]["start"])
    ends = [parse_start(r["end"]) for r in recorded.values() if r.get("end")]
    first = parse_start(configured)
    if not ends or max(ends) + timedelta(seconds=gap_s) <= first:
        return configured
    after = max(ends).astimezone(first.tzinfo) + timedelta(seconds=gap_s)
    if after.microsecond:
        after = after.replace(microsecond=0) + timedelta(seconds=1)
    return Clock(after).iso(0)


def recorded_clocks(manifests: Iterable[Path]) -> dict[str, dict[str, str | None]]:
    """{simulation_id: {"start", "end"}} of manifest files; one written before the clock was
    recorded has its configured start and no end. Unreadable files are skipped."""
    out: dict[str, dict[str, str | None]] = {}
    for path in manifests:
        try:
            doc = json.loads(Path(path).read_text())
            rec = doc.get("clock") or {"start": doc["config"]["sensors"]["start_time"], "end": None}
            out[doc["simulation_id"]] = {"start": rec.get("start"), "end": rec.get("end")}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


class NextStart:
    """``start_for`` of :func:`toollife.simulation.core.simulate`: the start :func:`choose_start`
    gives a simulation, from the manifests under ``simulation.manifest_dir`` and those simulated
    since (``note``: several follow-ups of one command run one after another)."""

    def __init__(self, config: Mapping[str, Any]):
        sim = config["simulation"]
        self.configured = sim["sensors"]["start_time"]
        self.gap_s = float(sim["sensors"]["setup_gap_s"])
        self.recorded = recorded_clocks(sorted(Path(sim["manifest_dir"]).glob("*.json")))

    def __call__(self, simulation_id: str) -> str:
        return choose_start(self.configured, simulation_id, self.recorded, self.gap_s)

    def note(self, result: SimulationResult) -> None:
        self.recorded[result.simulation_id] = clock(result)


def manifest_path(config: Mapping[str, Any], simulation_id: str) -> Path:
    return Path(config["simulation"]["manifest_dir"]) / f"{simulation_id}.json"


def write_manifest(manifest: Mapping[str, Any], config: Mapping[str, Any]) -> Path:
    path = manifest_path(config, manifest["simulation_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def table_schema():
    from pyspark.sql import types as T

    str_map = T.MapType(T.StringType(), T.StringType())
    long_map = T.MapType(T.StringType(), T.LongType())
    dbl_map = T.MapType(T.StringType(), T.DoubleType())
    taylor = T.StructType([T.StructField(n, T.StringType()) for n in ("machine_id", "tool_id")]
                          + [T.StructField(n, T.DoubleType()) for n in ("n", "a", "b", "C_base", "u_machine", "u_tool", "C")])
    run = T.StructType([
        T.StructField("machine_id", T.StringType()), T.StructField("tool_id", T.StringType()),
        T.StructField("run_id", T.IntegerType()), T.StructField("replicate", T.IntegerType()),
        T.StructField("run_order", T.IntegerType()), T.StructField("factors", str_map),
        T.StructField("true_tool_life_min", T.DoubleType()), T.StructField("ln_true_tool_life", T.DoubleType()),
        T.StructField("status", T.StringType()), T.StructField("end_min", T.DoubleType()),
        T.StructField("drift_sensor", T.StringType()),
    ])
    return T.StructType([
        T.StructField("simulation_id", T.StringType(), False),
        T.StructField("experiment_id", T.StringType()),
        T.StructField("created_at", T.TimestampType()),
        T.StructField("seed", T.LongType()),
        T.StructField("config_hash", T.StringType()),
        T.StructField("contract_version", T.StringType()),
        T.StructField("design", T.StringType()),
        T.StructField("machines", T.IntegerType()),
        T.StructField("tools", T.IntegerType()),
        T.StructField("replicates", T.IntegerType()),
        T.StructField("target", T.StringType()),
        T.StructField("topics", str_map),
        T.StructField("messages", T.LongType()),
        T.StructField("messages_by_topic", long_map),
        T.StructField("valid_by_topic", long_map),
        T.StructField("delivered_by_topic", long_map),
        T.StructField("injected", long_map),
        T.StructField("anomalies", long_map),
        T.StructField("coating_multiplier", dbl_map),
        T.StructField("coolant_multiplier", dbl_map),
        T.StructField("sigma", T.DoubleType()),
        T.StructField("true_effects_ln_t", dbl_map),
        T.StructField("taylor", T.ArrayType(taylor)),
        T.StructField("runs", T.ArrayType(run)),
        T.StructField("manifest_path", T.StringType()),
        T.StructField("config_json", T.StringType()),
        T.StructField("parent_experiment_id", T.StringType()),
    ])


def table_row(manifest: Mapping[str, Any], path: str | None) -> dict[str, Any]:
    truth, counts = manifest["truth"], manifest["counts"]
    publish = manifest.get("publish") or {}
    created = datetime.fromisoformat(manifest["created_at"].replace("Z", "+00:00"))
    return {
        "simulation_id": manifest["simulation_id"], "experiment_id": manifest["experiment_id"],
        "created_at": created, "seed": int(manifest["seed"]), "config_hash": manifest["config_hash"],
        "contract_version": manifest["contract_version"], "design": manifest["design"],
        "machines": int(manifest["machines"]), "tools": int(manifest["tools"]),
        "replicates": int(manifest["replicates"]), "target": manifest["target"],
        "topics": dict(manifest["topics"]), "messages": int(counts["messages"]),
        "messages_by_topic": dict(counts["by_topic"]), "valid_by_topic": dict(counts["valid"]),
        "delivered_by_topic": dict(publish["delivered"]) if publish.get("delivered") else None,
        "injected": dict(counts["injected"]), "anomalies": dict(counts["anomalies"]),
        "coating_multiplier": {k: float(v) for k, v in truth["coating_multiplier"].items()},
        "coolant_multiplier": {k: float(v) for k, v in truth["coolant_multiplier"].items()},
        "sigma": float(truth["sigma"]),
        "true_effects_ln_t": {k: float(v) for k, v in truth["true_effects_ln_t"].items()},
        "taylor": [{k: (float(v) if k not in ("machine_id", "tool_id") else v) for k, v in t.items()}
                   for t in truth["taylor"]],
        "runs": [{**r, "factors": {k: str(v) for k, v in r["factors"].items()}} for r in truth["runs"]],
        "manifest_path": path,
        "config_json": json.dumps(manifest["config"], sort_keys=True),
        "parent_experiment_id": manifest.get("parent_experiment_id"),
    }


COMMENT = "One row per simulation: counts and ground truth (toollife.simulation)"


def write_table(config: Mapping[str, Any], manifest: Mapping[str, Any], path: str | None = None) -> None:
    """Upsert the manifest's row into meta.simulation_runs (MERGE on simulation_id: idempotent),
    with delta-rs. The schema is :func:`table_schema`'s (the Spark jobs read the table); a table
    created before a column existed (parent_experiment_id) gains it (``merge_schema``)."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake
    from deltalake.exceptions import DeltaError
    from pyspark.sql.pandas.types import to_arrow_schema   # a pure type mapping: no JVM

    from toollife.lakehouse import storage, tables

    tbl = tables.Table(*TABLE)
    uri = tbl.delta_rs_uri(config)
    options = storage.delta_rs_options(config, uri)
    schema = to_arrow_schema(table_schema(), timezone="UTC")
    row = table_row(manifest, path)
    data = pa.Table.from_pylist([row], schema=schema)
    if not DeltaTable.is_deltatable(uri, storage_options=options):
        try:
            write_deltalake(uri, data, mode="error", name=tbl.qualified, description=COMMENT,
                            storage_options=options)
            return
        except DeltaError:      # another simulation created it meanwhile: merge into it
            pass
    (DeltaTable(uri, storage_options=options).merge(data, "t.simulation_id = s.simulation_id", source_alias="s", target_alias="t",
                           merge_schema=True)
     .when_matched_update_all().when_not_matched_insert_all().execute())


def parents(spark, config: Mapping[str, Any]) -> dict[str, str]:
    """{follow-up experiment_id: parent experiment_id} from meta.simulation_runs ({} if absent)."""
    from delta.tables import DeltaTable

    from toollife.lakehouse import tables

    tbl = tables.Table(*TABLE)
    if not DeltaTable.isDeltaTable(spark, tbl.path(config)):
        return {}
    df = tables.read(spark, config, tbl)
    if "parent_experiment_id" not in df.columns:
        return {}
    rows = df.where("parent_experiment_id IS NOT NULL").select("experiment_id", "parent_experiment_id").collect()
    return {r[0]: r[1] for r in rows}


def record(config: Mapping[str, Any], manifest: Mapping[str, Any], *, table: bool = True) -> Path:
    """Write the manifest file and (unless ``table=False``) its meta.simulation_runs row."""
    path = write_manifest(manifest, config)
    if table:
        write_table(config, manifest, str(path))
    return path
