"""Contract v1's rules as Spark SQL text: pure (no pyspark), one condition and message per rule.

The rules (required, types, patterns, lengths, enums, minimum/exclusiveMinimum, date-time) are
compiled from the contract JSON Schema itself; the few rules the contract states in prose (sensor
ranges from ``x-sensor-units-and-ranges``, ``run_started`` carries factors, ``tool_worn_out``
carries ``tool_life_min``, values finite, the Kafka key equals ``machine_id``) are added by hand.
Each rule is a ``(reason code, condition, message)`` triple over the columns a :class:`Field`
names (its JSON type ``__t`` as ``schema_of_variant`` writes it, its value as string ``__s`` or
double ``__d``); :mod:`.validate` builds those columns and evaluates the rules, :mod:`.fast_path`
builds them faster for the rows it can. The first failing rule wins, in the order of
:data:`REASON_CODES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from toollife import contracts
from toollife.runtime.sql import quote_identifier, sql_literal

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

Check = tuple[str, str, str]  # (reason code, SQL condition that holds when the rule is broken, SQL message)

_NUMERIC = "('TINYINT', 'SMALLINT', 'INT', 'BIGINT', 'FLOAT', 'DOUBLE')"
# RFC 3339 date-time as jsonschema's format checker reads it (rfc3339-validator, upper-cased input)
_RFC3339 = r"^[0-9]{4}-(0[1-9]|1[0-2])-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
NON_FINITE_TOKEN = r"[:\[,]\s*-?(NaN|Infinity)\s*[,}\]]"


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


@dataclass
class Field:
    """One contract field and the names of the columns that hold its pieces."""

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
    def typed_ref(self) -> str:  # this field in the from_json struct (see validate._extract)
        return "_typed." + ".".join(quote_identifier(p) for p in self.path.split(".")[1:])

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
        return f"coalesce(to_json(variant_get(_v, {sql_literal(self.path)})), 'null')"

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

    def present(self) -> str:
        return f"{self.t} IS NOT NULL"


def contract_fields(properties: Mapping[str, dict], base: str = "$", prefix: str = "_f") -> list[Field]:
    """The fields of one object level of a contract schema (``base``: its JSON path)."""
    return [Field(name, f"{base}.{name}", f"{prefix}_{name}", spec, f"{prefix}__o")
            for name, spec in properties.items()]


def typed_schema(fields: list[Field], base: str = "$") -> str:
    """from_json schema of the fields at ``base`` (an object field becomes the struct of its own
    fields when any are extracted)."""
    parts = []
    for f in fields:
        if f.parent != base:
            continue
        if f.jtype in ("string", "enum"):
            parts.append(f"{quote_identifier(f.name)}: string")
        elif f.jtype in ("number", "integer"):
            parts.append(f"{quote_identifier(f.name)}: double")
        elif any(g.parent == f.path for g in fields):
            parts.append(f"{quote_identifier(f.name)}: {typed_schema(fields, f.path)}")
    return f"struct<{', '.join(parts)}>"


def timestamp_sql(ts: Field) -> str:
    """The typed ts: null unless the string is an RFC 3339 date-time with offset."""
    return (f"CASE WHEN rlike(upper({ts.s}), {sql_literal(_RFC3339)}) AND NOT startswith({ts.s}, '0000') "
            f"THEN try_cast(upper({ts.s}) AS TIMESTAMP) END")


def _bad_list(items: list[tuple[str, str]]) -> tuple[str, str]:
    """(any-condition, message listing every item whose condition holds)."""
    cond = " OR ".join(f"({c})" for c, _ in items) or "false"
    msg = "concat_ws('; ', " + ", ".join(f"CASE WHEN {c} THEN {m} END" for c, m in items) + ")" if items else "''"
    return cond, msg


def property_checks(fields: list[Field], required: list[str], *, code_override: str | None = None,
                    what: str = "field") -> list[Check]:
    """(code, condition, message) per generic JSON Schema keyword, in check order."""
    checks: list[Check] = []
    by_name = {f.name: f for f in fields}
    missing = [(f"{by_name[n].t} IS NULL", sql_literal(n)) for n in required]
    if missing:
        cond, msg = _bad_list(missing)
        checks.append(("missing_field", cond, f"concat('missing required {what}(s): ', {msg})"))
    wrong = [(f"{f.present()} AND NOT ({f.type_ok()})",
              f"concat({sql_literal(f.name + ' must be ' + str(f.jtype) + ', got ')}, {f.raw()})")
             for f in fields if f.jtype != "enum"]
    cond, msg = _bad_list(wrong)
    checks.append(("wrong_type", cond, msg))

    ids = []
    for f in fields:
        if f.jtype != "string":
            continue
        parts = []
        if "pattern" in f.spec:
            parts.append(f"NOT rlike({f.s}, {sql_literal(f.spec['pattern'])})")
        if "minLength" in f.spec:
            parts.append(f"char_length({f.s}) < {f.spec['minLength']}")
        if "maxLength" in f.spec:
            parts.append(f"char_length({f.s}) > {f.spec['maxLength']}")
        if parts:
            rule = f.spec.get("pattern") or f"length {f.spec.get('minLength', 0)}..{f.spec.get('maxLength', '')}"
            ids.append((f"{f.present()} AND ({' OR '.join(parts)})",
                        f"concat({sql_literal(f.name + ' must match ' + rule + ', got ')}, {f.raw()})"))
    if ids:
        cond, msg = _bad_list(ids)
        checks.append(("invalid_id", cond, msg))

    for f in fields:
        if "enum" in f.spec:
            allowed = ", ".join(sql_literal(v) for v in f.spec["enum"])
            checks.append((code_override or f"unknown_{f.name}",
                           f"{f.present()} AND coalesce({f.t} <> 'STRING' OR {f.s} NOT IN ({allowed}), true)",
                           f"concat({sql_literal(f.name + ' must be one of ' + '/'.join(f.spec['enum']) + ', got ')}, {f.raw()})"))

    for f in fields:
        if f.spec.get("format") == "date-time":
            # the typed column (see timestamp_sql) is null unless it is RFC 3339
            checks.append(("invalid_timestamp", f"{f.present()} AND {f.typed} IS NULL",
                           f"concat({sql_literal(f.name + ' must be an RFC 3339 date-time with offset, got ')}, {f.raw()})"))

    nums = [f for f in fields if f.jtype in ("number", "integer")]
    if nums:
        cond, msg = _bad_list([(f"{f.present()} AND NOT ({f.finite()})",
                                f"concat({sql_literal(f.name + ' must be finite, got ')}, {f.raw()})") for f in nums])
        checks.append(("non_finite_value", cond, msg))
    ranges = []
    for f in nums:
        if "minimum" in f.spec:
            ranges.append((f"{f.present()} AND {f.d} < {f.spec['minimum']}",
                           f"concat({sql_literal(f.name + ' must be >= ' + str(f.spec['minimum']) + ', got ')}, {f.raw()})"))
        if "exclusiveMinimum" in f.spec:
            ranges.append((f"{f.present()} AND {f.d} <= {f.spec['exclusiveMinimum']}",
                           f"concat({sql_literal(f.name + ' must be > ' + str(f.spec['exclusiveMinimum']) + ', got ')}, {f.raw()})"))
        if f.jtype == "integer":  # must fit a 64-bit long
            ranges.append((f"{f.present()} AND abs({f.d}) >= 9.2e18",
                           f"concat({sql_literal(f.name + ' does not fit a 64-bit integer: ')}, {f.raw()})"))
    if ranges:
        cond, msg = _bad_list(ranges)
        checks.append((code_override or "out_of_range", cond, msg))
    if code_override:
        checks = [(code if code == "missing_field" else code_override, c, m) for code, c, m in checks]
    return checks


def passes(checks: list[Check]) -> str:
    """No check holds (a check that is null, e.g. on a missing value, counts as failing)."""
    return " AND ".join(f"NOT coalesce({c}, true)" for _, c, _m in checks)


def envelope_checks(rules: Rules) -> list[Check]:
    """The rules about the Kafka value itself, before any field is read."""
    max_bytes = int(rules.max_payload_bytes)
    return [
        ("empty_value", "_raw IS NULL OR _size = 0", "'the Kafka record value is empty'"),
        ("payload_too_large", f"_size > {max_bytes}",
         f"concat('payload of ', _size, ' bytes exceeds the limit of {max_bytes} bytes')"),
        ("invalid_utf8", "NOT _utf8", "'payload is not valid UTF-8'"),
        ("non_finite_value", f"_v IS NULL AND rlike(_json, {sql_literal(NON_FINITE_TOKEN)})",
         "'payload contains a non-finite number (NaN/Infinity), which JSON cannot represent'"),
        ("malformed_json", "_v IS NULL", "'payload is not exactly one JSON object (malformed JSON, an array/scalar at top level, or text after the object)'"),
    ]


def key_and_time_checks(rules: Rules, fields: Mapping[str, Field]) -> list[Check]:
    ts, machine = fields["ts"], fields["machine_id"]
    return [
        ("timestamp_in_future", f"{ts.typed} > ingest_time + INTERVAL {rules.max_future_skew}",
         f"concat('ts ', {ts.s}, ' is more than {rules.max_future_skew} after the ingest time ', "
         "cast(ingest_time AS STRING))"),
        ("key_mismatch", f"kafka_key IS NULL OR kafka_key <> {machine.s}",
         "concat('Kafka key ', coalesce(concat('\"', kafka_key, '\"'), 'null'), "
         f"' differs from machine_id \"', {machine.s}, '\"')"),
    ]


def sensor_reading_checks(fields: list[Field], required: list[str], rules: Rules) -> list[Check]:
    """Every field rule of a sensor reading (the envelope's come first, see :func:`envelope_checks`)."""
    by_name = {f.name: f for f in fields}
    checks = property_checks(fields, required)
    value, sensor = by_name["value"], by_name["sensor"]
    in_range = " ".join(
        f"WHEN {sql_literal(name)} THEN {value.d} BETWEEN {r['min']} AND {r['max']}"
        for name, r in contracts.sensor_ranges().items())
    bounds = " ".join(f"WHEN {sql_literal(name)} THEN '[{r['min']}, {r['max']}] {r['unit']}'"
                      for name, r in contracts.sensor_ranges().items())
    checks.append(("out_of_range", f"NOT coalesce(CASE {sensor.s} {in_range} END, false)",
                   f"concat('value ', {value.raw()}, ' of ', {sensor.s}, ' is outside its physical range ', "
                   f"CASE {sensor.s} {bounds} END)"))
    return checks + key_and_time_checks(rules, by_name)


def tool_event_checks(fields: list[Field], factor_fields: list[Field], required: list[str],
                      rules: Rules) -> list[Check]:
    """Every field rule of a tool event, its factors object's included (after the envelope's)."""
    by_name = {f.name: f for f in fields}
    event, factors, life = by_name["event"], by_name["factors"], by_name["tool_life_min"]
    checks = property_checks(fields, required)
    checks.append(("missing_factors", f"{event.s} = 'run_started' AND {factors.t} IS NULL",
                   "'run_started must carry a factors object'"))
    checks += [(code, f"{factors.t} LIKE 'OBJECT%' AND ({cond})", f"concat('factors: ', {msg})")
               for code, cond, msg in property_checks(factor_fields, [], code_override="invalid_factor",
                                                      what="factor")]
    checks.append(("missing_tool_life", f"{event.s} = 'tool_worn_out' AND {life.t} IS NULL",
                   "'tool_worn_out must carry tool_life_min'"))
    return checks + key_and_time_checks(rules, by_name)
