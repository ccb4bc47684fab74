"""``toollife simulate``: run a seeded machining simulation and publish it to Kafka (or, with
--dry-run, to a JSONL file), then write its manifest (JSON + meta.simulation_runs row).

Every option overrides one key of the ``simulation`` config section (embedded defaults in
toollife/defaults/simulation.yaml <- conf/<env>.yaml <- TOOLLIFE__SIMULATION__* variables).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _defaults(env: str | None = None) -> dict[str, Any]:
    """The effective ``simulation`` section (defaults <- conf/<env>.yaml <- TOOLLIFE__*): what an
    unset option will be. Broken conf falls back to the embedded defaults; running names the mistake."""
    from toollife.config import ConfigError, embedded_defaults, load_config

    try:
        return load_config(env)["simulation"]
    except ConfigError:
        return embedded_defaults()["simulation"]


def _pair(text: str, what: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"{what} must look like NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _factor(text: str) -> dict[str, Any]:
    name, spec = _pair(text, "--factor")
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"--factor must be NAME=LOW,HIGH[,UNIT], got {text!r}")

    def level(p: str):
        try:
            return float(p)
        except ValueError:
            return p

    entry = {"name": name, "low": level(parts[0]), "high": level(parts[1])}
    if len(parts) == 3:
        entry["unit"] = parts[2]
    return entry


def _bad_count(text: str) -> tuple[str, int]:
    kind, value = _pair(text, "--bad")
    try:
        return kind, int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bad count must be an integer: {text!r}") from None


def _bad_rate(text: str) -> tuple[str, float]:
    kind, value = _pair(text, "--bad-rate")
    try:
        return kind, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bad-rate must be a number: {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    from toollife.simulation.messages import BAD_KINDS

    parser.formatter_class = argparse.HelpFormatter  # the 'config: ...' texts say what unset means
    d = _defaults(env)
    ph, se, an, bm, pub = d["physics"], d["sensors"], d["anomalies"], d["bad_messages"], d["publish"]
    factors = ", ".join(f"{f['name']}={f['low']},{f['high']}" for f in d["design"]["factors"])
    parser.description = (
        "Simulate machining experiments: for every machine x tool a 2-level factorial design (full 2^k "
        "or 2^(k-p) from generators), r replicates in randomised order; tool life from the extended "
        "Taylor law with machine/tool random effects and lognormal scatter; three-stage flank wear "
        "reaching the criterion at T; sensor readings every sample interval; anomalies; optional bad "
        "messages. Publishes contract-v1 JSON to the sensor-readings and tool-events topics "
        "(key = machine_id), then writes a manifest JSON and a meta.simulation_runs row with the "
        "ground truth. Unset options take their value from the config (shown as 'config: ...').")
    parser.epilog = (f"bad-message kinds: {', '.join(BAD_KINDS)} (duplicate = identical re-send, a valid "
                     "message). Exit status: 0 all delivered, 1 publishing failed, 2 invalid options/config.")
    g = parser.add_argument_group("plan")
    g.add_argument("--conf-file", default=None, help="explicit conf YAML instead of conf/<env>.yaml")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one conf value, e.g. kafka.partitions=6 (repeatable; the options here win)")
    g.add_argument("--machines", type=int, help=f"number of machines M01.. (config: {d['machines']})")
    g.add_argument("--tools", type=int, help=f"number of tools T01.. per machine (config: {d['tools']})")
    g.add_argument("--replicates", type=int, help=f"replicates r of the design per machine x tool (config: {d['replicates']})")
    g.add_argument("--seed", type=int, help=f"random seed; same seed + config = identical messages (config: {d['seed']})")
    g.add_argument("--experiment-id", help="experiment_id in every message (config: null = SIM-<seed>)")
    g.add_argument("--factor", type=_factor, action="append", metavar="NAME=LOW,HIGH[,UNIT]",
                   help=f"design factor in natural units, repeat in design order (letters A, B, ... of the "
                        f"generators); replaces the configured list (config: {factors}). Known physics: "
                        "cutting_speed, feed, depth_of_cut, coolant (dry/flood), coating (TiN/TiAlN); "
                        "other factors are inert")
    g.add_argument("--generators", nargs="+", metavar="GEN",
                   help=f"fractional design generators such as E=ABCD; they also apply to a --factor list "
                        f"(config: {d['design']['generators']})")
    g.add_argument("--full-factorial", action="store_true",
                   help="full 2^k design of the factors (no generators), e.g. with your own --factor list")
    g.add_argument("--no-randomize", action="store_true", help="run in standard order instead of random order")
    g = parser.add_argument_group("follow-up experiment (toollife.simulation.follow_up)")
    g.add_argument("--plan-from", metavar="TABLE|FILE",
                   help="run the recommended runs of gold.doe_next_experiments (or a CSV/JSON export of it) as a "
                        "follow-up experiment <parent>-F1 of each parent experiment, same seed and physics")
    g.add_argument("--parent", action="append", metavar="EXPERIMENT_ID",
                   help="with --plan-from: only the plan of this parent experiment (repeatable; default: every "
                        "parent whose follow-up is not in the plan yet)")
    g = parser.add_argument_group("physics")
    g.add_argument("--taylor-n", type=float, help=f"Taylor exponent n (config: {ph['taylor_n']})")
    g.add_argument("--taylor-a", type=float, help=f"feed exponent a (config: {ph['taylor_a']})")
    g.add_argument("--taylor-b", type=float, help=f"depth exponent b (config: {ph['taylor_b']})")
    g.add_argument("--taylor-C", type=float, help=f"Taylor constant C (config: {ph['taylor_C']})")
    g.add_argument("--sigma", type=float, help=f"sd of the lognormal scatter on ln T (config: {ph['sigma']})")
    g.add_argument("--sigma-machine", type=float, help=f"sd of ln of the machine effect on C (config: {ph['sigma_machine']})")
    g.add_argument("--sigma-tool", type=float, help=f"sd of ln of the tool effect on C (config: {ph['sigma_tool']})")
    g = parser.add_argument_group("sensors and anomalies")
    g.add_argument("--sample-interval", type=float, metavar="SECONDS",
                   help=f"seconds of cutting time between readings (config: {se['sample_interval_s']})")
    g.add_argument("--start-time", metavar="ISO8601",
                   help="simulated clock start, with offset (default: where the last simulation recorded under "
                        "--manifest-dir ended; one already recorded keeps its start; never before "
                        f"config: {se['start_time']})")
    g.add_argument("--drift-rate", type=float, help=f"probability per run of a drifting sensor (config: {an['drift_rate']})")
    g.add_argument("--spike-rate", type=float, help=f"probability per vibration reading of a spike (config: {an['vibration_spike_rate']})")
    g.add_argument("--chipping-rate", type=float,
                   help=f"probability per run of chipping: early end published as run_aborted (config: {an['chipping_rate']})")
    g.add_argument("--dropout-rate", type=float, help=f"probability per reading that a sensor dropout starts (config: {an['dropout_rate']})")
    g.add_argument("--in-progress", type=int, metavar="N",
                   help="leave the last N runs of every machine still cutting: readings up to part of their "
                        f"life, no end event (config: {d['in_progress']['per_machine']})")
    g = parser.add_argument_group("bad messages (for testing the ingestion)")
    g.add_argument("--bad", type=_bad_count, action="append", metavar="KIND=COUNT",
                   help="inject exactly COUNT messages of KIND (repeatable), e.g. --bad malformed_json=5")
    g.add_argument("--bad-rate", type=_bad_rate, action="append", metavar="KIND=RATE",
                   help="inject KIND with probability RATE per valid message (repeatable)")
    g.add_argument("--oversize-bytes", type=int, help=f"size an oversize payload exceeds (config: {bm['oversize_bytes']})")
    g = parser.add_argument_group("output")
    g.add_argument("--bootstrap-servers", help="Kafka bootstrap servers host:port[,...] (config: kafka.bootstrap_servers)")
    g.add_argument("--sensor-topic", help="topic for sensor readings (config: kafka.topics.sensor_readings)")
    g.add_argument("--event-topic", help="topic for tool events (config: kafka.topics.tool_events)")
    g.add_argument("--rate-limit", type=float, metavar="MSG_PER_S", help=f"publish at most this many messages/s, 0 = unlimited (config: {pub['rate_limit']})")
    g.add_argument("--dry-run", nargs="?", const="", metavar="FILE",
                   help="write the messages to a JSONL file (one {topic, key, value, kind} per line) instead of "
                        "Kafka; FILE defaults to <manifest_dir>/<simulation_id>.jsonl")
    g.add_argument("--manifest-dir", help=f"where the manifest JSON goes (config: {d['manifest_dir']})")
    g.add_argument("--no-table", action="store_true", help="do not write the meta.simulation_runs row (only the manifest file)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar (it is shown only on a terminal anyway)")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """{'simulation': {...}, 'kafka': {...}} from the options the user set."""
    sim: dict[str, Any] = {}
    for opt, key in (("machines", "machines"), ("tools", "tools"), ("replicates", "replicates"), ("seed", "seed"),
                     ("experiment_id", "experiment_id"), ("manifest_dir", "manifest_dir")):
        if getattr(args, opt, None) is not None:
            sim[key] = getattr(args, opt)
    if args.no_randomize:
        sim["randomize"] = False
    design: dict[str, Any] = {}
    if args.factor:
        design["factors"] = args.factor
    if args.full_factorial:
        design["generators"] = []
    elif args.generators is not None:
        design["generators"] = list(args.generators)
    if design:
        sim["design"] = design
    sections = {
        "physics": {"taylor_n": args.taylor_n, "taylor_a": args.taylor_a, "taylor_b": args.taylor_b,
                    "taylor_C": args.taylor_C, "sigma": args.sigma, "sigma_machine": args.sigma_machine,
                    "sigma_tool": args.sigma_tool},
        "sensors": {"sample_interval_s": args.sample_interval, "start_time": args.start_time},
        "anomalies": {"drift_rate": args.drift_rate, "vibration_spike_rate": args.spike_rate,
                      "chipping_rate": args.chipping_rate, "dropout_rate": args.dropout_rate},
        "in_progress": {"per_machine": args.in_progress},
        "publish": {"rate_limit": args.rate_limit},
        "bad_messages": {"oversize_bytes": args.oversize_bytes},
    }
    for section, values in sections.items():
        set_values = {k: v for k, v in values.items() if v is not None}
        if set_values:
            sim[section] = set_values
    if args.bad:
        sim.setdefault("bad_messages", {})["counts"] = dict(args.bad)
    if args.bad_rate:
        sim.setdefault("bad_messages", {})["rates"] = dict(args.bad_rate)
    kafka: dict[str, Any] = {}
    if args.bootstrap_servers:
        kafka["bootstrap_servers"] = args.bootstrap_servers
    topics = {k: v for k, v in (("sensor_readings", args.sensor_topic), ("tool_events", args.event_topic)) if v}
    if topics:
        kafka["topics"] = topics
    out: dict[str, Any] = {}
    if sim:
        out["simulation"] = sim
    if kafka:
        out["kafka"] = kafka
    return out


def _generator_hint(args: argparse.Namespace, config: dict[str, Any]) -> str:
    """When --factor replaced the factors but the configured generators still apply, say so."""
    generators = config["simulation"]["design"]["generators"]
    if args.factor and args.generators is None and not args.full_factorial and generators:
        return (f" (the configured generators {' '.join(generators)} still apply to your {len(args.factor)} "
                "--factor(s): add --full-factorial for a full 2^k design, or --generators for your own)")
    return ""


def _config(args: argparse.Namespace) -> dict[str, Any]:
    """defaults <- conf <- TOOLLIFE__* <- --set <- this command's options; a mistake names its source."""
    from toollife.config import job_config

    return job_config(getattr(args, "env", None), args.conf_file, getattr(args, "overrides", None),
                      extra=overrides_from_args(args))


def _start_for(args: argparse.Namespace, config: dict[str, Any]):
    """The clock start: --start-time as given; else where the last recorded simulation ended (a
    simulation already recorded keeps its start), see toollife.simulation.manifest.NextStart."""
    from toollife.simulation.manifest import NextStart

    return None if args.start_time else NextStart(config)


def run(args: argparse.Namespace) -> int:
    from toollife.config import ConfigError
    from toollife.simulation import manifest as mf
    from toollife.simulation.core import simulate
    from toollife.simulation.messages import TOPICS
    from toollife.simulation.publisher import publish

    if getattr(args, "plan_from", None):
        return run_follow_up(args)
    config = _config(args)
    try:
        result = simulate(config, start_for=_start_for(args, config))
    except ValueError as exc:
        raise ConfigError(f"{exc}{_generator_hint(args, config)}") from None
    topics = {t: config["kafka"]["topics"][t] for t in TOPICS}
    counts = result.counts
    by_topic = ", ".join(f"{topics[t]}={counts['by_topic'][t]}" for t in TOPICS)
    print(f"simulation {result.simulation_id}: {result.design}; {counts['runs']} runs "
          f"({counts['runs_aborted']} aborted), {counts['messages']} messages "
          f"({by_topic}); "
          f"injected {json.dumps({k: v for k, v in counts['injected'].items() if v})}", file=sys.stderr)

    previous = mf.manifest_path(config, result.simulation_id)
    if previous.exists():
        print(f"note: simulation {result.simulation_id} (same seed and settings) was already run: its manifest "
              f"{previous} exists; its messages are {'written' if args.dry_run is not None else 'published'} "
              "again and the manifest replaced (the ingestion drops the repeated messages as duplicates); "
              "use another --seed for new data", file=sys.stderr)

    report = None
    output_path = None
    if args.dry_run is not None:
        output = Path(args.dry_run) if args.dry_run else (
            Path(config["simulation"]["manifest_dir"]) / f"{result.simulation_id}.jsonl")
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w") as fh:
            for line in result.jsonl_lines(topics):
                fh.write(line + "\n")
        output_path = str(output)
        target = "jsonl"
        print(f"wrote {counts['messages']} messages to {output}", file=sys.stderr)
    else:
        target = "kafka"
        report = publish(result.messages, config, total=counts["messages"],
                         progress=False if args.no_progress else None)  # PublishError: one line, exit 1
        print(f"delivered {report.total_delivered}/{report.total_sent} messages in {report.seconds:.1f} s "
              f"({report.rate:.0f} msg/s); failed {report.failed}", file=sys.stderr)
        for err in report.errors[:5]:
            print(f"  delivery error: {err}", file=sys.stderr)

    manifest = mf.build_manifest(result, target=target, topics=topics,
                                 publish_report=report.as_dict() if report else None, output_path=output_path)
    try:
        path = mf.record(config, manifest, table=not args.no_table)
    except Exception as exc:  # the messages are out; say clearly that only the bookkeeping failed
        log.exception("writing the manifest failed")
        print(f"error: messages were {'published' if report else 'written'}, but the manifest failed: {exc}",
              file=sys.stderr)
        return 1
    print(f"manifest: {path}" + ("" if args.no_table else " (+ meta.simulation_runs)"), file=sys.stderr)
    print(json.dumps({"simulation_id": result.simulation_id, "experiment_id": result.experiment_id,
                      "manifest": str(path), "target": target,
                      "counts": counts, "delivered": report.delivered if report else None}))
    return 0 if report is None or report.ok else 1


def run_follow_up(args: argparse.Namespace) -> int:
    """``toollife simulate --plan-from SOURCE [--parent ID ...]``: publish each follow-up like a
    simulation (Kafka, or --dry-run JSONL) and write its manifest, naming its parent."""
    from toollife.config import ConfigError
    from toollife.simulation import manifest as mf
    from toollife.simulation.follow_up import read_plan, simulate_plan
    from toollife.simulation.messages import TOPICS
    from toollife.simulation.publisher import PublishError, publish

    try:
        config = _config(args)
        plan = read_plan(args.plan_from, config)
        results = simulate_plan(config, plan, args.parent, experiment_id=args.experiment_id,
                                start_for=_start_for(args, config))
    except (ValueError, FileNotFoundError) as exc:   # the console script prints it in one line, exit 2
        raise ConfigError(str(exc)) from None
    topics = {t: config["kafka"]["topics"][t] for t in TOPICS}
    summaries, status = [], 0
    for result in results:
        counts = result.counts
        print(f"simulation {result.simulation_id}: {result.experiment_id}, {result.design}; {counts['runs']} runs "
              f"({counts['runs_aborted']} aborted), {counts['messages']} messages", file=sys.stderr)
        report, output_path = None, None
        if args.dry_run is not None:
            output = (Path(args.dry_run) if args.dry_run and len(results) == 1 else
                      Path(args.dry_run).with_name(f"{Path(args.dry_run).stem}-{result.experiment_id}.jsonl")
                      if args.dry_run else Path(config["simulation"]["manifest_dir"]) / f"{result.simulation_id}.jsonl")
            output.parent.mkdir(parents=True, exist_ok=True)
            with output.open("w") as fh:
                for line in result.jsonl_lines(topics):
                    fh.write(line + "\n")
            output_path, target = str(output), "jsonl"
        else:
            target = "kafka"
            try:
                report = publish(result.messages, config, total=counts["messages"],
                                 progress=False if args.no_progress else None)
            except PublishError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            if not report.ok:
                status = 1
        manifest = mf.build_manifest(result, target=target, topics=topics,
                                     publish_report=report.as_dict() if report else None, output_path=output_path)
        try:
            path = mf.record(config, manifest, table=not args.no_table)
        except Exception as exc:  # noqa: BLE001 - the messages are out; only the bookkeeping failed
            print(f"error: messages were {'published' if report else 'written'}, but the manifest failed: {exc}",
                  file=sys.stderr)
            return 1
        summaries.append({"simulation_id": result.simulation_id, "experiment_id": result.experiment_id,
                          "parent_experiment_id": result.parent_experiment_id, "manifest": str(path),
                          "target": target, "output_path": output_path, "counts": counts})
    print(json.dumps({"follow_ups": summaries}))
    return status
