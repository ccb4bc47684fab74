"""The shared graceful stop of the streaming applications, and SQL identifier quoting (no Spark)."""

from __future__ import annotations

import pytest

from toollife.runtime.sql import quote_identifier, sql_literal
from toollife.runtime.streaming_stop import StopRequest, stop_all, stop_gracefully


class FakeQuery:
    def __init__(self, name, busy_polls=0, fail_stop=False):
        self.name, self.busy_polls, self.fail_stop = name, busy_polls, fail_stop
        self.isActive, self.lastProgress, self.stopped_while_busy = True, {"batchId": 3}, None

    @property
    def status(self):
        self.busy_polls -= 1
        return {"isTriggerActive": self.busy_polls >= 0}

    def stop(self):
        if self.fail_stop:
            raise RuntimeError("py4j gone")
        self.stopped_while_busy = self.busy_polls > 0
        self.isActive = False


def test_stop_gracefully_waits_for_the_running_batch_then_stops_each_query():
    queries = [FakeQuery("bronze", busy_polls=2), FakeQuery("silver")]
    stop_gracefully(queries, timeout_s=30)
    assert [q.isActive for q in queries] == [False, False]
    assert [q.stopped_while_busy for q in queries] == [False, False]


def test_stop_gracefully_interrupts_a_batch_past_the_timeout():
    query = FakeQuery("slow", busy_polls=10**6)
    stop_gracefully([query], timeout_s=0)
    assert not query.isActive and query.stopped_while_busy


def test_stop_all_stops_what_runs_and_never_raises():
    queries = [FakeQuery("a", fail_stop=True), FakeQuery("b")]
    stop_all(queries)
    assert [q.isActive for q in queries] == [True, False]


def test_stop_request_is_set_once_by_the_signal_handler_signature():
    stop = StopRequest()
    assert not stop.requested
    stop.request(15, None)
    stop.request()
    assert stop.requested


@pytest.mark.parametrize("name, quoted", [("run_id", "`run_id`"), ("odd`name", "`odd``name`"), ("a b", "`a b`")])
def test_quote_identifier_keeps_one_identifier(name, quoted):
    assert quote_identifier(name) == quoted


def test_sql_literal_escapes_quotes_and_backslashes():
    assert sql_literal("it's \\d") == "'it\\'s \\\\d'" and sql_literal(3) == "3"
