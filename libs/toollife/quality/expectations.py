"""Short constructors of the GX expectations the suites use (GX is imported only when a suite
is built: importing great_expectations costs seconds)."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from toollife.quality.core import Check
from toollife.runtime.sql import quote_identifier


def _gxe():
    import great_expectations.expectations as gxe

    return gxe


def gx_column_names(schema, parent: str = "") -> list[str]:
    """The column list GX's Spark engine observes: every field, each struct followed by its
    nested fields as ``parent.child`` (GX 1.24 lists nested fields; on a table with a struct
    column the plain top-level list never matches)."""
    from pyspark.sql.types import StructType

    names = []
    for f in schema.fields:
        names.append(parent + f.name)
        if isinstance(f.dataType, StructType):
            names += gx_column_names(f.dataType, f"{parent}{f.name}.")
    return names


def columns(name: str, schema, severity: str = "critical") -> Check:
    """The schema: exactly the declared columns in order (metadata only, no Spark job). Types are
    fixed by Delta's schema enforcement on write; the column list catches a drifted table."""
    column_list = gx_column_names(schema)
    return Check(name, lambda: _gxe().ExpectTableColumnsToMatchOrderedList(column_list=column_list), severity)


def columns_include(name: str, schema, severity: str = "critical") -> Check:
    """The schema's columns are all there, in any order, others allowed (a table that grows by
    schema evolution: gold.experiment_runs gains a column per imported factor)."""
    column_list = gx_column_names(schema)
    return Check(name, lambda: _gxe().ExpectTableColumnsToMatchSet(column_set=column_list, exact_match=False),
                 severity)


_ROWS_CLASS = None


def unexpected_rows_class():
    """GX's UnexpectedRowsExpectation keeps the offending rows only with result_format COMPLETE,
    which would also make every column-map expectation collect *all* its unexpected values; this
    subclass keeps the first ``partial_unexpected_count`` rows (already fetched, the metric runs
    the query with a LIMIT) under SUMMARY too."""
    global _ROWS_CLASS
    if _ROWS_CLASS is None:
        class UnexpectedRowsWithExamples(_gxe().UnexpectedRowsExpectation):
            def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
                result = super()._validate(metrics, runtime_configuration, execution_engine)
                fmt = self._get_result_format(runtime_configuration=runtime_configuration)
                limit = int(fmt.get("partial_unexpected_count", 5)) if isinstance(fmt, dict) else 5
                out = result.get("result", {}) if isinstance(result, dict) else {}
                if "details" not in out and limit:
                    rows = metrics.get("unexpected_rows_query.table") or []
                    out["details"] = {"unexpected_rows": list(rows)[:limit]}
                return result

        _ROWS_CLASS = UnexpectedRowsWithExamples
    return _ROWS_CLASS


def unexpected_rows(name: str, query: str, severity: str = "critical", description: str | None = None) -> Check:
    """Rows that break a rule, as one Spark SQL query over ``{batch}`` (may join other tables)."""
    return Check(name, lambda: unexpected_rows_class()(unexpected_rows_query=query,
                                                       description=description or name), severity)


def not_null(name: str, cols: Iterable[str], table_ref: str = "{batch}", severity: str = "critical") -> Check:
    """Every key column non-null, as one query (one expectation per column would be one set of
    Spark jobs per column)."""
    cols = list(cols)
    where = " OR ".join(f"{quote_identifier(c)} IS NULL" for c in cols)
    return unexpected_rows(name, f"SELECT {', '.join(quote_identifier(c) for c in cols)} FROM {table_ref} WHERE {where}",
                           severity, f"not null: {', '.join(cols)}")


def in_set(name: str, column: str, values: Iterable[Any], severity: str = "critical") -> Check:
    vals = sorted(values)
    return Check(name, lambda: _gxe().ExpectColumnValuesToBeInSet(column=column, value_set=vals), severity)


def between(name: str, column: str, min_value: Any = None, max_value: Any = None, *, strict_min: bool = False,
            severity: str = "critical") -> Check:
    return Check(name, lambda: _gxe().ExpectColumnValuesToBeBetween(
        column=column, min_value=min_value, max_value=max_value, strict_min=strict_min), severity)


def unique(name: str, column: str, severity: str = "critical") -> Check:
    return Check(name, lambda: _gxe().ExpectColumnValuesToBeUnique(column=column), severity)


def compound_unique(name: str, cols: Sequence[str], severity: str = "critical") -> Check:
    return Check(name, lambda: _gxe().ExpectCompoundColumnsToBeUnique(column_list=list(cols)), severity)
