"""The pure validation transforms on small hand-made bronze rows (no Kafka, no tables)."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from chispa import assert_df_equality

from toollife import contracts
from toollife.ingestion import schemas
from toollife.ingestion import contract_rules, fast_path
from toollife.ingestion import validate as V
from toollife.ingestion.silver import classify, parse_interval

INGEST = datetime(2026, 11, 21, 9, 0, 0)
READING = {"event_id": "e1", "ts": "2026-11-21T08:00:00Z", "machine_id": "M01", "tool_id": "T01",
           "experiment_id": "exp", "run_id": 1, "replicate": 1, "sensor": "temperature", "value": 20.5}
EVENT = {"event_id": "v1", "ts": "2026-11-21T08:00:00Z", "machine_id": "M01", "tool_id": "T01",
         "experiment_id": "exp", "run_id": 2, "event": "run_started",
         "factors": {"cutting_speed": 200, "feed": 0.2, "depth_of_cut": 1.0, "coolant": "dry", "coating": "TiN"}}


def bronze(spark, payloads, key=b"M01"):
    rows = []
    for i, p in enumerate(payloads):
        value = p if isinstance(p, (bytes, type(None))) else json.dumps(p).encode()
        rows.append((key, value, "t", 0, i, INGEST, 0, INGEST, INGEST.date()))
    return spark.createDataFrame(rows, schemas.BRONZE)


def codes(df):
    return [r.reason_code for r in df.orderBy("offset").select("reason_code").collect()]


@pytest.fixture(scope="module")
def allow_dup_keys(spark):
    spark.conf.set("spark.sql.variant.allowDuplicateKeys", "true")


def test_valid_reading_becomes_a_typed_silver_row(spark, allow_dup_keys):
    out = V.validate_sensor_readings(bronze(spark, [READING]))
    silver = V.to_silver(out, "sensor_readings")
    expected = spark.createDataFrame([(
        "e1", datetime(2026, 11, 21, 8, 0), date(2026, 11, 21), "M01", "T01", "exp", 1, 1, "temperature", 20.5, None,
        "t", 0, 0, INGEST, INGEST)], schemas.SILVER_SENSOR_READINGS)
    assert_df_equality(silver, expected, ignore_nullable=True, ignore_metadata=True)
    assert V.to_quarantine(out, "sensor_readings").count() == 0


BAD = [
    (b"", "empty_value"),
    (None, "empty_value"),
    (b"{not json", "malformed_json"),
    (b"[1]", "malformed_json"),
    (json.dumps(READING).encode() + b" trailing", "malformed_json"),  # text after the object
    (json.dumps(READING).encode() + b"}", "malformed_json"),
    (json.dumps(READING).encode() + b"]", "malformed_json"),
    (json.dumps(READING).encode() + b"," + json.dumps(READING).encode(), "malformed_json"),
    (b'{"value": NaN}', "non_finite_value"),
    (b"\xff\xfe{}", "invalid_utf8"),
    ({**READING, "run_id": "1"}, "wrong_type"),
    ({**READING, "value": "20.5"}, "wrong_type"),
    ({**READING, "tool_id": 7}, "wrong_type"),
    ({**READING, "run_id": 1.5}, "wrong_type"),
    ({**READING, "unit": None}, "wrong_type"),
    ({k: v for k, v in READING.items() if k != "experiment_id"}, "missing_field"),
    ({**READING, "machine_id": "M1"}, "invalid_id"),
    ({**READING, "tool_id": "T12345"}, "invalid_id"),
    ({**READING, "event_id": ""}, "invalid_id"),
    ({**READING, "experiment_id": "x" * 65}, "invalid_id"),
    ({**READING, "sensor": "pressure"}, "unknown_sensor"),
    ({**READING, "ts": "2026-11-21 08:00:00Z"}, "invalid_timestamp"),
    ({**READING, "ts": "2026-11-21T08:00:00+0200"}, "invalid_timestamp"),
    ({**READING, "ts": "0000-01-01T00:00:00Z"}, "invalid_timestamp"),
    ({**READING, "ts": "2026-11-21T09:10:00Z"}, "timestamp_in_future"),
    ({**READING, "value": 1200.5}, "out_of_range"),
    ({**READING, "value": -40.5}, "out_of_range"),
    ({**READING, "run_id": 0}, "out_of_range"),
    ({**READING, "replicate": -1}, "out_of_range"),
]


def test_bad_readings_get_their_reason(spark, allow_dup_keys):
    out = V.validate_sensor_readings(bronze(spark, [p for p, _ in BAD])).cache()
    got = {r.offset: (r.reason_code, r.reason) for r in out.collect()}
    wrong = [(BAD[i][0], BAD[i][1], got[i]) for i in range(len(BAD)) if got[i][0] != BAD[i][1] or not got[i][1]]
    assert not wrong, wrong
    quarantine = V.to_quarantine(out, "sensor_readings").orderBy("kafka_offset").collect()
    assert [q.reason_code for q in quarantine] == [c for _, c in BAD]
    assert all(q.source == "sensor_readings" and q.kafka_topic == "t" for q in quarantine)
    assert quarantine[11].raw_value == json.dumps(BAD[11][0])  # raw payload kept
    assert V.to_silver(out, "sensor_readings").count() == 0


def test_one_batch_many_reasons_and_first_failing_rule_wins(spark, allow_dup_keys):
    payloads = [READING, {**READING, "run_id": "1", "sensor": "pressure"}, b"", {**READING, "value": 5}]
    out = V.validate_sensor_readings(bronze(spark, payloads))
    assert codes(out) == [None, "wrong_type", "empty_value", None]


def test_key_must_equal_machine_id(spark, allow_dup_keys):
    assert codes(V.validate_sensor_readings(bronze(spark, [READING], key=b"M02"))) == ["key_mismatch"]
    assert codes(V.validate_sensor_readings(bronze(spark, [READING], key=None))) == ["key_mismatch"]


def test_oversize_payload(spark, allow_dup_keys):
    rules = V.Rules(max_payload_bytes=200)
    out = V.validate_sensor_readings(bronze(spark, [READING, {**READING, "pad": "x" * 300}]), rules)
    assert codes(out) == [None, "payload_too_large"]


EDGE = [
    {**READING, "firmware": "1.2", "extra": {"deep": [1, None]}},
    {k: v for k, v in READING.items() if k != "replicate"},
    {**READING, "value": -40}, {**READING, "value": 1200}, {**READING, "value": 5},
    {**READING, "ts": "2026-11-21T10:00:00+02:00"},
    {**READING, "ts": "2026-11-21t08:00:00.123456789z"},
    {**READING, "run_id": 2.0},
    {**READING, "value": 1e2},
]


def test_conforming_edge_cases_are_accepted(spark, allow_dup_keys):
    check = contracts.validator(contracts.SENSOR_READING)
    assert all(check.is_valid(p) for p in EDGE)
    rows = V.validate_sensor_readings(bronze(spark, EDGE)).orderBy("offset").collect()
    assert [(r.reason_code, r.reason) for r in rows] == [(None, None)] * len(EDGE)
    assert all(r.ts.replace(microsecond=0) == datetime(2026, 11, 21, 8, 0) for r in rows)
    assert [r.replicate for r in rows] == [p.get("replicate", 1) for p in EDGE]
    assert rows[7].run_id == 2 and rows[4].value == 5.0


def test_whitespace_around_the_object_is_not_trailing_content(spark, allow_dup_keys):
    padded = b" \n" + json.dumps(READING, indent=1).encode() + b"\r\n\t "
    assert codes(V.validate_sensor_readings(bronze(spark, [padded]))) == [None]


def test_typed_values_agree_with_the_json_types_checked(spark, allow_dup_keys):
    # values come from from_json, types from the Variant: both must read the same key
    dup = json.dumps(READING)[:-1].encode() + b', "value": 7.25, "Machine_ID": "M77", "MACHINE_ID": 3}'
    first_wrong = b'{"value": "7", ' + json.dumps(READING)[1:].encode()  # the later number wins
    rows = V.validate_sensor_readings(bronze(spark, [dup, first_wrong])).orderBy("offset").collect()
    assert [(r.reason_code, r.value, r.machine_id) for r in rows] == [(None, 7.25, "M01"), (None, 20.5, "M01")]


_OBJ = json.dumps(READING)
FAST_PATH_TRAPS = [  # what from_json alone would misread: the fast path must leave each to the exact rules
    {**READING, "unit": 5}, {**READING, "unit": True}, {**READING, "unit": None}, {**READING, "unit": {"u": 1}},
    {**READING, "unit": [1]}, {**READING, "event_id": 5}, {**READING, "experiment_id": False},
    {**READING, "replicate": None}, {**READING, "replicate": "2"}, {**READING, "value": "20.5"},
    (_OBJ + '{"a": 1}').encode(), (_OBJ + ', {"a": 1}').encode(), (_OBJ[:-1] + '}, "x": {}}').encode(),
    (_OBJ + "}").encode(), (_OBJ[:-1] + ', "\\u0075nit": null}').encode(), (_OBJ[:-1] + ', "unit": "kW", "unit": 5}').encode(),
    {**READING, "unit": "5"}, {**READING, "experiment_id": "true"}, {**READING, "event_id": "[1]"},  # valid, only look alike
]
FAST_PATH_READS = [  # the fast path reads these exactly (last duplicate wins, the payload's own "_tag" is just a key)
    READING, (_OBJ[:-1] + ', "unit": 5, "unit": "kW"}').encode(), (_OBJ[:-1] + ', "_tag": 1}').encode(),
]


def test_fast_path_decides_only_what_it_reads_exactly(spark, allow_dup_keys):
    schema = contracts.load_schema(contracts.SENSOR_READING)
    fields = contract_rules.contract_fields(schema["properties"])
    payloads = FAST_PATH_READS + FAST_PATH_TRAPS
    fast, _ = fast_path.fast_parse(V.decode(bronze(spark, payloads)), fields, schema["required"], V.Rules())
    flags = [r._fast_ok for r in fast.orderBy("offset").collect()]
    assert flags == [True] * len(FAST_PATH_READS) + [False] * len(FAST_PATH_TRAPS)


def test_fast_path_gives_exactly_what_the_exact_rules_give(spark, allow_dup_keys):
    payloads = [p for p, _ in BAD] + EDGE + FAST_PATH_TRAPS + FAST_PATH_READS
    def run(rules):
        return V.validate_sensor_readings(bronze(spark, payloads), rules).orderBy("offset").collect()
    fast, exact = run(V.Rules()), run(V.Rules(fast_path=False))
    assert fast == exact
    assert [r.reason_code for r in fast[-7:]] == ["wrong_type", None, None, None, None, None, None]


def test_tool_event_rules(spark, allow_dup_keys):
    worn = {**EVENT, "event": "tool_worn_out", "tool_life_min": 20, "flank_wear_mm": 0.3}
    worn.pop("factors")
    payloads = [
        EVENT,
        worn,
        {k: v for k, v in EVENT.items() if k != "factors"},                      # run_started without factors
        {k: v for k, v in worn.items() if k != "tool_life_min"},                  # worn out without life
        {**EVENT, "factors": {"cutting_speed": 0}},                               # exclusiveMinimum 0
        {**EVENT, "factors": {"coating": "DLC"}},                                 # enum
        {**EVENT, "factors": {"feed": "0.2"}},                                    # type
        {**EVENT, "factors": {"cutting_speed": 150, "insert_grade": "P25"}},      # extra factor: fine
        {**EVENT, "event": "started"},
        {**worn, "tool_life_min": 0},
        {**worn, "flank_wear_mm": -0.01},
        {**EVENT, "factors": "fast"},
        {**EVENT, "event": "run_aborted", "factors": None},
    ]
    out = V.validate_tool_events(bronze(spark, payloads))
    assert codes(out) == [None, None, "missing_factors", "missing_tool_life", "invalid_factor", "invalid_factor",
                          "invalid_factor", None, "unknown_event", "out_of_range", "out_of_range", "wrong_type",
                          "wrong_type"]
    silver = {r.kafka_offset: r for r in V.to_silver(out, "tool_events").collect()}
    row = silver[0]
    assert row.factors.cutting_speed == 200.0 and row.factors.coolant == "dry" and row.run_id == 2
    assert json.loads(row.factors_json)["coating"] == "TiN"
    assert silver[1].tool_life_min == 20.0 and silver[1].factors is None
    assert json.loads(silver[7].factors_json)["insert_grade"] == "P25"


def test_classify_keeps_first_per_event_id_and_recognises_own_rows(spark):
    schema = schemas.SILVER_SENSOR_READINGS
    def row(eid, offset):
        return (eid, datetime(2026, 11, 21, 8), date(2026, 11, 21), "M01", "T01", "x", 1, 1, "temperature", 1.0,
                None, "t", 0, offset, INGEST, INGEST)
    silver = spark.createDataFrame([row("a", 1), row("b", 2)], schema)
    batch = spark.createDataFrame([row("a", 1), row("a", 7), row("b", 8), row("c", 9), row("c", 10)], schema)
    got = {(r.event_id, r.kafka_offset): r._class
           for r in classify(batch, silver, [date(2026, 11, 21)]).collect()}
    assert got == {("a", 1): "own", ("a", 7): "duplicate", ("b", 8): "duplicate",
                   ("c", 9): "new", ("c", 10): "duplicate"}


def test_reason_codes_are_documented():
    assert set(contract_rules.REASON_CODES) >= {"malformed_json", "key_mismatch", "missing_factors", "missing_tool_life"}
    assert parse_interval("90 seconds").total_seconds() == 90
    assert parse_interval("1 hour").total_seconds() == 3600
    with pytest.raises(ValueError):
        parse_interval("soon")
