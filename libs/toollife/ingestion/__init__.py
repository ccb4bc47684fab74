"""Streaming ingestion: Kafka -> bronze (raw records) -> silver (typed, valid, unique) + quarantine.

* :mod:`.schemas`       explicit Spark schemas of every table (contract v1)
* :mod:`.contract_rules` contract v1's rules as SQL text (pure): reason codes, conditions, messages
* :mod:`.fast_path`     one strict from_json for the rows it can read exactly (sensor readings)
* :mod:`.validate`      DataFrame transforms: parse, validate with reason codes, split
* :mod:`.bronze`        Kafka source -> bronze Delta sink
* :mod:`.silver`        idempotent foreachBatch writer bronze -> silver / quarantine / batch stats
* :mod:`.streaming`     the application: query wiring, triggers, the Kafka watchdog, SIGTERM
* :mod:`.progress`      every micro-batch's progress -> meta.stream_progress (listener, recorder)
* :mod:`.kafka_outage`  the outage clock and which query failures mean "Kafka did not answer" (pure)
* :mod:`.reconcile`     nothing lost: every bronze record in exactly one of silver, duplicates, quarantine
* :mod:`.kafka_options` Spark Kafka source options incl. security from conf + environment
"""
