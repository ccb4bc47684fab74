"""Where the lakehouse tables live and how they are named.

A table ``<layer>.<name>`` is a Delta table at ``<lakehouse.root>/<layer>/<name>``, registered in
the Spark catalog as an external table over that location, so it can be queried with
``spark.table("gold.doe_effects")`` or ``spark-sql -e "select * from gold.doe_effects"``. The
files are the source of truth: with the in-memory catalog of a laptop, :func:`register_existing`
re-registers every table at session start; with a Hive metastore the same statements are no-ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:  # Spark is imported where it is used: Table and its paths serve Spark-free readers too
    from delta.tables import DeltaTable
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

from toollife.errors import MissingInputError
from toollife.lakehouse import storage

LAYERS = ("bronze", "silver", "gold", "meta")


@dataclass(frozen=True)
class Table:
    layer: str
    name: str

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"unknown layer '{self.layer}' (one of {', '.join(LAYERS)})")

    @property
    def qualified(self) -> str:
        return f"{self.layer}.{self.name}"

    def path(self, config: Mapping[str, Any]) -> str:
        return f"{config['lakehouse']['root'].rstrip('/')}/{self.layer}/{self.name}"

    def delta_rs_uri(self, config: Mapping[str, Any]) -> str:
        """The location as delta-rs (``deltalake``) takes it: Spark's ``file:/x`` as a plain path,
        ``s3a://`` as ``s3://`` (with :func:`toollife.lakehouse.storage.delta_rs_options`)."""
        return storage.delta_rs_uri(self.path(config))

    def checkpoint(self, config: Mapping[str, Any], query: str | None = None) -> str:
        """Checkpoint location of the streaming query that writes this table."""
        suffix = f"/{query}" if query else ""
        return f"{config['lakehouse']['checkpoint_root'].rstrip('/')}/{self.layer}/{self.name}{suffix}"


def table(qualified: str) -> Table:
    layer, _, name = qualified.partition(".")
    if not name:
        raise ValueError(f"table name '{qualified}' must be <layer>.<table>")
    return Table(layer, name)


def ensure_schema(spark: SparkSession, layer: str) -> None:
    """CREATE SCHEMA once: on an existing schema Spark 4.2's IF NOT EXISTS logs a WARN
    ("Namespace X was created concurrently") every time."""
    if not spark.catalog.databaseExists(layer):
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {layer}")


def registered_location(spark: SparkSession, tbl: Table) -> str | None:
    if not spark.catalog.tableExists(tbl.qualified):
        return None
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {tbl.qualified}").collect()
    return next((r.data_type for r in rows if r.col_name == "Location"), None)


def register(spark: SparkSession, config: Mapping[str, Any], tbl: Table) -> None:
    """Make ``tbl`` visible in the catalog as an external Delta table over its location.

    An entry pointing elsewhere (another lakehouse root in the same session, e.g. in tests) is
    re-pointed; dropping an external table's entry never touches its files.
    """
    ensure_schema(spark, tbl.layer)
    _forget_if_elsewhere(spark, config, tbl)
    spark.sql(f"CREATE TABLE IF NOT EXISTS {tbl.qualified} USING DELTA LOCATION '{tbl.path(config)}'")


def _forget_if_elsewhere(spark: SparkSession, config: Mapping[str, Any], tbl: Table) -> None:
    """Drop a catalog entry of this name that points at another location (files untouched)."""
    location = registered_location(spark, tbl)
    wanted = tbl.path(config).removeprefix("file:").rstrip("/")
    if location is not None and location.removeprefix("file:").rstrip("/") != wanted:
        spark.sql(f"DROP TABLE {tbl.qualified}")


def existing_tables(config: Mapping[str, Any]) -> list[Table]:
    """Delta tables found under the lakehouse root: on disk, or in the bucket of an ``s3a://`` root
    (listed with pyarrow on conf's endpoint, so a laptop's in-memory catalog sees them too)."""
    root = config["lakehouse"]["root"]
    if storage.is_object_store(root):
        return _existing_in_object_store(config, root)
    if "://" in root and not root.startswith("file:"):
        return []  # another scheme (hdfs://, abfss://): the shared metastore knows the tables
    base = Path(root.removeprefix("file:"))
    found = []
    for layer in LAYERS:
        for log_dir in sorted((base / layer).glob("*/_delta_log")):
            found.append(Table(layer, log_dir.parent.name))
    return found


def _existing_in_object_store(config: Mapping[str, Any], root: str) -> list[Table]:
    from pyarrow import fs as pafs

    bucket, key = storage.bucket_and_key(root)
    s3 = storage.arrow_filesystem(config)
    found = []
    for layer in LAYERS:
        base = "/".join(p for p in (bucket, key, layer) if p)
        try:
            entries = s3.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        except OSError:  # no bucket (yet): nothing to register; the first write says what is wrong
            return found
        for entry in sorted(entries, key=lambda e: e.path):
            if entry.type == pafs.FileType.Directory and \
                    s3.get_file_info(f"{entry.path}/_delta_log").type == pafs.FileType.Directory:
                found.append(Table(layer, entry.base_name))
    return found


def register_existing(spark: SparkSession, config: Mapping[str, Any]) -> list[Table]:
    found = existing_tables(config)
    for tbl in found:
        register(spark, config, tbl)
    return found


def create_if_missing(
    spark: SparkSession,
    config: Mapping[str, Any],
    tbl: Table,
    schema: StructType,
    *,
    partition_by: Iterable[str] = (),
    properties: Mapping[str, str] | None = None,
    comment: str | None = None,
) -> DeltaTable:
    """Create the Delta table (idempotent) and register it; returns the DeltaTable handle."""
    from delta.tables import DeltaTable

    ensure_schema(spark, tbl.layer)
    _forget_if_elsewhere(spark, config, tbl)  # else createIfNotExists sees the name and does nothing
    if DeltaTable.isDeltaTable(spark, tbl.path(config)):
        # the table is there, perhaps with columns added since (schema evolution of imported
        # factors): register it as it is; createIfNotExists would refuse a schema that differs
        register(spark, config, tbl)
        handle = DeltaTable.forPath(spark, tbl.path(config))
        _apply_properties(spark, tbl, handle, properties or {})
        return handle
    builder = (
        DeltaTable.createIfNotExists(spark)
        .tableName(tbl.qualified)
        .location(tbl.path(config))
        .addColumns(schema)
    )
    partition_cols = list(partition_by)
    if partition_cols:
        builder = builder.partitionedBy(*partition_cols)
    for key, value in (properties or {}).items():
        builder = builder.property(key, value)
    if comment:
        builder = builder.comment(comment)
    handle = builder.execute()
    _apply_properties(spark, tbl, handle, properties or {})
    return handle


def _apply_properties(spark: SparkSession, tbl: Table, handle: DeltaTable, properties: Mapping[str, str]) -> None:
    """Bring an existing table's properties up to the configured ones (createIfNotExists leaves an
    existing table as it is, so a changed default would otherwise never reach it)."""
    if not properties:
        return
    current = handle.detail().first()["properties"] or {}
    stale = {k: str(v) for k, v in properties.items() if current.get(k) != str(v)}
    if stale:
        assignments = ", ".join(f"'{k}' = '{v}'" for k, v in stale.items())
        spark.sql(f"ALTER TABLE {tbl.qualified} SET TBLPROPERTIES ({assignments})")


def overwrite(
    df: DataFrame,
    config: Mapping[str, Any],
    tbl: Table,
    *,
    partition_by: Iterable[str] = (),
) -> None:
    """Replace the table's content atomically (a new Delta version; old ones stay readable)."""
    writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    partition_cols = list(partition_by)
    if partition_cols:
        writer = writer.partitionBy(*partition_cols)
    writer.save(tbl.path(config))
    register(df.sparkSession, config, tbl)


def merge_changed(spark: SparkSession, config: Mapping[str, Any], tbl: Table, target: DeltaTable,
                  source: DataFrame, keys: Iterable[str], *, delete_missing: str | None = None,
                  evolve: bool = False) -> dict[str, int]:
    """MERGE ``source`` into ``target`` on ``keys`` (null-safe): new rows are inserted, a known row
    is updated only when its ``row_hash`` differs, so a rerun on the same input changes nothing and
    nothing is ever duplicated; with ``delete_missing`` (a predicate on the target ``t``), target
    rows it selects that the source no longer has are deleted. With ``evolve``, columns of the
    source the table lacks are added to it (Delta schema evolution) and the table's columns the
    source lacks are null in the source (:func:`align`). Registers the table; returns Delta's
    source / inserted / updated / deleted row counts."""
    cond = " AND ".join(f"t.{k} <=> s.{k}" for k in keys)
    if evolve:
        source = align(source, target.toDF().schema)
    merge = (target.alias("t").merge(source.alias("s"), cond)
             .whenMatchedUpdateAll(condition="t.row_hash <> s.row_hash")
             .whenNotMatchedInsertAll())
    if delete_missing is not None:
        merge = merge.whenNotMatchedBySourceDelete(condition=delete_missing)
    if evolve:
        merge = merge.withSchemaEvolution()
    merge.execute()
    register(spark, config, tbl)
    metrics = target.history(1).select("operationMetrics").collect()[0][0] or {}
    return {k: int(metrics.get(k, 0))
            for k in ("numSourceRows", "numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted")}


def align(source: DataFrame, schema: StructType) -> DataFrame:
    """``source`` with every column of ``schema`` it lacks added as a typed null (its own extra
    columns kept, after them): a MERGE's UPDATE SET * then leaves nothing unresolved."""
    from pyspark.sql import functions as F

    have = {c.lower() for c in source.columns}
    missing = [F.lit(None).cast(f.dataType).alias(f.name) for f in schema.fields if f.name.lower() not in have]
    return source.select("*", *missing) if missing else source


def _missing_message(config: Mapping[str, Any], missing: list[str], filled_by: str) -> str:
    return (f"no table {', '.join(missing)} under {config['lakehouse']['root']} (lakehouse.root); "
            f"{'it is' if len(missing) == 1 else 'they are'} filled by {filled_by}: "
            f"run `toollife submit {filled_by}` first")


def _local_dir(config: Mapping[str, Any], tbl: Table) -> Path | None:
    path = tbl.path(config)
    if "://" in path and not path.startswith("file:"):
        return None
    return Path(path.removeprefix("file:"))


def require(spark: SparkSession | None, config: Mapping[str, Any], tbls: Iterable[Table], filled_by: str) -> None:
    """Raise :class:`MissingInputError` naming the tables that do not exist yet, the lakehouse root
    and the job that fills them (so every job says the same thing about an empty lakehouse).

    ``spark=None`` (a job's pre-flight, before any JVM): checks only tables on a local filesystem.
    """
    missing = []
    for tbl in tbls:
        local = _local_dir(config, tbl)
        if local is not None:
            exists = (local / "_delta_log").is_dir()
        elif spark is None:
            continue
        else:
            from delta.tables import DeltaTable

            exists = DeltaTable.isDeltaTable(spark, tbl.path(config))
        if not exists:
            missing.append(tbl.qualified)
    if missing:
        raise MissingInputError(_missing_message(config, missing, filled_by))


def read(spark: SparkSession, config: Mapping[str, Any], tbl: Table, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(tbl.path(config))
