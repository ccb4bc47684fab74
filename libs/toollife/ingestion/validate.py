"""Parse and validate Kafka records against contract v1: pure ``DataFrame -> DataFrame`` transforms.

Why Variant and not ``from_json``: ``from_json`` silently casts (``"3"`` becomes 3 for an integer
field, 5 becomes ``"5"`` for a string field) or nulls the field, so a wrong JSON *type* can't be
told from a right one. ``try_parse_json`` parses each payload once into a Variant that keeps the
JSON type of every field (``schema_of_variant``: STRING, BIGINT, DECIMAL(p,s), DOUBLE, OBJECT...),
so every rule of the contract is checked exactly, in one pass of native (codegen) expressions.
Each object level is split once into its contract fields (a struct of Variants, one pass over the
object) whose JSON types ``schema_of_variant`` reads. The typed values come from ``from_json`` over
the same text: Variant -> string/double casts cost more per row than a second, schema-driven
parse. For every field of the right JSON type both give the same value (same tokens, the last
duplicate key wins, names are case-sensitive); where ``from_json`` has no value (absent, or a type
it cannot convert) the Variant's own cast is used, so the rules see what they saw before.
The rules (required, types, patterns, lengths, enums, minimum/exclusiveMinimum, date-time) are
compiled from the contract JSON Schema itself; the few rules the contract states in prose (sensor ranges from ``x-sensor-units-and-ranges``,
``run_started`` carries factors, ``tool_worn_out`` carries ``tool_life_min``, values finite, the
Kafka key equals ``machine_id``) are added by hand.

Input: bronze-shaped rows (``key``, ``value`` binary, ``topic``, ``partition``, ``offset``,
``kafka_timestamp``, ``ingest_time``). :func:`validate` returns the Kafka coordinates, the typed
silver columns, ``reason_code``/``reason`` (null when valid) and, for rejected rows only, the raw
payload; :func:`split` returns (valid silver rows, quarantine rows).
The first failing rule wins, in the order of :data:`REASON_CODES`.

Fast path (flat contracts, i.e. sensor readings; ``ingestion.silver.fast_path``): most rows are
valid, and for them one strict ``from_json`` already gives every typed value. :func:`fast_parse`
marks the rows whose fields it read exactly (one object and nothing after it, number fields were
JSON numbers, no free-text string that could be a re-serialised non-string, no optional field
that might be a JSON null), the same rules are checked over those values, and a row that passes
takes them and skips the Variant parse and the rule engine. Every other row, valid or not, goes
through the exact path above, so each reason and value is what the exact rules alone give
(tests/unit/test_ingestion_validate.py compares both on every bad and edge case).
:func:`parse` is the one pass over the bronze rows (a batch writer caches it); :func:`finish` turns
it into the validated rows: the fast rows as they are, unioned with the exact engine run over only
the rows the fast path left, in a plan of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from toollife import contracts
from toollife.ingestion import schemas

# reason code -> what it means (also the order in which rules are checked)
REASON_CODES: dict[str, str] = {
    "empty_value": "the Kafka record has no value or an empty one",
    "payload_too_large": "the value is larger than ingestion.silver.max_payload_bytes",
    "invalid_utf8": "the value is not valid UTF-8",
    "non_finite_value": "a number is NaN or +/-Infinity (bare tokens, or overflowing like 1e400)",
    "malformed_json": "the value is not exactly one JSON object (malformed, an array/scalar, or text after it)",
    "missing_field": "a required field is absent",
    "wrong_type": "a field has the wrong JSON type (e.g. \"3\" for an integer, null for a string)",
    "invalid_id": "an id breaks its pattern (^M[0-9]{2,4}$, ^T[0-9]{2,4}$) or length (1..64)",
    "unknown_sensor": "sensor is not one of the contract's sensors",
    "unknown_event": "event is not one of the contract's tool events",
    "invalid_timestamp": "ts is not an RFC 3339 date-time with offset (or not a real date)",
    "out_of_range": "a number is outside its range (run_id/replicate >= 1, sensor physical range, "
                    "tool_life_min > 0, flank_wear_mm >= 0)",
    "missing_factors": "a run_started event without a factors object",
    "invalid_factor": "a standard factor has the wrong type, is not > 0, or is not an allowed enum value",
    "missing_tool_life": "a tool_worn_out event without tool_life_min",
    "timestamp_in_future": "ts is later than the Kafka ingest time + ingestion.silver.max_future_skew",
    "key_mismatch": "the Kafka key is absent or differs from the payload's machine_id",
}

_NUMERIC = "('TINYINT', 'SMALLINT', 'INT', 'BIGINT', 'FLOAT', 'DOUBLE')"
# RFC 3339 date-time as jsonschema's format checker reads it (rfc3339-validator, upper-cased input)
_RFC3339 = r"^[0-9]{4}-(0[1-9]|1[0-2])-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
_NON_FINITE_TOKEN = r"[:\[,]\s*-?(NaN|Infinity)\s*[,}\]]"


@dataclass(frozen=True)
class Rules:
    """The tunable parts of validation (ingestion.silver in conf)."""

    max_payload_bytes: int = 65536
    max_future_skew: str = "5 minutes"
    # must match spark.sql.variant.allowDuplicateKeys (the application sets both from conf): the fast
    # path reads duplicate keys like from_json (last wins), so it is only used when that is the rule
    allow_duplicate_keys: bool = True
    fast_path: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Rules":
        silver = config["ingestion"]["silver"]
        return cls(int(silver["max_payload_bytes"]), str(silver["max_future_skew"]),
                   bool(silver["allow_duplicate_json_keys"]), bool(silver.get("fast_path", True)))


def _lit(value: Any) -> str:
    """A SQL literal."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


@dataclass
class _Field:
    name: str
    path: str  # JSON path in the payload
    col: str  # column prefix used for the extracted pieces
    spec: dict
    obj: str = "_o"  # column holding this field's object level as a struct of Variants
    typed: str = ""  # the typed column of a date-time field (default: the field's name)

    def __post_init__(self):
        self.typed = self.typed or self.name

    @property
    def parent(self) -> str:  # JSON path of the object holding the field
        return self.path.rsplit(".", 1)[0]

    @property
    def typed_ref(self) -> str:  # this field in the from_json struct (see _extract)
        return "_typed." + ".".join(f"`{p}`" for p in self.path.split(".")[1:])

    @property
    def t(self) -> str:  # schema_of_variant of the field, NULL when absent, 'VOID' for JSON null
        return f"{self.col}__t"

    @property
    def d(self) -> str:  # the value as double (numbers only)
        return f"{self.col}__d"

    @property
    def s(self) -> str:  # the value as string (strings only)
        return f"{self.col}__s"

    @property
    def jtype(self) -> str | None:
        if "type" in self.spec:
            return self.spec["type"]
        return "enum" if "enum" in self.spec else None

    def raw(self) -> str:
        return f"coalesce(to_json(variant_get(_v, {_lit(self.path)})), 'null')"

    def type_ok(self) -> str:
        jt = self.jtype
        if jt == "string":
            return f"{self.t} = 'STRING'"
        if jt == "number":
            return f"({self.t} IN {_NUMERIC} OR {self.t} LIKE 'DECIMAL%')"
        if jt == "integer":
            return (f"(({self.t} IN {_NUMERIC} OR {self.t} LIKE 'DECIMAL%') "
                    f"AND ({self.d} = floor({self.d}) OR isnan({self.d}) OR abs({self.d}) = double('inf')))")
        if jt == "object":
            return f"{self.t} LIKE 'OBJECT%'"
        if jt == "enum":
            return "true"  # a non-string is simply not one of the enum's values
        raise ValueError(f"contract type {jt!r} of {self.name} not supported")

    def finite(self) -> str:
        return f"NOT (isnan({self.d}) OR abs({self.d}) = double('inf'))"


def _fields(properties: Mapping[str, dict], base: str = "$", prefix: str = "_f") -> list[_Field]:
    return [_Field(name, f"{base}.{name}", f"{prefix}_{name}", spec, f"{prefix}__o")
            for name, spec in properties.items()]


def _typed_schema(fields: list[_Field], base: str = "$") -> str:
    """from_json schema of the fields at ``base`` (an object field becomes the struct of its own
    fields when any are extracted)."""
    parts = []
    for f in fields:
        if f.parent != base:
            continue
        if f.jtype in ("string", "enum"):
            parts.append(f"`{f.name}`: string")
        elif f.jtype in ("number", "integer"):
            parts.append(f"`{f.name}`: double")
        elif any(g.parent == f.path for g in fields):
            parts.append(f"`{f.name}`: {_typed_schema(fields, f.path)}")
    return f"struct<{', '.join(parts)}>"


def _extract(df: DataFrame, fields: list[_Field]) -> DataFrame:
    """+ per field: ``__t`` its JSON type, ``__s``/``__d`` its value as string/double."""
    objects: dict[str, tuple[str, list[_Field]]] = {}
    for f in fields:
        objects.setdefault(f.obj, (f.parent, []))[1].append(f)
    split = [F.expr(f"try_variant_get(_v, {_lit(path)}, "
                    f"{_lit('struct<' + ', '.join(f'`{f.name}`: variant' for f in fs) + '>')})").alias(obj)
             for obj, (path, fs) in objects.items()]
    typed = F.expr(f"CASE WHEN _v IS NOT NULL THEN from_json(_json, {_lit(_typed_schema(fields))}) END").alias("_typed")
    types = [F.expr(f"schema_of_variant({f.obj}.`{f.name}`)").alias(f.t) for f in fields]
    cols = []
    for f in fields:
        if f.jtype in ("number", "integer"):
            cols.append(F.expr(f"coalesce({f.typed_ref}, try_variant_get(_v, {_lit(f.path)}, 'double'))").alias(f.d))
        if f.jtype in ("string", "enum"):
            # from_json turns any JSON value into text ("2.0" for 2.0): only taken for JSON strings
            cols.append(F.expr(f"CASE WHEN {f.t} = 'STRING' THEN {f.typed_ref} "
                               f"ELSE try_variant_get(_v, {_lit(f.path)}, 'string') END").alias(f.s))
    return df.select("*", *split, typed).select("*", *types).select("*", *cols).drop(*objects, "_typed")


def _present(f: _Field) -> str:
    return f"{f.t} IS NOT NULL"


def _bad_list(items: list[tuple[str, str]]) -> tuple[str, str]:
    """(any-condition, message listing every item whose condition holds)."""
    cond = " OR ".join(f"({c})" for c, _ in items) or "false"
    msg = "concat_ws('; ', " + ", ".join(f"CASE WHEN {c} THEN {m} END" for c, m in items) + ")" if items else "''"
    return cond, msg


def _property_checks(fields: list[_Field], required: list[str], *, code_override: str | None = None,
                     what: str = "field") -> list[tuple[str, str, str]]:
    """(code, condition, message) per generic JSON Schema keyword, in check order."""
    checks: list[tuple[str, str, str]] = []
    by_name = {f.name: f for f in fields}
    missing = [(f"{by_name[n].t} IS NULL", _lit(n)) for n in required]
    if missing:
        cond, msg = _bad_list(missing)
        checks.append(("missing_field", cond, f"concat('missing required {what}(s): ', {msg})"))
    wrong = [(f"{_present(f)} AND NOT ({f.type_ok()})",
              f"concat({_lit(f.name + ' must be ' + str(f.jtype) + ', got ')}, {f.raw()})")
             for f in fields if f.jtype != "enum"]
    cond, msg = _bad_list(wrong)
    checks.append(("wrong_type", cond, msg))

    ids = []
    for f in fields:
        if f.jtype != "string":
            continue
        parts = []
        if "pattern" in f.spec:
            parts.append(f"NOT rlike({f.s}, {_lit(f.spec['pattern'])})")
        if "minLength" in f.spec:
            parts.append(f"char_length({f.s}) < {f.spec['minLength']}")
        if "maxLength" in f.spec:
            parts.append(f"char_length({f.s}) > {f.spec['maxLength']}")
        if parts:
            rule = f.spec.get("pattern") or f"length {f.spec.get('minLength', 0)}..{f.spec.get('maxLength', '')}"
            ids.append((f"{_present(f)} AND ({' OR '.join(parts)})",
                        f"concat({_lit(f.name + ' must match ' + rule + ', got ')}, {f.raw()})"))
    if ids:
        cond, msg = _bad_list(ids)
        checks.append(("invalid_id", cond, msg))

    for f in fields:
        if "enum" in f.spec:
            allowed = ", ".join(_lit(v) for v in f.spec["enum"])
            checks.append((code_override or f"unknown_{f.name}",
                           f"{_present(f)} AND coalesce({f.t} <> 'STRING' OR {f.s} NOT IN ({allowed}), true)",
                           f"concat({_lit(f.name + ' must be one of ' + '/'.join(f.spec['enum']) + ', got ')}, {f.raw()})"))

    for f in fields:
        if f.spec.get("format") == "date-time":
            # the typed column (see _typed_common) is null unless it is RFC 3339
            checks.append(("invalid_timestamp", f"{_present(f)} AND {f.typed} IS NULL",
                           f"concat({_lit(f.name + ' must be an RFC 3339 date-time with offset, got ')}, {f.raw()})"))

    nums = [f for f in fields if f.jtype in ("number", "integer")]
    if nums:
        cond, msg = _bad_list([(f"{_present(f)} AND NOT ({f.finite()})",
                                f"concat({_lit(f.name + ' must be finite, got ')}, {f.raw()})") for f in nums])
        checks.append(("non_finite_value", cond, msg))
    ranges = []
    for f in nums:
        if "minimum" in f.spec:
            ranges.append((f"{_present(f)} AND {f.d} < {f.spec['minimum']}",
                           f"concat({_lit(f.name + ' must be >= ' + str(f.spec['minimum']) + ', got ')}, {f.raw()})"))
        if "exclusiveMinimum" in f.spec:
            ranges.append((f"{_present(f)} AND {f.d} <= {f.spec['exclusiveMinimum']}",
                           f"concat({_lit(f.name + ' must be > ' + str(f.spec['exclusiveMinimum']) + ', got ')}, {f.raw()})"))
        if f.jtype == "integer":  # must fit a 64-bit long
            ranges.append((f"{_present(f)} AND abs({f.d}) >= 9.2e18",
                           f"concat({_lit(f.name + ' does not fit a 64-bit integer: ')}, {f.raw()})"))
    if ranges:
        cond, msg = _bad_list(ranges)
        checks.append((code_override or "out_of_range", cond, msg))
    if code_override:
        checks = [(code if code == "missing_field" else code_override, c, m) for code, c, m in checks]
    return checks


def _reason_columns(checks: list[tuple[str, str, str]]) -> tuple[Column, Column, Column]:
    """(rule index, reason_code, reason): each condition is evaluated once per row (first failing
    rule wins); the message is only built for rejected rows."""
    rule = F.expr("CASE " + " ".join(f"WHEN {c} THEN {i}" for i, (_, c, _m) in enumerate(checks)) + " END")
    code = F.expr("CASE _rule " + " ".join(f"WHEN {i} THEN {_lit(c)}" for i, (c, _, _m) in enumerate(checks)) + " END")
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
        .withColumn("_tag", F.expr("xxhash64(_json)"))  # see prepare and fast_parse
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


# strict JSON, as the Variant parser reads it (no 'single quotes', no NaN/Infinity tokens), and a
# corrupt-record column that is set when any field fails to convert
_FAST_JSON_OPTIONS = ("map('allowSingleQuotes', 'false', 'allowNonNumericNumbers', 'false', "
                      "'columnNameOfCorruptRecord', '_bad')")


def fast_path_possible(fields: list[_Field], rules: Rules) -> bool:
    """Flat contracts only (an object field needs the Variant for its JSON), and last-wins duplicates."""
    return rules.fast_path and rules.allow_duplicate_keys and all(
        f.jtype in ("string", "enum", "number", "integer") for f in fields)


def fast_parse(df: DataFrame, fields: list[_Field], required: list[str],
               rules: Rules) -> tuple[DataFrame, list[_Field]]:
    """+ the fast path's columns: one ``from_json`` into typed values, and ``_fast_ok`` where they
    are exactly what the rule engine would see. Returns (frame, the fields bound to those columns).

    ``from_json`` ignores text after the first value, so a payload ending in ``}`` is parsed with
    that brace replaced by ``,"_tag": <its own xxhash64>}``: the tag can only be read back as a
    member of the top-level object when that object ends exactly where the payload ends (the
    payload cannot contain its own hash, see :func:`prepare`). A number field's value that is not a
    JSON number marks the record corrupt (``_bad``). What ``from_json`` cannot tell apart is
    left to the exact path: a free-text string field (no pattern, enum or format) whose text could be
    a number, ``true``/``false``, an object or an array re-serialised; an optional field that is
    null (absent, or JSON null?) while the payload names it or holds a ``\\u`` escape.
    """
    fast = [_Field(f.name, f.path, f"_q_{f.name}", f.spec, typed=f"_q_{f.name}") for f in fields]
    elements = ", ".join(f"`{f.name}`: {'double' if f.jtype in ('number', 'integer') else 'string'}" for f in fast)
    schema = f"struct<{elements}, `_tag`: bigint, `_bad`: string>"
    # The text is re-joined as bytes (no character counting) in a column of its own: referenced twice
    # below, it stays in generated code instead of being merged into from_json's project, where
    # Spark evaluates from_json's whole input expression interpreted (1.8 of 5.7 CPU-s per 1M rows).
    tagged = F.expr(
        f"CASE WHEN _size BETWEEN 1 AND {int(rules.max_payload_bytes)} AND _utf8 AND endswith(_json, '}}') "
        f"""THEN cast(concat(substring(_raw, 1, _size - 1), cast(concat(',"_tag":', _tag, '}}') AS BINARY)) AS STRING) END""")
    parsed = F.expr(f"CASE WHEN _w IS NOT NULL THEN from_json(_w, {_lit(schema)}, {_FAST_JSON_OPTIONS}) END")
    out = df.withColumn("_w", tagged).withColumn("_q", parsed).drop("_w").withColumn(
        "_q_one", F.expr("coalesce(_q._tag = _tag AND _q._bad IS NULL, false)"))
    values, guards = [], ["_q_one"]
    for f in fast:
        value = f"_q.`{f.name}`"
        number = f.jtype in ("number", "integer")
        values.append(F.expr(value).alias(f.d if number else f.s))
        values.append(F.expr(f"CASE WHEN {value} IS NOT NULL THEN '{'DOUBLE' if number else 'STRING'}' END").alias(f.t))
        if f.jtype == "string" and not {"pattern", "format"} & set(f.spec):
            starts = ", ".join(_lit(c) for c in "-0123456789{[")
            guards.append(f"{value} IS NULL OR NOT (substr({value}, 1, 1) IN ({starts}) OR {value} IN ('true', 'false'))")
        if f.name not in required:
            # the name and its closing quote: a superset of '"name"' whose first byte is rarer (the
            # search compares whole needles only where that byte occurs; '"' is in every field)
            guards.append(f"({value} IS NOT NULL OR NOT (contains(_json, {_lit(f.name + chr(34))}) "
                          "OR contains(_json, '\\\\u')))")
    out = out.select("*", *values)
    by_name = {f.name: f for f in fast}
    out = out.withColumn(by_name["ts"].typed, _timestamp(by_name["ts"]))
    return out.withColumn("_fast_ok", F.expr(" AND ".join(f"coalesce({g}, false)" for g in guards))), fast


def _passes(checks: list[tuple[str, str, str]]) -> str:
    """No check holds (a check that is null, e.g. on a missing value, counts as failing)."""
    return " AND ".join(f"NOT coalesce({c}, true)" for _, c, _m in checks)


def _envelope_checks(rules: Rules) -> list[tuple[str, str, str]]:
    max_bytes = int(rules.max_payload_bytes)
    return [
        ("empty_value", "_raw IS NULL OR _size = 0", "'the Kafka record value is empty'"),
        ("payload_too_large", f"_size > {max_bytes}",
         f"concat('payload of ', _size, ' bytes exceeds the limit of {max_bytes} bytes')"),
        ("invalid_utf8", "NOT _utf8", "'payload is not valid UTF-8'"),
        ("non_finite_value", f"_v IS NULL AND rlike(_json, {_lit(_NON_FINITE_TOKEN)})",
         "'payload contains a non-finite number (NaN/Infinity), which JSON cannot represent'"),
        ("malformed_json", "_v IS NULL", "'payload is not exactly one JSON object (malformed JSON, an array/scalar at top level, or text after the object)'"),
    ]


def _key_and_time_checks(rules: Rules, fields: dict[str, _Field]) -> list[tuple[str, str, str]]:
    ts, machine = fields["ts"], fields["machine_id"]
    return [
        ("timestamp_in_future", f"{ts.typed} > ingest_time + INTERVAL {rules.max_future_skew}",
         f"concat('ts ', {ts.s}, ' is more than {rules.max_future_skew} after the ingest time ', "
         "cast(ingest_time AS STRING))"),
        ("key_mismatch", f"kafka_key IS NULL OR kafka_key <> {machine.s}",
         "concat('Kafka key ', coalesce(concat('\"', kafka_key, '\"'), 'null'), "
         f"' differs from machine_id \"', {machine.s}, '\"')"),
    ]


def _timestamp(ts: _Field) -> Column:
    """The typed ts: null unless the string is an RFC 3339 date-time with offset."""
    return F.expr(f"CASE WHEN rlike(upper({ts.s}), {_lit(_RFC3339)}) AND NOT startswith({ts.s}, '0000') "
                  f"THEN try_cast(upper({ts.s}) AS TIMESTAMP) END")


def _typed_common(fields: dict[str, _Field]) -> list[Column]:
    ts = fields["ts"]
    return [
        F.col(fields["event_id"].s).alias("event_id"),
        # the fast path's typed ts is made up front by fast_parse, for its checks
        (_timestamp(ts) if ts.typed == ts.name else F.col(ts.typed)).alias("ts"),
        F.col(fields["machine_id"].s).alias("machine_id"),
        F.col(fields["tool_id"].s).alias("tool_id"),
        F.col(fields["experiment_id"].s).alias("experiment_id"),
        F.expr(f"try_cast({fields['run_id'].d} AS BIGINT)").alias("run_id"),
        F.expr(f"coalesce(try_cast({fields['replicate'].d} AS BIGINT), 1)").alias("replicate"),
    ]


OUTPUT_COMMON = ["topic", "partition", "offset", "kafka_timestamp", "ingest_time"]


def _finish(df: DataFrame, checks: list[tuple[str, str, str]], typed: list[Column]) -> DataFrame:
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


def _sensor_rules(rules: Rules):
    """(contract schema, fields, fields -> (checks, typed columns)) of sensor readings."""
    schema = contracts.load_schema(contracts.SENSOR_READING)

    def rules_and_typed(fields: list[_Field]) -> tuple[list[tuple[str, str, str]], list[Column]]:
        by_name = {f.name: f for f in fields}
        checks = _property_checks(fields, schema["required"])
        value, sensor = by_name["value"], by_name["sensor"]
        in_range = " ".join(
            f"WHEN {_lit(name)} THEN {value.d} BETWEEN {r['min']} AND {r['max']}"
            for name, r in contracts.sensor_ranges().items())
        bounds = " ".join(f"WHEN {_lit(name)} THEN '[{r['min']}, {r['max']}] {r['unit']}'"
                          for name, r in contracts.sensor_ranges().items())
        checks.append(("out_of_range", f"NOT coalesce(CASE {sensor.s} {in_range} END, false)",
                       f"concat('value ', {value.raw()}, ' of ', {sensor.s}, ' is outside its physical range ', "
                       f"CASE {sensor.s} {bounds} END)"))
        checks += _key_and_time_checks(rules, by_name)
        typed = _typed_common(by_name) + [
            F.col(sensor.s).alias("sensor"),
            F.col(value.d).alias("value"),
            F.col(by_name["unit"].s).alias("unit"),
        ]
        return checks, typed

    return schema, _fields(schema["properties"]), rules_and_typed


def _exact_sensor_readings(df: DataFrame, rules: Rules) -> DataFrame:
    schema, fields, rules_and_typed = _sensor_rules(rules)
    checks, typed = rules_and_typed(fields)
    return _finish(_extract(prepare(decode(df), rules), fields), _envelope_checks(rules) + checks, typed)


# what a fast-path frame keeps of the bronze row, for the rows the exact engine must see
_RAW_FOR_EXACT = [("_key", "key"), ("_raw", "value")]


def parse_sensor_readings(df: DataFrame, rules: Rules = Rules()) -> DataFrame:
    """The one pass over the bronze rows (what a batch writer caches): with the fast path, the fast
    rows' final values and ``_fast``; every other row keeps its raw key and value for
    :func:`finish_sensor_readings`. Without it, the exact validation itself."""
    schema, fields, rules_and_typed = _sensor_rules(rules)
    if not fast_path_possible(fields, rules):
        return _exact_sensor_readings(df, rules)
    fast_frame, fast_fields = fast_parse(decode(df), fields, schema["required"], rules)
    fast_checks, fast_typed = rules_and_typed(fast_fields)
    fast_frame = fast_frame.withColumn("_fast", F.expr(f"_fast_ok AND {_passes(fast_checks)}"))
    return fast_frame.select(
        *OUTPUT_COMMON, "kafka_key", *fast_typed, "_fast", "_size",
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
    fields = _fields(schema["properties"])
    by_name = {f.name: f for f in fields}
    factor_fields = _fields(schema["properties"]["factors"]["properties"], "$.factors", "_f_factors")
    event, factors, life = by_name["event"], by_name["factors"], by_name["tool_life_min"]
    checks = _envelope_checks(rules) + _property_checks(fields, schema["required"])
    checks.append(("missing_factors", f"{event.s} = 'run_started' AND {factors.t} IS NULL",
                   "'run_started must carry a factors object'"))
    checks += [(code, f"{factors.t} LIKE 'OBJECT%' AND ({cond})", f"concat('factors: ', {msg})")
               for code, cond, msg in _property_checks(factor_fields, [], code_override="invalid_factor",
                                                       what="factor")]
    checks.append(("missing_tool_life", f"{event.s} = 'tool_worn_out' AND {life.t} IS NULL",
                   "'tool_worn_out must carry tool_life_min'"))
    checks += _key_and_time_checks(rules, by_name)
    parsed = _extract(prepare(df, rules), fields + factor_fields)
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
