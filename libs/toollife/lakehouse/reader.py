"""Read the lakehouse's Delta tables without Spark: delta-rs (``deltalake``) into pandas.

The table locations come from the one config loader and :class:`toollife.lakehouse.tables.Table`, exactly
as the Spark jobs find them; nothing here knows a path of its own. A missing or empty table is
not an error: :func:`read` returns a :class:`TableRead` whose ``status`` says so, and
:func:`filled_by` names the job that fills it, so a caller (the dashboard) can say what to run.

    >>> from toollife.config import load_config
    >>> from toollife.lakehouse import reader
    >>> effects = reader.read(load_config(), "gold.doe_effects").frame   # None if missing

Importing this module starts no JVM (``toollife.lakehouse.tables`` imports the pyspark *package* for its
Spark helpers, which is cheap; no session is ever created).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from toollife.lakehouse import storage
from toollife.lakehouse.tables import Table, table

#: which job writes each table the dashboard shows (the message for a missing or empty table)
FILLED_BY: dict[str, str] = {
    "bronze.sensor_readings_raw": "jobs/ingest_sensors.py",
    "bronze.tool_events_raw": "jobs/ingest_sensors.py",
    "silver.sensor_readings": "jobs/ingest_sensors.py",
    "silver.tool_events": "jobs/ingest_sensors.py",
    "silver.quarantine": "jobs/ingest_sensors.py",
    "meta.ingest_batch_stats": "jobs/ingest_sensors.py",
    "meta.stream_progress": "jobs/ingest_sensors.py",
    "gold.experiment_runs": "jobs/aggregate_experiments.py",
    "gold.doe_effects": "jobs/compute_doe_effects.py",
    "gold.doe_optimal_settings": "jobs/compute_doe_effects.py",
    "gold.doe_next_experiments": "jobs/plan_next_experiments.py",
    "gold.doe_savings": "jobs/compute_savings.py",
    "gold.doe_follow_up": "jobs/plan_next_experiments.py (once a follow-up experiment has run)",
    "meta.job_runs": "every job in jobs/ (e.g. jobs/init_lakehouse.py)",
    "meta.simulation_runs": "toollife simulate",
    "gold.tool_life_predictions": "jobs/score_tool_life.py (after jobs/train_tool_life.py has trained a champion)",
    "meta.model_promotions": "jobs/train_tool_life.py",
    "gold.tool_life_live": "jobs/score_live.py (the live scorer, after jobs/train_tool_life.py has trained a champion)",
    "meta.data_quality": "jobs/validate_tables.py",
}

MISSING, EMPTY, OK, UNREADABLE = "missing", "empty", "ok", "unreadable"

# DNF filters as deltalake takes them: [("experiment_id", "=", "E1"), ...]
Filters = Sequence[tuple[str, str, Any]]


def filled_by(qualified: str) -> str:
    return FILLED_BY.get(qualified, "the job that writes it")


def _table(qualified: str | Table) -> Table:
    return qualified if isinstance(qualified, Table) else table(qualified)


def path(config: Mapping[str, Any], qualified: str | Table) -> str:
    """The table's location (``<lakehouse.root>/<layer>/<name>``), as the Spark jobs use it."""
    return _table(qualified).path(config)


def _uri(config: Mapping[str, Any], qualified: str | Table) -> str:
    return _table(qualified).delta_rs_uri(config)


def _arrow_filesystem(config: Mapping[str, Any], uri: str):
    """A native pyarrow filesystem rooted at the table, for delta-rs's pyarrow reads. Without one,
    delta-rs hands Arrow a Python filesystem handler: Arrow's I/O threads then call into Python, and
    one still pre-fetching at interpreter exit aborts the process ("terminate called without an
    active exception", exit 134; apache/arrow#39862) after correct output."""
    from pyarrow import fs as pafs

    if storage.is_object_store(uri):
        bucket, key = storage.bucket_and_key(uri)
        return pafs.SubTreeFileSystem(f"{bucket}/{key}", storage.arrow_filesystem(config))
    return pafs.SubTreeFileSystem(str(Path(uri).resolve()), pafs.LocalFileSystem())


def _open(config: Mapping[str, Any], qualified: str | Table, version: int | None = None):
    """The table as a delta-rs ``DeltaTable`` (None if there is none), on local disk or in object
    storage with conf's endpoint and the environment's credentials."""
    from deltalake import DeltaTable

    uri = _uri(config, qualified)
    options = storage.delta_rs_options(config, uri)
    if not DeltaTable.is_deltatable(uri, storage_options=options):
        return None
    return DeltaTable(uri, version=version, storage_options=options)


@dataclass
class TableRead:
    """One read of a table: its frame (None if missing), status, Delta version and location."""

    name: str
    location: str
    status: str
    frame: pd.DataFrame | None = None
    version: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    def message(self, scope: str | None = None) -> str:
        """What a person should read when there is nothing to show (``scope``: the rows that were
        asked for, e.g. one combination, if the read was filtered)."""
        job = filled_by(self.name)
        if self.status == MISSING:
            return f"`{self.name}` does not exist yet (no Delta table at `{self.location}`). It is filled by `{job}`."
        if self.status == EMPTY:
            which = f"no rows for {scope}" if scope else "no rows yet"
            return f"`{self.name}` has {which}. It is filled by `{job}`."
        if self.status == UNREADABLE:
            return f"`{self.name}` at `{self.location}` could not be read: {self.error}"
        return f"`{self.name}`: {len(self.frame)} rows (Delta version {self.version})."


def version(config: Mapping[str, Any], qualified: str) -> int | None:
    """The table's current Delta version, or None if there is no Delta table there."""
    dt = _open(config, qualified)
    return None if dt is None else dt.version()


def count(config: Mapping[str, Any], qualified: str) -> int | None:
    """The table's row count (None if there is no Delta table): from the ``numRecords`` statistics
    Spark writes in every add action, so no data file is read; a file without them is counted
    by reading it."""
    import pyarrow as pa

    dt = _open(config, qualified)
    if dt is None:
        return None
    records = pa.table(dt.get_add_actions(flatten=True)).column("num_records").to_pylist()
    if all(n is not None for n in records):
        return int(sum(records))
    return dt.to_pyarrow_dataset(filesystem=_arrow_filesystem(config, _uri(config, qualified))).count_rows()


def read(
    config: Mapping[str, Any],
    qualified: str,
    *,
    columns: Sequence[str] | None = None,
    filters: Filters | None = None,
    as_of: int | None = None,
) -> TableRead:
    """Read ``<layer>.<name>`` into pandas (optionally some columns, rows by ``filters``, or
    the table as of Delta version ``as_of``). Missing table -> status 'missing', no rows ->
    'empty'; never raises for either. Columns asked for but absent are left out, so a reader
    written for a newer schema still shows what an older table has."""
    location = path(config, qualified)
    dt = _open(config, qualified, version=as_of)
    if dt is None:
        return TableRead(qualified, location, MISSING)
    names = [f.name for f in dt.schema().fields]
    wanted = None if columns is None else [c for c in columns if c in names]
    frame = dt.to_pandas(columns=wanted, filters=list(filters) if filters else None,
                         filesystem=_arrow_filesystem(config, _uri(config, qualified)))
    status = OK if len(frame) else EMPTY
    return TableRead(qualified, location, status, frame, dt.version())


def read_changes(config: Mapping[str, Any], qualified: str, *, columns: Sequence[str] | None = None,
                 starting_version: int = 0) -> TableRead:
    """The table's Change Data Feed (tables written with ``delta.enableChangeDataFeed``) as pandas:
    every row as each commit left it (``insert`` and ``update_postimage``), with ``_commit_version``
    and ``_commit_timestamp``; the history of a table that a MERGE keeps at one row per key.
    Missing table -> 'missing'; a table without the feed -> 'unreadable' with delta-rs' reason."""
    import pyarrow as pa

    location = path(config, qualified)
    dt = _open(config, qualified)
    if dt is None:
        return TableRead(qualified, location, MISSING)
    try:
        changes = pa.table(dt.load_cdf(starting_version=starting_version).read_all()).to_pandas()
    except Exception as exc:  # noqa: BLE001 - delta-rs raises its own kinds; the caller shows the reason
        return TableRead(qualified, location, UNREADABLE, error=" ".join(str(exc).split())[:300])
    changes = changes[changes["_change_type"].isin(["insert", "update_postimage"])]
    if columns is not None:
        changes = changes[[c for c in [*columns, "_commit_version", "_commit_timestamp"] if c in changes.columns]]
    changes = changes.reset_index(drop=True)
    return TableRead(qualified, location, OK if len(changes) else EMPTY, changes, dt.version())


def read_frame(config: Mapping[str, Any], qualified: str, **kwargs) -> pd.DataFrame | None:
    """:func:`read` for scripts: the frame, or None if the table is missing."""
    return read(config, qualified, **kwargs).frame


# --------------------------------------------------------------------------- DuckDB
def duckdb_delta_extension() -> str:
    """Path of the DuckDB delta extension shipped by the ``duckdb-extension-delta`` wheel for the
    installed DuckDB version (DuckDB's own ``INSTALL delta`` downloads it, which our networks
    do not allow; the wheel's version must equal DuckDB's)."""
    import duckdb
    import duckdb_extension_delta

    ext = Path(duckdb_extension_delta.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "delta.duckdb_extension"
    if not ext.is_file():
        raise RuntimeError(f"no delta extension for DuckDB {duckdb.__version__} in {ext.parent.parent} "
                           "(pin duckdb and duckdb-extension-delta to the same version)")
    return str(ext)


def duckdb_connect(config: Mapping[str, Any], database: str = ":memory:"):
    """A DuckDB connection with the delta extension loaded and every lakehouse table on disk as
    a view ``<layer>.<name>`` over ``delta_scan(<its path>)``:

        >>> con = duckdb_connect(load_config())
        >>> con.sql("select term, count(*) from gold.doe_effects where significant group by term").df()
    """
    import duckdb

    from toollife.lakehouse.tables import existing_tables

    con = duckdb.connect(database)
    con.execute(f"LOAD '{duckdb_delta_extension()}'")
    for tbl in existing_tables(config):
        location = _uri(config, tbl).replace("'", "''")
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{tbl.layer}"')
        con.execute(f'CREATE OR REPLACE VIEW "{tbl.layer}"."{tbl.name}" AS SELECT * FROM delta_scan(\'{location}\')')
    return con
