"""The machinery every layer's suite shares: checks, the checked Delta version range, running a
suite through Great Expectations, and the result rows of ``meta.data_quality``.

A :class:`Check` is one GX expectation plus its name and default severity; a :class:`Suite` is the
checks of one table over one frame (the table's new rows, or a one-row frame of figures computed
with Spark). Suites are code (``quality/bronze.py``, ``silver.py``, ``gold.py``) and are
``add_or_update``-d into a GX file context under ``quality.gx_root`` at every run, validated by a
Checkpoint that also updates the data docs there.

Cost: GX computes every metric with its own Spark job, so the suites stay lean, the batch frame
holds only the versions added since the last passing validation (Delta's change data feed), and
multi-column or cross-table rules are one ``UnexpectedRowsExpectation`` (one Spark SQL query)
instead of one expectation per column.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType, TimestampType

from toollife.lakehouse import tables
from toollife.errors import UserError

if TYPE_CHECKING:
    from great_expectations.expectations.expectation import Expectation

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")   # before GX is imported anywhere: nothing leaves the machine

log = logging.getLogger("toollife.quality")

DATA_QUALITY = tables.Table("meta", "data_quality")
SEVERITIES = ("critical", "warning")
CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")

DATA_QUALITY_SCHEMA = StructType([
    StructField("run_id", StringType(), False),
    StructField("validated_at", TimestampType(), False),
    StructField("layer", StringType(), False),
    StructField("table", StringType(), False),
    StructField("from_version", LongType(), True, {"comment": "first Delta version checked (inclusive)"}),
    StructField("to_version", LongType(), True, {"comment": "last Delta version checked (inclusive)"}),
    StructField("checked", StringType(), False, {"comment": "changes (CDF of the range) | snapshot (table at to_version) | figures"}),
    StructField("rows_checked", LongType(), True),
    StructField("check", StringType(), False, {"comment": "the suite's name for the expectation"}),
    StructField("expectation", StringType(), False, {"comment": "GX expectation type"}),
    StructField("severity", StringType(), False, {"comment": "critical | warning"}),
    StructField("success", BooleanType(), False),
    StructField("observed_value", StringType(), True, {"comment": "JSON"}),
    StructField("unexpected_count", LongType(), True),
    StructField("unexpected_examples", StringType(), True, {"comment": "JSON list, at most quality.max_examples"}),
])


class QualityGateFailed(UserError):
    """A critical expectation failed: the job exits 1 so the pipeline stops here."""

    label = "quality gate failed"


@dataclass(frozen=True)
class Check:
    name: str
    build: Callable[[], "Expectation"]      # the GX expectation (built lazily: GX imports are slow)
    severity: str = "critical"


@dataclass
class Suite:
    table: tables.Table
    checks: list[Check]
    frame: DataFrame
    checked: str                     # changes | snapshot | figures
    from_version: int | None
    to_version: int | None
    suffix: str = ""                 # a second suite of the same table (its figures)

    @property
    def name(self) -> str:
        return f"{self.table.qualified}{self.suffix}"


@dataclass
class Result:
    table: str
    layer: str
    check: str
    expectation: str
    severity: str
    success: bool
    observed_value: Any
    unexpected_count: int | None
    examples: list[Any] = field(default_factory=list)
    suite: str = ""

    def line(self) -> str:
        """One line naming the expectation and the table (what a DAG's task log shows)."""
        state = "passed" if self.success else ("FAILED" if self.severity == "critical" else "warned")
        observed = json.dumps(self.observed_value, default=str)
        observed = observed if len(observed) <= 240 else observed[:240] + "..."
        parts = ([] if self.observed_value is None else [f"observed {observed}"]) \
            + ([f"{self.unexpected_count} unexpected"] if self.unexpected_count else []) \
            + ([f"e.g. {json.dumps(self.examples[:3], default=str)}"] if self.examples else [])
        detail = "" if self.success else ": " + (", ".join(parts) or "failed")
        return f"{state:7s} {self.severity:8s} {self.table} {self.check} ({self.expectation}){detail}"


# --------------------------------------------------------------------------- severities, ranges
def severity(config: Mapping[str, Any], tbl: tables.Table, check: Check) -> str:
    """conf ``quality.severity`` by ``<layer>.<table>.<check>``, then ``<check>``, else the suite's."""
    table_key = f"{tbl.qualified}.{check.name}"
    overrides = config["quality"]["severity"]
    value = str(overrides.get(table_key, overrides.get(check.name, check.severity)))
    if value not in SEVERITIES:
        from toollife.config import ConfigError

        raise ConfigError(f"quality.severity['{table_key if table_key in overrides else check.name}'] = "
                          f"'{value}': must be one of {', '.join(SEVERITIES)}", key="quality.severity")
    return value


def current_version(spark: SparkSession, config: Mapping[str, Any], tbl: tables.Table) -> int | None:
    from delta.tables import DeltaTable

    path = tbl.path(config)
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    return int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])


def last_validated(spark: SparkSession, config: Mapping[str, Any]) -> dict[str, int]:
    """Per table, the newest ``to_version`` of a validation without a critical failure (a failed
    range is checked again next time, not skipped)."""
    if current_version(spark, config, DATA_QUALITY) is None:
        return {}
    rows = (tables.read(spark, config, DATA_QUALITY).where(F.col("checked") != "figures")
            .groupBy("run_id", "table")
            .agg(F.max("to_version").alias("to_version"),
                 F.max(F.when((F.col("severity") == "critical") & ~F.col("success"), 1).otherwise(0)).alias("failed"))
            .where(F.col("failed") == 0).groupBy("table").agg(F.max("to_version").alias("v")).collect())
    return {r["table"]: int(r["v"]) for r in rows if r["v"] is not None}


def changes(spark: SparkSession, config: Mapping[str, Any], tbl: tables.Table, start: int, end: int
            ) -> tuple[DataFrame, str]:
    """The rows versions ``start..end`` added or changed (Delta's change data feed), else, when
    the table has no change feed over that range, the whole table at ``end``."""
    try:
        cdf = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", start)
               .option("endingVersion", end).load(tbl.path(config)))
        cdf = cdf.where(F.col("_change_type").isin("insert", "update_postimage")).drop(*CDF_COLUMNS)
        cdf.take(1)   # Delta finds a range without a change feed only when it plans the scan
        return cdf, "changes"
    except Exception as exc:  # noqa: BLE001 - Delta raises AnalysisException subclasses for "CDF not enabled"
        log.info("%s: no change data feed for versions %s..%s (%s); checking the table at version %s",
                 tbl.qualified, start, end, str(exc).splitlines()[0][:160], end)
        return tables.read(spark, config, tbl, end), "snapshot"


def figures_frame(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    """A tiny frame of figures computed with Spark aggregates (one row per source, say)."""
    import pandas as pd

    return spark.createDataFrame(pd.DataFrame(rows))


# --------------------------------------------------------------------------- GX
def gx_context(config: Mapping[str, Any]):
    import great_expectations as gx

    root = Path(config["quality"]["gx_root"])
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    bars = context.variables.progress_bars
    if (bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)) is not False:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        context.variables.save()   # a job log is no terminal: no "Calculating Metrics" bars
    return context


def data_docs_index(config: Mapping[str, Any]) -> Path:
    return Path(config["quality"]["gx_root"]) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def run_suite(context, config: Mapping[str, Any], suite: Suite) -> list[Result]:
    """add_or_update the suite and a checkpoint over it, run it on ``suite.frame``, return one
    Result per expectation (the data docs are updated by the checkpoint's action)."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    max_examples = int(config["quality"]["max_examples"])
    name = suite.name
    datasource = context.data_sources.add_or_update_spark(name="toollife_spark")
    asset = next((a for a in datasource.assets if a.name == name), None) or datasource.add_dataframe_asset(name=name)
    batch_def = next((b for b in asset.batch_definitions if b.name == "frame"), None) \
        or asset.add_batch_definition_whole_dataframe("frame")
    expectations = []
    for check in suite.checks:
        exp = check.build()
        exp.severity = severity(config, suite.table, check)
        exp.meta = {"check": check.name}
        expectations.append(exp)
    gx_suite = context.suites.add_or_update(gx.ExpectationSuite(name=name, expectations=expectations))
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch_def, suite=gx_suite))
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=name, validation_definitions=[validation],
        actions=[UpdateDataDocsAction(name="update_data_docs")],
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": max_examples}))
    t0 = time.monotonic()
    outcome = checkpoint.run(batch_parameters={"dataframe": suite.frame})
    log.info("checkpoint %s ran in %.1fs", name, time.monotonic() - t0)
    results = []
    for run_result in outcome.run_results.values():
        for r in run_result.results:
            cfg = r.expectation_config
            res = r.result or {}
            examples = res.get("partial_unexpected_list") or (res.get("details") or {}).get("unexpected_rows") or []
            observed = res.get("observed_value")
            count = res.get("unexpected_count")
            if count is None and cfg.type.startswith("unexpected_rows"):
                count = observed
            results.append(Result(
                table=suite.table.qualified, layer=suite.table.layer, check=(cfg.meta or {}).get("check", cfg.type),
                expectation=cfg.type, severity=str(getattr(cfg, "severity", None) or "critical").split(".")[-1].lower(),
                success=bool(r.success), observed_value=_jsonable(observed),
                unexpected_count=None if count is None else int(count),
                examples=_jsonable(list(examples)[:max_examples]), suite=name))
            if r.exception_info and r.exception_info.get("raised_exception"):
                results[-1].observed_value = {"exception": str(r.exception_info.get("exception_message"))[:500]}
    return results


# --------------------------------------------------------------------------- the run
@dataclass
class Outcome:
    run_id: str
    results: list[Result]
    ranges: dict[str, tuple[int | None, int | None, str]]   # table -> (from, to, checked)
    skipped: dict[str, str]                                 # table -> why it was not checked

    @property
    def critical_failures(self) -> list[Result]:
        return [r for r in self.results if not r.success and r.severity == "critical"]

    def counts(self) -> dict[str, dict[str, int]]:
        """{layer: {passed, warned, failed}}"""
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            c = out.setdefault(r.layer, {"passed": 0, "warned": 0, "failed": 0})
            c["passed" if r.success else ("failed" if r.severity == "critical" else "warned")] += 1
        return out

    def summary_lines(self) -> list[str]:
        lines = []
        for tbl, (start, end, checked) in self.ranges.items():
            lines.append(f"{tbl}: versions {start}..{end} ({checked})")
        for tbl, why in self.skipped.items():
            lines.append(f"{tbl}: not checked, {why}")
        lines += [r.line() for r in self.results]
        lines.append("quality: " + "; ".join(f"{layer} {c['passed']} passed, {c['warned']} warned, {c['failed']} failed"
                                             for layer, c in sorted(self.counts().items())))
        return lines


def record(spark: SparkSession, config: Mapping[str, Any], outcome: Outcome, suites: Iterable[Suite],
           rows_checked: Mapping[str, int]) -> None:
    tables.create_if_missing(spark, config, DATA_QUALITY, DATA_QUALITY_SCHEMA, properties={"delta.appendOnly": "true"},
                             comment="one row per expectation result of jobs/validate_tables.py")
    by_name = {s.name: s for s in suites}
    now = datetime.now(timezone.utc)
    rows = []
    for r in outcome.results:
        suite = by_name[r.suite]
        rows.append((outcome.run_id, now, r.layer, r.table, suite.from_version, suite.to_version, suite.checked,
                     rows_checked.get(suite.name), r.check, r.expectation, r.severity, r.success,
                     json.dumps(r.observed_value, default=str), r.unexpected_count,
                     json.dumps(r.examples, default=str)))
    if rows:
        spark.createDataFrame(rows, DATA_QUALITY_SCHEMA).write.format("delta").mode("append").save(
            DATA_QUALITY.path(config))


FIGURES_SUFFIX = ".figures"
NOT_YET = "the table does not exist yet"   # why a table was not checked (Outcome.skipped)


def validate(spark: SparkSession, config: Mapping[str, Any], builders: Iterable[Callable[..., list[Suite]]],
             *, as_of: datetime | None = None, full: bool = False) -> Outcome:
    """Build each table's suites over its new versions, run them, record every result."""
    done = {} if full else last_validated(spark, config)
    context = gx_context(config)
    outcome = Outcome(run_id=str(uuid.uuid4()), results=[], ranges={}, skipped={})
    suites: list[Suite] = []
    rows_checked: dict[str, int] = {}
    as_of = as_of or datetime.now(timezone.utc)
    for build in builders:
        t0 = time.monotonic()
        for suite in build(spark, config, done=done, as_of=as_of, skipped=outcome.skipped):
            log.info("built %s in %.1fs", suite.name, time.monotonic() - t0)
            t0 = time.monotonic()
            suites.append(suite)
            suite.frame = suite.frame.cache()
            rows_checked[suite.name] = suite.frame.count()
            if suite.checked != "figures":
                outcome.ranges[suite.table.qualified] = (suite.from_version, suite.to_version, suite.checked)
            try:
                outcome.results += run_suite(context, config, suite)
            finally:
                suite.frame.unpersist()
            log.info("validated %s in %.1fs", suite.name, time.monotonic() - t0)
            t0 = time.monotonic()
    record(spark, config, outcome, suites, rows_checked)
    return outcome


def version_range(spark: SparkSession, config: Mapping[str, Any], tbl: tables.Table, done: Mapping[str, int],
                  skipped: dict[str, str]) -> tuple[int, int] | None:
    """(first, last) Delta version to check, or None (no table yet, or nothing new)."""
    end = current_version(spark, config, tbl)
    if end is None:
        skipped[tbl.qualified] = NOT_YET
        return None
    start = done.get(tbl.qualified, -1) + 1
    if start > end:
        skipped[tbl.qualified] = f"no new version since {end}"
        return None
    return start, end


def table_suite(spark: SparkSession, config: Mapping[str, Any], tbl: tables.Table, checks: list[Check],
                done: Mapping[str, int], skipped: dict[str, str], *, incremental: bool = True) -> Suite | None:
    rng = version_range(spark, config, tbl, done, skipped)
    if rng is None:
        return None
    start, end = rng
    if incremental:
        frame, checked = changes(spark, config, tbl, start, end)
    else:   # whole-table rules (a key unique over the table): the table at the range's end
        frame, checked = tables.read(spark, config, tbl, end), "snapshot"
    return Suite(tbl, checks, frame, checked, start, end)


def path_sql(config: Mapping[str, Any], tbl: tables.Table, version: int | None = None) -> str:
    """``delta.`<path>` [VERSION AS OF n]`` for a table referenced inside a check's SQL."""
    return f"delta.`{tbl.path(config)}`" + (f" VERSION AS OF {int(version)}" if version is not None else "")
