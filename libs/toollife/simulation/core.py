"""``simulate(config) -> SimulationResult``: the whole simulation as a pure function (no Kafka,
no Spark, no wall clock), so tests of the ingestion and the DOE analysis can generate data."""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import pandas as pd

from toollife.simulation import messages as msgs
from toollife.simulation.messages import Message
from toollife.simulation.physics import SENSORS, taylor_main_effects
from toollife.simulation.plan import Plan, build_plan

CONTRACT_VERSION = "v1"
ANOMALY_KINDS = ("drift", "vibration_spike", "chipping", "dropped_readings")


def default_sim_config() -> dict[str, Any]:
    from toollife.config import embedded_defaults

    return embedded_defaults()["simulation"]


def resolve_sim_config(config: Mapping[str, Any] | None = None,
                       overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``simulation`` section: from a full config (``load_config()``), the section itself, or
    the embedded defaults; ``overrides`` are merged and validated like any config."""
    from toollife.config import merge

    if config is None:
        sim = default_sim_config()
    elif "simulation" in config and isinstance(config["simulation"], Mapping):
        sim = copy.deepcopy(dict(config["simulation"]))
    else:
        sim = copy.deepcopy(dict(config))
    if overrides:
        sim = merge(sim, overrides, "simulation.")
    return sim


def config_hash(sim: Mapping[str, Any], exclude: tuple[str, ...] = ()) -> str:
    """sha256 over what shapes the messages: the section without seed and the delivery/manifest
    settings (publish.*, manifest_dir), plus the contract version."""
    skip = ("seed", "publish", "manifest_dir", *exclude)
    relevant = {k: v for k, v in sim.items() if k not in skip}
    if isinstance(relevant.get("design"), Mapping) and not relevant["design"].get("center_points"):
        # no centre points hashes as before the option existed: same ids for the same messages
        relevant["design"] = {k: v for k, v in relevant["design"].items() if k != "center_points"}
    canonical = json.dumps({"contract": CONTRACT_VERSION, "simulation": relevant}, sort_keys=True,
                           separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class SimulationResult:
    """Everything one simulation produced. ``messages`` are in publish order."""

    simulation_id: str  # "sim-<seed>-<config_hash[:10]>": deterministic, same for a re-run
    experiment_id: str
    seed: int
    config_hash: str
    design: str  # e.g. "2^(5-1) resolution V, E=ABCD"
    config: dict[str, Any]  # the effective simulation section
    messages: list[Message]
    runs: pd.DataFrame  # truth per run (factors, true tool life, status, anomalies, clock)
    taylor: pd.DataFrame  # truth per machine x tool (n, a, b, C incl. random effects, multipliers)
    true_effects: dict[str, float]  # main effects on ln T implied by the physics
    counts: dict[str, Any] = field(default_factory=dict)

    def topic(self, name: str) -> list[tuple[bytes, bytes]]:
        """(key, value) pairs of one logical topic (``sensor_readings`` or ``tool_events``)."""
        return [(m.key, m.value) for m in self.messages if m.topic == name]

    @property
    def sensor_readings(self) -> list[tuple[bytes, bytes]]:
        return self.topic(msgs.SENSOR_READINGS)

    @property
    def tool_events(self) -> list[tuple[bytes, bytes]]:
        return self.topic(msgs.TOOL_EVENTS)

    def jsonl_lines(self, topics: Mapping[str, str] | None = None) -> Iterator[str]:
        """One JSON object per message: {"topic", "key", "value" (the payload as a string), "kind"}."""
        topics = topics or {}
        for m in self.messages:
            yield json.dumps({"topic": topics.get(m.topic, m.topic), "key": m.key.decode(),
                              "value": m.value.decode(), "kind": m.kind}, ensure_ascii=False)

    def truth_runs(self) -> pd.DataFrame:
        """The per-run ground truth in a compact, documented form."""
        cols = ["machine_id", "tool_id", "run_id", "replicate", "run_order", "exec_order",
                *[f.name for f in self.factors], "V", "f", "d", "coolant_eff", "coating_eff", "m_coating",
                "m_coolant", "C", "eps", "ln_true_tool_life", "true_tool_life_min", "status", "end_min",
                "drift_sensor", "start_ms", "end_ms"]
        return self.runs[cols].copy()

    factors: list = field(default_factory=list)
    parent_experiment_id: str | None = None  # a follow-up experiment: the experiment it follows


#: the simulated clock's start of a simulation, given its id (``manifest.start_chooser``: where the
#: last recorded experiment ended, or the recorded start of this one)
StartFor = Callable[[str], str]


def simulate(config: Mapping[str, Any] | None = None, *, overrides: Mapping[str, Any] | None = None,
             max_request_size: int | None = None, start_for: StartFor | None = None) -> SimulationResult:
    """Run the simulation described by ``config`` (full config, ``simulation`` section or None
    for the embedded defaults) with ``overrides`` merged into the section. Pure and seeded.

    ``start_for`` (``toollife simulate``) picks the clock's start from the simulation id; the id
    and the event ids stay those of the section as configured, so the same seed and settings are
    the same simulation whichever start it got."""
    sim = resolve_sim_config(config, overrides)
    seed = int(sim["seed"])
    chash = config_hash(sim)
    experiment_id = sim["experiment_id"] or f"SIM-{seed}"
    if not 1 <= len(experiment_id) <= 64:
        raise ValueError(f"simulation.experiment_id must have 1..64 characters, got {experiment_id!r}")
    plan: Plan = build_plan(sim)
    # event ids of the valid messages do not depend on the bad-message settings: injecting bad
    # messages only adds messages, it never changes the valid ones
    valid_hash = config_hash(sim, exclude=("bad_messages",))
    prefix = hashlib.blake2b(f"{seed}|{valid_hash}".encode(), digest_size=6).hexdigest()
    return result_from_plan(sim, plan, experiment_id=experiment_id, prefix=prefix,
                            simulation_id=f"sim-{seed}-{chash[:10]}", chash=chash,
                            max_request_size=max_request_size, start_for=start_for)


def check_volume(sim: Mapping[str, Any], plan: Plan) -> None:
    """Refuse, in one sentence, an experiment whose readings exceed ``publish.max_readings``
    (every sensor every ``sensors.sample_interval_s`` of cutting, up to each run's true life)."""
    limit = int(sim["publish"].get("max_readings") or 0)
    runs = plan.runs
    if limit <= 0 or not len(runs):
        return
    life = runs["true_tool_life_min"].to_numpy(float)
    readings = int((life * 60.0 / float(sim["sensors"]["sample_interval_s"]) + 1.0).sum()) * len(SENSORS)
    if readings > limit:
        longest = runs.iloc[int(life.argmax())]
        raise ValueError(
            f"this experiment would publish about {readings:,} sensor readings, over simulation.publish.max_readings "
            f"= {limit:,}: its longest run cuts {longest['true_tool_life_min']:,.0f} min (cutting_speed "
            f"{longest['V']:g}, feed {longest['f']:g}, depth_of_cut {longest['d']:g}); sample less often "
            "(--sample-interval) or raise the limit in conf (TOOLLIFE__SIMULATION__PUBLISH__MAX_READINGS=...)")


def result_from_plan(sim: Mapping[str, Any], plan: Plan, *, experiment_id: str, prefix: str, simulation_id: str,
                     chash: str, max_request_size: int | None = None,
                     parent_experiment_id: str | None = None, start_for: StartFor | None = None) -> SimulationResult:
    """Messages, bad-message injection, counts and truth of a built plan (shared by
    :func:`simulate` and the follow-up experiments of :mod:`toollife.simulation.follow_up`)."""
    seed = int(sim["seed"])
    if start_for is not None:
        sim = {**sim, "sensors": {**sim["sensors"], "start_time": start_for(simulation_id)}}
    check_volume(sim, plan)
    anomaly_counts: Counter = Counter({k: 0 for k in ANOMALY_KINDS})
    valid = msgs.valid_messages(plan, sim, prefix=prefix, experiment_id=experiment_id,
                                anomaly_counts=anomaly_counts)
    if max_request_size is None:
        max_request_size = int(sim["publish"]["max_request_size"])
    messages, injected = msgs.inject_bad(valid, sim["bad_messages"], seed, max_request_size)

    levels = {f.name: (f.low, f.high) for f in plan.factors}
    phys = sim["physics"]
    true_effects = taylor_main_effects(phys["taylor_n"], phys["taylor_a"], phys["taylor_b"], levels,
                                       phys["coating_multiplier"], phys["coolant_multiplier"])
    counts = {
        "messages": len(messages),
        "valid": msgs.count_by_topic(valid),
        "by_topic": msgs.count_by_topic(messages),
        "injected": injected,
        "anomalies": {k: int(anomaly_counts[k]) for k in ANOMALY_KINDS},
        "runs": int(len(plan.runs)),
        "runs_worn_out": int((plan.runs["status"] == "worn_out").sum()),
        "runs_aborted": int((plan.runs["status"] == "aborted").sum()),
        "runs_in_progress": int((plan.runs["status"] == "in_progress").sum()),
    }
    return SimulationResult(
        simulation_id=simulation_id, experiment_id=experiment_id, seed=seed, config_hash=chash,
        design=plan.design, config=dict(sim), messages=messages, runs=plan.runs, taylor=plan.taylor,
        true_effects=true_effects, counts=counts, factors=plan.factors, parent_experiment_id=parent_experiment_id,
    )
