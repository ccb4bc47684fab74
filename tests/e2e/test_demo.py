"""The whole flow as `make demo` runs it: a real broker, the simulator, the jobs (and the experiment
loop's follow-up simulation between them) in one spark-submit'd Spark application, then the summary
read from the tables. Once: re-running each step is tested where the step is (test_ingest_dedupe_late
for re-sent messages, test_doe_jobs for the gold jobs through spark-submit, test_models for scoring),
and a second demo run would double the suite's longest test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from toollife.services.kafka_local import free_port

REPO = Path(__file__).resolve().parents[2]
REAL_DATA = REPO.parent / "shared" / "realdata"
# the demo imports the NASA wear log and Montgomery's worksheet when they are there: one combination each
IMPORTED = 2 if (REAL_DATA / "nasa_mill_runs.csv").is_file() else 0


# between its steps the demo shows the steps and their results: no Spark (log4j), py4j or kafka-python log line
NOISE = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (TRACE|DEBUG|INFO|WARN|ERROR)\b"
                   r"|Using Spark's default log4j profile|Setting default log level"
                   r"|(INFO|WARNING|DEBUG|ERROR)[: ]+(py4j|kafka)[.:]", re.M)


def run_demo(env):
    result = subprocess.run([sys.executable, "-m", "toollife.demo"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=2400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    noise = NOISE.search(result.stdout + result.stderr)
    assert noise is None, (result.stdout + result.stderr)[max(noise.start() - 500, 0):noise.end() + 500]
    return result.stdout


def table_counts(stdout: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+\.\w+)\s+(\d+)$", stdout, re.M)}


@pytest.mark.timeout(2700)  # one demo run is ~7 min here; pytest.ini's 900 s is per test
def test_demo_runs_the_whole_flow(tmp_path, capsys):
    port, controller = free_port(), free_port()
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        TOOLLIFE_CONF_DIR=str(REPO / "conf"),
        TOOLLIFE__LAKEHOUSE__ROOT=str(tmp_path / "lakehouse"),
        TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT=str(tmp_path / "checkpoints"),
        TOOLLIFE__SIMULATION__MANIFEST_DIR=str(tmp_path / "simulations"),
        TOOLLIFE__ML__STORE_DIR=str(tmp_path / "mlflow"),
        TOOLLIFE__KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{port}",
        TOOLLIFE__KAFKA__BROKER__PORT=str(port),
        TOOLLIFE__KAFKA__BROKER__CONTROLLER_PORT=str(controller),
        TOOLLIFE__KAFKA__BROKER__DATA_DIR=str(tmp_path / "kafka" / "data"),
        TOOLLIFE__KAFKA__BROKER__LOG_DIR=str(tmp_path / "kafka" / "logs"),
    )
    first = run_demo(env)
    done = re.search(r"^==> demo done in (\d+)s$", first, re.M)
    assert done, first[-2000:]
    with capsys.disabled():   # in the suite's output even when the test passes (fd capture swallows stderr)
        print(f"\n[e2e] make demo took {done[1]} s here (every capability; the jobs in one Spark application)")
    counts = table_counts(first)

    # 17 injected bad messages, each quarantined once; 20 re-sent duplicates dropped, not stored
    assert counts["silver.quarantine"] == 17
    assert counts["bronze.sensor_readings_raw"] + counts["bronze.tool_events_raw"] == (
        counts["silver.sensor_readings"] + counts["silver.tool_events"] + 17 + 20)
    # machines x tools x runs x replicates, then the follow-up's runs
    assert counts["gold.experiment_runs"] > 3 * 2 * 16 * 2
    assert counts["gold.doe_optimal_settings"] == 3 * 2 + IMPORTED
    assert counts["gold.doe_effects"] > 0
    fitted = {m[1]: (float(m[2]), float(m[3]))
              for m in re.finditer(r"^\s+(n|a|b): fitted ([\d.]+)\s+true ([\d.]+)$", first, re.M)}
    assert set(fitted) == {"n", "a", "b"}
    for param, (estimate, truth) in fitted.items():
        assert abs(estimate - truth) <= 0.1 * truth, (param, estimate, truth)

    # models: every run scored by tool_life, the 3 tools left cutting (one per machine) by tool_rul
    assert counts["gold.tool_life_predictions"] == 3 * 2 * 16 * 2 + 3
    assert counts["meta.model_promotions"] == 4          # 2 models x 2 candidates, each got an alias
    assert re.search(r"^\s+tool_life champion v\d \((random_forest|gradient_boosting)\): RMSE ln T [\d.]+\s+oracle",
                     first, re.M)
    cutting = re.findall(r"^\s+M\d+/T\d+ run \d+\.\d+: cut\s+[\d.]+ min,\s+([\d.]+) min left .*true ([\d.]+) min left$",
                         first, re.M)
    assert len(cutting) == 3
    # the live scorer (availableNow over silver) sees the same 3 tools cutting
    live = re.findall(r"^\s+M\d+/T\d+ run \d+\.\d+: cut\s+[\d.]+ min, .*, tool_rul v\d+, newest reading ", first, re.M)
    assert len(live) == 3 and "alerts raised (gold.tool_alerts, Kafka tool-alerts):" in first
    assert "make mlflow-ui" in first
    assert "make dashboard" in first and "make thrift      JDBC for BI tools: jdbc:hive2://127.0.0.1:10000/default" in first
    assert (tmp_path / "mlflow" / "mlflow.db").is_file() and not (REPO / "mlruns").exists()

    # one round of the experiment loop: a recommendation per combination, the follow-up analysed with its parent
    loop = re.search(r"^\s+experiment loop: after (\S+), gold.doe_next_experiments recommends (.+); "
                     r"the follow-up (\S+) ran them$", first, re.M)
    assert loop and loop[3] == f"{loop[1]}-F1", first[-3000:]
    kinds = dict(kv.split("=") for kv in loop[2].split(", "))
    assert sum(map(int, kinds.values())) == 3 * 2 and set(kinds) <= {
        "rerun", "fold_over", "augment_axial", "steepest_ascent", "replicate", "confirm", "skipped"}
    shown = re.findall(r"^\s+(M\d+/T\d+): (\w+): .+$", first, re.M)
    assert len(shown) == 2 and all(kind in kinds for _, kind in shown)
    assert len(re.findall(rf"^\s+{re.escape(loop[3])} \((\w+)\): (\d+ runs analysed with {re.escape(loop[1])}|its points run)",
                          first, re.M)) == 2
    assert len(re.findall(r"^\s+next: \w+: .+$", first, re.M)) == 2
    assert counts["gold.doe_next_experiments"] > 0 and counts["gold.doe_follow_up"] > 0
    # what it is worth: the plant-wide saving with its interval and payback, and the PDF report
    assert counts["gold.doe_savings"] == 3 * 2 + IMPORTED                 # every combination of the first round
    assert re.search(r"^    annual saving [\d,]+ \(95 % interval -?[\d,]+ to [\d,]+\) on \d of \d+ machine x tool "
                     r"combinations; the experiments cost [\d,]+, payback \d+ days$", first, re.M), first[-3000:]
    if IMPORTED:     # the published data, imported and analysed beside the simulation
        assert re.search(r"^    nasa_mill: 16 runs \(completed 15, no_life 1\) from nasa_mill_runs.csv; significant: ",
                         first, re.M), first[-3000:]
        assert re.search(r"^    montgomery_6_5: 24 runs \(completed 24\) from montgomery_dae_problem6_5_toollife.csv; "
                         r"significant: .*ToolGeometry", first, re.M), first[-3000:]
    report = re.search(r"^    report for the plant manager: (\S+\.pdf)", first, re.M)
    assert report and Path(report[1]).read_bytes()[:5] == b"%PDF-"
