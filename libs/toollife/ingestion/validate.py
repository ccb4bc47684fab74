"""Parse and validate Kafka records against contract v1: the Spark side, ``DataFrame -> DataFrame``.

Why Variant and not ``from_json``: ``from_json`` silently casts (``"3"`` becomes 3 for an integer
field, 5 becomes ``"5"`` for a string field) or nulls the field, so a wrong JSON *type* can't be
told from a right one. ``try_parse_json`` parses each payload once into a Variant that keeps the
JSON type of every field (``schema_of_variant``: STRING, BIGINT, DECIMAL(p,s), DOUBLE, OBJECT...),
so every rule of the contract (:mod:`.contract_rules`) is checked exactly, in one pass of native
(codegen) expressions.
Each object level is split once into its contract fields (a struct of Variants, one pass over the
object) whose JSON types ``schema_of_variant`` reads. The typed values come from ``from_json`` over
the same text: Variant -> string/double casts cost more per row than a second, schema-driven
parse. For every field of the right JSON type both give the same value (same tokens, the last
duplicate key wins, names are case-sensitive); where ``from_json`` has no value (absent, or a type
it cannot convert) the Variant's own cast is used, so the rules see what they saw before.

Input: bronze-shaped rows (``key``, ``value`` binary, ``topic``, ``partition``, ``offset``,
``kafka_timestamp``, ``ingest_time``). :func:`validate` returns the Kafka coordinates, the typed
silver columns, ``reason_code``/``reason`` (null when valid) and, for rejected rows only, the raw
payload; :func:`split` returns (valid silver rows, quarantine rows).

Sensor readings take the fast path first (:mod:`.fast_path`): :func:`parse` is the one pass over
the bronze rows (a batch writer caches it); :func:`finish` turns it into the validated rows: the
fast rows as they are, unioned with the exact engine run over only the rows the fast path left,
in a plan of its own.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from toollife import contracts
from toollife.ingestion import schemas
from toollife.ingestion.contract_rules import (Check, Field, Rules, contract_fields, envelope_checks, passes,
                                               sensor_reading_checks, timestamp_sql, tool_event_checks,
                                               typed_schema)
from toollife.ingestion.fast_path import fast_parse, fast_path_possible
from toollife.runtime.sql import quote_identifier, sql_literal


def _extract(df: DataFrame, fields: list[Field]) -> DataFrame:
    """+ per field: ``__t`` its JSON type, ``__s``/``__d`` its value as string/double."""
    objects: dict[str, tuple[str, list[Field]]] = {}
    for f in fields:
        objects.setdefault(f.obj, (f.parent, []))[1].append(f)
    split = [F.expr(f"try_variant_get(_v, {sql_literal(path)}, "
                    f"{sql_literal('struct<' + ', '.join(f'{quote_identifier(f.name)}: variant' for f in fs) + '>')})")
             .alias(obj) for obj, (path, fs) in objects.items()]
    typed = F.expr(f"CASE WHEN _v IS NOT NULL THEN from_json(_json, {sql_literal(typed_schema(fields))}) END").alias("_typed")
    types = [F.expr(f"schema_of_variant({f.obj}.{quote_identifier(f.name)})").alias(f.t) for f in fields]
    cols = []
    for f in fields:
        if f.jtype in ("number", "integer"):
            cols.append(F.expr(f"coalesce({f.typed_ref}, try_variant_get(_v, {sql_literal(f.path)}, 'double'))").alias(f.d))
        if f.jtype in ("string", "enum"):
            # from_json turns any JSON value into text ("2.0" for 2.0): only taken for JSON strings
            cols.append(F.expr(f"CASE WHEN {f.t} = 'STRING' THEN {f.typed_ref} "
                               f"ELSE try_variant_get(_v, {sql_literal(f.path)}, 'string') END").alias(f.s))
    return df.select("*", *split, typed).select("*", *types).select("*", *cols).drop(*objects, "_typed")


def _reason_columns(checks: list[Check]) -> tuple[Column, Column, Column]:
    """(rule index, reason_code, reason): each condition is evaluated once per row (first failing
    rule wins); the message is only built for rejected rows."""
    rule = F.expr("CASE " + " ".join(f"WHEN {c} THEN {i}" for i, (_, c, _m) in enumerate(checks)) + " END")
    code = F.expr("CASE _rule " + " ".join(f"WHEN {i} THEN {sql_literal(c)}" for i, (c, _, _m) in enumerate(checks)) + " END")
    message = F.expr("CASE _rule " + " ".join(f"WHEN {i} THEN {m}" for i, (_, _c, m) in enumerate(checks)) + " END")
    return rule, code, message


def decode(df: DataFrame) -> DataFrame:
    """Renames key/value to ``_key``/``_raw``; adds ``_json`` (text), ``_size`` (bytes), ``_utf8``, ``kafka_key``,
    ``_tag`` (the payload's xxhash64)."""
    return (
        df.withColumnRenamed("value", "_raw").withColumnRenamed("key", "_key")
        .withColumn("_size", F.expr("octet_length(_raw)"))
        .withColumn("_json", F.expr("cast(_raw AS STRING)"))
        .withColumn("_utf8", F.expr("is_valid_utf8(_json)"))
        .withColumn("kafka_key", F.expr("cast(_key AS STRING)"))
        .withColumn("_tag", F.expr("xxhash64(_json)"))  # see prepare and fast_path.fast_parse
    )


def prepare(df: DataFrame, rules: Rules) -> DataFrame:
    """Decode (unless done) and parse: + ``_v`` (Variant or null)."""
    if "_json" not in df.columns:
        df = decode(df)
    return (
        df
        # try_parse_json stops after the first JSON value and ignores what follows ('{..} junk'), so
        # the payload is parsed as the first element of [payload, <its own xxhash64>]: the parser
        # reaches that tag as the second and last element only when the payload is one value and
        # nothing else (a payload cannot contain its own hash).
        .withColumn("_tagged", F.expr(
            f"CASE WHEN _size BETWEEN 1 AND {int(rules.max_payload_bytes)} AND _utf8 "
            f"AND rlike(_json, '^\\\\s*\\\\{{') THEN try_parse_json(concat('[', _json, ',', _tag, ']')) END"))
        .withColumn("_v", F.expr(
            "CASE WHEN try_variant_get(_tagged, '$[1]', 'bigint') = _tag "
            "AND variant_get(_tagged, '$[2]', 'variant') IS NULL THEN variant_get(_tagged, '$[0]', 'variant') END"))
        .drop("_tagged")
    )


def _typed_common(fields: dict[str, Field]) -> list[Column]:
    ts = fields["ts"]
    return [
        F.col(fields["event_id"].s).alias("event_id"),
        # the fast path's typed ts is made up front by fast_parse, for its checks
        (F.expr(timestamp_sql(ts)) if ts.typed == ts.name else F.col(ts.typed)).alias("ts"),
        F.col(fields["machine_id"].s).alias("machine_id"),
        F.col(fields["tool_id"].s).alias("tool_id"),
        F.col(fields["experiment_id"].s).alias("experiment_id"),
        F.expr(f"try_cast({fields['run_id'].d} AS BIGINT)").alias("run_id"),
        F.expr(f"coalesce(try_cast({fields['replicate'].d} AS BIGINT), 1)").alias("replicate"),
    ]


OUTPUT_COMMON = ["topic", "partition", "offset", "kafka_timestamp", "ingest_time"]


def _finish(df: DataFrame, checks: list[Check], typed: list[Column]) -> DataFrame:
    """Typed columns first (later checks use them), then the reason columns; the result keeps only
    what silver and quarantine need (the raw payload only for rejected rows), so caching it is cheap."""
    with_typed = df.select("*", *typed)
    rule, code, message = _reason_columns(checks)
    ruled = with_typed.withColumn("_rule", rule)
    typed_names = ["kafka_key"] + [c for c in with_typed.columns if c not in df.columns]
    return ruled.select(
        *OUTPUT_COMMON, *typed_names,
        code.alias("reason_code"),
        message.alias("reason"),
        F.expr("CASE WHEN _rule IS NOT NULL THEN CASE WHEN _utf8 THEN _json ELSE base64(_raw) END END")
        .alias("raw_value"),
        F.col("_size").alias("payload_bytes"),
        F.expr("CASE WHEN _rule IS NOT NULL THEN try_variant_get(_v, '$.event_id', 'string') END")
        .alias("payload_event_id"),
    )


def _sensor_typed(fields: list[Field]) -> list[Column]:
    by_name = {f.name: f for f in fields}
    return _typed_common(by_name) + [
        F.col(by_name["sensor"].s).alias("sensor"),
        F.col(by_name["value"].d).alias("value"),
        F.col(by_name["unit"].s).alias("unit"),
    ]


def _exact_sensor_readings(df: DataFrame, rules: Rules) -> DataFrame:
    schema = contracts.load_schema(contracts.SENSOR_READING)
    fields = contract_fields(schema["properties"])
    checks = envelope_checks(rules) + sensor_reading_checks(fields, schema["required"], rules)
    return _finish(_extract(prepare(decode(df), rules), fields), checks, _sensor_typed(fields))


# what a fast-path frame keeps of the bronze row, for the rows the exact engine must see
_RAW_FOR_EXACT = [("_key", "key"), ("_raw", "value")]


def parse_sensor_readings(df: DataFrame, rules: Rules = Rules()) -> DataFrame:
    """The one pass over the bronze rows (what a batch writer caches): with the fast path, the fast
    rows' final values and ``_fast``; every other row keeps its raw key and value for
    :func:`finish_sensor_readings`. Without it, the exact validation itself."""
    schema = contracts.load_schema(contracts.SENSOR_READING)
    fields = contract_fields(schema["properties"])
    if not fast_path_possible(fields, rules):
        return _exact_sensor_readings(df, rules)
    fast_frame, fast_fields = fast_parse(decode(df), fields, schema["required"], rules)
    fast_checks = sensor_reading_checks(fast_fields, schema["required"], rules)
    fast_frame = fast_frame.withColumn("_fast", F.expr(f"_fast_ok AND {passes(fast_checks)}"))
    return fast_frame.select(
        *OUTPUT_COMMON, "kafka_key", *_sensor_typed(fast_fields), "_fast", "_size",
        *[F.when(~F.col("_fast"), F.col(c)).alias(c) for c, _ in _RAW_FOR_EXACT])


def finish_sensor_readings(parsed: DataFrame, rules: Rules = Rules(), exact: bool = True) -> DataFrame:
    """:func:`parse_sensor_readings`' frame -> the validated rows. The fast rows pass as they are;
    the others go through the exact rule engine in a plan of their own (a union child is its own
    generated code, so the fast rows' code carries none of the engine's). ``exact=False`` when no
    row needs the engine (:func:`needs_exact`): then it is not even planned or compiled."""
    if "_fast" not in parsed.columns:
        return parsed
    none = F.lit(None).cast("string")
    # the exact path's columns, in its order: Kafka coordinates, kafka_key, the typed silver columns
    fast = parsed.where(F.col("_fast")).select(
        *[c for c in parsed.columns if c not in ["_fast", "_size", *(c for c, _ in _RAW_FOR_EXACT)]],
        none.alias("reason_code"), none.alias("reason"), none.alias("raw_value"),
        F.col("_size").alias("payload_bytes"), none.alias("payload_event_id"))
    if not exact:
        return fast
    return fast.unionByName(_exact_sensor_readings(
        parsed.where(~F.col("_fast")).select(*[F.col(c).alias(b) for c, b in _RAW_FOR_EXACT], *OUTPUT_COMMON), rules))


def validate_sensor_readings(df: DataFrame, rules: Rules = Rules()) -> DataFrame:
    """Bronze rows of `sensor-readings` -> + reason_code/reason + typed silver columns."""
    return finish_sensor_readings(parse_sensor_readings(df, rules), rules)


def validate_tool_events(df: DataFrame, rules: Rules = Rules()) -> DataFrame:
    """Bronze rows of `tool-events` -> + reason_code/reason + typed silver columns."""
    schema = contracts.load_schema(contracts.TOOL_EVENT)
    fields = contract_fields(schema["properties"])
    by_name = {f.name: f for f in fields}
    factor_fields = contract_fields(schema["properties"]["factors"]["properties"], "$.factors", "_f_factors")
    checks = envelope_checks(rules) + tool_event_checks(fields, factor_fields, schema["required"], rules)
    parsed = _extract(prepare(df, rules), fields + factor_fields)
    event, factors, life = by_name["event"], by_name["factors"], by_name["tool_life_min"]
    fb = {f.name: f for f in factor_fields}
    typed = _typed_common(by_name) + [
        F.col(event.s).alias("event"),
        F.when(F.expr(f"{factors.t} LIKE 'OBJECT%'"), F.struct(
            F.col(fb["cutting_speed"].d).alias("cutting_speed"),
            F.col(fb["feed"].d).alias("feed"),
            F.col(fb["depth_of_cut"].d).alias("depth_of_cut"),
            F.col(fb["coolant"].s).alias("coolant"),
            F.col(fb["coating"].s).alias("coating"),
        )).alias("factors"),
        F.expr(f"CASE WHEN {factors.t} LIKE 'OBJECT%' THEN to_json(variant_get(_v, '$.factors')) END")
        .alias("factors_json"),
        F.col(life.d).alias("tool_life_min"),
        F.col(by_name["flank_wear_mm"].d).alias("flank_wear_mm"),
    ]
    return _finish(parsed, checks, typed)


VALIDATORS = {"sensor_readings": validate_sensor_readings, "tool_events": validate_tool_events}
# (the one pass over the bronze rows, what turns its cached result into the validated rows)
STAGES = {"sensor_readings": (parse_sensor_readings, finish_sensor_readings),
          "tool_events": (validate_tool_events, lambda parsed, rules, exact=True: parsed)}


def validate(source: str, df: DataFrame, rules: Rules = Rules()) -> DataFrame:
    return VALIDATORS[source](df, rules)


def parse(source: str, df: DataFrame, rules: Rules = Rules()) -> DataFrame:
    """The part of :func:`validate` that reads every bronze row once: cache this, then :func:`finish` it."""
    return STAGES[source][0](df, rules)


def finish(source: str, parsed: DataFrame, rules: Rules = Rules(), exact: bool = True) -> DataFrame:
    """:func:`parse`'s (cached) frame -> what :func:`validate` returns; cheap to compute again.
    ``exact=False`` only when :func:`needs_exact` said no row needs the exact engine."""
    return STAGES[source][1](parsed, rules, exact)


def needs_exact(parsed: DataFrame) -> bool:
    """Whether any row of :func:`parse`'s frame is left to the exact engine (an action: run it on
    the cached frame). A batch of valid readings usually has none: its validation then never builds,
    plans or compiles the engine (a new JVM's largest generated methods, docs/ingestion.md)."""
    # a count, not limit(1): that would compute (and cache) the first partition alone, on one core
    return "_fast" not in parsed.columns or parsed.where(~F.col("_fast")).count() > 0


def to_silver(validated: DataFrame, source: str) -> DataFrame:
    """Valid rows, shaped exactly like the silver table."""
    schema = schemas.SOURCES[source].silver_schema
    shaped = (
        validated.where("reason_code IS NULL")
        .withColumn("event_date", F.to_date("ts"))
        .withColumn("kafka_topic", F.col("topic"))
        .withColumn("kafka_partition", F.col("partition"))
        .withColumn("kafka_offset", F.col("offset"))
    )
    return shaped.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def to_quarantine(validated: DataFrame, source: str) -> DataFrame:
    """Rejected rows with their raw payload, Kafka coordinates and reason."""
    rows = validated.where("reason_code IS NOT NULL").select(
        F.lit(source).alias("source"),
        "reason_code",
        "reason",
        F.col("payload_event_id").alias("event_id"),
        "kafka_key",
        "raw_value",
        "payload_bytes",
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        "kafka_timestamp",
        "ingest_time",
        F.to_date("ingest_time").alias("ingest_date"),
    )
    return rows.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schemas.QUARANTINE.fields])


def split(validated: DataFrame, source: str) -> tuple[DataFrame, DataFrame]:
    """(silver-shaped valid rows, quarantine-shaped rejected rows)."""
    return to_silver(validated, source), to_quarantine(validated, source)
