"""Seeded machining simulator: DOE plans per machine x tool, Taylor tool life, three-stage wear,
sensor signals, anomalies and bad-message injection, published to Kafka per contract v1.

Pure use (no Kafka, no Spark)::

    from toollife.simulation import simulate
    result = simulate(overrides={"machines": 1, "tools": 2, "seed": 3})
    result.sensor_readings  # [(key, value bytes), ...]; result.runs / result.taylor: ground truth

Publishing and the manifest live in :mod:`toollife.simulation.publisher` and
:mod:`toollife.simulation.manifest`; the CLI is ``toollife simulate``.
"""

from toollife.simulation.core import SimulationResult, config_hash, resolve_sim_config, simulate
from toollife.simulation.messages import (BAD_KINDS, SENSOR_READINGS, TOOL_EVENTS, TOPICS, Message,
                                          check_message)

__all__ = ["simulate", "SimulationResult", "config_hash", "resolve_sim_config", "Message", "check_message",
           "BAD_KINDS", "SENSOR_READINGS", "TOOL_EVENTS", "TOPICS"]
