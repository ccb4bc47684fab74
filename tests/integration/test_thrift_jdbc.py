"""JDBC: `toollife thrift` (what `make thrift` runs) serves the lakehouse; beeline, a real Hive JDBC
client from pyspark's own jars, reads gold.doe_effects and gets the rows a direct read gives; a
table written after the start is registered by the server, and the session-scoped Spark
fixture reads the same tables while the server runs (no metastore shared between the two)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
from deltalake import write_deltalake

from toollife.lakehouse import reader
from toollife.services.kafka_local import free_port
from dashboard_lakehouse import filled_lakehouse  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ["machine_id", "tool_id", "term", "effect", "p_value", "significant"]


def _wait_for(predicate, proc, log: Path, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"toollife thrift exited with {proc.returncode} before {what}:\n{log.read_text()[-4000:]}")
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s:\n{log.read_text()[-4000:]}"
        time.sleep(1)


def _beeline(port: int, statements: dict[str, str], env) -> dict[str, list[dict[str, str]]]:
    """Run the statements (header of its result -> SQL) in one beeline session (`toollife thrift
    --beeline`: pyspark's own beeline, a Hive JDBC client); the CSV rows of each. beeline prints the
    result sets one after the other, so each starts at its header line."""
    sql = "; ".join(statements.values())
    cmd = [sys.executable, "-m", "toollife.cli", "thrift", "--port", str(port),
           "--beeline", "--silent=true", "--outputformat=csv2", "-e", sql]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert out.returncode == 0 and "Error" not in out.stdout, out.stdout + out.stderr[-3000:]
    blocks: dict[str, list[str]] = {}
    current = None
    for line in out.stdout.splitlines():
        line = line.split("> ", 1)[-1] if line.startswith("0: jdbc:hive2") else line   # beeline's prompt
        if line in statements:
            current = blocks.setdefault(line, [line])
        elif current is not None and line.strip():
            current.append(line)
    assert set(blocks) == set(statements), out.stdout
    return {header: list(csv.DictReader(io.StringIO("\n".join(lines)))) for header, lines in blocks.items()}


def test_beeline_reads_gold_doe_effects_over_jdbc(filled_lakehouse, spark, tmp_path):
    config, written = filled_lakehouse
    root = config["lakehouse"]["root"]
    port = free_port()
    log = tmp_path / "thrift.log"
    cmd = [sys.executable, "-m", "toollife.cli", "thrift", "--port", str(port), "--set", f"lakehouse.root={root}",
           "--set", "thrift.refresh_interval_s=1", "--set", "spark.shuffle_partitions=1"]
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_PYTHON"}   # as in a user's shell
    env["TOOLLIFE_CONF_DIR"] = str(REPO / "conf")
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True)
    try:
        _wait_for(lambda: "toollife thrift: serving" in log.read_text(), proc, log, "server start")
        # a table that appears while the server runs (a job's first write) is registered within refresh_interval_s
        late = reader.path(config, "gold.late_arrival")
        write_deltalake(late, pa.table({"k": pa.array([1, 2, 3], pa.int64())}))
        _wait_for(lambda: "registered gold.late_arrival" in log.read_text(), proc, log, "registration")

        effects_sql = (f"select {', '.join(COLUMNS)} from gold.doe_effects where experiment_id = 'EXP-1' "
                       "order by machine_id, tool_id, term")
        results = _beeline(port, {",".join(COLUMNS): effects_sql, "n": "select count(*) as n from gold.late_arrival",
                                 "namespace,tableName,isTemporary": "show tables in gold",
                                 # no job wrote bronze here: its schema exists anyway (no SCHEMA_NOT_FOUND)
                                 "namespace": "show schemas"}, env)
        effects, late_count, gold_tables, schemas = results.values()

        # the direct reads: delta-rs (no JVM), and the test session's Spark while the server holds the same tables
        direct = written["gold.doe_effects"].sort_values(["machine_id", "tool_id", "term"])[COLUMNS]
        by_spark = spark.read.format("delta").load(reader.path(config, "gold.doe_effects")).count()
        assert len(effects) == len(direct) == by_spark > 0
        got = pd.DataFrame(effects)
        assert list(got.columns) == COLUMNS
        assert got[["machine_id", "tool_id", "term"]].values.tolist() == direct[["machine_id", "tool_id", "term"]].values.tolist()
        pd.testing.assert_series_equal(got["effect"].astype(float).reset_index(drop=True),
                                       direct["effect"].reset_index(drop=True), check_names=False, rtol=1e-12)
        assert (got["significant"] == "true").tolist() == direct["significant"].tolist()
        assert late_count == [{"n": "3"}]
        assert {"bronze", "silver", "gold", "meta"} <= {r["namespace"] for r in schemas}
        assert {"doe_effects", "doe_optimal_settings", "experiment_runs", "late_arrival"} <= {
            r["tableName"] for r in gold_tables}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            proc.wait(60)
    text = log.read_text()
    assert f"connect to jdbc:hive2://127.0.0.1:{port}/default (driver org.apache.hive.jdbc.HiveDriver)" in text
    assert "ClassNotFoundException" not in text
