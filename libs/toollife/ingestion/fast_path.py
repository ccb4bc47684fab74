"""The fast path of validation (flat contracts, i.e. sensor readings; ``ingestion.silver.fast_path``).

Most rows are valid, and for them one strict ``from_json`` already gives every typed value.
:func:`fast_parse` marks the rows whose fields it read exactly (one object and nothing after it,
number fields were JSON numbers, no free-text string that could be a re-serialised non-string, no
optional field that might be a JSON null), the same rules (:mod:`.contract_rules`) are checked
over those values, and a row that passes takes them and skips the Variant parse and the rule
engine. Every other row, valid or not, goes through the exact path (:mod:`.validate`), so each
reason and value is what the exact rules alone give (tests/unit/test_ingestion_validate.py
compares both on every bad and edge case).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from toollife.ingestion.contract_rules import Field, Rules, timestamp_sql
from toollife.runtime.sql import quote_identifier, sql_literal

# strict JSON, as the Variant parser reads it (no 'single quotes', no NaN/Infinity tokens), and a
# corrupt-record column that is set when any field fails to convert
_FAST_JSON_OPTIONS = ("map('allowSingleQuotes', 'false', 'allowNonNumericNumbers', 'false', "
                      "'columnNameOfCorruptRecord', '_bad')")


def fast_path_possible(fields: list[Field], rules: Rules) -> bool:
    """Flat contracts only (an object field needs the Variant for its JSON), and last-wins duplicates."""
    return rules.fast_path and rules.allow_duplicate_keys and all(
        f.jtype in ("string", "enum", "number", "integer") for f in fields)


def fast_parse(df: DataFrame, fields: list[Field], required: list[str],
               rules: Rules) -> tuple[DataFrame, list[Field]]:
    """+ the fast path's columns: one ``from_json`` into typed values, and ``_fast_ok`` where they
    are exactly what the rule engine would see. Returns (frame, the fields bound to those columns).

    ``df`` is decoded (:func:`toollife.ingestion.validate.decode`). ``from_json`` ignores text
    after the first value, so a payload ending in ``}`` is parsed with that brace replaced by
    ``,"_tag": <its own xxhash64>}``: the tag can only be read back as a member of the top-level
    object when that object ends exactly where the payload ends (the payload cannot contain its
    own hash, see :func:`toollife.ingestion.validate.prepare`). A number field's value that is
    not a JSON number marks the record corrupt (``_bad``). What ``from_json`` cannot tell apart is
    left to the exact path: a free-text string field (no pattern, enum or format) whose text could be
    a number, ``true``/``false``, an object or an array re-serialised; an optional field that is
    null (absent, or JSON null?) while the payload names it or holds a ``\\u`` escape.
    """
    fast = [Field(f.name, f.path, f"_q_{f.name}", f.spec, typed=f"_q_{f.name}") for f in fields]
    elements = ", ".join(f"{quote_identifier(f.name)}: {'double' if f.jtype in ('number', 'integer') else 'string'}"
                         for f in fast)
    schema = f"struct<{elements}, `_tag`: bigint, `_bad`: string>"
    # The text is re-joined as bytes (no character counting) in a column of its own: referenced twice
    # below, it stays in generated code instead of being merged into from_json's project, where
    # Spark evaluates from_json's whole input expression interpreted (1.8 of 5.7 CPU-s per 1M rows).
    tagged = F.expr(
        f"CASE WHEN _size BETWEEN 1 AND {int(rules.max_payload_bytes)} AND _utf8 AND endswith(_json, '}}') "
        f"""THEN cast(concat(substring(_raw, 1, _size - 1), cast(concat(',"_tag":', _tag, '}}') AS BINARY)) AS STRING) END""")
    parsed = F.expr(f"CASE WHEN _w IS NOT NULL THEN from_json(_w, {sql_literal(schema)}, {_FAST_JSON_OPTIONS}) END")
    out = df.withColumn("_w", tagged).withColumn("_q", parsed).drop("_w").withColumn(
        "_q_one", F.expr("coalesce(_q._tag = _tag AND _q._bad IS NULL, false)"))
    values, guards = [], ["_q_one"]
    for f in fast:
        value = f"_q.{quote_identifier(f.name)}"
        number = f.jtype in ("number", "integer")
        values.append(F.expr(value).alias(f.d if number else f.s))
        values.append(F.expr(f"CASE WHEN {value} IS NOT NULL THEN '{'DOUBLE' if number else 'STRING'}' END").alias(f.t))
        if f.jtype == "string" and not {"pattern", "format"} & set(f.spec):
            starts = ", ".join(sql_literal(c) for c in "-0123456789{[")
            guards.append(f"{value} IS NULL OR NOT (substr({value}, 1, 1) IN ({starts}) OR {value} IN ('true', 'false'))")
        if f.name not in required:
            # the name and its closing quote: a superset of '"name"' whose first byte is rarer (the
            # search compares whole needles only where that byte occurs; '"' is in every field)
            guards.append(f"({value} IS NOT NULL OR NOT (contains(_json, {sql_literal(f.name + chr(34))}) "
                          "OR contains(_json, '\\\\u')))")
    out = out.select("*", *values)
    by_name = {f.name: f for f in fast}
    out = out.withColumn(by_name["ts"].typed, F.expr(timestamp_sql(by_name["ts"])))
    return out.withColumn("_fast_ok", F.expr(" AND ".join(f"coalesce({g}, false)" for g in guards))), fast
