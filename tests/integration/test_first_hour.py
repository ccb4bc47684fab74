"""A new user's first hour (issue 16): every mistake is one line naming the cause and the next
step, with the documented exit code (toollife.errors), and nothing else on the terminal.

Each test runs the command as a user types it (`toollife ...`, `python jobs/...`, `toollife
submit ...`) in a scratch lakehouse. Checks that need no JVM come first and take about a second
each; the few that start spark-submit combine their checks (missing input, nothing analysed,
no broker, no Spark log lines).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from toollife.services.kafka_local import free_port

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
TOOLLIFE = [sys.executable, "-m", "toollife.cli"]
TINY = ["--machines", "1", "--tools", "1", "--replicates", "1", "--seed", "4", "--sample-interval", "300"]

# what must never reach the user's terminal: Spark/log4j lines, py4j and kafka-python log records
NOISE = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (TRACE|DEBUG|INFO|WARN|ERROR)\b"
                   r"|Using Spark's default log4j profile|Setting default log level"
                   r"| (INFO|WARNING|ERROR|DEBUG) (py4j|kafka)[.:]|^Traceback|^\s+at (org|java|scala)\.", re.M)
SUBMIT_ECHO = re.compile(r"^spark-submit (--master \S+ )?(\.\.\. )?\S+\.py( |$)")  # `toollife submit` echoes its command in short: kept
JVM_NOTICE = "WARNING: Using incubator modules"  # printed by the JVM itself for Spark's --add-modules


def user_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("TOOLLIFE__") or k == "MAKELEVEL"]:
        del env[key]
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env['PATH']}",
        TOOLLIFE_CONF_DIR=str(REPO / "conf"),
        TOOLLIFE__LAKEHOUSE__ROOT=str(tmp_path / "lakehouse"),
        TOOLLIFE__LAKEHOUSE__CHECKPOINT_ROOT=str(tmp_path / "checkpoints"),
        TOOLLIFE__SIMULATION__MANIFEST_DIR=str(tmp_path / "simulations"),
        TOOLLIFE__KAFKA__BROKER__DATA_DIR=str(tmp_path / "kafka" / "data"),
        TOOLLIFE__KAFKA__BROKER__LOG_DIR=str(tmp_path / "kafka" / "logs"),
    )
    env.update(extra)
    return env


def run(cmd: list[str], env: dict[str, str], timeout: float = 300,
        cwd: Path = REPO) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return result, time.monotonic() - started


ECHO_MAX = 300  # the echo names master, job and arguments; the jars and settings (~2,000 characters) are elided


def user_lines(result: subprocess.CompletedProcess) -> list[str]:
    """What the terminal shows (under spark-submit the job's stderr arrives on stdout), without
    the job's JSON summary and the two lines we knowingly leave: the spark-submit echo and the
    JVM's notice."""
    return [line for line in (result.stderr + "\n" + result.stdout).splitlines()
            if line.strip() and not line.startswith("{") and not SUBMIT_ECHO.match(line)
            and not line.startswith(JVM_NOTICE)]


def one_line(result: subprocess.CompletedProcess, prefix: str, *expected: str) -> str:
    """The single line the user sees: it starts with ``prefix`` and says ``expected``."""
    assert not NOISE.search(result.stderr + result.stdout), (result.stderr + result.stdout)[-3000:]
    echoed = [line for line in (result.stderr + "\n" + result.stdout).splitlines() if SUBMIT_ECHO.match(line)]
    assert all(len(line) < ECHO_MAX for line in echoed), echoed
    lines = user_lines(result)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(prefix), line
    for text in expected:
        assert text in line, (text, line)
    return line


def tables_under(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("_delta_log")) if root.exists() else []


# ------------------------------------------------------------------ no JVM: conf, paths, help, kafka

@pytest.mark.parametrize("cmd, extra, prefix, expected", [
    (["--env", "doesnotexist", "tables", "list"], {}, "toollife tables: configuration error:",
     ["no conf file for environment 'doesnotexist'", "use --env / TOOLLIFE_ENV with one of: cluster, docker, local"]),
    (["tables", "list"], {"TOOLLIFE__KAFKA__PARTITIONS": "abc"}, "toollife tables: configuration error:",
     ["environment variable TOOLLIFE__KAFKA__PARTITIONS='abc'", "must be of type int", "fix or unset"]),
    (["tables", "list"], {"TOOLLIFE__KAFKA__NOSUCH": "1"}, "toollife tables: configuration error:",
     ["TOOLLIFE__KAFKA__NOSUCH", "unknown config key 'kafka.nosuch'", "known keys here: bootstrap_servers"]),
    (["--env", "doesnotexist", "submit", "jobs/init_lakehouse.py"], {}, "toollife submit: configuration error:",
     ["no conf file for environment 'doesnotexist'"]),
    (["submit", "jobs/nosuchjob.py"], {}, "toollife submit: error:",
     ["no job file jobs/nosuchjob.py", "init_lakehouse.py", "ingest_sensors.py"]),
    (["submit", "jobs/init_lakehouse.py", "--set", "kafka.nosuch=1"], {}, "toollife submit: configuration error:",
     ["--set kafka.nosuch=1", "unknown config key 'kafka.nosuch'"]),
    (["submit", "jobs/ingest_sensors.py", "--set", "spark.shuffle_partitions=many"], {},
     "toollife submit: configuration error:", ["--set spark.shuffle_partitions=many", "must be of type int"]),
    (["--log-level", "verbose", "tables", "list"], {}, "toollife: error:",
     ["--log-level verbose: not a log level", "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"]),
    (["dashboard", "--set", "kafka.nosuch=1"], {}, "toollife dashboard: configuration error:",
     ["--set kafka.nosuch=1: unknown config key 'kafka.nosuch'"]),
    (["simulate", "--set", "kafka.nosuch=1", "--no-table"], {}, "toollife simulate: configuration error:",
     ["--set kafka.nosuch=1: unknown config key 'kafka.nosuch'"]),
    (["submit", "jobs/init_lakehouse.py", "--log-level", "verbose"], {}, "toollife submit: error:",
     ["--log-level verbose: not a log level"]),
    (["tables", "list", "--set", "kafka.nosuch=1"], {}, "toollife tables: configuration error:",
     ["--set kafka.nosuch=1: unknown config key 'kafka.nosuch'"]),
], ids=["unknown-env", "env-var-type", "env-var-unknown-key", "submit-unknown-env", "submit-missing-job",
        "submit-bad-set", "submit-bad-set-type", "bad-log-level", "dashboard-bad-set",
        "simulate-bad-set", "submit-job-bad-log-level", "tables-bad-set"])
def test_config_and_path_mistakes_are_one_line_exit_2_before_any_jvm(tmp_path, cmd, extra, prefix, expected):
    result, seconds = run([*TOOLLIFE, *cmd], user_env(tmp_path, **extra))
    assert result.returncode == 2, result.stderr
    one_line(result, prefix, *expected)
    assert "spark-submit" not in result.stderr      # checked before the JVM
    assert seconds < 30
    assert not (tmp_path / "lakehouse").exists()


def test_tables_list_on_an_empty_lakehouse_says_so(tmp_path):
    result, _ = run([*TOOLLIFE, "tables", "list"], user_env(tmp_path))
    assert result.returncode == 0 and result.stdout == "", result.stderr
    one_line(result, "no tables yet under", str(tmp_path / "lakehouse"), "jobs/init_lakehouse.py")


def outside_env(tmp_path: Path) -> dict[str, str]:
    """A user in some other directory, with the package installed and no TOOLLIFE_CONF_DIR."""
    env = user_env(tmp_path)
    del env["TOOLLIFE_CONF_DIR"]
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "libs"), *filter(None, [env.get("PYTHONPATH")])])
    return env


def test_outside_the_repository_an_unknown_env_is_still_an_error(tmp_path):
    result, _ = run([*TOOLLIFE, "--env", "doesnotexist", "tables", "list"], outside_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    one_line(result, "toollife tables: configuration error:", "no conf file for environment 'doesnotexist'",
             "TOOLLIFE_CONF_DIR is unset")


def test_outside_the_repository_submit_finds_the_job_and_checks_its_options_before_the_jvm(tmp_path):
    env = dict(outside_env(tmp_path), TOOLLIFE_CONF_DIR=str(REPO / "conf"))
    result, seconds = run([*TOOLLIFE, "submit", "jobs/aggregate_experiments.py", "--bogus"], env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "no job file" not in result.stderr and "spark-submit" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "aggregate_experiments.py: error: unrecognized arguments: --bogus"
    assert seconds < 30


def test_simulate_plan_from_a_missing_table_names_the_job_that_fills_it(tmp_path):
    env = user_env(tmp_path)
    result, _ = run([*TOOLLIFE, "simulate", "--plan-from", "gold.doe_next_experiments", "--no-table"], env)
    assert result.returncode == 3, result.stderr
    one_line(result, "toollife simulate: missing input:", "no table gold.doe_next_experiments under",
             "run `toollife submit jobs/plan_next_experiments.py` first")
    result, _ = run([*TOOLLIFE, "simulate", "--plan-from", "gold.nosuch", "--no-table"], env)
    assert result.returncode == 2, result.stderr
    one_line(result, "toollife simulate: configuration error:", "no table gold.nosuch under",
             "the plan is gold.doe_next_experiments, filled by jobs/plan_next_experiments.py")


def test_a_conf_file_mistake_names_the_file_and_where_in_it(tmp_path):
    (tmp_path / "broken.yaml").write_text("spark:\n  master: local[1]\n   extra: x\n")
    (tmp_path / "typo.yaml").write_text("kafka:\n  nosuch: 1\n")
    env = user_env(tmp_path)
    result, _ = run([sys.executable, "jobs/init_lakehouse.py", "--conf-file", str(tmp_path / "broken.yaml")], env)
    assert result.returncode == 2, result.stderr
    one_line(result, "init_lakehouse: configuration error:",
             f"{tmp_path / 'broken.yaml'} is not valid YAML: line 3, column 9: mapping values are not allowed here")
    result, _ = run([*TOOLLIFE, "simulate", "--conf-file", str(tmp_path / "typo.yaml"), "--no-table"], env)
    assert result.returncode == 2, result.stderr
    one_line(result, "toollife simulate: configuration error:",
             f"{tmp_path / 'typo.yaml'}: unknown config key 'kafka.nosuch'", "fix it in that file")


def test_a_job_names_the_environment_variable_too(tmp_path):
    result, _ = run([sys.executable, "jobs/init_lakehouse.py"], user_env(tmp_path, TOOLLIFE__KAFKA__NOSUCH="1"))
    assert result.returncode == 2
    one_line(result, "init_lakehouse: configuration error:", "environment variable TOOLLIFE__KAFKA__NOSUCH")


def test_a_job_run_directly_with_a_bad_log_level_is_one_line_exit_2(tmp_path):
    result, seconds = run([sys.executable, "jobs/init_lakehouse.py", "--log-level", "verbose"], user_env(tmp_path))
    assert result.returncode == 2 and seconds < 30, result.stderr
    one_line(result, "init_lakehouse: error:", "--log-level verbose: not a log level",
             "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL")


def test_kafka_down_without_a_broker_and_up_beside_a_running_one_both_exit_0(tmp_path):
    env = user_env(tmp_path)
    result, _ = run([*TOOLLIFE, "kafka", "down"], env)
    assert result.returncode == 0 and "Kafka broker stopped" not in result.stdout
    assert result.stdout.strip().splitlines() == [
        f"no Kafka broker was running (no live pid in {tmp_path / 'kafka' / 'broker.pid'}); nothing to stop"]

    # a live pid in the pid file (this test's own process stands in for a broker; `up` never signals it)
    (tmp_path / "kafka").mkdir(exist_ok=True)
    (tmp_path / "kafka" / "broker.pid").write_text(f"{os.getpid()} 9092\n")
    result, _ = run([*TOOLLIFE, "kafka", "up"], env)
    assert result.returncode == 0                   # idempotent like `down`
    one_line(result, "a Kafka broker is already running", f"(pid {os.getpid()}", "nothing to start",
             "`toollife kafka down`")
    result, _ = run([*TOOLLIFE, "kafka", "up"], dict(env, MAKELEVEL="1"))  # typed as `make kafka-up`
    assert result.returncode == 0
    one_line(result, "a Kafka broker is already running", "`make kafka-down`")


def test_help_shows_the_effective_conf_once(tmp_path):
    result, _ = run([*TOOLLIFE, "simulate", "--help"], user_env(tmp_path, TOOLLIFE__SIMULATION__MACHINES="9"))
    assert result.returncode == 0
    assert re.search(r"--machines MACHINES\s+number of machines M01\.\. \(config: 9\)", result.stdout)
    assert "--full-factorial" in result.stdout and "SIM-<seed>" in result.stdout

    result, _ = run([sys.executable, "jobs/ingest_sensors.py", "--help"],
                    user_env(tmp_path, TOOLLIFE__INGESTION__TRIGGER__MODE="available_now"))
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert '(conf ingestion.trigger.mode: "available_now")' in text
    assert "at most N Kafka records per query and micro-batch" in text           # --max-offsets-per-trigger
    assert "(conf ingestion.kafka.max_offsets_per_trigger: 200000)" in text
    assert "true: stop when offsets vanished from Kafka" in text                  # --fail-on-data-loss
    assert "(default: None)" not in text
    assert text.count("(default: $TOOLLIFE_ENV or local)") == 1 and "local) (default" not in text
    assert "Exit code 0 when" in result.stdout


def test_the_documented_experiment_id_is_the_one_used(tmp_path, capsys):
    from toollife.cli import main

    defaults = (REPO / "libs" / "toollife" / "defaults" / "simulation.yaml").read_text()
    assert 'experiment_id: null           # null: "SIM-<seed>"' in defaults and "EXP-<seed>" not in defaults
    assert main(["simulate", *TINY, "--dry-run", str(tmp_path / "m.jsonl"), "--manifest-dir", str(tmp_path),
                 "--no-table"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert json.loads(Path(summary["manifest"]).read_text())["experiment_id"] == "SIM-4"


def test_factor_list_with_the_configured_generator_says_how_to_get_a_full_factorial(tmp_path, capsys):
    from toollife.cli import main

    rc = main(["simulate", *TINY, "--factor", "cutting_speed=300,180", "--dry-run", str(tmp_path / "x.jsonl"),
               "--no-table", "--manifest-dir", str(tmp_path)])
    assert rc == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("toollife simulate: configuration error: 1 generators for 1 factors")
    assert "the configured generators E=ABCD still apply" in err[0] and "--full-factorial" in err[0]
    rc = main(["simulate", *TINY, "--factor", "cutting_speed=300,180", "--full-factorial",
               "--dry-run", str(tmp_path / "x.jsonl"), "--no-table", "--manifest-dir", str(tmp_path)])
    assert rc == 0


def test_simulate_without_a_broker_is_one_line_without_kafka_client_logs(tmp_path):
    port = free_port()
    result, seconds = run([*TOOLLIFE, "simulate", *TINY, "--no-table", "--no-progress",
                           "--bootstrap-servers", f"127.0.0.1:{port}"], user_env(tmp_path))
    assert result.returncode == 1 and seconds < 60
    assert not NOISE.search(result.stderr), result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("toollife simulate: error: cannot reach Kafka at "), errors


# ------------------------------------------------------------------ with the session broker, no JVM

def test_simulate_twice_with_the_same_seed_says_so_and_logs_no_kafka_lines(kafka_config, tmp_path):
    topics = kafka_config["kafka"]["topics"]
    cmd = [*TOOLLIFE, "simulate", *TINY, "--no-table", "--no-progress",
           "--bootstrap-servers", kafka_config["kafka"]["bootstrap_servers"],
           "--sensor-topic", topics["sensor_readings"], "--event-topic", topics["tool_events"]]
    first, _ = run(cmd, user_env(tmp_path))
    second, _ = run(cmd, user_env(tmp_path))
    for result in (first, second):
        assert result.returncode == 0, result.stderr
        assert not NOISE.search(result.stderr), result.stderr
    assert "already run" not in first.stderr
    note = [line for line in second.stderr.splitlines() if line.startswith("note:")]
    sim_id = json.loads(first.stdout.strip().splitlines()[-1])["simulation_id"]
    assert len(note) == 1 and f"simulation {sim_id} (same seed and settings) was already run" in note[0]
    assert "drops the repeated messages as duplicates" in note[0] and "another --seed" in note[0]


# ------------------------------------------------------------------ a broker the library started

def test_a_broker_started_for_a_run_stops_when_that_process_is_terminated(tmp_path):
    script = ("import sys, time\n"
              "from toollife.config import load_config\n"
              "from toollife.services.kafka_local import LocalKafkaBroker\n"
              "b = LocalKafkaBroker(load_config(), port=0, data_dir=sys.argv[1])\n"
              "b.start()\n"
              "print(b.running_pid(), flush=True)\n"
              "time.sleep(600)\n")
    env = user_env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "broker" / "data")], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    try:
        broker_pid = int(proc.stdout.readline())
        os.kill(broker_pid, 0)                      # running
    finally:
        proc.send_signal(signal.SIGTERM)            # e.g. a benchmark killed by its scheduler
        proc.wait(30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(broker_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        os.killpg(broker_pid, signal.SIGKILL)
        pytest.fail("the broker outlived the process that started it")


# ------------------------------------------------------------------ spark-submit (one JVM each)

def test_ingest_without_a_broker_fails_in_seconds_in_one_line_and_creates_nothing(tmp_path):
    port = free_port()  # nothing listens there
    env = user_env(tmp_path, TOOLLIFE__KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{port}")
    result, seconds = run([*TOOLLIFE, "submit", "jobs/ingest_sensors.py", "--trigger", "available_now"], env)
    assert result.returncode == 1, result.stderr[-3000:]
    one_line(result, "ingest_sensors: error:", f"cannot reach Kafka at 127.0.0.1:{port}", "is the broker running?",
             "`toollife kafka up`")
    assert seconds < 90  # the JVM's start plus ingestion.kafka.connect_timeout_s, not minutes of retries
    assert not (tmp_path / "lakehouse").exists() or not any((tmp_path / "lakehouse").rglob("*"))
    assert not (tmp_path / "checkpoints").exists()


def _aborted_runs_only(spark, config):
    """gold.experiment_runs with one machine x tool whose every run was aborted: nothing to analyse."""
    from toollife.lakehouse import tables
    from toollife.gold import experiment_runs as er

    schema = er.experiment_runs_schema(config)
    now = datetime(2026, 1, 5, 6, 0)
    rows = [{"experiment_id": "EXP-A", "machine_id": "M01", "tool_id": "T01", "run_id": i, "replicate": 1,
             "status": "aborted", "design_factors": list(config["doe"]["factors"]), "n_readings": 0,
             "row_hash": f"h{i}", "updated_at": now} for i in range(1, 5)]
    df = spark.createDataFrame([tuple(r.get(f.name) for f in schema.fields) for r in rows], schema)
    tables.overwrite(df, config, er.EXPERIMENT_RUNS, partition_by=["experiment_id"])


def test_gold_jobs_name_the_missing_table_and_fail_when_nothing_could_be_analysed(spark, lakehouse_config, tmp_path):
    env = user_env(tmp_path)
    root = tmp_path / "lakehouse"

    result, _ = run([*TOOLLIFE, "submit", "jobs/aggregate_experiments.py"], env)
    assert result.returncode == 3, result.stderr[-3000:]
    one_line(result, "aggregate_experiments: missing input:",
             f"no table silver.tool_events, silver.sensor_readings under {root} (lakehouse.root)",
             "filled by jobs/ingest_sensors.py", "run `toollife submit jobs/ingest_sensors.py` first")

    # the same check as plain `python jobs/...` (no JVM at all: it comes before the SparkSession)
    result, seconds = run([sys.executable, "jobs/compute_doe_effects.py"], env)
    assert result.returncode == 3 and seconds < 30, result.stderr[-3000:]
    one_line(result, "compute_doe_effects: missing input:", f"no table gold.experiment_runs under {root}",
             "run `toollife submit jobs/aggregate_experiments.py` first")
    assert tables_under(root) == []     # a run stopped by a missing input leaves no lakehouse behind

    # validation of an empty lakehouse: one line and the exit code of a missing input, no GX log lines
    result, _ = run([sys.executable, "jobs/validate_tables.py", "--layer", "bronze", "--layer", "silver"], env)
    assert result.returncode == 3, result.stderr[-3000:]
    one_line(result, "validate_tables: missing input:", f"no table to validate yet under {root}",
             "bronze.sensor_readings_raw", "run `toollife submit jobs/ingest_sensors.py`")

    config = dict(lakehouse_config, lakehouse={"root": str(root), "checkpoint_root": str(tmp_path / "checkpoints")})
    _aborted_runs_only(spark, config)
    result, _ = run([*TOOLLIFE, "submit", "jobs/compute_doe_effects.py"], env)
    assert result.returncode == 4, result.stderr[-3000:]
    one_line(result, "compute_doe_effects: nothing analysed:",
             "none of the 1 machine x tool combination(s) of EXP-A could be analysed: no completed runs (1)",
             "gold.doe_optimal_settings.skip_reason")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed" and summary["combinations_ok"] == 0
    assert summary["skip_reasons"] == {"no completed runs": 1}


# ------------------------------------------------------------------ toollife sql (one JVM, in this process for the rest)

def test_sql_from_the_command_line_is_quiet_names_the_job_of_a_missing_table_and_leaves_no_files(tmp_path):
    work = tmp_path / "somewhere"
    work.mkdir()
    result, _ = run([*TOOLLIFE, "sql", "show tables in gold; select * from gold.doe_effects"], user_env(tmp_path),
                    cwd=work)
    assert result.returncode == 3, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["namespace | tableName | isTemporary", "----------+-----------+------------"]
    assert not NOISE.search(result.stderr), result.stderr[-3000:]
    err = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith(JVM_NOTICE)]
    assert err[0] == "(0 rows)" and len(err) == 2, err
    assert err[1].startswith("toollife sql: missing input: no table gold.doe_effects under ")
    assert "run `toollife submit jobs/compute_doe_effects.py` first" in err[1]
    assert sorted(p.name for p in work.iterdir()) == []      # no metastore_db, derby.log, spark-warehouse


def test_sql_prints_a_plain_table_and_a_failed_statement_is_one_error_class_line(spark, lakehouse_config, capsys):
    import argparse

    from toollife.lakehouse import tables
    from toollife.services import sql_shell

    probe = tables.Table("gold", "sql_probe")
    tables.overwrite(spark.createDataFrame([("A", 1.5), ("AB", None), ("B", -2.0)], "term string, effect double"),
                     lakehouse_config, probe)
    args = argparse.Namespace(format="table", max_rows=2)
    sql_shell.execute(spark, lakehouse_config, "select term, effect from gold.sql_probe order by term", args)
    out, err = capsys.readouterr()
    assert out.splitlines() == ["term | effect", "-----+-------", "A    |    1.5", "AB   |   NULL"]
    assert err.strip() == "(first 2 rows; --max-rows 0 shows all)"
    with pytest.raises(sql_shell.SqlError) as bad:
        sql_shell.execute(spark, lakehouse_config, "selec term from gold.sql_probe", args)
    assert bad.value.exit_code == 1 and str(bad.value).startswith("[PARSE_SYNTAX_ERROR] Syntax error at or near")
    assert "\n" not in str(bad.value) and "SQLSTATE" not in str(bad.value)
    with pytest.raises(sql_shell.SqlError) as unknown:   # not a lakehouse table: Spark's own words, exit 1
        sql_shell.execute(spark, lakehouse_config, "select * from gold.nosuch", args)
    assert str(unknown.value).startswith("[TABLE_OR_VIEW_NOT_FOUND]")
